"""Features from a dense or sparse Vector, an array, or numeric columns; labels with or without metadata;
staging of only the needed columns, reused when the same DataFrame is fitted again."""
import glob
import os

import pyarrow.parquet as pq
import pytest
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.functions import vector_to_array
from pyspark.ml.linalg import SparseVector
from pyspark.sql import functions as F

from horovod_spark_ml import MLPClassifier


def _sparse(df):
    to_sparse = F.udf(lambda v: SparseVector(len(v), {i: x for i, x in enumerate(v) if x != 0}),
                      df.schema["features"].dataType)
    return df.withColumn("features", to_sparse("features")), {}


def _array(df):
    return df.withColumn("features", vector_to_array("features")), {}


def _columns(df):
    array = vector_to_array("features")
    return df.select(*[array[i].alias(f"x{i}") for i in range(4)], "label"), {"featuresCols": [f"x{i}" for i in
                                                                                                range(4)]}


@pytest.mark.parametrize("shape", [_sparse, _array, _columns], ids=["sparse-vector", "array", "numeric-columns"])
def test_features_come_from_any_spark_shape(shape, blobs, store):
    df, params = shape(blobs)
    model = MLPClassifier(hiddenLayers=[16], epochs=8, batchSize=16, learningRate=0.01, numProc=2, storePath=store,
                          verbose=0, **params).fit(df)
    predictions = model.transform(df)
    assert MulticlassClassificationEvaluator(metricName="accuracy").evaluate(predictions) > 0.9
    # No StringIndexer here: the classes come from the data, and the prediction still says how many.
    assert predictions.schema["prediction"].metadata["ml_attr"]["num_vals"] == 3


def test_fitting_the_same_dataframe_again_reuses_the_staged_data(blobs, tmp_path):
    store = str(tmp_path / "store")
    estimator = MLPClassifier(hiddenLayers=[8], epochs=1, numProc=2, storePath=store, verbose=0)
    estimator.fit(blobs)
    staged = sorted(set(os.listdir(store)) - {"runs"})  # runs/: each fit's checkpoints (test_recovery.py)
    estimator.setEpochs(2).fit(blobs)
    assert sorted(set(os.listdir(store)) - {"runs"}) == staged and len(staged) == 1
    assert len(os.listdir(os.path.join(store, "runs"))) == 2


def test_only_the_needed_columns_are_staged(blobs, tmp_path):
    store = str(tmp_path / "store")
    wide = blobs.withColumn("unused", F.lit("not staged")).withColumn("other", F.rand())
    MLPClassifier(hiddenLayers=[8], epochs=1, numProc=2, storePath=store, verbose=0).fit(wide)
    files = glob.glob(os.path.join(store, "*", "*.parquet"))
    assert files and all(pq.read_schema(f).names == ["features", "label"] for f in files)
    assert sum(pq.ParquetFile(f).metadata.num_rows for f in files) == blobs.count()
