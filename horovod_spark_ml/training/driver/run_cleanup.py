"""Deleting old runs: each fit leaves ``<storePath>/runs/<runId>/`` (its checkpoint, and its model once
finished), which only a fit that resumes or trains on that run reads again.

What is safe to delete, when no fit runs on it:

- a finished run's folder (it has ``result.json``): its model is in the Model
  the fit returned; only a later fit given its ``runId`` (to return the same
  model or train on) would read it;
- an unfinished run's folder: its fit can then no longer be resumed;
- the staged data, ``<storePath>/<time>-appid-<application>-<uuid>/``: each
  driver deletes its own when its Python exits, so folders left are those of
  drivers that were killed.

:func:`delete_runs` deletes runs by age, never one whose lock a fit holds.

Example::

    >>> from horovod_spark_ml import delete_runs
    >>> delete_runs("/Volumes/main/default/store", olderThanDays=30)
    ['20261101-101010-1a2b3c4d', 'nightly-2026-11-02']
"""
import time

from ...data.store import open_filesystem, resolve_store
from ..run_folder import RESULT, RUNS, run_folder_url
from .run_lock import LOCK, held_lock


def delete_runs(storePath, olderThanDays=7.0, unfinished=False):
    """Delete the runs under ``storePath`` unchanged for more than ``olderThanDays`` days; return their ids.

    Only finished runs, unless ``unfinished=True`` (those cannot be resumed
    afterwards). A run that a fit trains now (its lock held) is kept.
    """
    import pyarrow.fs
    store = resolve_store(storePath)
    fs, path = open_filesystem(f"{store.read_url}/{RUNS}")
    cutoff = time.time() - olderThanDays * 86400
    deleted = []
    for run in sorted(fs.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True)), key=lambda i: i.path):
        if run.type != pyarrow.fs.FileType.Directory:
            continue
        entries = {info.base_name: info for info in fs.get_file_info(pyarrow.fs.FileSelector(run.path))}
        changed = max([run.mtime.timestamp()] + [info.mtime.timestamp() for info in entries.values() if info.mtime])
        if changed > cutoff or (RESULT not in entries and not unfinished):
            continue
        if LOCK in entries and held_lock(f"{run_folder_url(store, run.base_name)}/{LOCK}"):
            continue
        fs.delete_dir(run.path)
        deleted.append(run.base_name)
    return deleted
