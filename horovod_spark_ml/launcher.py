"""Launch the ranks on Spark executors with ``horovod.spark.run`` and follow them from the driver.

Rank output streams back to the driver while training runs; the launcher
prints each epoch's loss and metrics as one line, and when a rank fails it
raises :class:`TrainingError` with that rank's own traceback. Horovod stops
the other ranks when one exits, so a failure never leaves ``fit`` hanging.

Example::

    >>> result = run_training(job, num_proc=2, verbose=1)
    epoch 1/10  loss 1.2031  accuracy 0.6875  (0.9 s)
    ...
    >>> result["history"]["loss"][-1]
    0.0912
"""
import json
import re
import sys
import threading

from .errors import TrainingError
from .horovod_spark_patches import patched_horovod_spark
from .progress import EPOCH_MARKER, format_epoch
from .worker import ERROR_MARKER, train

_SHUTDOWN = "Horovod has been shut down"
_RANK_LINE = re.compile(r"^\[(\d+)\]<(stdout|stderr)>:(.*)$")
# Ranks inherit the executor's environment; these only quiet TensorFlow's C++ start-up chatter.
_RANK_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore::FutureWarning"}


def run_training(job, num_proc, verbose=1, out=None):
    """Train ``job`` on ``num_proc`` ranks; return rank 0's result (trained model bytes and history)."""
    import horovod.spark
    output = RankOutput(verbose, out or sys.stdout)
    try:
        with patched_horovod_spark():
            results = horovod.spark.run(train, args=(job,), num_proc=num_proc, env=dict(_RANK_ENV),
                                        stdout=output, stderr=output, verbose=1 if verbose >= 2 else 0)
    except Exception as e:
        raise TrainingError(output.failure_message(e)) from e
    finally:
        output.flush()
    return results[0]


class RankOutput:
    """A text stream for Horovod's forwarded rank output: shows progress, keeps failures."""

    def __init__(self, verbose, out):
        self.verbose = verbose
        self.out = out
        self.failures = {}
        self._partial = ""
        self._lock = threading.Lock()

    def write(self, text):
        with self._lock:
            lines = (self._partial + text).split("\n")
            self._partial = lines.pop()
            for line in lines:
                self._handle(line)

    def flush(self):
        with self._lock:
            if self._partial:
                self._handle(self._partial)
                self._partial = ""
        self.out.flush()

    def _handle(self, line):
        match = _RANK_LINE.match(line)
        rank, text = (int(match.group(1)), match.group(3)) if match else (None, line)
        if text.startswith(ERROR_MARKER):
            failure = json.loads(text[len(ERROR_MARKER):])
            self.failures.setdefault(rank if rank is not None else failure["rank"], failure["error"])
        elif text.startswith(EPOCH_MARKER):
            if self.verbose >= 1:
                self.out.write(format_epoch(json.loads(text[len(EPOCH_MARKER):])) + "\n")
        elif self.verbose >= 2 or (self.verbose >= 1 and rank == 0 and match and match.group(2) == "stdout"):
            self.out.write(line + "\n")

    def failure_message(self, error):
        if not self.failures:
            return f"Horovod training failed: {error}"
        # When one rank dies, Horovod shuts down and the others fail with
        # "Horovod has been shut down": report the first failure that is a cause.
        causes = [r for r, text in self.failures.items() if _SHUTDOWN not in text]
        rank = (causes or list(self.failures))[0]
        return f"Horovod rank {rank} failed during training:\n{self.failures[rank].rstrip()}"
