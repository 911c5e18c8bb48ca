"""The horovod-spark-ml command: train and predict on a user's CSV file."""
import pytest

from flowers import write_flowers_csv
from horovod_spark_ml.cli import main


@pytest.fixture(scope="module")
def flowers_csv(tmp_path_factory):
    return write_flowers_csv(tmp_path_factory.mktemp("data") / "flowers.csv")


def test_train_then_predict_a_csv_file(spark, flowers_csv, tmp_path):
    model_dir, out = str(tmp_path / "model"), str(tmp_path / "predictions.csv")
    assert main(["train", flowers_csv, "--label-col", "species", "--model-dir", model_dir, "--epochs", "15",
                 "--batch-size", "16", "--learning-rate", "0.01", "--num-proc", "2"]) == 0
    assert main(["predict", model_dir, flowers_csv, out]) == 0
    rows = spark.read.option("header", True).csv(out).collect()
    assert len(rows) == 240
    assert sum(r.predicted_species == r.species for r in rows) / len(rows) > 0.9
    assert all(len(r.probability.split(" ")) == 3 for r in rows)


def test_train_refuses_to_replace_an_existing_model_dir(flowers_csv, tmp_path):
    with pytest.raises(SystemExit, match="pass --overwrite"):
        main(["train", flowers_csv, "--label-col", "species", "--model-dir", str(tmp_path)])
