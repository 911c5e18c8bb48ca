"""The Keras 3 glue really averages: ranks fed different data end with identical weights."""
import sys

import cloudpickle
import horovod.spark
import numpy as np

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the ranks cannot import test modules by name


def _train_on_rank_specific_data(averaged):
    import horovod.tensorflow as hvd
    hvd.init()
    import keras
    from horovod_spark_ml.training.rank.horovod_keras import (MetricAverager, average_non_trainable, broadcast_weights,
                                                distributed_optimizer)
    keras.utils.set_random_seed(100 + hvd.rank())  # different initial weights: the broadcast must fix them
    rng = np.random.default_rng(hvd.rank())
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x.sum(axis=1, keepdims=True) * (hvd.rank() + 1)).astype("float32")  # each rank its own target
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.Dense(1)])
    optimizer = keras.optimizers.Adam(0.01)
    callbacks = []
    if averaged:
        optimizer = distributed_optimizer(optimizer)
        callbacks = [MetricAverager()]
    model.compile(optimizer=optimizer, loss="mse", jit_compile=False)
    if averaged:
        broadcast_weights(model)
    history = model.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=callbacks)
    if averaged:
        average_non_trainable(model)
    return model.get_weights(), history.history["loss"]


def test_ranks_trained_on_different_data_end_with_identical_weights(spark):
    (weights0, loss0), (weights1, loss1) = horovod.spark.run(_train_on_rank_specific_data, args=(True,),
                                                             num_proc=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(weights0, weights1))
    assert loss0 == loss1  # metrics are averaged over ranks too


def test_without_the_glue_the_same_ranks_drift_apart(spark):
    (weights0, _), (weights1, _) = horovod.spark.run(_train_on_rank_specific_data, args=(False,), num_proc=2,
                                                     verbose=0)
    assert not all(np.array_equal(a, b) for a, b in zip(weights0, weights1))


def _broadcast_unsigned_state():
    import horovod.tensorflow as hvd
    hvd.init()
    import keras
    from horovod_spark_ml.training.rank.horovod_keras import broadcast_weights

    class Counter(keras.layers.Layer):  # unsigned state, as Keras before 3.3 keeps its seed generators'
        def build(self, _):
            self.count = self.add_weight(shape=(2,), dtype="uint32", initializer="zeros", trainable=False)
            self.total = self.add_weight(shape=(), dtype="uint64", initializer="zeros", trainable=False)

        def call(self, x):
            return x

    model = keras.Sequential([keras.Input((3,)), Counter()])
    model.layers[0].count.assign(np.array([4_000_000_000, hvd.rank()], dtype="uint32"))
    model.layers[0].total.assign(np.uint64(2**63 + 7 + hvd.rank()))
    broadcast_weights(model)
    return [v.numpy().tolist() for v in model.layers[0].weights]


def test_unsigned_integer_state_is_broadcast_bit_for_bit(spark):
    ranks = horovod.spark.run(_broadcast_unsigned_state, num_proc=2, verbose=0)
    assert ranks == [[[4_000_000_000, 0], 2**63 + 7]] * 2
