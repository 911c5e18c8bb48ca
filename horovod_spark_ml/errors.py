"""The two errors users see: bad input (driver side) and a failed training run."""


class InputError(ValueError):
    """The DataFrame or a param cannot be trained on; raised on the driver before anything is staged."""


class TrainingError(RuntimeError):
    """A Horovod rank failed; the message carries that rank's error and traceback."""


class ClusterError(RuntimeError):
    """The executors cannot run training (a module missing from their Python, a store they cannot write)."""
