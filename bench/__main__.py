"""Run the benchmark cases side by side in one run and print a table of ratios.

    ./run bench            # full size (100k x 784 rows)
    ./run bench --quick    # reduced size, for checking a change fast

Raw figures go to bench/results/latest.json (or --out). Cases and targets: bench/README.md.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SIZES = {
    "full": dict(rows=100_000, features=784, hidden="512,256,128", batch=128, epochs=4, predict_rows=100_000),
    "quick": dict(rows=10_000, features=784, hidden="256,128,64", batch=128, epochs=4, predict_rows=20_000),
}
THREADS = 2  # the thread budget both sides get: all cores of the 2-core reference machine


def main():
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "latest.json"))
    args = parser.parse_args()
    size = SIZES["quick" if args.quick else "full"]
    work = tempfile.mkdtemp(prefix="hsm-bench-")
    try:
        figures = {"size": size, "machine": _machine(), "date": time.strftime("%Y-%m-%d")}
        figures["plain_keras"] = _plain_keras(size)
        figures.update(_ours(size, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(figures, f, indent=2)
    print(_table(figures))
    print(f"raw figures: {args.out}")


def _machine():
    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"


def _plain_keras(size):
    command = [sys.executable, "-m", "bench.plain_keras", "--threads", str(THREADS),
               *[f"--{k.replace('_', '-')}={v}" for k, v in size.items()]]
    output = subprocess.run(command, check=True, capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))).stdout
    return json.loads(output.strip().splitlines()[-1])


def _ours(size, work):
    from pyspark.sql import functions as F

    from bench.data import synthetic, write_parquet
    from horovod_spark_ml import MLPClassifier
    from horovod_spark_ml.schema import FEATURES, LABEL
    from horovod_spark_ml.session import local_spark
    from horovod_spark_ml.staging import prepare_store, stage

    spark = local_spark(cores=THREADS, app_name="horovod-spark-ml-bench")
    x, y = synthetic(size["rows"], size["features"])
    df = spark.read.parquet(write_parquet(os.path.join(work, "train"), x, y)).cache()
    df.count()
    columns = [F.col("features").cast("array<float>").alias(FEATURES), F.col("label").alias(LABEL)]

    # staging vs a plain write of the same columns (median of 3, each to a fresh place)
    plain_write, staging = [], []
    for i in range(3):
        started = time.perf_counter()
        df.select(*columns).write.parquet(os.path.join(work, f"plain-{i}"))
        plain_write.append(time.perf_counter() - started)
        store = prepare_store(os.path.join(work, f"store-{i}"))
        started = time.perf_counter()
        staged = stage(df, columns, num_proc=1, validation_split=0.0, seed=1, store_url=store)
        staging.append(time.perf_counter() - started)
    megabytes = _folder_mb(os.path.join(work, "plain-0"))
    started = time.perf_counter()
    stage(df, columns, num_proc=1, validation_split=0.0, seed=1, store_url=prepare_store(os.path.join(work,
                                                                                                  "store-0")))
    restage = time.perf_counter() - started

    # fit: numProc=1 with all cores, per-epoch time after the first epoch
    started = time.perf_counter()
    model = MLPClassifier(featuresCol="features", hiddenLayers=[int(n) for n in size["hidden"].split(",")],
                          batchSize=size["batch"], epochs=size["epochs"], numProc=1, seed=1, verbose=0,
                          storePath=os.path.join(work, "fit-store")).fit(df)
    fit_wall = time.perf_counter() - started

    # transform, forced through a no-op sink (one warm-up, then median of 3)
    px, py = synthetic(size["predict_rows"], size["features"], seed=1)
    predict_df = spark.read.parquet(write_parquet(os.path.join(work, "predict"), px, py)).cache()
    predict_df.count()
    transform = []
    for i in range(4):
        started = time.perf_counter()
        model.transform(predict_df).write.format("noop").mode("overwrite").save()
        transform.append(time.perf_counter() - started)
    spark.stop()
    return {"staging": {"plain_write_seconds": plain_write, "staging_seconds": staging, "megabytes": megabytes,
                        "second_staging_seconds": restage},
            "fit": {"wall_seconds": fit_wall, "epoch_seconds": model.epochSeconds,
                    "epoch_median_s": statistics.median(model.epochSeconds[1:])},
            "transform": {"seconds": transform[1:],
                          "rows_per_s": size["predict_rows"] / statistics.median(transform[1:])}}


def _folder_mb(path):
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path)) / 1e6


def _table(f):
    plain, stage_, fit, transform = f["plain_keras"], f["staging"], f["fit"], f["transform"]
    staging_s, write_s = statistics.median(stage_["staging_seconds"]), statistics.median(stage_["plain_write_seconds"])
    rows = [
        ("fit overhead", "MLPClassifier per-epoch s / plain Keras per-epoch s (numProc=1)",
         fit["epoch_median_s"] / plain["epoch_median_s"], "<= 1.10",
         f"{fit['epoch_median_s']:.2f} s / {plain['epoch_median_s']:.2f} s"),
        ("fixed cost", "second staging s / first staging s", stage_["second_staging_seconds"] / staging_s, "<= 0.1",
         f"{stage_['second_staging_seconds']:.2f} s / {staging_s:.2f} s; fit wall {fit['wall_seconds']:.1f} s, "
         f"of which epochs {sum(fit['epoch_seconds']):.1f} s"),
        ("staging", "staging MB/s / df.write.parquet MB/s", write_s / staging_s, ">= 0.7",
         f"{stage_['megabytes'] / staging_s:.0f} / {stage_['megabytes'] / write_s:.0f} MB/s"),
        ("transform", "transform rows/s / plain predict rows/s", transform["rows_per_s"] / plain["predict_rows_per_s"],
         ">= 0.8", f"{transform['rows_per_s']:.0f} / {plain['predict_rows_per_s']:.0f} rows/s"),
    ]
    lines = [f"| case | ratio | value | target | raw |", "|---|---|---|---|---|"]
    lines += [f"| {case} | {what} | {value:.2f} | {target} | {raw} |" for case, what, value, target, raw in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
