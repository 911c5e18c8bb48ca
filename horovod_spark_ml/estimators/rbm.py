"""A restricted Boltzmann machine as a Keras 3 model, trained by contrastive divergence in its train step.

The CD-k statistics are handed to the optimizer as gradients, so under Horovod
the averaging optimizer (:mod:`.horovod_keras`) averages them across ranks
exactly like gradients, and every rank keeps the same weights. Calling the
model gives the hidden units' probabilities, the features it learned.

Example::

    >>> rbm = RestrictedBoltzmannMachine(visible=64, hidden=32, visible_type="binary", cd_steps=1)
    >>> rbm.compile(optimizer=keras.optimizers.SGD(0.05))
    >>> rbm.fit(pixels, epochs=5).history["reconstruction_error"]      # goes down
    >>> hidden = rbm.predict(pixels)                                  # (n, 32) probabilities
"""
import keras
from keras import ops

VISIBLE_TYPES = ("binary", "gaussian")


@keras.saving.register_keras_serializable(package="horovod_spark_ml")
class RestrictedBoltzmannMachine(keras.Model):
    """Bernoulli hidden units over binary (Bernoulli, values in [0, 1]) or Gaussian (unit variance) visible units.

    Gaussian visible units expect standardised inputs (mean 0, variance 1).
    """

    def __init__(self, visible, hidden, visible_type="binary", cd_steps=1, seed=None, **kwargs):
        super().__init__(**kwargs)
        if visible_type not in VISIBLE_TYPES:
            raise ValueError(f"visible_type must be one of {VISIBLE_TYPES}, got {visible_type!r}")
        self.visible, self.hidden, self.visible_type, self.cd_steps = visible, hidden, visible_type, cd_steps
        self.kernel = self.add_weight(shape=(visible, hidden), name="kernel",
                                      initializer=keras.initializers.RandomNormal(stddev=0.01, seed=seed))
        self.visible_bias = self.add_weight(shape=(visible,), initializer="zeros", name="visible_bias")
        self.hidden_bias = self.add_weight(shape=(hidden,), initializer="zeros", name="hidden_bias")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.error = keras.metrics.Mean(name="reconstruction_error")
        self.built = True

    def call(self, visible):
        return self._hidden_probabilities(visible)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.hidden)

    @property
    def metrics(self):
        return [self.error]

    def train_step(self, data):
        v0 = data[0] if isinstance(data, (tuple, list)) else data
        h0 = self._hidden_probabilities(v0)
        vk, hk = v0, h0
        for _ in range(self.cd_steps):  # Gibbs chain from the data (CD-k)
            sampled = ops.cast(keras.random.uniform(ops.shape(hk), seed=self.seed_generator) < hk, hk.dtype)
            vk = self._visible_mean(sampled)
            hk = self._hidden_probabilities(vk)
        rows = ops.cast(ops.shape(v0)[0], v0.dtype)
        # The CD update climbs the log-likelihood; as gradients (to descend) its sign flips.
        grads = {id(self.kernel): -(ops.matmul(ops.transpose(v0), h0) - ops.matmul(ops.transpose(vk), hk)) / rows,
                 id(self.visible_bias): -ops.mean(v0 - vk, axis=0),
                 id(self.hidden_bias): -ops.mean(h0 - hk, axis=0)}
        self.optimizer.apply([grads[id(v)] for v in self.trainable_variables], self.trainable_variables)
        self.error.update_state(ops.mean(ops.square(v0 - vk), axis=-1))
        return {"reconstruction_error": self.error.result()}

    def _hidden_probabilities(self, visible):
        return ops.sigmoid(ops.matmul(visible, self.kernel) + self.hidden_bias)

    def _visible_mean(self, hidden):
        activation = ops.matmul(hidden, ops.transpose(self.kernel)) + self.visible_bias
        return ops.sigmoid(activation) if self.visible_type == "binary" else activation

    def get_config(self):
        return {**super().get_config(), "visible": self.visible, "hidden": self.hidden,
                "visible_type": self.visible_type, "cd_steps": self.cd_steps}
