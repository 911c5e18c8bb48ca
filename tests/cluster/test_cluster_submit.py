"""Applications submitted to the cluster with ``spark-submit``: the CLI, GPU scheduling, a shipped environment.

Each is its own Spark application with its own driver process, so these run
after the in-process session of ``test_cluster_fit`` has stopped and freed
the workers' cores.
"""
import csv
import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

from flowers import write_flowers_csv
from cluster.standalone_cluster import spark_submit_command

RANK_LINE = re.compile(r"^rank (\d) of 2: host \S+ \(([\d.]+)\), pid \d+, (\S+)(.*)$", re.M)
CLI = [sys.executable, "-m", "horovod_spark_ml.cli"]


def submit(cluster, *args, conf=None, timeout=300):
    """Run ``spark-submit`` against the cluster; its stdout and stderr together, after checking it succeeded."""
    try:
        done = subprocess.run(spark_submit_command(cluster, *args, conf=conf), capture_output=True, text=True,
                              timeout=timeout, env=dict(os.environ, PYSPARK_DRIVER_PYTHON=sys.executable))
    except subprocess.TimeoutExpired as e:  # where it was: the last lines it wrote, and the workers' folder
        tail = "".join(x.decode(errors="replace") if isinstance(x, bytes) else x or "" for x in (e.stdout, e.stderr))
        pytest.fail(f"spark-submit ran past {timeout} s (executors' logs: {cluster.folder}):\n{tail[-3000:]}")
    output = done.stdout + done.stderr
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return output


@pytest.fixture(scope="module")
def flowers_csv(tmp_path_factory):
    return write_flowers_csv(tmp_path_factory.mktemp("data") / "flowers.csv")


@pytest.fixture(scope="module")
def cli_script():
    return subprocess.run(CLI + ["--script"], capture_output=True, text=True, check=True).stdout.strip()


def test_the_cli_trains_and_predicts_under_spark_submit_with_one_gpu_per_rank(cluster, cli_script, flowers_csv,
                                                                              tmp_path):
    model_dir, out = str(tmp_path / "model"), str(tmp_path / "predictions.csv")
    gpus = {"spark.executor.resource.gpu.amount": "1", "spark.task.resource.gpu.amount": "1"}
    output = submit(cluster, cli_script, "train", flowers_csv, "--label-col", "species", "--model-dir", model_dir,
                    "--epochs", "15", "--batch-size", "16", "--learning-rate", "0.01", "--num-proc", "2", conf=gpus)
    ranks = {int(rank): (address, gpu) for rank, address, _, gpu in RANK_LINE.findall(output)}
    assert sorted(ranks) == [0, 1], output[-3000:]
    if cluster.separate_hosts:
        assert sorted(address for address, _ in ranks.values()) == sorted(cluster.worker_hosts)
    # Each worker has one (fake) GPU, with its own address: each rank sees only the one Spark gave it.
    assigned = sorted(re.search(r"Spark GPU (\d) \(CUDA_VISIBLE_DEVICES=(\d)\)", gpu).groups() for _, gpu in
                      ranks.values())
    assert assigned == [("0", "0"), ("1", "1")]

    submit(cluster, cli_script, "predict", model_dir, flowers_csv, out)
    with open(next(os.path.join(out, f) for f in os.listdir(out) if f.endswith(".csv"))) as f:
        rows = list(csv.DictReader(f))
    assert rows and sum(r["predicted_species"] == r["species"] for r in rows) / len(rows) > 0.9


def test_executors_without_the_stack_get_an_error_that_names_their_python_and_the_fix(cluster, tmp_path):
    bare = tmp_path / "bare"
    subprocess.run([sys.base_prefix + "/bin/python3", "-m", "venv", "--without-pip", str(bare)], check=True)
    job = tmp_path / "job.py"
    job.write_text("from horovod_spark_ml import MLPClassifier, ClusterError\n"
                   "from horovod_spark_ml.session import get_spark\n"
                   "spark = get_spark()\n"
                   "df = spark.createDataFrame([(float(i % 2), float(i % 2)) for i in range(20)], ['a', 'label'])\n"
                   "try:\n"
                   "    MLPClassifier(featuresCols=['a'], numProc=2, epochs=1).fit(df)\n"
                   "except ClusterError as e:\n"
                   "    print('CLUSTER ERROR:', e)\n")
    output = submit(cluster, str(job), conf={"spark.pyspark.python": str(bare / "bin" / "python3"),
                                             "spark.pyspark.driver.python": sys.executable})
    error = next(line for line in output.splitlines() if line.startswith("CLUSTER ERROR:"))
    assert f"the executors' Python {bare}/bin/python3 on " in error
    assert "cannot import horovod (No module named 'horovod')" in error
    assert "PYSPARK_PYTHON" in error and "spark.archives=env.tar.gz#environment" in error


def test_a_fit_runs_on_an_environment_shipped_with_spark_archives(cluster, cli_script, flowers_csv, tmp_path):
    """Pack the environment, ship it with spark.archives, and the ranks run its Python, not the driver's."""
    packed = str(tmp_path / "env.tar.gz")
    subprocess.run(CLI + ["pack-env", "-o", packed, "--compress-level", "0"], check=True, capture_output=True)
    conf = {"spark.archives": f"{packed}#environment", "spark.pyspark.python": "./environment/bin/python",
            "spark.pyspark.driver.python": sys.executable}
    try:
        output = submit(cluster, cli_script, "train", flowers_csv, "--label-col", "species", "--model-dir",
                        str(tmp_path / "model"), "--epochs", "5", "--num-proc", "2", conf=conf)
    finally:  # 3.3 GB packed, and as much again unpacked by each executor: not left in pytest's kept folders
        os.remove(packed)
        for unpacked in glob.glob(os.path.join(cluster.folder, "worker*", "app-*", "*", "environment")):
            shutil.rmtree(unpacked, ignore_errors=True)
    pythons = [python for _, _, python, _ in RANK_LINE.findall(output)]
    assert len(pythons) == 2, output[-3000:]
    assert all(p.endswith("/environment/bin/python") and p != sys.executable for p in pythons)
    assert "saved the fitted pipeline" in output
