"""A run's folder, ``<storePath>/runs/<runId>``: what the driver and the ranks write there and read back.

    run.json                    the estimator, its params and row count when the run started (driver)
    lock.json                   while a fit trains the run (driver: ``driver/run_lock.py``)
    epoch-0003/weights.npz      the model's weights, in the order of ``model.get_weights()`` (rank 0)
    epoch-0003/optimizer.npz    the optimizer's variables (step count, moments), plain arrays
    epoch-0003/best.npz         the best weights so far, when early stopping restores them
    epoch-0003/state.json       epochs done, history, epoch seconds, early stopping's counters
    model.keras, result.json    once finished: the trained model, then its epochs, history and epoch seconds

At most two checkpoint folders exist at a time, the newest and the one being
written. ``state.json`` is written last, under a temporary name and then
moved into place, so a checkpoint is complete exactly when it has one: a rank
killed while writing leaves a folder that :func:`latest_checkpoint` ignores.
Arrays are stored with ``numpy.savez`` and read with ``allow_pickle=False``:
nothing is unpickled. ``rank/checkpoints.py`` writes the checkpoints.

Example (the driver)::

    >>> latest_checkpoint("file:///tmp/horovod_spark_ml-0/runs/20261203-0142-1a2b3c4d")
    Checkpoint(url='file:///tmp/.../epoch-0003', epoch=3, state={'epoch': 3, 'history': {...}, ...})
"""
import io
import json
import uuid
from dataclasses import dataclass

from ..data.store import open_filesystem

RUNS = "runs"  # under storePath: one folder per run
RESULT = "result.json"
STATE = "state.json"


def run_folder_url(store, run_id):
    """The folder of run ``run_id`` in ``store`` (a :class:`..data.store.Store`), as the driver and ranks read it."""
    return f"{store.read_url}/{RUNS}/{run_id}"


@dataclass(frozen=True)
class Checkpoint:
    """A complete checkpoint: where it is, how many epochs it holds, and its ``state.json``."""
    url: str
    epoch: int
    state: dict


def checkpoint_folder(run_url, epoch):
    return f"{run_url}/epoch-{epoch:04d}"


def latest_checkpoint(run_url):
    """The run's newest complete :class:`Checkpoint`, or ``None`` when it has none yet."""
    import pyarrow.fs
    fs, path = open_filesystem(run_url)
    found = fs.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True))
    for epoch in sorted({_epoch_of(info.base_name) for info in found} - {None}, reverse=True):
        url = checkpoint_folder(run_url, epoch)
        state = read_json(f"{url}/{STATE}")
        if state is not None:
            return Checkpoint(url, epoch, state)
    return None


def write_result(run_url, model_bytes, result):
    """Store a finished run's trained model and ``result`` (history, epoch seconds); ``result.json`` last."""
    write_bytes(f"{run_url}/model.keras", model_bytes)
    write_json(f"{run_url}/{RESULT}", result)


def read_result(run_url):
    """A finished run's ``{"model": bytes, "history": ..., "epoch_seconds": ...}``, or ``None`` if unfinished."""
    result = read_json(f"{run_url}/{RESULT}")
    return None if result is None else {"model": read_bytes(f"{run_url}/model.keras"), **result}


def _epoch_of(name):
    prefix, _, number = name.partition("-")
    return int(number) if prefix == "epoch" and number.isdigit() else None


def read_json(url):
    """The JSON document at ``url``, or ``None`` if there is none."""
    fs, path = open_filesystem(url)
    try:
        with fs.open_input_stream(path) as f:
            return json.loads(f.read())
    except FileNotFoundError:
        return None


def write_json(url, document):
    """Write ``document`` at ``url`` all at once: under a temporary name first, then moved into place."""
    fs, path = _for_writing(url)
    temporary = f"{path}.tmp-{uuid.uuid4().hex}"
    with fs.open_output_stream(temporary) as f:
        f.write(json.dumps(document, indent=1).encode())
    fs.move(temporary, path)


def write_bytes(url, data):
    fs, path = _for_writing(url)
    with fs.open_output_stream(path) as f:
        f.write(data)


def _for_writing(url):
    """``(file system, path)`` for a file about to be written, its folder created if missing."""
    fs, path = open_filesystem(url)
    fs.create_dir(path.rpartition("/")[0], recursive=True)
    return fs, path


def read_bytes(url):
    fs, path = open_filesystem(url)
    with fs.open_input_stream(path) as f:
        return f.read()


def delete_folder(url):
    fs, path = open_filesystem(url)
    fs.delete_dir(path)


def arrays_to_bytes(arrays):
    import numpy as np
    buffer = io.BytesIO()
    np.savez(buffer, *arrays)
    return buffer.getvalue()


def arrays_from_bytes(data):
    import numpy as np
    with np.load(io.BytesIO(data), allow_pickle=False) as loaded:
        return [loaded[f"arr_{i}"] for i in range(len(loaded.files))]
