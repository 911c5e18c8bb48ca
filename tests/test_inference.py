"""Batched inference gives Keras' own predictions, whether outputs come back one field per value or as arrays."""
import keras
import numpy as np
import pytest
from pyspark.sql import functions as F

from horovod_spark_ml.serving import inference
from horovod_spark_ml.keras_bytes import model_to_bytes
from horovod_spark_ml.data.layout import Field


@pytest.mark.parametrize("classes", [3, 40])  # 7 fields by value; 81 would be too many, so arrays
def test_outputs_match_keras_and_rows_without_features_get_nulls(spark, classes):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4)).astype("float32")
    rows = [([float(v) for v in row],) for row in x] + [(None,)]
    df = spark.createDataFrame(rows, "features array<float>")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(classes)])
    batches = inference.ArrayBatches([Field("features", (4,))])
    width = inference.output_width(model, batches.symbolic_inputs())
    assert width == classes and (2 * width + 1 <= inference._VALUE_FIELDS) == (classes == 3)

    outputs = inference.predict_struct(df, model_to_bytes(model), F.col("features"), batches=batches, batch_size=16,
                                       width=width, head="classes")
    got = df.select(outputs.alias("o")).select("o.*").collect()

    expected = model.predict(x, verbose=0)
    probability = np.exp(expected) / np.exp(expected).sum(axis=1, keepdims=True)
    np.testing.assert_allclose([r.raw for r in got[:-1]], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([r.probability for r in got[:-1]], probability, rtol=1e-5, atol=1e-6)
    assert [r.prediction for r in got[:-1]] == list(expected.argmax(axis=1).astype(float))
    assert tuple(got[-1]) == (None, None, None)


def test_a_python_worker_keeps_at_most_four_models_loaded_the_ones_used_last(spark):
    df = spark.createDataFrame([([1.0, 2.0, 3.0, 4.0],)], "features array<float>").coalesce(1)
    batches = inference.ArrayBatches([Field("features", (4,))])
    for seed in range(10):  # a model search's worth of models, each transforming once
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        outputs = inference.predict_struct(df, model_to_bytes(model), F.col("features"), batches=batches,
                                           batch_size=4, width=2)
        df.select(outputs.alias("o")).collect()

    @F.pandas_udf("long")
    def loaded(ids):  # in the Python workers that ran the models (a pandas UDF's, not an RDD's)
        import os
        from horovod_spark_ml.serving import inference as worker_inference
        return ids * 0 + len(worker_inference._MODELS) + os.getpid() * 100

    answers = {r.v for r in spark.range(0, 64, 1, 16).select(loaded("id").alias("v")).collect()}
    held = {pid_and_count // 100: pid_and_count % 100 for pid_and_count in answers}
    assert max(held.values()) == 4, held  # 10 models over the workers: one of them used at least 4
