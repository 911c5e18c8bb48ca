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


@pytest.mark.parametrize("command", [["train", "data.csv", "--label-col", "species"], ["demo"],
                                     ["demo", "--if-exists=error"]], ids=" ".join)
@pytest.mark.parametrize("as_url", [False, True], ids=["path", "file-url"])
def test_train_and_demo_refuse_to_replace_an_existing_model_dir(spark, command, tmp_path, as_url):
    (tmp_path / "kept.txt").write_text("a user's file")
    with pytest.raises(SystemExit, match="pass --overwrite"):  # a URL too (os.path.exists is False for any URL)
        main(command + ["--model-dir", f"file://{tmp_path}" if as_url else str(tmp_path)])
    assert (tmp_path / "kept.txt").read_text() == "a user's file"


def test_overwrite_can_be_given_as_a_value_for_a_job_s_fixed_parameters():
    from horovod_spark_ml.cli import _parser
    assert _parser().parse_args(["demo", "--if-exists=overwrite"]).if_exists == "overwrite"
    assert _parser().parse_args(["demo", "--overwrite"]).if_exists == "overwrite"
    with pytest.raises(SystemExit):
        _parser().parse_args(["demo", "--overwrite", "--if-exists=error"])  # one or the other
