"""Why the reader turns tf.data's autotuning off: deleting an autotuned iterator can block for seconds.

Plain TensorFlow, no Spark and no Horovod: each try runs in a fresh Python,
iterates the in-memory reader's pipeline for ``--seconds`` (as a short fit
does), then times ``del`` of its iterator, with autotuning on and then off.
On TensorFlow 2.18 on the 2-core machine, 3 of 12 autotuned tries took 2.1 s;
none without autotuning took more than 3 ms (``bench/NOTES.md``, 2026-12-03,
third session). Rerun it on a new TensorFlow before turning autotuning back on.
Prints one JSON object.

    python -m bench.iterator_stall --tries 6
"""
import argparse
import json
import os
import subprocess
import sys
import time


def main():
    parser = argparse.ArgumentParser(prog="bench.iterator_stall")
    parser.add_argument("--tries", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--one", choices=["on", "off"], help=argparse.SUPPRESS)  # a single try, in this process
    args = parser.parse_args()
    if args.one:
        print(_delete_seconds(args.one == "on", args.seconds))
        return
    figures = {}
    for autotune in ("on", "off"):
        figures[f"autotune_{autotune}_delete_seconds"] = [
            float(subprocess.run([sys.executable, "-m", "bench.iterator_stall", "--one", autotune,
                                  "--seconds", str(args.seconds)], check=True, capture_output=True, text=True,
                                 env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}).stdout.split()[-1])
            for _ in range(args.tries)]
    print(json.dumps(figures))


def _delete_seconds(autotune, seconds):
    """Seconds that ``del`` of the reader's iterator takes after ``seconds`` of use."""
    import numpy as np

    from horovod_spark_ml.data.layout import Field
    from horovod_spark_ml.training.rank import reader
    rows = 1440
    values = {"features": reader._aligned(rows * 64, np.float32).reshape(rows, 64),
              "label": reader._aligned(rows, np.float64)}
    values["features"][:] = 1.0
    values["label"][:] = 0.0
    dataset = reader._in_memory_batches(values, [Field("features", (64,))], [Field("label", ())], 64, True, 1)
    if not autotune:
        dataset = reader._untuned(dataset)
    iterator = iter(dataset)
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        next(iterator)
        time.sleep(0.004)  # a training step's worth of time between batches
    started = time.perf_counter()
    del iterator
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
