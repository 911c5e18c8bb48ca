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
