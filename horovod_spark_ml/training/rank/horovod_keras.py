"""Keras 3 glue for Horovod: averaged gradients, broadcast weights, averaged metrics.

Horovod's own ``horovod.tensorflow.keras`` is written for Keras 2: under Keras 3
its DistributedOptimizer wraps the optimizer without error but never averages
the gradients, so ranks drift apart silently. These pieces use only the core
ops of ``horovod.tensorflow``, which work with Keras 3 on the TensorFlow
backend. Models must be compiled with ``jit_compile=False``: Horovod's ops have
no XLA kernels.

Example (inside a Horovod rank, e.g. under ``horovodrun -np 2``)::

    import horovod.tensorflow as hvd, keras
    hvd.init()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(distributed_optimizer(keras.optimizers.Adam()), "mse", jit_compile=False)
    broadcast_weights(model)
    model.fit(x, y, callbacks=[MetricAverager()])
"""
import horovod.tensorflow as hvd
import keras
import tensorflow as tf


def distributed_optimizer(optimizer):
    """Return a copy of ``optimizer`` that averages gradients over all ranks.

    The copy is an instance of a subclass of the optimizer's own class whose
    ``apply`` first runs one grouped allreduce (so all gradients travel in one
    collective) and then applies the averaged gradients as usual.
    """
    base = type(optimizer)

    class AveragingOptimizer(base):
        def apply(self, grads, trainable_variables=None):
            return super().apply(average_gradients(grads), trainable_variables)

    AveragingOptimizer.__name__ = f"Averaging{base.__name__}"
    return AveragingOptimizer.from_config(optimizer.get_config())


def average_gradients(grads):
    """Average a list of gradients over all ranks; ``None`` entries pass through."""
    if hvd.size() == 1:
        return grads
    present = [i for i, g in enumerate(grads) if g is not None]
    # IndexedSlices (from embeddings) are made dense: one grouped allreduce is
    # faster here than an allgather per sparse gradient.
    reduced = hvd.grouped_allreduce([tf.convert_to_tensor(grads[i]) for i in present], op=hvd.Average)
    averaged = list(grads)
    for i, g in zip(present, reduced):
        averaged[i] = g
    return averaged


def broadcast_weights(model, root_rank=0):
    """Overwrite every variable of ``model`` (trainable or not) with rank ``root_rank``'s value."""
    if hvd.size() == 1:
        return
    for i, variable in enumerate(model.variables):
        variable.assign(_broadcast(variable.value, root_rank, name=f"hsm.broadcast.{i}"))


# Horovod's broadcast has no unsigned 32- and 64-bit types; Keras before 3.3 keeps its seed generators'
# state in uint32 variables. They travel as the signed type of the same width, bit for bit.
_SAME_BITS = {tf.uint32: tf.int32, tf.uint64: tf.int64}


def _broadcast(value, root_rank, name):
    signed = _SAME_BITS.get(value.dtype)
    if signed is None:
        return hvd.broadcast(value, root_rank, name=name)
    return tf.bitcast(hvd.broadcast(tf.bitcast(value, signed), root_rank, name=name), value.dtype)


def average_non_trainable(model):
    """Average the non-trainable float variables (e.g. batch-norm moving statistics) over all ranks.

    Trainable weights stay identical through averaged gradients; running
    statistics are updated from each rank's own batches, so they are averaged
    once at the end to leave every rank with the same, all-data statistics.
    """
    if hvd.size() == 1:
        return
    variables = [v for v in model.non_trainable_variables if v.dtype.startswith("float")]
    if variables:
        averaged = hvd.grouped_allreduce([v.value for v in variables], op=hvd.Average, name="hsm.non_trainable")
        for variable, value in zip(variables, averaged):
            variable.assign(value)


class MetricAverager(keras.callbacks.Callback):
    """Replace each epoch's logs with their average over all ranks.

    Put it first in the callback list: later callbacks (early stopping,
    progress, history) then all see the same numbers on every rank, so every
    rank stops at the same epoch.
    """

    def on_epoch_end(self, epoch, logs=None):
        if not logs or hvd.size() == 1:
            return
        keys = sorted(logs)
        values = tf.constant([float(logs[k]) for k in keys], dtype=tf.float64)
        averaged = hvd.allreduce(values, op=hvd.Average, name=f"hsm.metrics.{epoch}").numpy()
        logs.update({k: float(v) for k, v in zip(keys, averaged)})


class CountReporter(keras.callbacks.Callback):
    """Put the growth of ``counter`` during each epoch, summed over all ranks, into the logs as ``name``.

    Put it before :class:`MetricAverager`, which then leaves the (equal) sums as they are.
    """

    def __init__(self, counter, name):
        super().__init__()
        self.counter, self.name, self.reported = counter, name, 0

    def on_epoch_end(self, epoch, logs=None):
        total = int(self.counter.numpy())
        grown = tf.constant(total - self.reported, dtype=tf.int64)
        self.reported = total
        if hvd.size() > 1:
            grown = hvd.allreduce(grown, op=hvd.Sum, name=f"hsm.count.{self.name}.{epoch}")
        if logs is not None:
            logs[self.name] = float(grown.numpy())
