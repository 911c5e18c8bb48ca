"""Launch the ranks on Spark executors (:mod:`.horovod_launch`) and follow them from the driver.

Rank output streams back to the driver while training runs; the launcher
prints where each rank runs and each epoch's loss and metrics as one line.
When a rank fails it raises :class:`TrainingError` naming the rank and its
host: with the rank's own traceback when Python raised, or with its exit code
or signal and the last lines of its stderr when the process died (killed,
out of memory, a native abort). Horovod stops the other ranks when one exits,
so a failure never leaves ``fit`` hanging. A failure that a relaunch may get
past (a rank killed, as the out-of-memory killer does; an executor or its
host lost) is marked so (:attr:`TrainingError.lost`); one that would happen
again (a Python error in a rank) is not. When one launch trains several jobs
(the param maps of ``fitMultiple``), the progress and the error name the job.

Example::

    >>> launch_training([job], num_proc=2, verbose=1)   # rank 0 writes the result to job.run_url
    epoch 1/10  loss 1.2031  accuracy 0.6875  (0.9 s)
    ...
"""
import collections
import json
import re
import signal
import sys
import threading

from ...errors import TrainingError
from ...quiet_tensorflow import NOISE
from ..messages import EPOCH_MARKER, ERROR_MARKER, JOB_MARKER, RANK_MARKER, format_epoch
from ..rank.worker import train

_PEER_LOST = re.compile(r"Horovod has been shut down|Connection closed by peer|Connection reset by peer")
# A process killed by one of these was ended from outside (or by the out-of-memory killer); a relaunch may
# succeed. A native crash (SIGSEGV, SIGABRT) or an exit code would most likely happen again.
_KILLING_SIGNALS = {signal.SIGKILL, signal.SIGTERM, signal.SIGHUP, signal.SIGINT}
_RANK_LINE = re.compile(r"^\[(\d+)\]<(stdout|stderr)>:(.*)$")
_TAIL_LINES = 15
# Ranks inherit the executor's environment; these only quiet TensorFlow's C++ start-up chatter.
RANK_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore::FutureWarning"}


def launch_training(jobs, num_proc, verbose=1, out=None, on_epoch=None):
    """Train each of ``jobs`` in turn in one launch of ``num_proc`` ranks (rank 0 stores each result).

    ``on_epoch`` is called with each epoch's record (``{"epoch": 3, "loss": ...}``) as rank 0 reports it.
    """
    from .horovod_launch import LaunchFailed, launch_ranks  # Horovod: imported when a fit launches, not before
    output = RankOutput(verbose, out or sys.stdout, on_epoch)
    try:
        launch_ranks(train, (jobs,), num_proc, env=dict(RANK_ENV), stdout=output, stderr=output,
                     verbose=1 if verbose >= 2 else 0)
    except LaunchFailed as e:
        message, lost = output.failure(e)
        raise TrainingError(message, lost) from e
    finally:
        output.flush()


class RankOutput:
    """A text stream for Horovod's forwarded rank output: shows progress, keeps what explains a failure."""

    def __init__(self, verbose, out, on_epoch=None):
        self.verbose = verbose
        self.out = out
        self.on_epoch = on_epoch
        self.failures = {}  # rank -> what its Python reported: {"error": its traceback, "job": the job it was on}
        self.ranks = {}  # rank -> where it runs, as the rank reported it
        self.job = None  # the label of the job the ranks are training, when one launch trains several
        self.stderr = collections.defaultdict(lambda: collections.deque(maxlen=_TAIL_LINES))
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
        rank, stream, text = (int(match.group(1)), match.group(2), match.group(3)) if match else (None, None, line)
        try:
            if self._marked(rank, text):
                return
        except (ValueError, KeyError, TypeError):
            pass  # a marked line that other output cut into (a thread of the rank printing): shown as it came
        if stream == "stderr" and not NOISE.search(text):
            self.stderr[rank].append(text)
        if self.verbose >= 2:
            self.out.write(line + "\n")
        elif self.verbose >= 1 and rank == 0 and stream == "stdout":
            self.out.write(text + "\n")

    def _marked(self, rank, text):
        """Take in a line the rank marked (its failure, its place, its job, an epoch); ``False`` for others."""
        if text.startswith(ERROR_MARKER):
            failure = json.loads(text[len(ERROR_MARKER):])
            # its job names what failed (e.g. one of several maps trained together), not rank 0's latest job
            # line: that may come after it (each rank's stdout and stderr reach the driver in their own order)
            self.failures.setdefault(rank if rank is not None else failure["rank"], failure)
        elif text.startswith(RANK_MARKER):
            where = json.loads(text[len(RANK_MARKER):])
            self.ranks[where["rank"]] = where
            if self.verbose >= 1:
                self.out.write(f"rank {where['rank']} of {where['size']}: {_where(where)}\n")
        elif text.startswith(JOB_MARKER):
            label = text[len(JOB_MARKER):]
            if label != self.job and self.verbose >= 1:
                self.out.write(label + "\n")
            self.job = label
        elif text.startswith(EPOCH_MARKER):
            record = json.loads(text[len(EPOCH_MARKER):])
            if self.verbose >= 1:
                self.out.write(format_epoch(record) + "\n")
            if self.on_epoch:
                self.on_epoch(record)
        else:
            return False
        return True

    def failure(self, error):
        """``(message, lost)`` for a :class:`.LaunchFailed`: what the user reads (which rank, where, why), and for
        a failure that a relaunch may get past, what was lost in one line (else ``None``). When one launch
        trains several jobs, both start with the job that failed."""
        message, lost, rank = self._explained(error)
        job = self.failures.get(rank, {}).get("job") or self.job
        if job:
            message, lost = f"{job}: {message}", lost and f"{lost} during {job}"
        return message, lost

    def _explained(self, error):
        """``(message, lost, rank)``: the failure, and the rank it names (``None`` for none)."""
        # A rank whose Python raised an error of its own is the cause, whichever rank ended first (one
        # that only reported Horovod's shutdown can end within milliseconds before it). Else it is a rank
        # that died without a word from its Python (killed, crashed, exited), ahead of the peers that
        # reported its loss, even when one of them ended first.
        exits = [(rank, code) for rank, code in error.exits if code != 0 and rank not in error.stopped]
        causes = self._causes()
        first_cause = next((rank for rank, _ in exits if rank in causes), causes[0] if causes else None)
        if first_cause is not None:
            return self._raised(first_cause), None, first_cause
        died = [(rank, code) for rank, code in exits if rank not in self.failures and code is not None]
        if died:
            rank, code = died[0]
            return self._died(rank, code), (f"rank {rank}{self._on(rank)} {describe_exit(code)}"
                                            if _killed(code) else None), rank
        unreachable = [rank for rank, code in exits if code is None]
        if unreachable and not self.failures:
            lost = f"the task of rank {unreachable[0]}{self._on(unreachable[0])} was lost{_why_lost(error.spark_error)}"
            return f"Horovod training failed: {lost}", lost, unreachable[0]
        if self.failures:
            rank = list(self.failures)[0]
            lost = self._lost(error.spark_error, error.stopped)
            return f"Horovod training failed: {lost}; the other ranks then stopped:\n{self._raised(rank)}", lost, rank
        if error.spark_error is not None:
            return (f"Horovod training failed: the Spark job of its tasks failed: {spark_failure(error.spark_error)}",
                    self._lost(error.spark_error, error.stopped), None)
        return str(error), None, None

    def _lost(self, spark_error, stopped=()):
        """What was lost, in one line, when the ranks that reported only lost their peers (or none reported).

        The ranks that said nothing are the lost ones: their process, or the executor that ran it, ended
        before they could say why.
        """
        silent = [rank for rank in sorted(self.ranks) if rank not in self.failures and rank not in stopped]
        lost = (", ".join(f"rank {rank}{self._on(rank)}" for rank in silent) + " ended without a word"
                if silent else "the ranks lost a peer")
        return lost + _why_lost(spark_error)

    def _causes(self):
        # When one rank dies, Horovod shuts down and the others fail with "Horovod has been shut down"
        # (or gloo's word for a peer that went away): a cause is a failure that is not that.
        return [r for r, failure in self.failures.items() if not _PEER_LOST.search(failure["error"])]

    def _raised(self, rank):
        return f"Horovod rank {rank}{self._on(rank)} failed during training:\n{self.failures[rank]['error'].rstrip()}"

    def _died(self, rank, code):
        tail = list(self.stderr.get(rank, ()))
        message = f"Horovod rank {rank}{self._on(rank)} {describe_exit(code)}"
        message += (":\n" + "\n".join("  " + line for line in tail)) if tail else " and wrote nothing to stderr"
        if any("connect [127." in line for line in tail):
            message += ("\nThe ranks could not reach each other: a rank offered a loopback address to ranks on "
                        "other hosts. Horovod 0.28.1 needs the package's process-set-iface patch for "
                        "that (horovod-spark-ml build-horovod builds it so), or each host's name must "
                        "resolve to an address the other hosts reach.")
        return message

    def _on(self, rank):
        where = self.ranks.get(rank)
        return f" (on {_where(where)})" if where else ""


def spark_failure(error):
    """The lines of a failed Spark job's error that say why: the Python or executor failure, not the JVM stack."""
    lines = [line.strip() for line in str(error).splitlines()]
    why = [line for line in lines if re.match(r"^(\w+\.)*\w*(Error|Exception|Failure)\b", line)
           and "Py4JJavaError" not in line and "org.apache.spark.SparkException: Job aborted" not in line]
    return "\n".join(dict.fromkeys(why[-3:] or lines[:1]))


def _why_lost(spark_error):
    """Why a rank or its task was lost, as a parenthesis: Spark's reason where its job failed with one."""
    why = _lost_task(spark_error) if spark_error is not None else ""
    return f" (Spark: {why})" if why else " (its process or its executor was killed or lost)"


def _lost_task(spark_error):
    """Why Spark's task failed, e.g. ``ExecutorLostFailure (executor 0 exited ...) Reason: Command exited with
    code 137, on 10.0.0.12 executor 0``; ``""`` when the job only ended because Horovod cancelled it (as it
    does once a rank is gone: Spark then says nothing about the loss)."""
    text = str(spark_error)
    lost = re.search(r"most recent failure: Lost task \S+ in stage \S+ \(TID \d+\) \(([^)]*)\): ([^\n]*)", text)
    if lost:
        return f"{lost.group(2).strip()}, on {lost.group(1)}"
    executor = re.search(r"ExecutorLostFailure[^\n]*", text)
    if executor:
        return executor.group(0).strip()
    why = [line for line in spark_failure(spark_error).splitlines() if not line.startswith("An error occurred")]
    return "" if "cancelled" in text or not why else why[0]


def _signal_of(code):
    return -code if code < 0 else code - 128 if 128 < code < 160 else None


def _killed(code):
    return _signal_of(code) in _KILLING_SIGNALS


def describe_exit(code):
    """An exit status as a person reads it: the signal that killed the process, or its exit code."""
    number = _signal_of(code)
    if number is None:
        return f"exited with code {code}"
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    why = {"SIGKILL": " (killed: by the out-of-memory killer, or by someone)",
           "SIGABRT": " (a native abort: a C++ exception or assertion in TensorFlow, Horovod or gloo)",
           "SIGSEGV": " (a native crash)"}.get(name, "")
    if code < 0:
        return f"was killed by {name}{why}"
    return f"exited with code {code}, 128 + {name}{why}"


def _where(where):
    gpus = (f", Spark GPU {','.join(where['gpus'])} (CUDA_VISIBLE_DEVICES={where['visible_gpus']})"
            if where.get("gpus") else "")
    return f"host {where['host']}, pid {where['pid']}, {where['python']}{gpus}"
