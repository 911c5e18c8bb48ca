"""The two errors users see: bad input (driver side) and a failed training run."""


class InputError(ValueError):
    """The DataFrame or a param cannot be trained on; raised on the driver before anything is staged."""


class TrainingError(RuntimeError):
    """A Horovod rank failed; the message carries that rank's error and traceback.

    ``lost`` says in one line what was lost when a relaunch may succeed (a rank
    killed, an executor gone); it is ``None`` for errors that would happen again
    (a layer that raises, bad data).
    """

    def __init__(self, message, lost=None):
        super().__init__(message)
        self.lost = lost


class ClusterError(RuntimeError):
    """The executors cannot run training (a module missing from their Python, a store they cannot write)."""
