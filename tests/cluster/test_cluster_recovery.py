"""Recovery on the cluster: a rank process killed, or a whole executor JVM killed, on the other host mid-fit.

Both fits relaunch from the last checkpoint and end with exactly ``EPOCHS``
epochs and the accuracy of an undisturbed fit of the same model and seed.
"""
import contextlib
import io
import re

import keras
import numpy as np
import pytest
from pyspark.ml.feature import StringIndexer, VectorAssembler

from failing_layer import DieOnRank
from horovod_spark_ml import KerasEstimator
from horovod_spark_ml.demo import digits_frame

EPOCHS = 8
BATCH = 32


@pytest.fixture(scope="module")
def digits(cluster_spark):
    frame = digits_frame(cluster_spark)
    frame = StringIndexer(inputCol="digit", outputCol="label").fit(frame).transform(frame)
    frame = VectorAssembler(inputCols=[f"p{i}" for i in range(64)], outputCol="features").transform(frame)
    train, test = frame.select("features", "label").randomSplit([0.8, 0.2], seed=7)
    return train.cache(), test.cache()


def _fit(data, store, dying):
    keras.utils.set_random_seed(2)
    net = keras.Sequential([keras.Input((64,)), dying, keras.layers.Dense(32, activation="relu"),
                            keras.layers.Dense(10)])
    estimator = KerasEstimator(model=net, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                               metrics=["accuracy"], epochs=EPOCHS, batchSize=BATCH, learningRate=0.01, numProc=2,
                               storePath=store, seed=5)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        model = estimator.fit(data)
    return model, out.getvalue()


def _accuracy(model, test):
    rows = model.transform(test).select("prediction", "label").collect()  # a KerasModel predicts the logits
    return np.mean([int(np.argmax(r.prediction)) == r.label for r in rows])


def _steps_per_epoch(train):
    return -(-train.count() // (BATCH * 2))


@pytest.fixture(scope="module")
def undisturbed(digits, store, tmp_path_factory):
    never = tmp_path_factory.mktemp("never") / "died"
    never.touch()  # DieOnRank with an existing 'once' file never ends anything
    return _fit(digits[0], store, DieOnRank(1, "kill", once=str(never)))[0]


@pytest.mark.parametrize("how, lost", [
    ("kill", r"rank 1 \(on host .*\) exited with code 137, 128 \+ SIGKILL"),
    ("executor", r"rank 1 \(on host .*\) ended without a word"),
])
def test_a_fit_that_loses_a_rank_or_its_executor_resumes_and_ends_like_an_undisturbed_one(
        digits, store, tmp_path, undisturbed, how, lost):
    train, test = digits
    died = tmp_path / "died"
    model, out = _fit(train, store, DieOnRank(1, how, step=3 * _steps_per_epoch(train) + 2, once=str(died)))
    print(out)
    assert died.exists()
    resumed = re.search(rf"^{lost}.*; resuming from epoch (\d) of {EPOCHS} \(retry 1 of 2\)$", out, re.M)
    assert resumed, out
    assert int(resumed.group(1)) == 3
    assert [len(values) for values in model.history.values()] == [EPOCHS] * len(model.history)
    assert abs(_accuracy(model, test) - _accuracy(undisturbed, test)) < 0.03
