"""KerasEstimator trains any user Keras model; a failing rank makes fit raise with that rank's error."""
import time

import keras
import pytest
from pyspark.ml.linalg import VectorUDT

from failing_layer import FailOnRank
from horovod_spark_ml import InputError, KerasEstimator, KerasModel, TrainingError


def _net(*extra):
    # A (2, 2) input: the 4 features of each row are reshaped to the model's input shape.
    return keras.Sequential([keras.Input((2, 2)), *extra, keras.layers.Flatten(),
                             keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3, activation="softmax")])


def test_user_model_trains_predicts_and_persists(blobs, store, tmp_path):
    estimator = KerasEstimator(model=_net(), loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                               optimizer="adam", learningRate=0.01, epochs=10, batchSize=16, numProc=2,
                               storePath=store, verbose=0)
    model = estimator.fit(blobs)
    predictions = model.transform(blobs)
    assert isinstance(predictions.schema["prediction"].dataType, VectorUDT)
    rows = predictions.collect()
    accuracy = sum(int(r.prediction.argmax()) == int(r.label) for r in rows) / len(rows)
    assert accuracy > 0.9 and model.history["accuracy"][-1] > 0.9
    estimator.getModel().pop()  # the user's model is theirs to change; the fitted one does not follow it
    assert model.transform(blobs).collect() == rows

    model.write().save(str(tmp_path / "model"))
    assert KerasModel.load(str(tmp_path / "model")).transform(blobs).collect() == rows
    estimator.write().save(str(tmp_path / "estimator"))
    loaded = KerasEstimator.load(str(tmp_path / "estimator"))
    assert loaded.getLoss() == "sparse_categorical_crossentropy" and loaded.getModel().input_shape == (None, 2, 2)


def test_a_failing_rank_raises_its_error_on_the_driver_without_hanging(blobs, store):
    estimator = KerasEstimator(model=_net(FailOnRank(1)), loss="sparse_categorical_crossentropy", epochs=2,
                               numProc=2, storePath=store, verbose=0)
    started = time.time()
    with pytest.raises(TrainingError) as error:
        estimator.fit(blobs)
    assert str(error.value).startswith("Horovod rank 1 (on host ")
    assert ") failed during training:\nTraceback" in str(error.value)
    assert "FailOnRank: deliberate failure in rank 1" in str(error.value)
    assert time.time() - started < 120


def _pretrained():
    inputs = keras.Input((4,))
    base = keras.layers.Dense(8, activation="relu", name="base")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(base))


def test_frozen_layers_keep_the_given_weights_while_the_rest_trains(blobs, store):
    given = _pretrained()
    before = {layer: [w.copy() for w in given.get_layer(layer).get_weights()] for layer in ("base", "head")}
    model = KerasEstimator(model=given, frozenLayers=["base"], loss=keras.losses.SparseCategoricalCrossentropy(
        from_logits=True), learningRate=0.01, epochs=3, numProc=2, storePath=store, verbose=0).fit(blobs)
    trained = model.getKerasModel()
    assert all((a == b).all() for a, b in zip(before["base"], trained.get_layer("base").get_weights()))
    assert not all((a == b).all() for a, b in zip(before["head"], trained.get_layer("head").get_weights()))
    assert given.get_layer("base").trainable  # the user's model is left as it was


def test_trainable_and_frozen_layers_are_checked_against_the_model(blobs, store):
    with pytest.raises(InputError, match="frozenLayers names conv9, not layers of the model; its layers are"):
        KerasEstimator(model=_pretrained(), frozenLayers=["conv9"], loss="mse", storePath=store).fit(blobs)
    with pytest.raises(InputError, match="frozenLayers and trainableLayers are both set"):
        KerasEstimator(model=_pretrained(), frozenLayers=["base"], trainableLayers=["head"], loss="mse",
                       storePath=store).fit(blobs)


def test_two_inputs_from_joined_dataframes_train_a_two_output_model(spark, store):
    """Two sources joined on a key feed a model's two named inputs; it learns a class and a value at once."""
    import numpy as np
    rng = np.random.default_rng(3)
    ids = range(400)
    left = [(i, [float(v) for v in rng.normal(size=3)]) for i in ids]
    right = [(i, [float(v) for v in rng.normal(size=4)]) for i in ids]
    labels = [(i, float(l[0] > 0), float(l[1] + r[1])) for (i, l), (_, r) in zip(left, right)]
    df = (spark.createDataFrame(left, ["id", "a"]).join(spark.createDataFrame(right, ["id", "b"]), "id")
          .join(spark.createDataFrame(labels, ["id", "kind", "size"]), "id"))

    a, b = keras.Input((3,), name="left"), keras.Input((2, 2), name="right")
    hidden = keras.layers.Dense(32, activation="relu")(keras.layers.Concatenate()([a, keras.layers.Flatten()(b)]))
    net = keras.Model([a, b], [keras.layers.Dense(2, name="kind")(hidden), keras.layers.Dense(1, name="size")(hidden)])
    estimator = KerasEstimator(model=net, featuresCols=["a", "b"], labelCols=["kind", "size"],
                               loss={"kind": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                                     "size": "mse"},
                               lossWeights={"kind": 1.0, "size": 0.5}, metrics={"kind": ["accuracy"], "size": ["mae"]},
                               learningRate=0.01, epochs=15, batchSize=32, numProc=2, storePath=store, verbose=0)
    model = estimator.fit(df)
    assert {"kind_loss", "size_loss", "kind_accuracy", "size_mae"} <= set(model.history)
    rows = model.transform(df).collect()
    assert sum(int(r.prediction_kind.argmax()) == r.kind for r in rows) / len(rows) > 0.9
    assert np.mean([abs(r.prediction_size - r.size) for r in rows]) < 0.3


def test_a_multi_input_model_needs_one_features_column_per_input(blobs, store):
    a, b = keras.Input((2,), name="left"), keras.Input((2,), name="right")
    net = keras.Model([a, b], keras.layers.Dense(3)(keras.layers.Concatenate()([a, b])))
    with pytest.raises(InputError, match=r"the model has 2 inputs \(left, right\), so featuresCols needs one column"):
        KerasEstimator(model=net, loss="mse", featuresCols=["features"], storePath=store).fit(blobs)


def test_a_multi_output_model_needs_one_label_column_per_output(blobs, store):
    inputs = keras.Input((4,), name="features")
    net = keras.Model(inputs, [keras.layers.Dense(3, name="kind")(inputs), keras.layers.Dense(1, name="size")(inputs)])
    with pytest.raises(InputError, match=r"the model has 2 outputs \(kind, size\), so labelCols needs one column"):
        KerasEstimator(model=net, loss="mse", labelCols=["label"], storePath=store).fit(blobs)
