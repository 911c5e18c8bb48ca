"""A Keras layer that fails inside one Horovod rank, to test how fit reports a rank's failure.

Lives in its own module (on PYTHONPATH via conftest) so rank processes can rebuild it from a .keras file.
"""
import os

import keras


@keras.saving.register_keras_serializable(package="hsm_tests")
class FailOnRank(keras.layers.Layer):
    """Identity, except that it raises when traced in Horovod rank ``rank``."""

    def __init__(self, rank, **kwargs):
        super().__init__(**kwargs)
        self.rank = rank

    def call(self, inputs):
        if os.environ.get("HOROVOD_RANK") == str(self.rank):
            raise RuntimeError(f"FailOnRank: deliberate failure in rank {self.rank}")
        return inputs

    def get_config(self):
        return {**super().get_config(), "rank": self.rank}


@keras.saving.register_keras_serializable(package="hsm_tests")
class DieOnRank(keras.layers.Layer):
    """Identity, except that Horovod rank ``rank`` ends its own process at its ``step``-th training batch.

    ``how``: "kill" (SIGKILL, as the out-of-memory killer does), "abort" (SIGABRT, a native crash),
    "exit" (exit code 3) or "executor" (SIGKILL to the Spark executor JVM that runs the rank). It first
    writes a line to stderr, which the driver's error must show. With ``once`` (a file path), it does so
    only where that file does not exist yet, and creates it: a relaunch then trains on.
    """

    def __init__(self, rank, how, step=3, once="", **kwargs):
        super().__init__(**kwargs)
        self.rank, self.how, self.step, self.once = rank, how, step, once
        self.calls = 0

    def call(self, inputs, training=False):
        if not training or os.environ.get("HOROVOD_RANK") != str(self.rank):
            return inputs
        import tensorflow as tf
        tf.py_function(self._count, [], [])
        return inputs

    def _count(self):
        import signal
        import sys
        self.calls += 1
        if self.calls < self.step or (self.once and os.path.exists(self.once)):
            return
        if self.once:
            open(self.once, "w").close()
        print(f"DieOnRank: rank {self.rank} ends itself ({self.how})", file=sys.stderr, flush=True)
        if self.how == "executor":
            os.kill(_executor_pid(), signal.SIGKILL)
            signal.pause()  # until the executor's end takes this process with it
        if self.how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif self.how == "abort":
            os.abort()
        os._exit(3)

    def get_config(self):
        return {**super().get_config(), "rank": self.rank, "how": self.how, "step": self.step, "once": self.once}


def _executor_pid():
    """The pid of the Spark executor JVM that this rank's command descends from (a warm rank is forked elsewhere:
    its command, which stands in for it, says its pid)."""
    pid = int(os.environ.get("HSM_RANK_COMMAND_PID", os.getppid()))
    while pid > 1:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"CoarseGrainedExecutorBackend" in f.read():
                return pid
        with open(f"/proc/{pid}/stat") as f:
            pid = int(f.read().rpartition(")")[2].split()[1])
    raise RuntimeError("no Spark executor JVM among this process's ancestors (local mode has none)")
