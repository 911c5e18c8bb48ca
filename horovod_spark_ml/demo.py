"""The demo's data and pipelines: scikit-learn's bundled digits, no download.

Example::

    >>> train, test = digits_frame(spark).randomSplit([0.8, 0.2], seed=7)
    >>> model = digits_pipeline(epochs=30, num_proc=2).fit(train)
    >>> write_digit_images("/tmp/digits")          # the same digits as PNG files, one folder per class
    1797
"""
import os

from pyspark.ml import Pipeline
from pyspark.ml.feature import IndexToString, StandardScaler, StringIndexer, VectorAssembler

from .estimators.mlp import MLPClassifier, MLPRegressor

DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def digits_frame(spark):
    """The 1,797 8x8 digit images as 64 pixel columns ``p0..p63`` and a string ``digit`` column."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    rows = [[float(v) for v in image] + [DIGIT_NAMES[target]] for image, target in zip(digits.data, digits.target)]
    columns = [f"p{i}" for i in range(64)] + ["digit"]
    return spark.createDataFrame(rows, columns)


def digits_pipeline(epochs=30, num_proc=2, **mlp_params):
    """StringIndexer -> VectorAssembler -> StandardScaler -> MLPClassifier -> IndexToString.

    ``mlp_params`` (``storePath``, ``runId``, ...) go to the MLPClassifier as they are.
    """
    return Pipeline(stages=[
        StringIndexer(inputCol="digit", outputCol="label"),
        VectorAssembler(inputCols=[f"p{i}" for i in range(64)], outputCol="raw"),
        StandardScaler(inputCol="raw", outputCol="features"),
        MLPClassifier(hiddenLayers=[64, 32], dropout=0.1, epochs=epochs, batchSize=64, numProc=num_proc,
                      learningRate=0.003, **mlp_params),
        IndexToString(inputCol="prediction", outputCol="predictedDigit"),
    ])


def mlp_pipeline(df, features, label_col, task, model_json=None, **mlp_params):
    """A pipeline for a user's table: index a string label, assemble and scale features, fit an MLP.

    With ``model_json`` (Keras' ``model.to_json()`` text), it fits that network with a KerasEstimator
    instead: sparse categorical cross-entropy for classification (on logits unless the network ends in a
    softmax), mean squared error for regression; its ``prediction`` holds the network's outputs.
    """
    stages = []
    label = label_col
    if task == "classification" and dict(df.dtypes)[label_col] == "string":
        label = f"{label_col}_index"
        stages.append(StringIndexer(inputCol=label_col, outputCol=label))
    stages += [VectorAssembler(inputCols=features, outputCol="raw_features"),
               StandardScaler(inputCol="raw_features", outputCol="features")]
    if model_json is not None:
        mlp_params.pop("hiddenLayers", None)
        stages.append(_keras_estimator(model_json, task, labelCol=label, **mlp_params))
        return Pipeline(stages=stages)
    estimator = MLPClassifier if task == "classification" else MLPRegressor
    stages.append(estimator(labelCol=label, **mlp_params))
    if label != label_col:
        stages.append(IndexToString(inputCol="prediction", outputCol=f"predicted_{label_col}"))
    return Pipeline(stages=stages)


def _keras_estimator(model_json, task, **params):
    import keras
    from .estimators.keras_estimator import KerasEstimator, model_from_json
    if task == "regression":
        return KerasEstimator(modelJson=model_json, loss="mse", **params)
    last = model_from_json(model_json).layers[-1].get_config().get("activation")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=last != "softmax")
    return KerasEstimator(modelJson=model_json, loss=loss, metrics=["accuracy"], **params)


def write_digit_images(folder, size=32):
    """Write scikit-learn's 1,797 digits as ``size`` x ``size`` grayscale PNGs, ``folder/<digit name>/<i>.png``.

    The 8x8 originals (values 0..16) are enlarged smoothly and stretched to
    0..255. Returns the number of files written; existing files are kept.
    """
    import numpy as np
    import tensorflow as tf
    from sklearn.datasets import load_digits
    digits = load_digits()
    pixels = digits.images[..., None].astype(np.float32) * (255 / 16)
    images = tf.cast(tf.clip_by_value(tf.image.resize(pixels, [size, size], method="bicubic"), 0, 255), tf.uint8)
    for name in DIGIT_NAMES:
        os.makedirs(os.path.join(folder, name), exist_ok=True)
    for i, (image, target) in enumerate(zip(images, digits.target)):
        path = os.path.join(folder, DIGIT_NAMES[target], f"{i:04d}.png")
        if not os.path.exists(path):
            tf.io.write_file(path, tf.io.encode_png(image))
    return len(images)
