"""Train several param maps' models in one step loop: one batch, every model's step, one allreduce.

The param maps of one ``fitMultiple`` call that read the same staged data with
the same batch size, epochs and seed (a learning-rate or layer-size grid) see
the very same batches. On small models a step's time is mostly fixed cost
(a graph call, the gradient allreduce, the input pipeline, the callbacks), so
one step that runs them all costs far less than one step each. Each model
keeps its own loss, metrics, optimizer, checkpoints, history and result, and
trains exactly as it would alone: the same seeds, batches and arithmetic
(the tests compare the two).

Not trained together: models with their own ``train_step`` (RBM pretraining),
early stopping (models would stop at different epochs), image inputs,
TensorBoard logging, and groups beyond :data:`MOST_MODELS` models or
:data:`MOST_PARAMETERS` parameters (their activations would not fit).

Example (in a rank, what :func:`.job_fit.train_in_shared_steps` does)::

    >>> shared = SharedSteps([model_a, model_b], ["param map 1 of 2", "param map 2 of 2"])
    >>> shared.compile(jit_compile=False)
    >>> shared.fit(data, epochs=3, callbacks=[ForEachMember(shared, [[checkpoints_a], [checkpoints_b]])])
"""
import contextlib

import keras
import tensorflow as tf

from .horovod_keras import average_gradients

MOST_MODELS = 8
MOST_PARAMETERS = 4_000_000


def groups(jobs):
    """``jobs`` split into groups of consecutive jobs that may share a step loop (a group of one trains alone)."""
    found, last_key = [], None
    for job in jobs:
        key = _key(job)
        if key is not None and key == last_key and len(found[-1]) < MOST_MODELS:
            found[-1].append(job)
        else:
            found.append([job])
        last_key = key
    return found


def _key(job):
    """What jobs must share to see the same batches in one loop; ``None`` for a job that trains alone."""
    if job.early_stopping_patience > 0 or job.log_dir or job.input_spec is not None:
        return None
    return (job.train_urls, job.val_urls, job.inputs, job.targets, job.weight, job.batch_size, job.epochs,
            job.seed, job.resume.epoch if job.resume else 0, tuple(job.custom_modules))


def can_share_steps(models):
    """Whether these compiled models can share a step loop: plain Keras steps, and small enough together."""
    plain = all(type(m).train_step is keras.Model.train_step and type(m).test_step is keras.Model.test_step
                for m in models)
    return plain and sum(m.count_params() for m in models) <= MOST_PARAMETERS


class SharedSteps(keras.Model):
    """Compiled member models trained as one: each step computes every member's loss on the same batch,
    averages all the gradients over the ranks in one grouped allreduce, and applies each member's own
    (non-averaging) optimizer. Logs are the members' own, prefixed ``m0/``, ``m1/``, ...

    Example (each member compiled with its own optimizer, loss and metrics)::

        >>> shared = SharedSteps([mlp_a, mlp_b], ["param map 1 of 2", "param map 2 of 2"])
        >>> shared.compile(jit_compile=False)
        >>> shared.fit(batches, epochs=3, verbose=0).history["m1/loss"]
        [0.91, 0.52, 0.33]
    """

    def __init__(self, members, labels):
        super().__init__()
        self.members = members
        self.labels = labels
        self.blamed = None  # the label of the member whose step raised while being traced

    def call(self, inputs, training=False):
        return [member(inputs, training=training) for member in self.members]

    @property
    def metrics(self):
        return [metric for member in self.members for metric in member.metrics]

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            predictions, losses = [], []
            for i, member in enumerate(self.members):
                with self._blame(i):
                    y_pred = member(x, training=True)
                    loss = member._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
                member._loss_tracker.update_state(loss, sample_weight=_rows(x))
                predictions.append(y_pred)
                losses.append(member.optimizer.scale_loss(loss))
            total = tf.add_n(losses)  # each member's weights get exactly their own loss's gradient
        weights = [member.trainable_weights for member in self.members]
        gradients = average_gradients(tape.gradient(total, [w for own in weights for w in own]))
        logs, start = {}, 0
        for i, (member, own) in enumerate(zip(self.members, weights)):
            member.optimizer.apply_gradients(zip(gradients[start:start + len(own)], own))
            start += len(own)
            logs.update(_prefixed(i, member.compute_metrics(x, y, predictions[i], sample_weight=sample_weight)))
        return logs

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        logs = {}
        for i, member in enumerate(self.members):
            with self._blame(i):
                y_pred = member(x, training=False)
                loss = member._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
            member._loss_tracker.update_state(loss, sample_weight=_rows(x))
            logs.update(_prefixed(i, member.compute_metrics(x, y, y_pred, sample_weight=sample_weight)))
        return logs

    @contextlib.contextmanager
    def _blame(self, i):
        """Remember which member's step failed while being traced (a layer's Python error), to name its map."""
        try:
            yield
        except Exception:
            self.blamed = self.labels[i]
            raise


def member_logs(logs, i):
    """Member ``i``'s own logs out of the shared model's (``m2/loss`` -> ``loss``, ``val_m2/loss`` -> ``val_loss``)."""
    own = {}
    for key, value in (logs or {}).items():
        for validation in ("", "val_"):
            prefix = f"{validation}m{i}/"
            if key.startswith(prefix):
                own[validation + key[len(prefix):]] = value
    return own


class ForEachMember(keras.callbacks.Callback):
    """Give each member its own callbacks (checkpoints, progress), called with that member's logs.

    Example::

        >>> a, b = Checkpointer(url_a), Checkpointer(url_b)
        >>> shared.fit(batches, epochs=3, callbacks=[ForEachMember(shared, [[a, ProgressPrinter(a, 3, "map 1")],
        ...                                                                      [b, ProgressPrinter(b, 3, "map 2")]])])
        HSM-EPOCH {"epoch": 1, "epochs": 3, "seconds": 0.1, "job": "map 1", "loss": 0.91}
        HSM-EPOCH {"epoch": 1, "epochs": 3, "seconds": 0.1, "job": "map 2", "loss": 1.02}
    """

    def __init__(self, shared, callbacks):
        super().__init__()
        self.callbacks = callbacks
        for member, own in zip(shared.members, callbacks):
            for callback in own:
                callback.set_model(member)

    def on_train_begin(self, logs=None):
        self._each("on_train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self._each("on_epoch_begin", epoch)

    def on_epoch_end(self, epoch, logs=None):
        for i, own in enumerate(self.callbacks):
            for callback in own:
                callback.on_epoch_end(epoch, member_logs(logs, i))

    def on_train_end(self, logs=None):
        self._each("on_train_end")

    def _each(self, method, *args):
        for own in self.callbacks:
            for callback in own:
                getattr(callback, method)(*args)


def _prefixed(i, logs):
    return {f"m{i}/{key}": value for key, value in logs.items()}


def _rows(x):
    return tf.shape(tf.nest.flatten(x)[0])[0]

