"""Per-epoch checkpoints of a run, written by rank 0 after every epoch and read back to resume.

The files and their format are the run folder's (:mod:`..run_folder`): the
weights, the optimizer's variables, early stopping's best weights and
``state.json``, written last. Every rank reads the checkpoint it resumes from
(the store is shared), so all start from the same weights, optimizer state
and counters. When the run has trained its last epoch, rank 0 writes its
result next to them (:func:`..run_folder.write_result`).

Example (rank 0)::

    >>> checkpointer = Checkpointer(job.run_url, stopping, job.resume)
    >>> model.fit(data, epochs=job.epochs, callbacks=[checkpointer])
"""
import functools

import keras

from ..run_folder import (STATE, arrays_from_bytes, arrays_to_bytes, checkpoint_folder, delete_folder, read_bytes,
                          write_bytes, write_json)

class Checkpointer(keras.callbacks.Callback):
    """After every epoch (rank 0), write the model, optimizer state and counters as the run's newest checkpoint.

    Keeps the whole history (from the checkpoint it resumed from, if any) and
    each epoch's seconds, so a resumed run returns one entry per epoch. An
    epoch's seconds run from the previous epoch's end (the first's from its
    start): they add up to the time from the first epoch's start to the last's
    end, the work between epochs (this checkpoint, the progress line) included.
    Put it after the metric averaging and early stopping, and before anything
    that reports the epoch; what reports it does so through
    :meth:`when_written`, so that an epoch reported is an epoch checkpointed.

    The arrays are copied when the epoch ends; a thread writes them, in order,
    while the next epoch trains (a write took 7 ms of a 90 ms epoch, and the
    other ranks waited for it at their next step). ``fit`` returns once the
    last is written; a write that failed raises at the next epoch's end, or
    when training ends.
    """

    def __init__(self, run_url, early_stopping=None, resumed=None, writes=True):
        super().__init__()
        self.run_url, self.early_stopping, self.writes = run_url, early_stopping, writes
        state = resumed.state if resumed else {}
        self.history = {k: list(v) for k, v in state.get("history", {}).items()}
        self.epoch_seconds = list(state.get("epoch_seconds", []))
        self.previous = resumed.url if resumed else None
        self.started = None
        self._pending, self._reader = [], None

    def on_epoch_begin(self, epoch, logs=None):
        import time
        if self.started is None:
            self.started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        import time
        ended = time.time()
        self.epoch_seconds.append(ended - self.started)
        self.started = ended  # the next epoch's seconds include what runs between the two (this checkpoint's copy)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        if self.writes:
            self._in_order(self._write, epoch + 1, *self._copies(epoch + 1))

    def when_written(self, action):
        """Call ``action()`` once the checkpoint of the epoch that just ended is in place (at once on a rank that
        writes none)."""
        if self.writes:
            self._in_order(action)
        else:
            action()

    def on_train_end(self, logs=None):
        self.wait()

    def wait(self):
        """Wait until every checkpoint is written; raise the error of one that failed."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def _in_order(self, task, *args):
        for done in [f for f in self._pending if f.done()]:
            done.result()  # a failed write raises here, in the training thread
            self._pending.remove(done)
        self._pending.append(_writer().submit(task, *args))

    def _copies(self, epochs_done):
        """What the checkpoint holds, copied now: the next epoch changes the model and the counters."""
        stopping = self.early_stopping
        best = None if stopping is None else stopping.best_weights  # a list Keras replaces, never changes
        state = {
            "epoch": epochs_done, "history": {k: list(v) for k, v in self.history.items()},
            "epoch_seconds": list(self.epoch_seconds), "stopped": bool(self.model.stop_training),
            "early_stopping": None if stopping is None else {
                "wait": stopping.wait, "best": None if stopping.best is None else float(stopping.best),
                "best_epoch": stopping.best_epoch, "has_best_weights": best is not None}}
        weights, optimizer = self._read_variables()
        return [w.numpy() for w in weights], [v.numpy() for v in optimizer], best, state

    def _read_variables(self):
        """The model's weights (as ``get_weights`` orders them) and the optimizer's variables, read in one
        TensorFlow call: one eager read per variable took 3 ms in a rank for a small MLP, this 0.9 ms (and
        40-60 ms once, to trace it)."""
        if self._reader is None:
            import tensorflow as tf
            weights, optimizer = list(self.model.weights), list(self.model.optimizer.variables)
            self._reader = tf.function(lambda: ([w.value for w in weights], [v.value for v in optimizer]),
                                       autograph=False)
        return self._reader()

    def _write(self, epochs_done, weights, optimizer, best, state):
        url = checkpoint_folder(self.run_url, epochs_done)
        # The weights as arrays: a .keras file each epoch took 17 ms for a small MLP, the arrays 1 ms.
        write_bytes(f"{url}/weights.npz", arrays_to_bytes(weights))
        write_bytes(f"{url}/optimizer.npz", arrays_to_bytes(optimizer))
        if best is not None:
            write_bytes(f"{url}/best.npz", arrays_to_bytes(best))
        write_json(f"{url}/{STATE}", state)
        if self.previous:
            delete_folder(self.previous)
        self.previous = url


@functools.cache
def _writer():
    """The one thread that writes the checkpoints, and runs what waits for them, in the order they come: several
    models' trained together included, so that their progress lines come in order, never cut into each other."""
    from concurrent.futures import ThreadPoolExecutor
    return ThreadPoolExecutor(1, thread_name_prefix="checkpoints")


def restore(model, checkpoint):
    """Load a checkpoint's weights and optimizer state into a compiled ``model``."""
    model.set_weights(arrays_from_bytes(read_bytes(f"{checkpoint.url}/weights.npz")))
    model.optimizer.build(model.trainable_variables)
    values = arrays_from_bytes(read_bytes(f"{checkpoint.url}/optimizer.npz"))
    variables = model.optimizer.variables
    if len(values) != len(variables):
        raise ValueError(f"the checkpoint {checkpoint.url} holds {len(values)} optimizer variables, the optimizer "
                         f"has {len(variables)}: it was written by a different optimizer")
    for variable, value in zip(variables, values):
        variable.assign(value)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras' EarlyStopping that starts from a checkpoint's counters (and best weights) instead of from zero."""

    def __init__(self, checkpoint=None, **kwargs):
        super().__init__(**kwargs)
        self.checkpoint = checkpoint

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        saved = self.checkpoint.state.get("early_stopping") if self.checkpoint else None
        if not saved:
            return
        self.wait, self.best, self.best_epoch = saved["wait"], saved["best"], saved["best_epoch"]
        if saved["has_best_weights"]:
            self.best_weights = arrays_from_bytes(read_bytes(f"{self.checkpoint.url}/best.npz"))
