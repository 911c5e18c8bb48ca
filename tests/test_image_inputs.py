"""Damaged and wrong image input: counted and skipped, or a clear error, never a silent crash."""
import os
import shutil

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import BinaryType, StructField, StructType

from horovod_spark_ml import CNNClassifier, InputError, TrainingError, read_images

from backends import STREAMING

TRUNCATED = 3


@pytest.fixture(scope="module")
def damaged_folder(tmp_path_factory, digit_folder):
    """Two classes of 60 digit images; three PNGs cut short (their header intact) and one text file named .png."""
    folder = str(tmp_path_factory.mktemp("damaged"))
    for name in ("zero", "one"):
        os.makedirs(os.path.join(folder, name))
        for file in sorted(os.listdir(os.path.join(digit_folder, name)))[:60]:
            shutil.copy(os.path.join(digit_folder, name, file), os.path.join(folder, name, file))
    for file in sorted(os.listdir(os.path.join(folder, "zero")))[:TRUNCATED]:
        path = os.path.join(folder, "zero", file)
        with open(path, "rb") as f:
            head = f.read(40)
        with open(path, "wb") as f:
            f.write(head)
    with open(os.path.join(folder, "one", "notes.png"), "w") as f:
        f.write("not an image")
    return folder


def labelled(spark, folder):
    return read_images(spark, folder).withColumn("label", (F.col("className") == "one").cast("double"))


def cnn(store, **params):
    settings = dict(architecture="lenet", imageSize=[16, 16], channels=1, epochs=2, batchSize=16, numProc=2)
    return CNNClassifier(storePath=store, **{**settings, **params})


@pytest.mark.parametrize("backend", STREAMING)
def test_skip_mode_counts_undecodable_images_and_trains_on_the_rest(spark, damaged_folder, store, backend):
    df = labelled(spark, damaged_folder)
    with pytest.warns(UserWarning, match="skipping 1 of 121 rows that hold no JPEG, PNG, GIF or BMP data"):
        model = cnn(store, readerBackend=backend).fit(df)
    assert sum(model.history["corrupt_images"]) >= TRUNCATED
    predictions = model.transform(df).cache()
    assert predictions.filter(F.col("prediction").isNull()).count() == TRUNCATED + 1
    assert predictions.filter(F.col("prediction").isNotNull()).count() == 120 - TRUNCATED


def test_raise_mode_rejects_non_image_rows_before_staging(spark, damaged_folder, store):
    with pytest.raises(InputError, match="featuresCol 'image' has 1 rows that hold no JPEG, PNG, GIF or BMP data"):
        cnn(os.path.join(store, "never-written"), onCorruptImage="raise").fit(labelled(spark, damaged_folder))
    assert not os.path.exists(os.path.join(store, "never-written"))


def test_raise_mode_stops_training_at_an_image_that_cannot_be_decoded(spark, damaged_folder, store):
    images = labelled(spark, damaged_folder).filter(~F.col("path").endswith("notes.png"))
    with pytest.raises(TrainingError, match="featuresCol 'image': an image could not be decoded"):
        cnn(store, onCorruptImage="raise").fit(images)


def test_a_column_without_images_is_rejected_naming_it(spark, store):
    df = spark.createDataFrame([("a", 0.0), ("b", 1.0)], ["image", "label"])
    with pytest.raises(InputError, match="featuresCol 'image' has type string; expected images"):
        cnn(store).fit(df)


def test_null_images_are_rejected(spark, store):
    schema = StructType([StructField("image", BinaryType()), StructField("label", BinaryType())])
    df = spark.createDataFrame([(None, None)], schema).select("image", F.lit(0.0).alias("label"))
    df = df.union(df)
    with pytest.raises(InputError, match="featuresCol 'image' has 2 rows with null images"):
        cnn(store).fit(df)


@pytest.mark.parametrize("params, message", [
    ({"channels": 2}, "channels=2 is invalid: it must be 1 or 3"),
    ({"imageSize": [16]}, r"imageSize=\[16\] is invalid"),
    ({"architecture": "vgg"}, "architecture=vgg is invalid: it must be one of alexnet, lenet"),
    ({"onCorruptImage": "ignore"}, "onCorruptImage=ignore is invalid"),
    ({"randomCrop": 0.9}, r"randomCrop=0.9 is invalid: it must be in \[0, 0.5\]"),
])
def test_invalid_image_params_are_named(spark, digit_folder, store, params, message):
    with pytest.raises(InputError, match=message):
        cnn(store, **params).fit(labelled(spark, digit_folder))


def test_pixel_arrays_of_the_wrong_size_for_input_shape_are_rejected(digits, store):
    from pyspark.ml.feature import VectorAssembler
    pixels = VectorAssembler(inputCols=[f"p{i}" for i in range(64)], outputCol="pixels").transform(digits[0])
    df = pixels.withColumn("label", F.lit(0.0))
    with pytest.raises(InputError, match="featuresCol 'pixels' has 64 features per row but the Keras model's "
                                         "input expects 48"):
        cnn(store, featuresCol="pixels", inputShape=[4, 4, 3]).fit(df)
