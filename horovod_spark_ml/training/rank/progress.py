"""Training progress: rank 0 prints one marked JSON line per epoch, the driver shows it as one line.

Example::

    >>> model.fit(data, epochs=20, callbacks=[checkpointer, ProgressPrinter(checkpointer, 20)])   # in rank 0
    HSM-EPOCH {"epoch": 3, "epochs": 20, "seconds": 1.2, "loss": 0.3121, "accuracy": 0.9102}

(the driver shows it with :func:`..messages.format_epoch`.)
"""
import json
import sys

import keras

from ..messages import EPOCH_MARKER



class ProgressPrinter(keras.callbacks.Callback):
    """Prints one marked JSON line per epoch, once ``checkpointer`` (a :class:`.Checkpointer`, called before
    this) has that epoch's checkpoint in place, with the epoch's seconds as the checkpointer counts them."""

    def __init__(self, checkpointer, epochs, job=None):
        super().__init__()
        self.checkpointer, self.epochs, self.job = checkpointer, epochs, job

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": epoch + 1, "epochs": self.epochs, "seconds": round(self.checkpointer.epoch_seconds[-1], 3)}
        if self.job:
            record["job"] = self.job
        record.update({k: float(v) for k, v in (logs or {}).items()})
        line = EPOCH_MARKER + json.dumps(record) + "\n"
        self.checkpointer.when_written(lambda: _say(line))


def _say(line):
    """The whole line in one write, so that other output of the rank (a callback's, a layer's) does not cut into it."""
    sys.stdout.write(line)
    sys.stdout.flush()
