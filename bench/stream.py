"""The stream case: a fit whose rank's shard is too large to hold in memory, so it streams, against plain Keras
on the same rows in memory; and the rank's peak resident memory at two data sizes.

The rank's pid comes from the driver's rank line (verbose=1); a thread samples its resident memory every
0.2 s while the fit runs.
"""
import contextlib
import os
import statistics
import threading
import time

from bench.cases import RankLines, _ints


def stream(spark, size, work, plain_keras):
    """Figures of the streamed fits (the larger gives the per-epoch ratio) and of ``plain_keras(rows)``."""
    from bench.data import synthetic, write_parquet
    figures = {"fits": []}
    for rows in (size["stream_memory_rows"], size["stream_rows"]):
        path = write_parquet(os.path.join(work, f"stream-{rows}"), *synthetic(rows, size["features"]))
        df = spark.read.parquet(path)
        figures["fits"].append(_streamed_fit(df, rows, size, os.path.join(work, f"stream-store-{rows}")))
        _remove(path)
    figures["plain_keras"] = plain_keras(size["stream_rows"])
    if "error" in figures["plain_keras"]:
        figures["error"] = f"plain Keras: {figures['plain_keras']['error']}"
    return figures


def _streamed_fit(df, rows, size, store):
    from horovod_spark_ml import MLPClassifier
    watcher = _RankMemory()
    started = time.perf_counter()
    with contextlib.redirect_stdout(watcher):
        model = MLPClassifier(featuresCol="features", hiddenLayers=_ints(size["hidden"]), batchSize=size["batch"],
                              epochs=size["epochs"], numProc=1, seed=1, storePath=store).fit(df)
    wall = time.perf_counter() - started
    watcher.stop()
    staged = sum(os.path.getsize(os.path.join(folder, name)) for folder, _, names in os.walk(store)
                 for name in names if name.endswith(".parquet")) / 1e6
    _remove(store)
    return {"rows": rows, "wall_seconds": wall, "epoch_seconds": model.epochSeconds,
            "epoch_median_s": statistics.median(model.epochSeconds[1:]), "staged_mb": staged,
            "rank_peak_rss_mb": watcher.peak / 2 ** 20, "accuracy": model.history["accuracy"][-1]}


class _RankMemory(RankLines):
    """Samples the resident memory of rank 0 (found by :class:`.cases.RankLines`) every 0.2 s."""

    def __init__(self):
        super().__init__()
        self.peak = 0
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def stop(self):
        self._done.set()
        self._sampler.join()
        if not self.peak:
            raise RuntimeError("the bench could not sample the rank's memory (no rank line, or it ended at once)")

    def _sample(self):
        import psutil
        while not self._done.wait(0.2):
            if self.pid is None:
                continue
            try:
                self.peak = max(self.peak, psutil.Process(self.pid).memory_info().rss)
            except psutil.NoSuchProcess:
                pass


def _remove(path):
    import shutil
    shutil.rmtree(path, ignore_errors=True)
