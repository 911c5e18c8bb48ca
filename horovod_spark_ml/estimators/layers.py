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


@keras.saving.register_keras_serializable(package="horovod_spark_ml")
class TiedAutoencoder(keras.layers.Layer):
    """A dense autoencoder whose decoder uses the transposed encoder kernels: ``x -> [code, reconstruction]``.

    ``units`` are the encoder sizes (the last is the code); the decoder mirrors
    them back to the input size with its own biases and a linear output.
    """

    def __init__(self, units, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.units, self.activation = list(units), keras.activations.get(activation)

    def build(self, input_shape):
        sizes = [input_shape[-1], *self.units]
        self.kernels = [self.add_weight(shape=(a, b), initializer="glorot_uniform", name=f"kernel_{i}")
                        for i, (a, b) in enumerate(zip(sizes, sizes[1:]), start=1)]
        self.encoder_biases = [self.add_weight(shape=(b,), initializer="zeros", name=f"encoder_bias_{i}")
                               for i, b in enumerate(sizes[1:], start=1)]
        self.decoder_biases = [self.add_weight(shape=(a,), initializer="zeros", name=f"decoder_bias_{i}")
                               for i, a in enumerate(sizes[:-1], start=1)]

    def call(self, inputs):
        code = inputs
        for kernel, bias in zip(self.kernels, self.encoder_biases):
            code = self.activation(ops.matmul(code, kernel) + bias)
        x = code
        for i in reversed(range(len(self.kernels))):
            x = ops.matmul(x, ops.transpose(self.kernels[i])) + self.decoder_biases[i]
            if i > 0:
                x = self.activation(x)
        return [code, x]

    def compute_output_shape(self, input_shape):
        return [(input_shape[0], self.units[-1]), tuple(input_shape)]

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": keras.activations.serialize(self.activation)}
