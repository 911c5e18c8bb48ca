"""Models saved by an earlier release of the package still load and predict the same."""
import json
import os

import numpy as np
import pytest
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


@pytest.mark.parametrize("named", ["horovod_spark_ml.cli.main", "horovod_spark_mlx.stages.MLPClassifier",
                                   "horovod_spark_ml.estimators.mlp.MLPRegressor", "os.system"])
def test_a_saved_stage_that_names_anything_but_a_stage_of_its_kind_is_refused_before_it_is_called(
        spark, tmp_path, named):
    from horovod_spark_ml import MLPClassifier
    path = str(tmp_path / "stage")
    MLPClassifier(hiddenLayers=[4]).write().save(path)
    [metadata_file] = (tmp_path / "stage" / "metadata").glob("part-*")
    metadata = json.loads(metadata_file.read_text())
    metadata_file.write_text(json.dumps({**metadata, "class": named}))
    for checksum in (tmp_path / "stage" / "metadata").glob(".*.crc"):
        checksum.unlink()  # Hadoop's, which would no longer match
    with pytest.raises(ValueError, match=f"the saved stage names {named}, which is not a horovod_spark_ml stage"):
        MLPClassifier.load(path)  # cli.main would exit (SystemExit) if it were called
