"""Bad input is rejected on the driver, before staging or launch, with a message naming the problem."""
import os

import keras
import pytest
from pyspark.ml.linalg import Vectors, VectorUDT
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StructField, StructType

from horovod_spark_ml import InputError, KerasEstimator, MLPClassifier, MLPRegressor

from backends import STREAMING


VECTOR_AND_LABEL = StructType([StructField("features", VectorUDT()), StructField("label", DoubleType())])


def _fit_error(estimator, df):
    with pytest.raises(InputError) as error:
        estimator.fit(df)
    return str(error.value)


@pytest.fixture()
def clf(store):
    return MLPClassifier(numProc=2, epochs=1, storePath=store)


def test_missing_features_column_is_named(clf, blobs):
    message = _fit_error(clf.setFeaturesCol("pixels"), blobs)
    assert "featuresCol 'pixels' was not found" in message and "features, label" in message


def test_missing_label_column_is_named(clf, blobs):
    assert "labelCol 'species' was not found" in _fit_error(clf.setLabelCol("species"), blobs)


def test_string_features_column_is_rejected(clf, spark):
    df = spark.createDataFrame([("a", 0.0), ("b", 1.0)], ["features", "label"])
    message = _fit_error(clf, df)
    assert "featuresCol 'features' has type string" in message and "Vector" in message


def test_string_label_column_points_to_string_indexer(clf, spark):
    df = spark.createDataFrame([(Vectors.dense([1.0]), "cat"), (Vectors.dense([2.0]), "dog")], ["features", "label"])
    message = _fit_error(clf, df)
    assert "labelCol 'label' has type string" in message and "StringIndexer" in message


def test_null_features_are_counted(clf, spark):
    df = spark.createDataFrame([(Vectors.dense([1.0, 2.0]), 0.0), (None, 1.0), (Vectors.dense([1.0, 3.0]), 1.0)],
                               VECTOR_AND_LABEL)
    assert "featuresCol 'features' has 1 rows with null values" in _fit_error(clf, df)


def test_null_elements_and_null_arrays_are_counted_as_null_rows(clf, spark):
    rows = [([1.0, None], 0.0), ([None, 2.0], 1.0), (None, 1.0), ([1.0, 3.0], 1.0), ([2.0, 3.0], 0.0)]
    df = spark.createDataFrame(rows, "features array<double>, label double")
    assert "featuresCol 'features' has 3 rows with null values" in _fit_error(clf, df)


def test_nan_features_are_counted(clf, spark):
    df = spark.createDataFrame([(Vectors.dense([1.0, float("nan")]), 0.0), (Vectors.dense([1.0, 3.0]), 1.0)],
                               ["features", "label"])
    assert "featuresCol 'features' has 1 rows with NaN or infinite values" in _fit_error(clf, df)


def test_infinities_of_either_sign_in_an_array_column_are_counted(clf, spark):
    rows = [([1.0, float("-inf")], 0.0), ([float("inf"), 2.0], 1.0), ([1.0, 3.0], 1.0)]
    df = spark.createDataFrame(rows, "features array<double>, label double")
    assert "featuresCol 'features' has 2 rows with NaN or infinite values" in _fit_error(clf, df)


def test_a_value_beyond_float32_is_refused_before_staging_makes_it_infinite(clf, spark):
    df = spark.createDataFrame([([1.0, 1e39], 0.0), ([1.0, 3.0], 1.0), ([-1e300, 3.0], 1.0)],
                               "features array<double>, label double")
    assert "featuresCol 'features' has 2 rows with NaN or infinite values (or beyond float32's" in _fit_error(clf, df)


def test_infinite_value_in_a_features_column_names_that_column(store, spark):
    df = spark.createDataFrame([(1.0, float("inf"), 0.0), (2.0, 1.0, 1.0), (3.0, 4e38, 1.0)], ["a", "b", "label"])
    message = _fit_error(MLPClassifier(featuresCols=["a", "b"], numProc=2, storePath=store), df)
    assert "featuresCols column 'b' has 2 rows with NaN or infinite values" in message


def test_null_label_is_counted(clf, spark):
    df = spark.createDataFrame([(Vectors.dense([1.0]), 0.0), (Vectors.dense([2.0]), None)],
                               VECTOR_AND_LABEL)
    assert "labelCol 'label' has 1 rows with null values" in _fit_error(clf, df)


def test_non_integer_labels_are_rejected_by_the_classifier(clf, spark):
    df = spark.createDataFrame([(Vectors.dense([1.0]), 0.0), (Vectors.dense([2.0]), 1.5)], ["features", "label"])
    message = _fit_error(clf, df)
    assert "labelCol 'label' has 1 non-integer values (e.g. 1.5)" in message


def test_negative_labels_are_rejected_without_metadata(clf, spark):
    df = spark.createDataFrame([(Vectors.dense([1.0]), -1.0), (Vectors.dense([2.0]), 1.0)], ["features", "label"])
    assert "labelCol 'label' has negative values (minimum -1)" in _fit_error(clf, df)


def test_class_indices_too_large_for_a_network_are_rejected(clf, spark):  # not a raw ANSI cast overflow
    df = spark.createDataFrame([(Vectors.dense([1.0]), 0.0), (Vectors.dense([2.0]), 3e9)], VECTOR_AND_LABEL)
    message = _fit_error(clf, df)
    assert "labelCol 'label' has values up to 3000000000" in message and "StringIndexer" in message


def test_labels_beyond_the_indexed_classes_are_rejected(clf, blobs):
    attr = {"ml_attr": {"type": "nominal", "name": "label", "vals": ["a", "b"]}}
    df = blobs.withColumn("label", F.col("label").alias("label", metadata=attr))
    assert "labelCol 'label' has values from 0 to 2, outside 0..1" in _fit_error(clf, df)


def test_empty_dataframe_is_rejected(clf, blobs):
    assert "the DataFrame is empty" in _fit_error(clf, blobs.limit(0))


def test_fewer_rows_than_ranks_is_rejected(clf, blobs):
    assert "the DataFrame has 1 rows, fewer than numProc=2" in _fit_error(clf, blobs.limit(1))


def test_vectors_of_different_sizes_are_rejected(clf, spark):
    df = spark.createDataFrame([(Vectors.dense([1.0]), 0.0), (Vectors.dense([1.0, 2.0]), 1.0)], ["features", "label"])
    assert "holds rows of different sizes (1 to 2 values)" in _fit_error(clf, df)


def test_features_that_do_not_fit_the_keras_model_are_rejected(store, blobs):
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    estimator = KerasEstimator(model=model, loss="mse", numProc=2, storePath=store)
    message = _fit_error(estimator, blobs)
    assert "has 4 features per row but the Keras model's input expects 8" in message


def test_unwritable_store_path_is_rejected_before_staging(blobs, tmp_path):
    if os.geteuid() == 0:  # root writes into read-only folders; a file in the way still stops it
        blocker = tmp_path / "a-file"
        blocker.write_text("not a directory")
        unwritable = blocker / "store"
    else:
        read_only = tmp_path / "read-only"
        read_only.mkdir()
        read_only.chmod(0o500)
        unwritable = read_only / "store"
    message = _fit_error(MLPClassifier(numProc=2, storePath=str(unwritable)), blobs)
    assert "storePath" in message and "is not writable" in message


def test_invalid_param_values_are_named(clf, blobs):
    assert "validationSplit=1.5 is invalid: it must be in [0, 1)" in _fit_error(clf.setValidationSplit(1.5), blobs)
    assert "batchSize=0 is invalid" in _fit_error(clf.setValidationSplit(0.0).setBatchSize(0), blobs)


def test_an_unknown_reader_backend_is_named(clf, blobs):
    message = _fit_error(clf.setReaderBackend("parquet"), blobs)
    assert "readerBackend='parquet' is invalid: it must be 'arrow' or 'petastorm'" in message


@pytest.mark.skipif("petastorm" in STREAMING, reason="Petastorm runs here (the legacy stack): test_reader.py and "
                    "test_image_inputs.py read with it")
def test_petastorm_where_it_cannot_run_is_refused_before_anything_is_staged(store, blobs):
    before = set(os.listdir(store))
    message = _fit_error(MLPClassifier(numProc=2, storePath=store, readerBackend="petastorm"), blobs)
    assert "readerBackend='petastorm' cannot be used here" in message and "numpy" in message
    assert set(os.listdir(store)) == before


def test_regressor_accepts_no_string_target(store, spark):
    df = spark.createDataFrame([(Vectors.dense([1.0]), "high"), (Vectors.dense([2.0]), "low")], ["features", "label"])
    assert "labelCol 'label' has type string" in _fit_error(MLPRegressor(numProc=2, storePath=store), df)


def test_checks_run_before_anything_is_staged(store, spark):
    before = set(os.listdir(store))
    df = spark.createDataFrame([(Vectors.dense([1.0]), 0.5), (Vectors.dense([2.0]), 1.0)], ["features", "label"])
    _fit_error(MLPClassifier(numProc=2, storePath=store), df)
    assert set(os.listdir(store)) == before


def test_validation_split_leaving_fewer_rows_than_ranks_is_rejected(clf, blobs):
    message = _fit_error(clf.setValidationSplit(0.005), blobs)
    assert "validationSplit=0.005 of 300 rows leaves about 1 validation rows, fewer than numProc=2" in message


def test_keras_estimator_without_a_model_says_so(store, blobs):
    assert "model is not set" in _fit_error(KerasEstimator(loss="mse", numProc=2, storePath=store), blobs)


def test_keras_estimator_without_a_loss_says_so(store, blobs):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    assert "loss is not set" in _fit_error(KerasEstimator(model=model, numProc=2, storePath=store), blobs)


def test_store_path_on_a_file_system_the_driver_cannot_reach_is_rejected_with_the_reason(blobs):
    message = _fit_error(MLPClassifier(numProc=2, storePath="hdfs://namenode/staging"), blobs)
    assert "storePath 'hdfs://namenode/staging' is not writable (" in message  # here: no libhdfs or JVM for it


def test_a_dataframe_checked_again_with_the_same_inputs_runs_no_spark_job(spark):
    from horovod_spark_ml.data.multi_input import MultiInputFeatures
    from horovod_spark_ml.data.schema import NumericFeatures, check_training_input
    df = spark.createDataFrame([(Vectors.dense([float(i), 1.0]), [1.0, float(i)], float(i % 2)) for i in range(6)],
                               ["a", "b", "label"])
    x, y = keras.Input((2,), name="x"), keras.Input((2,), name="y")
    two = keras.Model([x, y], keras.layers.Dense(1)(keras.layers.Concatenate()([x, y])))
    inputs = [lambda: NumericFeatures("a"), lambda: MultiInputFeatures(["a", "b"], two)]
    jobs = spark.sparkContext.statusTracker()
    for make_features in inputs:
        check = dict(features=make_features(), label_cols=["label"], label_kind="class")
        first = check_training_input(df, **check)
        spark.sparkContext.setJobGroup("checked again", "")
        assert check_training_input(df, **{**check, "features": make_features()}) == first
        assert jobs.getJobIdsForGroup("checked again") == []
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
