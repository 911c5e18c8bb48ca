"""A fit's run: its id and folder, a fresh start or a resumption, relaunches after a lost rank, the result.

Every fit is a run with a ``runId`` (the param, or a new one) and a folder,
``<storePath>/runs/<runId>`` (:mod:`..run_folder`): ``run.json`` (the
estimator, its params and the row count it started with), the newest
checkpoint and, once finished, ``model.keras`` and ``result.json``. Generated ids are unique
(time and a random part), so concurrent fits into one storePath never share a
folder.

- **Relaunch.** When the ranks are lost (a rank killed, an executor or its
  host gone), :func:`train_runs` launches them again from the newest
  checkpoint, up to ``maxRetries`` times, saying in one line what was lost and
  from which epoch it resumes. Errors that would happen again (a layer that
  raises, bad data) are raised at once.
- **Resume by hand.** A fit given the ``runId`` of a run that did not finish
  (its driver died) resumes from its newest checkpoint; one given a finished
  run's id returns that run's model, or trains on to a larger ``epochs``. The
  params must be the ones the run started with, except those in
  ``_MAY_DIFFER``.

Example::

    >>> run = open_run(store, None, {"estimator": "MLPClassifier", "params": {...}, "rows": 1797})
    >>> [result] = train_runs([run], [job], num_proc=2, max_retries=2, verbose=1)
    rank 1 (on host w2 (10.0.0.12), pid 812, ...) was killed by SIGKILL (...); resuming from epoch 3 of 6 (retry 1 of 2)
"""
import re
import sys
import time
import uuid
from dataclasses import dataclass, field, replace

from ...errors import InputError, TrainingError
from ..run_folder import RESULT, latest_checkpoint, read_json, read_result, run_folder_url, write_json
from .launcher import launch_training
from .run_lock import RunLock

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # the whole id (fullmatch: no newline after it)
# Params that a resumed run may change: they do not change what the checkpoints hold.
_MAY_DIFFER = {"runId", "verbose", "maxRetries", "numProc", "epochs", "logDir", "mlflowLogging", "storePath",
               "readerBackend", "thresholds"}


def new_run_id():
    """A run id that sorts by start time and is unique: ``20261203-014512-1a2b3c4d``."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class Run:
    """A run's id and its folder, as the driver and the ranks read it; an explicit ``runId``'s run holds its
    lock (:mod:`.run_lock`) until :meth:`close`."""
    run_id: str
    url: str
    lock: RunLock = field(default=None, compare=False, repr=False)

    def result(self):
        """The finished run's ``{"model": bytes, "history": ..., "epoch_seconds": ...}``, or ``None``."""
        return read_result(self.url)

    def close(self):
        """Let another fit train this run (release its lock)."""
        if self.lock is not None:
            self.lock.release()


def open_run(store, run_id, description):
    """The :class:`Run` for ``run_id`` (a new one when ``None``), created or checked against ``description``.

    ``description`` is plain JSON: ``{"estimator": ..., "params": {...}, "rows": ...}``. A given ``run_id``
    is locked until the run is closed: two fits never train one run at once.
    """
    if run_id is not None and not _ID.fullmatch(run_id):
        raise InputError(f"runId '{run_id}' is invalid: use letters, digits, '.', '_' and '-' (at most 128, "
                         "starting with a letter or digit); it names a folder under storePath")
    given = run_id is not None
    run_id = run_id if given else new_run_id()  # a new id is unique: no other fit can name it
    url = run_folder_url(store, run_id)
    run = Run(run_id, url, RunLock.take(url, run_id) if given else None)
    try:
        started = read_json(f"{run.url}/run.json")
        if started is None:
            write_json(f"{run.url}/run.json", description)
        else:
            _check_same(run_id, started, description)
    except BaseException:
        run.close()
        raise
    return run


def _check_same(run_id, started, now):
    differences = []
    if started.get("estimator") != now["estimator"]:
        differences.append(f"the estimator: {started.get('estimator')} then, {now['estimator']} now")
    for key in ("rows", "weights"):
        if started.get(key) != now.get(key):
            differences.append(f"{key}: {started.get(key)} then, {now.get(key)} now")
    then_params, now_params = started.get("params", {}), now["params"]
    for name in sorted(set(then_params) | set(now_params)):
        if name not in _MAY_DIFFER and then_params.get(name) != now_params.get(name):
            differences.append(f"{name}: {then_params.get(name)!r} then, {now_params.get(name)!r} now")
    if differences:
        raise InputError(f"runId '{run_id}' names a run that started with other settings, so it cannot be "
                         f"resumed with these ({'; '.join(differences)}); unset runId (or pick a new one) to start "
                         "a new run")


def train_runs(runs, jobs, *, num_proc, max_retries, verbose=1, on_epoch=None, out=None):
    """Train each job as its run, all in one launch of ``num_proc`` ranks; return their results, in order.

    Each job starts from its run's newest checkpoint; a run that finished
    before is not trained again. After lost ranks, the runs not yet finished
    are launched again, each from its newest checkpoint.
    """
    out = out or sys.stdout
    jobs = [replace(job, run_url=run.url) for run, job in zip(runs, jobs)]
    lost = None
    for attempt in range(max_retries + 1):
        progress = [_progress(run, job) for run, job in zip(runs, jobs)]
        todo = [replace(job, resume=checkpoint) for job, (finished, checkpoint) in zip(jobs, progress)
                if not finished]
        if lost is None:
            for run, job, (finished, checkpoint) in zip(runs, jobs, progress):
                _say_where_it_starts(run, job, finished, checkpoint, out, verbose)
        elif todo:
            start = (f"epoch {todo[0].resume.epoch} of {todo[0].epochs}" if todo[0].resume
                     else "the start (no epoch had ended)")
            _say(out, verbose, f"{lost}; resuming from {start} (retry {attempt} of {max_retries})")
        if not todo:
            break
        try:
            launch_training(todo, num_proc, verbose, out=out, on_epoch=on_epoch)
            break
        except TrainingError as e:
            if e.lost is None or attempt == max_retries:
                raise
            lost = e.lost
    return [run.result() for run in runs]


def _progress(run, job):
    """``(finished, newest checkpoint)``: finished when the run holds its trained model for ``job.epochs`` (or
    it stopped early), so there is nothing to train.

    The model must be the newest checkpoint's: a run trained on to more epochs
    keeps its earlier result until the new one replaces it, so a rank lost
    between the last checkpoint and that replacement leaves a result of fewer
    epochs, and the relaunch resumes from the checkpoint to write the new one.
    """
    checkpoint = latest_checkpoint(run.url)
    result = read_json(f"{run.url}/{RESULT}")
    finished = result is not None and (checkpoint is None or (
        _epochs_of(result) == checkpoint.epoch and (checkpoint.state.get("stopped") or checkpoint.epoch >= job.epochs)))
    return finished, checkpoint


def _epochs_of(result):
    """How many epochs a run's stored model was trained for (earlier results say it by their epoch times)."""
    return result.get("epochs", len(result.get("epoch_seconds", [])))


def _say_where_it_starts(run, job, finished, checkpoint, out, verbose):
    which = f" ({job.label})" if job.label else ""
    if finished:
        _say(out, verbose, f"run {run.run_id}{which} finished before: its model is returned without training "
                           f"(delete {run.url} to train it anew)")
    elif checkpoint is not None:
        _say(out, verbose, f"run {run.run_id}{which}: resuming from its checkpoint after epoch {checkpoint.epoch} "
                           f"of {job.epochs}")


def _say(out, verbose, line):
    if verbose >= 1:
        out.write(line + "\n")
        out.flush()
