"""Launch Horovod ranks on Spark executors: one Spark task per rank, the ranks joined over Gloo.

:func:`launch_ranks` runs ``fn(*args)`` in ``num_proc`` ranks and returns
their results in rank order. It is composed of Horovod 0.28.1's public
pieces, the way ``horovod.spark.run`` composes them, and changes nothing of
Horovod's or the standard library's, so a user's own ``horovod.spark.run`` in
the same process runs as stock Horovod's. Where it differs:

- **Rendezvous on the address the executors reach the driver at**
  (``spark.driver.host``). Horovod looked its address up by the name of an
  interface all tasks share (``KeyError: 'eth1'`` on a driver without that
  name; ``lo`` where loopback was the one they shared). Each task gives its
  rank the interface that routes to that address on its own host
  (:mod:`..executor.rank_process`), and the rank runs its executor's Python.
- **No waits.** A task ends as soon as the driver has its rank's exit code
  (:mod:`..executor.rank_task`), and the services stop at once
  (:mod:`..horovod_services`): Horovod's own kept every launch up to 5 s after
  its ranks ended. The tasks register without probing each other.
- **Live output.** Each rank's lines reach ``stdout``/``stderr`` as they are
  written (Horovod copied them in 64 KiB reads, often all at the end), and a
  rank's output is complete before its exit is reported.
- **Every failure kept.** :class:`LaunchFailed` carries each rank's exit code
  in the order they ended and the Spark job's own error, for the launcher to
  explain; nothing is printed to stderr meanwhile. When a rank fails and the
  others do not end within :data:`PEER_SECONDS`, they are stopped.
- **Any thread.** No signal handlers are installed, so fits run from thread
  pools (CrossValidator's ``parallelism``); the Spark job's thread inherits
  the caller's Spark properties (job group, scheduler pool).

Example::

    >>> launch_ranks(lambda: __import__("os").environ["HOROVOD_RANK"], (), num_proc=2)
    ['0', '1']
"""
import itertools
import os
import threading
import time

from horovod.runner.common.util import codec, secret
from horovod.runner.common.util.hosts import get_host_assignments, parse_hosts
from horovod.runner.common.util.settings import Settings
from horovod.runner.common.util.timeout import Timeout
from horovod.runner.gloo_run import create_slot_env_vars
from horovod.runner.http.http_server import RendezvousServer
from horovod.spark.driver.driver_service import SparkDriverService

from ..executor.rank_task import TaskLaunch, run_task
from ..horovod_services import PromptShutdown
from .rank_client import RankClient

PEER_SECONDS = 30  # after a rank failed, how long the others have to end on their own before they are stopped
_launch_numbers = itertools.count()


class LaunchFailed(Exception):
    """A launch whose ranks did not all end with 0: ``exits`` holds ``(rank, exit code)`` of every rank as it
    ended (``None`` for one whose task could not be asked), ``spark_error`` the Spark job's own error, if it
    failed, and ``stopped`` the ranks the launch itself stopped."""

    def __init__(self, message, exits=(), spark_error=None, stopped=()):
        super().__init__(message)
        self.exits = list(exits)
        self.spark_error = spark_error
        self.stopped = set(stopped)  # ranks the launch stopped after another failed: not a cause


class DriverService(PromptShutdown, SparkDriverService):
    """Horovod's Spark driver service, stopping at once."""


def launch_ranks(fn, args, num_proc, env=None, stdout=None, stderr=None, verbose=0):
    """Run ``fn(*args)`` in ``num_proc`` Horovod ranks, one per Spark task; their results in rank order.

    ``env`` is added to each rank's environment (the executor's own); ``stdout``
    and ``stderr`` receive the ranks' lines, prefixed ``[<rank>]<stdout>:``.
    Raises :class:`LaunchFailed` when a rank or the Spark job fails; an
    interrupt (Ctrl-C) stops the ranks and the job before it goes on.
    """
    from pyspark import SparkContext
    context = SparkContext._active_spark_context
    key = secret.make_secret_key()
    start_seconds = int(os.environ.get("HOROVOD_SPARK_START_TIMEOUT", "600"))  # for all tasks to start, as Horovod's
    driver = DriverService(num_proc, num_proc, fn, args, {}, key, None)
    job = _SparkJob(context, num_proc, TaskLaunch(driver.addresses(), key, start_seconds, verbose), driver)
    ranks = None
    try:
        driver.wait_for_initial_registration(Timeout(start_seconds, message=(
            f"Timed out waiting for {{activity}}: {num_proc} Spark tasks must run at once, one per rank")))
        ranks = _Ranks(driver, key, num_proc, verbose)
        ranks.run(_rendezvous_address(context, driver), env or {}, stdout, stderr)
    except BaseException as e:
        if ranks is not None:
            ranks.stop()
        spark_error = _wind_up(job, driver, cancel=True)
        if not isinstance(e, Exception):
            raise  # an interrupt: the ranks and the job are stopped
        raise LaunchFailed(f"Horovod training failed: {e}", ranks.exits if ranks else [], spark_error,
                           ranks.stopped if ranks else ()) from e
    failed = ranks.failed()
    # cancelled after a failure: a relaunched task would wait for a command that never comes
    spark_error = _wind_up(job, driver, cancel=bool(failed))
    if failed or spark_error is not None:
        raise LaunchFailed(f"Horovod training failed: {failed or 'the Spark job of its tasks failed'}",
                           ranks.exits, spark_error, ranks.stopped)
    indices = driver.get_ranks_to_indices()
    return [job.results[indices[rank]] for rank in sorted(indices)]


class _SparkJob:
    """The Spark job of the launch's tasks, in a thread of its own that keeps its results, or its error."""

    def __init__(self, context, num_proc, launch, driver):
        from functools import partial
        from pyspark import InheritableThread
        self.group = f"horovod_spark_ml.launch.{next(_launch_numbers)}"
        self.results = None
        self.error = None
        self._context = context

        def run():
            try:
                context.setJobGroup(self.group, "horovod-spark-ml: Horovod ranks", interruptOnCancel=True)
                tasks = context.range(0, numSlices=num_proc)
                self.results = tasks.mapPartitionsWithIndex(partial(run_task, launch)).collect()
            except Exception as e:  # noqa: BLE001 -- kept for the launcher, which explains it
                self.error = e
                driver.notify_spark_job_failed()

        self._thread = InheritableThread(target=run, name=self.group, daemon=True)
        self._thread.start()

    def cancel(self):
        self._context.cancelJobGroup(self.group)

    def join(self):
        self._thread.join()


def _wind_up(job, driver, cancel):
    """End the launch's Spark job (cancelled first, where ``cancel``) and the driver's service; the job's own
    error, or ``None``. A cancelled job's error is the one from before the cancel, whose own would hide it."""
    error = job.error
    if cancel:
        job.cancel()
    job.join()
    driver.shutdown()
    return error if cancel else job.error


def _rendezvous_address(context, driver):
    """The driver's address that executors reach it at: ``spark.driver.host``'s, where the driver holds it."""
    import socket
    host = context.getConf().get("spark.driver.host", socket.gethostname())
    try:
        address = socket.gethostbyname(host)
    except OSError:
        address = host
    bound = [ip for addresses in driver.addresses().values() for ip, _ in addresses]
    if address in bound:
        return address
    return next((ip for ip in bound if not ip.startswith("127.")), bound[0])


class _Ranks:
    """The ranks' commands, each run in its task from a thread of its own, and their exits."""

    def __init__(self, driver, key, num_proc, verbose):
        self.exits = []  # (rank, exit code or None), as they ended
        self.stopped = set()  # the ranks this launch stopped, after another failed
        self._driver, self._key, self._num_proc, self._verbose = driver, key, num_proc, verbose
        self._clients = {}
        self._ended = threading.Condition()

    def run(self, address, env, stdout, stderr):
        """Start a rendezvous and every rank's command; return when all ranks ended (see :meth:`_wait`)."""
        by_host = self._driver.task_host_hash_indices()
        hosts = sorted(by_host, key=lambda host: (0 not in by_host[host], host))  # rank 0 on the host of task 0
        slots = get_host_assignments(parse_hosts(",".join(f"{host}:{len(by_host[host])}" for host in hosts)),
                                     self._num_proc)
        rendezvous = _Rendezvous(self._verbose)
        port = rendezvous.start()
        rendezvous.init(slots)
        command = [codec.dumps_base64(self._driver.addresses()), codec.dumps_base64(Settings(verbose=self._verbose))]
        shared = {**env, "PYTHONUNBUFFERED": "1", "HOROVOD_GLOO_RENDEZVOUS_ADDR": address,
                  "HOROVOD_GLOO_RENDEZVOUS_PORT": str(port), "HOROVOD_CONTROLLER": "gloo",
                  "HOROVOD_CPU_OPERATIONS": "gloo"}
        try:
            for slot in slots:
                index = by_host[slot.hostname][slot.local_rank]
                threading.Thread(target=self._run_one, name=f"rank {slot.rank}", daemon=True, args=(
                    slot.rank, index, command, {**shared, **create_slot_env_vars(slot)}, stdout, stderr)).start()
            self._wait()
        finally:
            threading.Thread(target=rendezvous.stop, daemon=True).start()  # its loop ends at its next 0.5 s poll

    def failed(self):
        """How the first failed rank ended, in words (``""`` when none failed)."""
        code = next(((rank, code) for rank, code in self.exits if code != 0), None)
        if code is None:
            return ""
        return f"rank {code[0]} exited with code {code[1]}" if code[1] is not None else \
            f"the task of rank {code[0]} could not be reached"

    def stop(self):
        """Stop the ranks still running, each from a thread of its own."""
        with self._ended:
            ended = {rank for rank, _ in self.exits}
            clients = [(rank, client) for rank, client in self._clients.items() if rank not in ended]
        for rank, client in clients:
            self.stopped.add(rank)
            threading.Thread(target=client.stop, daemon=True).start()

    def _run_one(self, rank, index, command, env, stdout, stderr):
        code = None
        try:
            client = RankClient(index, self._driver.task_addresses_for_driver(index), self._key, self._verbose)
            with self._ended:
                self._clients[rank] = client
            code = client.run(command, env, stdout, stderr)
        except Exception:  # noqa: BLE001 -- the task cannot be reached: its exit code stays None, which says so
            pass
        finally:
            with self._ended:
                self.exits.append((rank, code))
                self._ended.notify_all()

    def _wait(self):
        """Wait until all ranks ended. Once one failed, the others have :data:`PEER_SECONDS` to end on their own;
        then they are stopped, and given as long again before the launch stops waiting for their tasks."""
        deadline, stopping = None, False
        with self._ended:
            while len(self.exits) < self._num_proc:
                if deadline is None and any(code != 0 for _, code in self.exits):
                    deadline = time.monotonic() + PEER_SECONDS
                if deadline is not None and time.monotonic() >= deadline:
                    if stopping:
                        return  # tasks that do not answer: their exits stay unknown, and the job is cancelled
                    stopping, deadline = True, time.monotonic() + PEER_SECONDS
                    self.stop()  # the condition's lock is reentrant; stop() only starts threads
                self._ended.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))


class _Rendezvous(RendezvousServer):
    """Horovod's rendezvous server, closing its socket when it stops."""

    def stop(self):
        super().stop()
        self._httpd.server_close()
