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

    ``how``: "kill" (SIGKILL, as the out-of-memory killer does), "abort" (SIGABRT, a native crash) or
    "exit" (exit code 3). It first writes a line to stderr, which the driver's error must show.
    """

    def __init__(self, rank, how, step=3, **kwargs):
        super().__init__(**kwargs)
        self.rank, self.how, self.step = rank, how, step
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
        if self.calls < self.step:
            return
        print(f"DieOnRank: rank {self.rank} ends itself ({self.how})", file=sys.stderr, flush=True)
        if self.how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif self.how == "abort":
            os.abort()
        os._exit(3)

    def get_config(self):
        return {**super().get_config(), "rank": self.rank, "how": self.how, "step": self.step}
