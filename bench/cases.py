"""Our side of each case, and MLlib's, in one local Spark session; each returns its raw figures as a dict.

Every timing is taken after a warm-up and repeated (``REPEATS``), or is a
per-epoch time taken over the epochs after the first; the ratios use medians.
"""
import os
import statistics
import time

REPEATS = 3
BIG_MLP = [2500, 2000, 1500, 1000, 500]  # SPARK-5575's network: 784-2500-2000-1500-1000-500-10


def staging(df, columns, work):
    """Staging vs ``df.write.parquet`` of the same columns (alternating, each to a fresh place), then restaging."""
    from horovod_spark_ml.data.staging import prepare_store, stage
    plain_write, first, again = [], [], []
    for i in range(REPEATS):
        started = time.perf_counter()
        df.select(*columns).write.parquet(os.path.join(work, f"plain-{i}"))
        plain_write.append(time.perf_counter() - started)
        store = prepare_store(os.path.join(work, f"store-{i}"))
        started = time.perf_counter()
        stage(df, columns, num_proc=1, validation_split=0.0, seed=1, store=store)
        first.append(time.perf_counter() - started)
    for _ in range(REPEATS):  # the same DataFrame into the same store: Petastorm's cache
        started = time.perf_counter()
        stage(df, columns, num_proc=1, validation_split=0.0, seed=1, store=store)
        again.append(time.perf_counter() - started)
    return {"plain_write_seconds": plain_write, "staging_seconds": first, "second_staging_seconds": again,
            "megabytes": _folder_mb(os.path.join(work, "plain-0"))}


def mlp_fit(df, size, work, before_each=lambda: None):
    """MLPClassifier on one rank with every core, fitted ``REPEATS`` times, each staging into a fresh store.

    ``before_each()`` runs before every fit (the bench runs plain Keras there,
    so that both sides sample the same stretch of a shared machine's time).
    Figures: each fit's wall time and per-epoch times; the per-epoch figure is
    the median over the fits of each fit's median epoch after its first.
    """
    from horovod_spark_ml import MLPClassifier
    walls, epochs = [], []
    for i in range(REPEATS):
        before_each()
        started = time.perf_counter()
        model = MLPClassifier(featuresCol="features", hiddenLayers=_ints(size["hidden"]), batchSize=size["batch"],
                              epochs=size["epochs"], numProc=1, seed=1, verbose=0,
                              storePath=os.path.join(work, f"fit-store-{i}")).fit(df)
        walls.append(time.perf_counter() - started)
        epochs.append(model.epochSeconds)
    return model, {"wall_seconds": walls, "epoch_seconds": epochs,
                   "epoch_median_s": statistics.median(statistics.median(e[1:]) for e in epochs)}


def model_search(spark, work, folds=3):
    """The demo's MLP: single fits (their wall time and epoch time), then CrossValidator over 4 param maps.

    The features come from the demo pipeline's first stages, fitted once and
    cached, so both sides time only the MLP. Single fits: ``REPEATS`` after a
    warm-up; their time outside the epochs is the fixed cost. The warm-up's
    model is also evaluated once (accuracy), as a user evaluates a fit: the
    Python workers' first TensorFlow import and model load (about 5 s) is then
    not inside the timed search, just as the ranks' start-up is not inside the
    timed fits. Model search: ``CrossValidator`` with ``folds`` folds and
    ``parallelism=4`` over learningRate x hiddenLayers (it then refits the best
    map on all rows, as it always does), timed once, after the single fits.
    """
    from pyspark.ml import Pipeline
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
    from horovod_spark_ml.demo import digits_frame, digits_pipeline
    stages = digits_pipeline(epochs=30, num_proc=2, verbose=0, storePath=os.path.join(work, "search-store"))
    stages = stages.getStages()
    train, _ = digits_frame(spark).randomSplit([0.8, 0.2], seed=7)
    prepared = Pipeline(stages=stages[:3]).fit(train).transform(train).select("features", "label").cache()
    prepared.count()
    mlp = stages[3]
    accuracy = MulticlassClassificationEvaluator(metricName="accuracy")
    walls, epochs = [], []
    for i in range(REPEATS + 1):
        started = time.perf_counter()
        model = mlp.fit(prepared)
        if i > 0:
            walls.append(time.perf_counter() - started)
            epochs.append(sum(model.epochSeconds))
        else:
            accuracy.evaluate(model.transform(prepared))
    grid = ParamGridBuilder().addGrid(mlp.learningRate, [0.003, 0.01]).addGrid(mlp.hiddenLayers, [[64, 32], [32]])
    cv = CrossValidator(estimator=mlp, estimatorParamMaps=grid.build(), numFolds=folds, seed=7, parallelism=4,
                        evaluator=accuracy)
    started = time.perf_counter()
    fitted = cv.fit(prepared)
    search = time.perf_counter() - started
    prepared.unpersist()
    return {"fit_wall_seconds": walls, "fit_epoch_seconds": epochs, "search_wall_seconds": search, "folds": folds,
            "param_maps": len(grid.build()), "best_accuracy": max(fitted.avgMetrics)}


def recovery(df, size, work):
    """Time lost to one failure: fits that lose rank 0 (SIGKILL, from outside) right after epoch 2, minus undisturbed ones.

    ``REPEATS`` pairs, alternating, numProc=2, each fit staging into a fresh
    store. The budget a failure may cost is one epoch plus one launch; the
    launch is taken as an undisturbed fit's time outside its epochs (checks,
    staging and launch: more than a relaunch, which stages nothing).
    """
    import contextlib
    from horovod_spark_ml import MLPClassifier
    figures = {"undisturbed_seconds": [], "disturbed_seconds": [], "epoch_seconds": [], "resumed_lines": []}
    for i in range(REPEATS):
        for disturbed in (False, True):
            killer = _RankKiller(after_epoch=2 if disturbed else None)
            started = time.perf_counter()
            with contextlib.redirect_stdout(killer):
                model = MLPClassifier(featuresCol="features", hiddenLayers=_ints(size["hidden"]),
                                      batchSize=size["batch"], epochs=size["epochs"], numProc=2, seed=1,
                                      storePath=os.path.join(work, f"recovery-{i}-{disturbed}")).fit(df)
            seconds = time.perf_counter() - started
            if disturbed:
                figures["disturbed_seconds"].append(seconds)
                figures["resumed_lines"].append(killer.resumed)
                if killer.resumed is None:
                    raise RuntimeError("the bench's kill of rank 0 did not cause a relaunch")
            else:
                figures["undisturbed_seconds"].append(seconds)
                figures["epoch_seconds"].append(model.epochSeconds)
    return figures


class RankLines:
    """A stdout for a fit at verbose=1: finds rank 0's pid in its rank line and hands each line to :meth:`line`.

    Rank 0, because its lines reach the driver as they are written; Horovod forwards the other ranks'
    output later, so their pids are not known in time.
    """

    def __init__(self):
        import re
        self.pid, self.partial = None, ""
        self._rank_line = re.compile(r"^rank 0 of \d+: host .*, pid (\d+), ")

    def write(self, text):
        lines = (self.partial + text).split("\n")
        self.partial = lines.pop()
        for line in lines:
            match = self._rank_line.match(line)
            if match and self.pid is None:
                self.pid = int(match.group(1))
            self.line(line)
        return len(text)

    def line(self, line):
        pass

    def flush(self):
        pass


class _RankKiller(RankLines):
    """SIGKILLs rank 0's process once epoch ``after_epoch`` is reported."""

    def __init__(self, after_epoch):
        super().__init__()
        self.after_epoch, self.resumed = after_epoch, None

    def line(self, line):
        import signal
        if self.after_epoch and line.startswith(f"epoch {self.after_epoch}/") and self.pid:
            self.after_epoch = None
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:  # the line came after the rank had ended: nothing was killed
                pass
        if "; resuming from" in line:
            self.resumed = line


def transform(model, predict_df, rows):
    """``model.transform`` forced through a no-op sink: one warm-up, then ``REPEATS`` timed runs.

    Also timed the same way: Spark's floor for any pandas UDF over these rows,
    one that returns the classifier's output columns without running a model.
    """
    seconds = _timed(lambda: model.transform(predict_df))
    floor = _timed(lambda: _without_model(predict_df, model.getFeaturesCol()))
    return {"seconds": seconds, "rows_per_s": rows / statistics.median(seconds),
            "floor_seconds": floor, "floor_rows_per_s": rows / statistics.median(floor)}


def _without_model(df, column, classes=10):
    """What ``transform`` builds around the model, with the same helpers (one double per output value), no model."""
    import numpy as np
    import pandas as pd
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    from horovod_spark_ml.serving.inference import _struct_of_values, _value_names, _value_type

    names = _value_names("classes", classes)

    @F.pandas_udf(_value_type(names))
    def constant(features: pd.Series) -> pd.DataFrame:
        frame = pd.DataFrame(np.zeros((len(features), len(names))), columns=names)
        frame["present"] = True
        return frame

    out = _struct_of_values(constant(column), "classes", classes)
    return df.select("*", array_to_vector(out["raw"]).alias("rawPrediction"),
                     array_to_vector(out["probability"]).alias("probability"), out["prediction"].alias("prediction"))


def _timed(make_df):
    """Seconds to write ``make_df()`` to a no-op sink: one warm-up, then ``REPEATS`` timed runs."""
    seconds = []
    for _ in range(REPEATS + 1):
        started = time.perf_counter()
        make_df().write.format("noop").mode("overwrite").save()
        seconds.append(time.perf_counter() - started)
    return seconds[1:]


def big_mlp(spark, size, work):
    """The SPARK-5575 network: our per-epoch time and MLlib's per-iteration time on the same rows.

    MLlib's "gd" solver makes one full pass (one ``treeAggregate`` job) per
    iteration; each job's duration comes from Spark's status store.
    """
    from pyspark.ml.classification import MultilayerPerceptronClassifier
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    from bench.data import synthetic, write_parquet
    from horovod_spark_ml import MLPClassifier

    rows, epochs = size["big_rows"], size["epochs"]
    x, y = synthetic(rows, size["features"], seed=2)
    df = spark.read.parquet(write_parquet(os.path.join(work, "big"), x, y)).cache()
    df.count()
    ours = MLPClassifier(featuresCol="features", hiddenLayers=BIG_MLP, activation="sigmoid", optimizer="sgd",
                         learningRate=0.03, batchSize=size["batch"], epochs=epochs, numProc=1, seed=1, verbose=0,
                         storePath=os.path.join(work, "big-store")).fit(df)
    vectors = df.select(array_to_vector("features").alias("features"), F.col("label").cast("double")).cache()
    vectors.count()
    spark.sparkContext.setJobGroup("mllib", "MultilayerPerceptronClassifier")
    MultilayerPerceptronClassifier(layers=[size["features"], *BIG_MLP, 10], solver="gd", blockSize=size["batch"],
                                   maxIter=epochs, stepSize=0.03, tol=0.0, seed=1).fit(vectors)
    spark.sparkContext.setJobGroup("", "")
    iterations = _job_seconds(spark, "mllib", "treeAggregate")
    weights = sum(a * b + b for a, b in zip([size["features"], *BIG_MLP], [*BIG_MLP, 10]))
    return {"rows": rows, "weights": weights, "ours_epoch_seconds": ours.epochSeconds,
            "ours_epoch_median_s": statistics.median(ours.epochSeconds[1:]),
            "mllib_iteration_seconds": iterations, "mllib_iteration_median_s": statistics.median(iterations[1:])}


def cnn_scaling(spark, size, work, cores):
    """LeNet on 32x32x3 pixel arrays: samples/s on one rank with every core, and on ``cores`` ranks of one each.

    ``REPEATS`` fits of each, alternating; samples/s comes from the median over
    the fits of each fit's median epoch after its first.
    """
    from bench.data import synthetic_images, write_parquet
    from horovod_spark_ml import CNNClassifier

    rows = size["cnn_rows"]
    x, y = synthetic_images(rows)
    df = spark.read.parquet(write_parquet(os.path.join(work, "images"), x, y)).cache()
    df.count()
    epochs = {1: [], cores: []}
    for i in range(REPEATS):
        for num_proc in epochs:
            model = CNNClassifier(featuresCol="features", architecture="lenet", inputShape=[32, 32, 3],
                                  imageSize=[32, 32], batchSize=size["batch"], epochs=size["epochs"],
                                  numProc=num_proc, seed=1, verbose=0,
                                  storePath=os.path.join(work, f"cnn-store-{num_proc}-{i}")).fit(df)
            epochs[num_proc].append(model.epochSeconds)
    figures = {"rows": rows}
    for num_proc, fits in epochs.items():
        figures[f"num_proc_{num_proc}"] = {"epoch_seconds": fits, "samples_per_s": _samples_per_s(rows, fits)}
    return figures


def gpu_alexnet(spark, size, work):
    """AlexNet at 227x227 on synthetic pixel arrays: fit samples/s on one rank, and transform images/s.

    For a GPU machine (the bench runs it only where ``nvidia-smi`` lists a GPU);
    plain Keras's side is ``bench.plain_cnn``, on the same images.
    """
    from bench.data import synthetic_images, write_parquet
    from horovod_spark_ml import CNNClassifier

    rows, side = size["gpu_rows"], 227
    x, y = synthetic_images(rows, size=side)
    df = spark.read.parquet(write_parquet(os.path.join(work, "alexnet"), x, y)).cache()
    df.count()
    model = CNNClassifier(featuresCol="features", architecture="alexnet", inputShape=[side, side, 3],
                          imageSize=[side, side], batchSize=size["batch"], epochs=size["epochs"], numProc=1,
                          seed=1, verbose=0, storePath=os.path.join(work, "alexnet-store")).fit(df)
    seconds = _timed(lambda: model.transform(df))
    df.unpersist()
    return {"rows": rows, "epoch_seconds": model.epochSeconds,
            "samples_per_s": _samples_per_s(rows, [model.epochSeconds]),
            "transform_seconds": seconds, "transform_rows_per_s": rows / statistics.median(seconds)}


def _samples_per_s(rows, fits):
    """``rows`` over the median of the fits' median epochs after their first (each fit: its epochs' seconds)."""
    return rows / statistics.median(statistics.median(epochs[1:]) for epochs in fits)


def _job_seconds(spark, group, name):
    """Durations of the finished jobs of ``group`` whose name contains ``name``, oldest first."""
    store = spark.sparkContext._jsc.sc().statusStore()
    jobs = store.jobsList(None)
    seconds = []
    for i in range(jobs.size()):
        job = jobs.apply(i)  # a Scala Seq
        if job.jobGroup().isDefined() and job.jobGroup().get() == group and name in job.name():
            seconds.append((job.jobId(), (job.completionTime().get().getTime()
                                          - job.submissionTime().get().getTime()) / 1000))
    return [s for _, s in sorted(seconds)]


def _ints(text):
    return [int(n) for n in text.split(",")]


def _folder_mb(path):
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path)) / 1e6
