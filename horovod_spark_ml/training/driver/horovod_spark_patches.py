"""Horovod 0.28.1's Spark launcher, patched for the runs we start: no waits after training, any thread.

While :func:`patched_horovod_spark` is open, every ``horovod.spark.run`` in
this process (so also a user's own) goes without these waits, which kept a
run going up to 5 s after its ranks ended:

- Each Spark task keeps its service up at least 3 s after the rank's command
  starts, so the driver can still fetch the exit code; but Horovod starts
  that clock when the command ends, so every run slept 3 s after training.
  It now starts when the command starts, and the task ends as soon as the
  driver has fetched the exit code: shorter runs (a warm fit of the demo's
  MLP takes about 3 s) ended on that clock.
- Asked for the exit code, a task looked for its command's end once a second.
  It now answers when the command ends.
- Horovod's services, the driver's and each task's, noticed a shutdown at
  their next poll, every 0.5 s; they now poll every 0.01 s.

Across hosts, each rank talks to the others over the interface that routes
to the driver, and runs the Python of its own executor:

- Horovod picks the gloo interface on the driver, as the first name that all
  tasks share, and looks the rendezvous address up by that name among the
  driver's own interfaces: ``KeyError: 'eth1'`` where the driver has no such
  name, and ``lo`` (127.0.0.1, which every host has) where it picks loopback.
  The rendezvous address is now the driver's address that Spark's executors
  reach it at (``spark.driver.host``), and each task gives its rank the
  interface that routes to that address on its own host.
- (Horovod's C++ also set up its process sets on the address of the host's
  name, 127.0.0.1 on many machines, whatever the interface; that is fixed
  where Horovod is built: ``horovod_build/horovod.sh`` and its patch.)
- The ranks ran the driver's ``sys.executable``, a path that need not exist on
  an executor that runs a shipped environment (``spark.archives`` with
  ``PYSPARK_PYTHON=./environment/bin/python``). They now run the Python of the
  executor that starts them.

A rank's output reached the driver in 64 KiB bursts, in practice often only
when the rank ended, so the per-epoch lines came all at once at the end; it
now comes as it is written. And when a rank's task goes away (its process
killed, its executor lost), the driver's threads that forward its output
printed a ``ConnectionRefusedError`` traceback each; they now end quietly, and
the launcher says what was lost.

When Horovod's Spark job fails, its thread printed a Java stack trace to
stderr (for a rank's death, a screenful about the job being cancelled). The
error is now kept for the launcher (:func:`spark_job_error`), which says in
its own error what failed.

And a run can start from any thread: Horovod's gloo launcher installs
SIGINT/SIGTERM handlers to stop the ranks, which Python allows only on the
main thread. Off it, a plain event stands in (such a thread cannot receive
signals anyway), so CrossValidator and TrainValidationSplit can fit in a pool.

On the driver the patches go in when the first run opens and come out when
the last one closes, so runs in parallel threads neither stack them nor leave
them behind. On an executor each task mends the task service of its Python
worker, which keeps it; importing this module there costs nothing, as the
package imports nothing heavy until it is used.

Example::

    >>> with patched_horovod_spark():
    ...     results = horovod.spark.run(train, args=(job,), num_proc=2)
"""
import os
import re
import shlex
import socket
import socketserver
import subprocess
import sys
import threading
from contextlib import contextmanager

from ..network import interface_towards

# Stands for the rank's Python in the command the driver sends; each task puts its own in.
EXECUTOR_PYTHON = "hsm-executor-python"
_POLL_SECONDS = 0.01
_QUIET_TRACKER = "ignore::UserWarning:multiprocessing.resource_tracker"
_lock = threading.Lock()
_open_runs = 0
_horovods = {}  # what the patches replaced
_spark_job_errors = {}  # the thread that called horovod.spark.run -> its Spark job's exception
_rank_exits = {}  # the thread that called horovod.spark.run -> [(rank, exit code, time)] as its ranks ended


@contextmanager
def patched_horovod_spark():
    """Patch Horovod's Spark launcher while the block runs (see the module's docstring)."""
    global _open_runs
    import horovod.runner.gloo_run as gloo_run
    import horovod.spark.gloo_run as spark_gloo_run
    import horovod.spark.runner as runner
    from horovod.runner.common.service import task_service
    with _lock:
        if _open_runs == 0:
            _horovods.update(make_mapper=runner._make_mapper, register_shutdown_event=gloo_run.register_shutdown_event,
                             spark_gloo_run=runner.gloo_run, make_spark_thread=runner._make_spark_thread,
                             stream_command_output=task_service.BasicTaskClient.stream_command_output,
                             exec_command_fn=spark_gloo_run._exec_command_fn)
            spark_gloo_run._exec_command_fn = _exec_command_fn_keeping_exits
            task_service.BasicTaskClient.stream_command_output = _stream_command_output_ending_quietly
            runner._make_mapper = _prompt_mapper(runner._make_mapper)
            runner._make_spark_thread = _spark_thread_keeping_its_error
            runner.gloo_run = _gloo_run_towards_driver
            gloo_run.register_shutdown_event = _shutdown_event_on_any_thread
            socketserver.ThreadingTCPServer.serve_forever = _serve_polling_often
        _open_runs += 1
    try:
        yield
    finally:
        with _lock:
            _open_runs -= 1
            if _open_runs == 0:
                runner._make_mapper = _horovods["make_mapper"]
                runner.gloo_run = _horovods["spark_gloo_run"]
                runner._make_spark_thread = _horovods["make_spark_thread"]
                gloo_run.register_shutdown_event = _horovods["register_shutdown_event"]
                task_service.BasicTaskClient.stream_command_output = _horovods["stream_command_output"]
                spark_gloo_run._exec_command_fn = _horovods["exec_command_fn"]
                del socketserver.ThreadingTCPServer.serve_forever


def _stream_command_output_ending_quietly(client, stdout=None, stderr=None):
    """Horovod's threads that forward a rank's output to the driver: line by line as it comes, and ending
    without a traceback when the rank's task is gone (its process or executor lost), which the launcher
    reports in its own words."""
    from horovod.runner.common.service.task_service import StreamCommandStdErrRequest, StreamCommandStdOutRequest
    from horovod.runner.util.threads import in_thread

    def send(request, stream):
        try:
            _stream_as_it_comes(client, request, stream)
        except Exception:  # noqa: BLE001 -- the task's service is gone, and with it the output
            try:
                client.abort_command()
            except Exception:  # noqa: BLE001
                pass

    return (in_thread(send, (StreamCommandStdOutRequest(), stdout)) if stdout else None,
            in_thread(send, (StreamCommandStdErrRequest(), stderr)) if stderr else None)


def _stream_as_it_comes(client, request, stream):
    """Horovod's ``BasicClient._send_one`` for a streamed answer, passing on each chunk as it arrives.

    Horovod copies the answer with a buffered ``read(65536)``, which waits for 64 KiB or the end: a rank's
    output reached the driver in bursts, often only when the rank ended. ``read1`` returns what has come.
    """
    import codecs
    from horovod.runner.common.util.network import AckStreamResponse
    address = list(client.addresses().values())[0][0]
    for attempt in range(client._attempts):
        try:
            sock = socket.create_connection(address)
            break
        except OSError:
            if attempt == client._attempts - 1:
                raise
    with sock, sock.makefile("rb") as rfile, sock.makefile("wb") as wfile:
        client._wire.write(request, wfile)
        if not isinstance(client._wire.read(rfile), AckStreamResponse):
            return
        decoder = codecs.getincrementaldecoder("utf-8")()
        while chunk := rfile.read1(1 << 16):
            stream.write(decoder.decode(chunk))
        stream.write(decoder.decode(b"", final=True))


def spark_job_error():
    """The exception of the Horovod Spark job that this thread's last run started, if that job failed."""
    return _spark_job_errors.pop(threading.get_ident(), None)


def rank_exits():
    """``[(rank, exit code, time)]`` for each rank of this thread's last run, in the order they ended."""
    return sorted(_rank_exits.pop(threading.get_ident(), []), key=lambda exit: exit[2])


def _exec_command_fn_keeping_exits(*args, **kwargs):
    """Horovod's function that runs each rank's command and returns its exit code, keeping every rank's.

    Horovod's error names only the rank that ended first; when a rank is
    killed, a peer that reports the loss can end before it.
    """
    exec_command = _horovods["exec_command_fn"](*args, **kwargs)
    exits = _rank_exits.setdefault(threading.get_ident(), [])
    exits.clear()

    def exec_command_keeping_exit(command, slot_info, events):
        code, ended = exec_command(command, slot_info, events)
        exits.append((slot_info.rank, code, ended))
        return code, ended

    return exec_command_keeping_exit


def _spark_thread_keeping_its_error(spark_context, spark_job_group, driver, result_queue, settings, use_gloo,
                                    is_elastic):
    """Horovod's thread that runs the Spark job of the ranks' tasks, keeping its exception instead of printing it."""
    import horovod.spark.runner as runner
    from horovod.runner.util.threads import in_thread
    caller = threading.get_ident()

    def run_spark():
        try:
            spark_context.setJobGroup(spark_job_group, "Horovod Spark Run", interruptOnCancel=True)
            tasks = spark_context.range(0, numSlices=settings.num_proc)
            mapper = runner._make_mapper(driver.addresses(), settings, use_gloo, is_elastic)
            result_queue.put(tasks.mapPartitionsWithIndex(mapper).collect())
        except Exception as e:
            _spark_job_errors[caller] = e
            driver.notify_spark_job_failed()

    return in_thread(target=run_spark, daemon=False)


def _gloo_run_towards_driver(executable, settings, nics, driver, env, stdout=None, stderr=None):
    """Horovod's Spark gloo launch, with the rendezvous on the driver address that executors reach."""
    iface = driver_interface(driver.addresses(), _spark_driver_address())
    return _horovods["spark_gloo_run"](executable, settings, {iface}, driver, env, stdout, stderr)


def _spark_driver_address():
    from pyspark import SparkContext
    host = SparkContext._active_spark_context.getConf().get("spark.driver.host", socket.gethostname())
    try:
        return socket.gethostbyname(host)
    except OSError:
        return host


def driver_interface(addresses, driver_address):
    """The driver's interface holding ``driver_address``; else its first one that is not loopback."""
    for iface, bound in addresses.items():
        if any(ip == driver_address for ip, _ in bound):
            return iface
    return next((iface for iface, bound in addresses.items() if not bound[0][0].startswith("127.")),
                next(iter(addresses)))


def rank_command(command, python=sys.executable):
    """The rank's command as this host runs it: its own Python, started warm (:mod:`.warm_ranks`), and gloo on
    the interface towards the driver."""
    from ..executor.warm_ranks import warm_command
    command = warm_command(command.replace(shlex.quote(EXECUTOR_PYTHON), shlex.quote(python)))
    rendezvous = re.search(r"\bHOROVOD_GLOO_RENDEZVOUS_ADDR=(\S+)", command)
    if rendezvous:
        iface = interface_towards(rendezvous.group(1))
        for name in ("HOROVOD_GLOO_IFACE", "NCCL_SOCKET_IFNAME"):
            command = re.sub(rf"\b{name}=\S+", f"{name}={iface}", command)
    return command


def _shutdown_event_on_any_thread():
    if threading.current_thread() is threading.main_thread():
        return _horovods["register_shutdown_event"]()
    return threading.Event()


def _serve_polling_often(server, poll_interval=_POLL_SECONDS):
    socketserver.BaseServer.serve_forever(server, poll_interval)


def _prompt_mapper(make_mapper):
    """Wrap Horovod's Spark task function so that it first mends the task service on its executor, and reads its
    (empty) partition to the end.

    Horovod's function never reads its partition, and pyspark does not reuse a
    Python worker whose input was left unread: each launch's tasks would start
    in fresh workers that import Horovod again (0.25 s on a warm fit).
    """
    def make_prompt_mapper(*args):
        mapper = make_mapper(*args)

        def prompt_mapper(index, rows):
            _mend_task_service()
            for _ in rows:
                pass
            return mapper(index, rows)

        return prompt_mapper

    return make_prompt_mapper


def _mend_task_service():
    """Patch Horovod's task service in this executor process, which a reused Python worker keeps; and let the
    worker's next tasks (the next launch's) start without re-reading PySpark's zips (:mod:`..zip_import_cache`)."""
    from horovod.spark.task.task_service import SparkTaskService
    from ...zip_import_cache import reread_changed_zips
    reread_changed_zips()
    if SparkTaskService._handle is not _answer_exit_code_promptly:
        _horovods["task_handle"] = SparkTaskService._handle
        SparkTaskService._handle = _answer_exit_code_promptly
    SparkTaskService.wait_for_command_termination = _wait_until_exit_code_fetched
    SparkTaskService._run_command = _run_command_timed_from_start
    from horovod.runner.common.util import safe_shell_exec
    if not isinstance(safe_shell_exec.multiprocessing, _ForkingMultiprocessing):
        safe_shell_exec.multiprocessing = _ForkingMultiprocessing()
        safe_shell_exec.subprocess = _ForkingRankCommands()
    # Horovod runs each rank under a multiprocessing middleman whose events outlive it; the
    # resource tracker it starts would warn about them on every executor's stderr.
    if _QUIET_TRACKER not in sys.warnoptions:
        sys.warnoptions.append(_QUIET_TRACKER)
    # Executor processes run only Horovod's task services as threaded TCP servers.
    socketserver.ThreadingTCPServer.serve_forever = _serve_polling_often


class _ForkingMultiprocessing:
    """``multiprocessing`` as Horovod's ``safe_shell_exec`` sees it in an executor: the "spawn" context that it
    starts each rank's middleman process from forks instead.

    Spawned, a middleman is a fresh Python that imports Horovod and the Python
    worker's main module: about 0.3 s a rank, while the other ranks start on
    the same cores (Horovod's task job gets fresh Python workers each launch,
    so a fork server would be started afresh each time too). Forked, it takes
    milliseconds. It only starts the rank's command and waits for it, and the
    Python worker runs nothing but Horovod's task service, so nothing that the
    fork leaves locked is ever used.
    """

    def get_context(self, method=None):
        import multiprocessing
        return multiprocessing.get_context("fork")

    def __getattr__(self, name):
        import multiprocessing
        return getattr(multiprocessing, name)


class _ForkingRankCommands:
    """``subprocess`` as Horovod's middleman sees it in an executor: a warm rank's command runs in a fork of the
    middleman (:func:`.warm_ranks.fork_command`), any other command in a shell, as Horovod runs it."""

    def Popen(self, command, shell=False, env=None, stdout=None, stderr=None, **kwargs):
        from ..executor.warm_ranks import fork_command
        if shell and not kwargs:
            pid = fork_command(command, os.environ if env is None else env,
                               1 if stdout is None else stdout.fileno(), 2 if stderr is None else stderr.fileno())
            if pid is not None:
                return _ForkedCommand(pid)
        return subprocess.Popen(command, shell=shell, env=env, stdout=stdout, stderr=stderr, **kwargs)

    def __getattr__(self, name):
        return getattr(subprocess, name)


class _ForkedCommand:
    """What the middleman uses of a ``subprocess.Popen``: the pid, and ``wait()`` for ``Popen``'s return code."""

    def __init__(self, pid):
        self.pid = pid

    def wait(self):
        return os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])


def _run_command_timed_from_start(service, command, *command_args, **command_kwargs):
    from horovod.runner.common.service.task_service import BasicTaskService
    from horovod.runner.common.util.timeout import Timeout
    if service._minimum_command_lifetime_s is not None:
        service._minimum_command_lifetime = Timeout(service._minimum_command_lifetime_s, message="lifetime")
    BasicTaskService._run_command(service, rank_command(command), *command_args, **command_kwargs)


def _answer_exit_code_promptly(service, request, client_address):
    from horovod.runner.common.service.task_service import (WaitForCommandExitCodeRequest,
                                                            WaitForCommandExitCodeResponse)
    if not isinstance(request, WaitForCommandExitCodeRequest):
        return _horovods["task_handle"](service, request, client_address)
    service.wait_for_command_start()
    service._command_thread.join()
    _exit_code_fetched(service).set()  # the service's shutdown waits for this answer to be sent
    return WaitForCommandExitCodeResponse(service._command_exit_code)


def _wait_until_exit_code_fetched(service):
    """The task's wait for its command: after the command ends, until the driver has fetched its exit code, or
    at most until Horovod's minimum lifetime of the command (3 s from its start) is over."""
    from horovod.runner.common.service.task_service import BasicTaskService
    try:
        return BasicTaskService.wait_for_command_termination(service)
    finally:
        if service._minimum_command_lifetime is not None:
            _exit_code_fetched(service).wait(service._minimum_command_lifetime.remaining())


def _exit_code_fetched(service):
    return service.__dict__.setdefault("_hsm_exit_code_fetched", threading.Event())
