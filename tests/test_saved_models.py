"""Models saved by an earlier release of the package still load and predict the same."""
import json
import os

import numpy as np
from pyspark.ml import PipelineModel

SAVED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "saved")


def test_a_pipeline_saved_by_0_1_0_in_the_flat_layout_loads_and_predicts_the_same(spark):
    with open(os.path.join(SAVED, "mlp-pipeline-0.1.0.predictions.json")) as f:
        expected = json.load(f)
    model = PipelineModel.load(os.path.join(SAVED, "mlp-pipeline-0.1.0"))
    rows = spark.createDataFrame([(e["x"], e["y"], k) for e, k in zip(expected, "abc")], ["x", "y", "kind"])
    got = [list(r.probability) for r in model.transform(rows).select("probability").collect()]
    np.testing.assert_allclose(got, [e["probability"] for e in expected], rtol=1e-5, atol=1e-7)
    assert type(model.stages[-1]).__module__ == "horovod_spark_ml.estimators.mlp"
