"""Fit and transform on a Spark standalone cluster: numProc=2 ranks across two executors, each on its own host.

One session on the cluster (``cluster_spark``) for the whole module; the data
are small so that the tier fits the suite's time budget.
"""
import re

import keras
import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.feature import StringIndexer, VectorAssembler
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

from failing_layer import DieOnRank
from horovod_spark_ml import (Autoencoder, ClusterError, CNNClassifier, KerasEstimator, LSTMClassifier,
                              MLPClassifier, TrainingError, read_images)
from horovod_spark_ml.demo import digits_frame, digits_pipeline, write_digit_images

RANK_LINE = re.compile(r"^rank (\d) of 2: host \S+ \(([\d.]+)\), pid \d+, ", re.M)


def accuracy(predictions, label="label"):
    return MulticlassClassificationEvaluator(metricName="accuracy", labelCol=label).evaluate(predictions)


def rank_hosts(output):
    """Rank -> the address it reported, from the driver's output at default verbosity."""
    return {int(rank): address for rank, address in RANK_LINE.findall(output)}


@pytest.fixture(scope="module")
def digits(cluster_spark):
    train, test = digits_frame(cluster_spark).randomSplit([0.8, 0.2], seed=7)
    return train.cache(), test.cache()


def test_the_executors_are_two_hosts(cluster_spark, cluster, separate_hosts):
    seen = (cluster_spark.sparkContext.parallelize(range(4), 4)
            .map(lambda _: __import__("os").environ.get("SPARK_LOCAL_IP")).collect())
    assert set(seen) == set(cluster.worker_hosts) and len(set(seen)) == 2


def test_mlp_pipeline_trains_across_executors_saves_loads_and_predicts_the_same(digits, cluster, store, tmp_path,
                                                                                 capfd):
    pipeline = digits_pipeline(epochs=15, num_proc=2)
    pipeline.getStages()[3].setStorePath(store)
    model = pipeline.fit(digits[0])
    hosts = rank_hosts(capfd.readouterr().out)
    assert sorted(hosts) == [0, 1]
    if cluster.separate_hosts:
        assert sorted(hosts.values()) == sorted(cluster.worker_hosts)  # one rank on each host
    predictions = model.transform(digits[1])
    assert accuracy(predictions) > 0.9
    model.write().save(str(tmp_path / "pipeline"))
    reloaded = PipelineModel.load(str(tmp_path / "pipeline")).transform(digits[1])
    assert ([r.probability for r in reloaded.select("probability").collect()]
            == [r.probability for r in predictions.select("probability").collect()])


def test_cnn_learns_digit_image_files(cluster_spark, store, tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("digit_pngs"))
    write_digit_images(folder, size=16)
    train, test = read_images(cluster_spark, folder).randomSplit([0.8, 0.2], seed=3)
    cnn = CNNClassifier(architecture="lenet", imageSize=[16, 16], channels=1, epochs=8, batchSize=32,
                        learningRate=0.003, numProc=2, storePath=store, verbose=0)
    model = Pipeline(stages=[StringIndexer(inputCol="className", outputCol="label"), cnn]).fit(train)
    assert accuracy(model.transform(test)) > 0.85


def test_lstm_classifies_sequences(cluster_spark, store):
    rng = np.random.default_rng(1)
    rows = []
    for i in range(240):
        label, n = i % 2, int(rng.integers(8, 25))
        wave = np.sin((0.15, 0.45)[label] * np.arange(n) + rng.uniform(0, 2 * np.pi))
        rows.append(([[float(v)] for v in wave], float(label)))
    train, test = cluster_spark.createDataFrame(rows, ["sequence", "label"]).randomSplit([0.8, 0.2], seed=5)
    model = LSTMClassifier(units=[16], learningRate=0.01, epochs=8, batchSize=32, numProc=2, storePath=store,
                           verbose=0).fit(train)
    assert accuracy(model.transform(test)) > 0.85


def test_autoencoder_codes_and_scores_rows(digits, store):
    assembled = VectorAssembler(inputCols=[f"p{i}" for i in range(64)], outputCol="pixels").transform(digits[0])
    model = Autoencoder(encoderLayers=[32, 8], featuresCol="pixels", epochs=10, batchSize=32, numProc=2,
                        storePath=store, reconstructionErrorCol="score", verbose=0).fit(assembled)
    rows = model.transform(assembled).select("code", "score").collect()
    assert len(rows[0].code) == 8 and all(np.isfinite(r.score) for r in rows)
    assert model.history["loss"][-1] < model.history["loss"][0]


def test_cross_validator_fits_each_fold_on_the_cluster(digits, store):
    assembled = VectorAssembler(inputCols=[f"p{i}" for i in range(64)], outputCol="features").transform(
        StringIndexer(inputCol="digit", outputCol="label").fit(digits[0]).transform(digits[0]))
    mlp = MLPClassifier(hiddenLayers=[32], epochs=6, batchSize=64, learningRate=0.01, numProc=2, storePath=store,
                        verbose=0)
    cv = CrossValidator(estimator=mlp, estimatorParamMaps=ParamGridBuilder().build(), numFolds=2, seed=3,
                        evaluator=MulticlassClassificationEvaluator(metricName="accuracy"))
    fitted = cv.fit(assembled)
    assert len(fitted.avgMetrics) == 1 and fitted.avgMetrics[0] > 0.8


def test_a_rank_killed_on_another_host_is_named_with_that_host(cluster_spark, cluster, store):
    rows = [(list(map(float, np.random.default_rng(i).normal(size=4))), float(i % 3)) for i in range(120)]
    df = cluster_spark.createDataFrame(rows, ["features", "label"])
    net = keras.Sequential([keras.Input((4,)), DieOnRank(1, "kill"), keras.layers.Dense(3)])
    estimator = KerasEstimator(model=net, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                               epochs=5, batchSize=16, numProc=2, storePath=store, verbose=0, maxRetries=0)
    with pytest.raises(TrainingError) as error:
        estimator.fit(df)
    message = str(error.value)
    assert "Horovod rank 1 (on host " in message and "SIGKILL" in message
    assert "DieOnRank: rank 1 ends itself (kill)" in message
    if cluster.separate_hosts:
        assert any(f"({address})" in message for address in cluster.worker_hosts)


def test_the_executors_check_that_they_can_write_the_store(cluster_spark, store):
    from horovod_spark_ml.training.driver.executor_check import check_executors
    seen = check_executors(cluster_spark, 2, "file://" + store)
    assert all(not info.missing and info.store_error is None for info in seen)
    with pytest.raises(ClusterError, match=r"storePath 'file:///proc/store' is not writable from the executor on "):
        check_executors(cluster_spark, 2, "file:///proc/store")  # not even root writes there


def test_a_plain_launch_allreduces_across_the_two_hosts(cluster_spark, cluster, separate_hosts):
    """The minimal case: the package's launch of Horovod ranks, over gloo between the hosts."""
    from horovod_spark_ml.training.driver.horovod_launch import launch_ranks

    def allreduce():  # nested: pickled by value, so the ranks need not import this test module
        import os
        import horovod.tensorflow as hvd
        hvd.init()
        total = hvd.allreduce(__import__("tensorflow").constant(float(hvd.rank() + 1)), op=hvd.Sum)
        return float(total), os.environ["HOROVOD_GLOO_IFACE"], os.environ.get("SPARK_LOCAL_IP")

    results = launch_ranks(allreduce, (), 2)
    assert [total for total, _, _ in results] == [3.0, 3.0]
    assert {iface for _, iface, _ in results} == {"eth1"}  # the workers' interface, which the driver lacks
    assert sorted(host for _, _, host in results) == sorted(cluster.worker_hosts)
