"""The baseline: plain single-process Keras on in-memory NumPy, in its own process so its threads are set
before TensorFlow starts. Prints one JSON object; the bench runs it once before each of our fits.

    python -m bench.plain_keras --rows 10000 --features 784 --hidden 256,128,64 --batch 128 --epochs 4 --threads 2
"""
import argparse
import json
import os
import statistics
import time


def main():
    parser = argparse.ArgumentParser()
    for name, kind in [("rows", int), ("features", int), ("hidden", str), ("batch", int), ("epochs", int),
                       ("threads", int), ("predict-rows", int)]:
        parser.add_argument(f"--{name}", type=kind, required=True)
    args = parser.parse_args()
    start_tensorflow(args.threads)
    import keras

    from bench.data import synthetic
    from horovod_spark_ml.estimators.architectures import build_mlp

    x, y = synthetic(args.rows, args.features)
    keras.utils.set_random_seed(1)
    model = build_mlp(args.features, [int(n) for n in args.hidden.split(",")], 10)
    model.compile(optimizer=keras.optimizers.Adam(0.001),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                  jit_compile=False)
    times, predict_times = fit_and_predict_seconds(model, x, y, synthetic(args.predict_rows, args.features, seed=1)[0],
                                                   args.batch, args.epochs)
    print(json.dumps({"epoch_seconds": times, "epoch_median_s": statistics.median(times[1:]),
                      "predict_seconds": predict_times,
                      "predict_rows_per_s": args.predict_rows / statistics.median(predict_times)}))


def start_tensorflow(threads):
    """Import TensorFlow with ``threads`` intra-op threads (before it starts any); returns the module."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    return tf


def fit_and_predict_seconds(model, x, y, predict_x, batch, epochs):
    """Each epoch's seconds in ``model.fit``, then 3 ``model.predict(predict_x)`` timings after a warm-up.

    An epoch's seconds run from the previous epoch's end, as the estimators' ``epochSeconds`` do.
    """
    import keras
    times = []

    class Timer(keras.callbacks.Callback):
        started = None

        def on_epoch_begin(self, epoch, logs=None):
            self.started = self.started or time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            ended = time.perf_counter()
            times.append(ended - self.started)
            self.started = ended

    model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, shuffle=True, callbacks=[Timer()])
    model.predict(predict_x[: batch * 4], batch_size=batch, verbose=0)  # warm-up
    predict_times = []
    for _ in range(3):
        started = time.perf_counter()
        model.predict(predict_x, batch_size=batch, verbose=0)
        predict_times.append(time.perf_counter() - started)
    return times, predict_times


def summary(runs):
    """Several runs' figures as one: the medians over the runs of their per-epoch and predict figures."""
    failed = [run for run in runs if "error" in run]
    if failed:
        return failed[0]
    return {"runs": runs, "epoch_median_s": statistics.median(run["epoch_median_s"] for run in runs),
            "predict_rows_per_s": statistics.median(run["predict_rows_per_s"] for run in runs)}


if __name__ == "__main__":
    main()
