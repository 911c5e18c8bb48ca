"""A rank that dies natively or exits non-zero: fit names the rank, its host, the exit code or signal, and its stderr."""
import time

import keras
import pytest

from failing_layer import DieOnRank
from horovod_spark_ml import KerasEstimator, TrainingError
from horovod_spark_ml.training.driver.launcher import describe_exit


def _fit_dying(blobs, store, how):
    net = keras.Sequential([keras.Input((4,)), DieOnRank(1, how), keras.layers.Dense(3)])
    estimator = KerasEstimator(model=net, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                               epochs=5, batchSize=16, numProc=2, storePath=store, verbose=0, maxRetries=0)
    started = time.time()
    with pytest.raises(TrainingError) as error:
        estimator.fit(blobs)
    return str(error.value), time.time() - started


@pytest.mark.parametrize("how, status", [
    ("kill", "SIGKILL (killed: by the out-of-memory killer, or by someone)"),
    ("abort", "SIGABRT (a native abort"),
    ("exit", "exited with code 3"),
])
def test_a_rank_that_dies_is_named_with_its_host_exit_status_and_last_stderr_lines(blobs, store, how, status):
    message, seconds = _fit_dying(blobs, store, how)
    assert message.startswith("Horovod rank 1 (on host ")
    assert status in message
    assert f"DieOnRank: rank 1 ends itself ({how})" in message
    assert "Unable to register" not in message  # TensorFlow's start-up noise is left out
    assert seconds < 90


def test_exit_statuses_read_as_signals_or_codes():
    assert describe_exit(-9) == "was killed by SIGKILL (killed: by the out-of-memory killer, or by someone)"
    assert describe_exit(137).startswith("exited with code 137, 128 + SIGKILL")
    assert describe_exit(1) == "exited with code 1"
