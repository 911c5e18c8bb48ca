"""The horovod-spark-ml command: train and predict on a user's CSV file."""
import csv

import numpy as np
import pytest

from horovod_spark_ml.cli import main


@pytest.fixture(scope="module")
def flowers_csv(tmp_path_factory):
    rng = np.random.default_rng(5)
    path = tmp_path_factory.mktemp("data") / "flowers.csv"
    centers = {"setosa": (1, 5), "versicolor": (5, 1), "virginica": (5, 5)}
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["petal", "sepal", "species"])
        for i in range(240):
            name = list(centers)[i % 3]
            writer.writerow([*(np.array(centers[name]) + rng.normal(scale=0.5, size=2)).round(3), name])
    return str(path)


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
