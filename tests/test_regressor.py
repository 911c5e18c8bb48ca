"""MLPRegressor: one target (a double prediction) or several (a Vector prediction)."""
import numpy as np
import pytest
from pyspark.ml.evaluation import RegressionEvaluator
from pyspark.ml.linalg import Vectors, VectorUDT
from pyspark.sql.types import DoubleType

from horovod_spark_ml import MLPRegressionModel, MLPRegressor


@pytest.fixture(scope="module")
def linear(spark):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(400, 3))
    rows = [(Vectors.dense(r), float(2 * r[0] - r[1] + 0.5 * r[2]), float(r[0] + r[1]), float(r[2] - r[0]))
            for r in x]
    return spark.createDataFrame(rows, ["features", "y", "a", "b"]).cache()


def test_one_target_gives_a_double_prediction_close_to_the_truth(linear, store, tmp_path):
    model = MLPRegressor(labelCol="y", hiddenLayers=[32], epochs=30, batchSize=16, learningRate=0.01, numProc=2,
                         validationSplit=0.2, earlyStoppingPatience=5, storePath=store, verbose=0).fit(linear)
    predictions = model.transform(linear)
    assert isinstance(predictions.schema["prediction"].dataType, DoubleType)
    assert RegressionEvaluator(labelCol="y", metricName="r2").evaluate(predictions) > 0.9
    assert "val_loss" in model.history and "mean_absolute_error" in model.history

    model.write().save(str(tmp_path / "regressor"))
    reloaded = MLPRegressionModel.load(str(tmp_path / "regressor"))
    assert [r.prediction for r in reloaded.transform(linear).collect()] == [r.prediction for r in
                                                                             predictions.collect()]


def test_several_label_columns_give_a_vector_prediction(linear, store):
    model = MLPRegressor(labelCols=["a", "b"], hiddenLayers=[32], epochs=20, batchSize=16, learningRate=0.01,
                         numProc=2, storePath=store, verbose=0).fit(linear)
    predictions = model.transform(linear)
    assert isinstance(predictions.schema["prediction"].dataType, VectorUDT)
    errors = [abs(r.prediction[0] - r.a) + abs(r.prediction[1] - r.b) for r in predictions.collect()]
    assert model.numTargets == 2 and sum(errors) / len(errors) < 0.3
