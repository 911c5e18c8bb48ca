"""Run the benchmark cases side by side in one run and print a table of ratios.

    ./run bench                      # full size
    ./run bench --quick              # reduced size: each case in under a minute
    ./run bench --quick --skip incumbent

Raw figures go to bench/results/latest.json (or --out). Cases and targets: bench/README.md.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

SIZES = {
    "full": dict(rows=100_000, features=784, hidden="512,256,128", batch=128, epochs=4, predict_rows=100_000,
                 big_rows=4_000, cnn_rows=20_000, incumbent_predict_rows=10_000, gpu_rows=2_048,
                 stream_rows=800_000, stream_memory_rows=400_000),
    "quick": dict(rows=10_000, features=784, hidden="256,128,64", batch=128, epochs=4, predict_rows=100_000,
                  big_rows=1_000, cnn_rows=4_000, incumbent_predict_rows=2_000, gpu_rows=256,
                  stream_rows=400_000, stream_memory_rows=360_000),
}
THREADS = 2  # the thread budget every side gets: all cores of the 2-core reference machine
# gpu runs only where nvidia-smi lists a GPU
CASES = ("search", "mlp", "recovery", "big_mlp", "cnn", "stream", "incumbent", "gpu")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip", nargs="*", default=[], choices=CASES, help="groups of cases to leave out")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "latest.json"))
    args = parser.parse_args()
    size = SIZES["quick" if args.quick else "full"]
    work = tempfile.mkdtemp(prefix="hsm-bench-")
    figures = {"size": size, "machine": _machine(), "date": time.strftime("%Y-%m-%d"),
               "command": "./run bench" + (" --quick" if args.quick else "")}
    try:
        _run(size, work, [c for c in CASES if c not in args.skip], figures)
    except BaseException as e:  # the cases measured so far are kept and printed; the error follows them
        figures["stopped"] = f"{type(e).__name__}: {e}".splitlines()[0]
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(figures, f, indent=2)
        from bench.report import table
        print(table(figures))
        print(f"raw figures: {args.out}")


def _run(size, work, cases, figures):
    """Run ``cases``, adding each group's figures to ``figures`` as soon as it is measured."""
    from pyspark.sql import functions as F

    from bench import cases as case
    from bench.data import synthetic, write_parquet
    from bench.plain_keras import summary as plain_summary
    from horovod_spark_ml.data.schema import FEATURES, LABEL
    from horovod_spark_ml.session import local_spark

    figures["matmul"] = _subprocess([sys.executable, "-m", "bench.matmul", "--threads", str(THREADS)])
    train_path = write_parquet(os.path.join(work, "train"), *synthetic(size["rows"], size["features"]))
    predict_path = write_parquet(os.path.join(work, "predict"), *synthetic(size["predict_rows"], size["features"],
                                                                           seed=1))
    plain_runs = []

    def plain_keras():
        if "mlp" in cases:
            plain_runs.append(_plain_keras(size, size["rows"]))

    spark = local_spark(cores=THREADS, app_name="horovod-spark-ml-bench")
    try:
        if "search" in cases:
            figures["search"] = case.model_search(spark, work)
        if "mlp" in cases or "incumbent" in cases:
            df = spark.read.parquet(train_path).cache()
            df.count()
            columns = [F.col("features").cast("array<float>").alias(FEATURES), F.col("label").alias(LABEL)]
            figures["staging"] = case.staging(df, columns, work)
            model, figures["fit"] = case.mlp_fit(df, size, work, before_each=plain_keras)
            if plain_runs:
                figures["plain_keras"] = plain_summary(plain_runs)
            predict_df = spark.read.parquet(predict_path).cache()
            predict_df.count()
            figures["transform"] = case.transform(model, predict_df, size["predict_rows"])
            df.unpersist()
            predict_df.unpersist()
        if "recovery" in cases:
            df = spark.read.parquet(train_path).cache()
            df.count()
            figures["recovery"] = case.recovery(df, size, work)
            df.unpersist()
        if "big_mlp" in cases:
            figures["big_mlp"] = case.big_mlp(spark, size, work)
        if "cnn" in cases:
            figures["cnn"] = case.cnn_scaling(spark, size, work, THREADS)
        if "stream" in cases:
            from bench.stream import stream
            figures["stream"] = stream(spark, size, work, lambda rows: _plain_keras(size, rows))
        if "gpu" in cases:
            figures.update(_gpu(spark, size, work) if _has_gpu() else
                           {"gpu": {"error": "no GPU on this machine (nvidia-smi lists none)"}})
    finally:
        spark.stop()
    if "incumbent" in cases:
        try:
            figures["incumbent"] = _incumbent(size, train_path, predict_path, work)
        except subprocess.CalledProcessError as e:  # its environment could not be set up: the other figures stand
            figures["incumbent"] = {"error": f"its environment's set-up failed ({e})"}


def _plain_keras(size, rows):
    """Plain Keras's figures on ``rows`` of the synthetic data, in its own process."""
    return _subprocess([sys.executable, "-m", "bench.plain_keras", "--threads", str(THREADS), f"--rows={rows}",
                        *[f"--{k.replace('_', '-')}={size[k]}" for k in
                          ("features", "hidden", "batch", "epochs", "predict_rows")]])


def _incumbent(size, train_path, predict_path, work):
    """Horovod's KerasEstimator in its own environment (set up on first use), after our Spark session stopped."""
    python = subprocess.run(["bash", os.path.join(ROOT, "bench", "incumbent", "setup.sh")], check=True,
                            stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]
    command = [python, os.path.join(ROOT, "bench", "incumbent", "run.py"), "--train", train_path,
               "--predict", predict_path, "--work", work, "--threads", str(THREADS),
               "--predict-rows", str(size["incumbent_predict_rows"]),
               *[f"--{k}={size[k]}" for k in ("hidden", "batch", "epochs")]]
    env = {k: v for k, v in os.environ.items() if k not in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "VIRTUAL_ENV")}
    return _subprocess(command, env=env)


def _subprocess(command, env=None):
    """Run a side in its own process (its threads set before TensorFlow or NumPy start); its last line is JSON."""
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    if result.returncode != 0:
        lines = (result.stdout + result.stderr).strip().splitlines() or [f"exit {result.returncode}"]
        # The first exception raised (a Horovod rank's comes on stdout), rather than what it set off.
        error = next((line for line in lines if "Error: " in line), lines[-1])
        return {"error": error.strip(), "output_tail": "\n".join(lines[-60:])}
    return json.loads(result.stdout.strip().splitlines()[-1])


def _gpu(spark, size, work):
    """Plain Keras's AlexNet in its own process, then ours, on the same GPU."""
    from bench import cases as case
    plain = _subprocess([sys.executable, "-m", "bench.plain_cnn", "--threads", str(THREADS), "--rows",
                         str(size["gpu_rows"]), "--size", "227", *[f"--{k}={size[k]}" for k in ("batch", "epochs")]])
    return {"plain_cnn": plain, "gpu": case.gpu_alexnet(spark, size, work)}


def _has_gpu():
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return listed.returncode == 0 and "GPU" in listed.stdout


def _machine():
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    return f"{platform.machine()}, {os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()}"


if __name__ == "__main__":
    main()
