"""The incumbent, Horovod's own ``horovod.spark.keras.KerasEstimator``, on the same task as ours; run in its own
environment (bench/incumbent/setup.sh: TensorFlow 2.15 with Keras 2, pyarrow < 11). Prints one JSON object.

    bench/incumbent/.venv/bin/python bench/incumbent/run.py --train DIR --predict DIR --hidden 256,128,64 \
        --batch 128 --epochs 4 --threads 2 --work DIR --predict-rows 10000
"""
import argparse
import json
import os
import statistics
import sys
import time

REPEATS = 3


def main():
    parser = argparse.ArgumentParser()
    for name, kind in [("train", str), ("predict", str), ("hidden", str), ("batch", int), ("epochs", int),
                       ("threads", int), ("work", str), ("predict-rows", int)]:
        parser.add_argument(f"--{name}", type=kind, required=True)
    args = parser.parse_args()
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master(f"local[{args.threads}]").config("spark.ui.enabled", "false")
             .config("spark.driver.memory", "4g").config("spark.sql.shuffle.partitions", str(args.threads))
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    import tensorflow as tf
    from horovod.spark.common.store import LocalStore
    from horovod.spark.keras import KerasEstimator

    hidden = [int(n) for n in args.hidden.split(",")]
    from pyspark.sql import functions as F
    # Its KerasEstimator reshapes each label to the model's output shape, so the class index goes in one-hot.
    one_hot = F.array(*[(F.col("label") == k).cast("float") for k in range(10)]).alias("label_vec")
    train = spark.read.parquet(args.train).select("features", one_hot).cache()
    train.count()
    inputs = tf.keras.Input((len(train.first()["features"]),), name="features")
    x = inputs
    for units in hidden:
        x = tf.keras.layers.Dense(units, activation="relu")(x)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(10)(x))
    fit_walls = []
    for i in range(REPEATS):  # each into a fresh store, as ours
        estimator = KerasEstimator(
            num_proc=1, store=LocalStore(os.path.join(args.work, f"incumbent-store-{i}")), model=model,
            optimizer=tf.keras.optimizers.Adam(0.001),
            loss=tf.keras.losses.CategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
            feature_cols=["features"], label_cols=["label_vec"], batch_size=args.batch, epochs=args.epochs,
            verbose=0)
        started = time.perf_counter()
        fitted = estimator.fit(train)
        fit_walls.append(time.perf_counter() - started)

    predict = spark.read.parquet(args.predict).limit(args.predict_rows).repartition(args.threads).cache()
    predict.count()
    seconds = []
    for _ in range(REPEATS + 1):
        started = time.perf_counter()
        fitted.transform(predict).write.format("noop").mode("overwrite").save()
        seconds.append(time.perf_counter() - started)
    print(json.dumps({"fit_wall_seconds": fit_walls, "transform_seconds": seconds[1:],
                      "transform_rows_per_s": args.predict_rows / statistics.median(seconds[1:]),
                      "versions": {"horovod": __import__("horovod").__version__, "tensorflow": tf.__version__,
                                   "pyarrow": __import__("pyarrow").__version__}}))


if __name__ == "__main__":
    main()
