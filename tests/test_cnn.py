"""CNNClassifier end to end on 2 Horovod ranks, from each kind of image column.

The images are scikit-learn's digits written as 16x16 PNG files in one folder
per class (the ``digit_folder`` fixture): read as encoded bytes (read_images),
as Spark image structs (``format("image")``), and as 8x8 pixel arrays.
"""
import os

import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.feature import StringIndexer
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import functions as F

from horovod_spark_ml import CNNClassificationModel, CNNClassifier, InputError, read_images
from conftest import IMAGE_SIZE as SIZE


def accuracy(predictions):
    return MulticlassClassificationEvaluator(metricName="accuracy").evaluate(predictions)


@pytest.fixture(scope="module")
def image_files(spark, digit_folder):
    train, test = read_images(spark, digit_folder).randomSplit([0.8, 0.2], seed=3)
    return train.cache(), test.cache()


@pytest.fixture(scope="module")
def fitted(image_files, store):
    cnn = CNNClassifier(architecture="alexnet", imageSize=[SIZE, SIZE], channels=1, epochs=12, batchSize=32,
                        learningRate=0.002, numProc=2, storePath=store)
    return Pipeline(stages=[StringIndexer(inputCol="className", outputCol="label"), cnn]).fit(image_files[0])


def test_alexnet_learns_digits_from_png_files(fitted, image_files):
    predictions = fitted.transform(image_files[1])
    assert accuracy(predictions) >= 0.85
    assert isinstance(predictions.schema["probability"].dataType, VectorUDT)
    assert isinstance(fitted.stages[-1], CNNClassificationModel)
    model, rows = fitted.stages[-1], predictions.limit(3).collect()
    assert [model.predict(r.image) for r in rows] == [r.prediction for r in rows]  # the PNG bytes, decoded here


def test_read_images_labels_files_by_parent_folder_or_file_name_pattern(spark, digit_folder):
    by_folder = read_images(spark, digit_folder)
    assert by_folder.columns == ["path", "image", "className"]
    assert by_folder.count() == 1797
    assert by_folder.filter(F.col("className") == "seven").count() == 179
    by_name = read_images(spark, digit_folder, labelFrom=r"^(\d)\d*\.png$")   # first digit of the file number
    assert set(r.className for r in by_name.select("className").distinct().collect()) == set("01")
    with pytest.raises(InputError, match="exactly one"):
        read_images(spark, digit_folder, labelFrom=r"\d+")


def test_staged_files_hold_the_compressed_images_not_pixels(spark, image_files, store):
    from horovod_spark_ml.data.image_input import ImageFeatures
    from horovod_spark_ml.data.staging import prepare_store, stage
    df = image_files[0]
    features = ImageFeatures("image", image_size=(227, 227), channels=3)
    features.check_columns(df)
    staged = stage(df, features.columns(df), num_proc=2, validation_split=0, seed=1,
                   store=prepare_store(os.path.join(store, "size-check")))
    staged_bytes = sum(os.path.getsize(url[len("file://"):]) for url in staged.train_urls)
    encoded_bytes = df.agg(F.sum(F.length("image"))).first()[0]
    assert staged_bytes < 1.5 * encoded_bytes
    assert staged_bytes < 0.05 * staged.train_rows * 227 * 227 * 3   # what resized pixels would take


def test_output_layer_gives_embeddings_as_vectors(fitted, image_files):
    model = fitted.stages[-1]
    width = model.getKerasModel().get_layer("fc7").output.shape[-1]
    embedded = model.copy().setOutputLayer("fc7").setOutputCol("fc7").transform(image_files[1])
    row = embedded.first()
    assert len(row.fc7) == width
    assert "prediction" not in embedded.columns
    with pytest.raises(InputError, match="not a layer"):
        model.copy().setOutputLayer("fc9")


def test_fitted_cnn_pipeline_saves_loads_and_predicts_the_same(fitted, image_files, tmp_path):
    path = str(tmp_path / "cnn-pipeline")
    fitted.save(path)
    reloaded = PipelineModel.load(path)
    before = [r.prediction for r in fitted.transform(image_files[1]).orderBy("path").collect()]
    after = [r.prediction for r in reloaded.transform(image_files[1]).orderBy("path").collect()]
    assert before == after
    assert reloaded.stages[-1].getImageSize() == [SIZE, SIZE]


def test_lenet_learns_from_spark_image_structs(spark, digit_folder, store):
    images = (spark.read.format("image").option("recursiveFileLookup", "true").load(digit_folder)
              .withColumn("className", F.element_at(F.split("image.origin", "/"), -2)))
    train, test = images.randomSplit([0.8, 0.2], seed=3)
    cnn = CNNClassifier(architecture="lenet", featuresCol="image", imageSize=[SIZE, SIZE], channels=1, epochs=10,
                        learningRate=0.003, validationSplit=0.1, numProc=2, storePath=store)
    model = Pipeline(stages=[StringIndexer(inputCol="className", outputCol="label"), cnn]).fit(train)
    predictions = model.transform(test)
    assert accuracy(predictions) >= 0.85
    assert model.stages[-1].history["val_accuracy"][-1] >= 0.8
    rows = predictions.limit(3).collect()
    assert [model.stages[-1].predict(r.image) for r in rows] == [r.prediction for r in rows]  # image structs


def test_lenet_learns_from_pixel_arrays_with_an_input_shape(digits, store):
    from pyspark.ml.feature import VectorAssembler
    train, test = digits
    pixels = VectorAssembler(inputCols=[f"p{i}" for i in range(64)], outputCol="pixels")
    cnn = CNNClassifier(architecture="lenet", featuresCol="pixels", inputShape=[8, 8, 1], imageSize=[8, 8],
                        channels=1, pixelScale=1 / 16, epochs=15, learningRate=0.003, numProc=2, storePath=store)
    model = Pipeline(stages=[StringIndexer(inputCol="digit", outputCol="label"), pixels, cnn]).fit(train)
    assert accuracy(model.transform(test)) >= 0.85
