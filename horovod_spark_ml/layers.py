"""Keras layers of this package, saved by name in ``.keras`` files and rebuilt from their config.

Example::

    >>> length = keras.Input((), dtype="int32", name="length")
    >>> mask = LengthMask(20)(length)                  # (batch, 20) booleans: step < length
    >>> keras.layers.LSTM(32)(sequence, mask=mask)
"""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="horovod_spark_ml")
class LengthMask(keras.layers.Layer):
    """A ``(batch, steps)`` mask that is True for the first ``length`` steps of each row.

    Padded steps are masked by position, not by value, so a real step of
    zeros is never mistaken for padding.
    """

    def __init__(self, steps, **kwargs):
        super().__init__(**kwargs)
        self.steps = steps

    def call(self, length):
        return ops.arange(self.steps)[None, :] < ops.cast(length, "int32")[:, None]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.steps)

    def get_config(self):
        return {**super().get_config(), "steps": self.steps}
