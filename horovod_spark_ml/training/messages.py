"""The messages between the driver and the ranks: what to train, and the marked lines a rank prints.

The driver sends each rank a list of :class:`TrainingJob` (plain data, the
model as ``.keras`` bytes). A rank speaks through its output, which Horovod
forwards to the driver: a line that starts with one of the markers carries
JSON (or a job's label) for the driver's launcher to read; any other line is
shown as it came.

Example::

    >>> format_epoch({"epoch": 3, "epochs": 20, "seconds": 1.2, "loss": 0.3121, "accuracy": 0.9102})
    'epoch 3/20  loss 0.3121  accuracy 0.9102  (1.2 s)'
    >>> format_epoch({"epoch": 3, "epochs": 20, "seconds": 1.2, "loss": 0.3121, "job": "param map 2 of 4"})
    'param map 2 of 4: epoch 3/20  loss 0.3121  (1.2 s)'
"""
from dataclasses import dataclass

ERROR_MARKER = "HSM-ERROR "
RANK_MARKER = "HSM-RANK "
JOB_MARKER = "HSM-JOB "
EPOCH_MARKER = "HSM-EPOCH "  # rank 0, after each epoch: {"epoch": 3, "epochs": 20, "seconds": 1.2, "loss": ...}
_COUNTS = {"corrupt_images"}  # logged counts, printed as integers


@dataclass
class TrainingJob:
    """Everything a rank needs to train, as plain data."""
    model_bytes: bytes
    loss: object
    metrics: list
    optimizer: object
    learning_rate: float
    batch_size: int
    epochs: int
    early_stopping_patience: int
    seed: int
    train_urls: list
    train_rows: int
    inputs: list   # layout.Field for each model input, from the staged columns
    targets: list  # layout.Field for each model output's target
    val_urls: list = None
    val_rows: int = 0
    custom_modules: list = ()
    loss_weights: object = None  # a dict by output name, for multi-output models
    input_spec: object = None  # an image_decoding.ImageSpec for image columns; None for numeric features
    run_url: str = None  # the run's folder, where rank 0 writes a checkpoint after every epoch
    resume: object = None  # the checkpoints.Checkpoint to start from, or None for a fresh start
    log_dir: str = ""  # where rank 0 writes TensorBoard event files ("" for none)
    weight: str = None  # the staged column of per-row sample weights (weightCol), or None
    label: str = None  # which of several jobs in one launch this is, e.g. "param map 2 of 4 (learningRate=0.01)"
    reader_backend: str = "arrow"  # how a shard that is not held in memory is read: "arrow" or "petastorm"


def format_epoch(record):
    """One progress line, e.g. ``epoch 3/20  loss 0.3121  accuracy 0.9102  val_loss 0.35  (1.2 s)``."""
    skip = {"epoch", "epochs", "seconds", "job"}
    values = "  ".join(f"{k} {int(v)}" if k in _COUNTS else f"{k} {v:.4f}" for k, v in record.items()
                       if k not in skip)
    job = f"{record['job']}: " if "job" in record else ""
    return f"{job}epoch {record['epoch']}/{record['epochs']}  {values}  ({record['seconds']:.1f} s)"
