"""Horovod 0.28.1's Spark launcher, patched for the runs we start: no waits after training, any thread.

While :func:`patched_horovod_spark` is open, every ``horovod.spark.run`` in
this process (so also a user's own) goes without these waits, which kept a
run going up to 5 s after its ranks ended:

- Each Spark task keeps its service up at least 3 s after the rank's command
  starts, so the driver can still fetch the exit code; but Horovod starts
  that clock when the command ends, so every run slept 3 s after training.
  It now starts when the command starts.
- Asked for the exit code, a task looked for its command's end once a second.
  It now answers when the command ends.
- Horovod's services, the driver's and each task's, noticed a shutdown at
  their next poll, every 0.5 s; they now poll every 0.05 s.

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
import socketserver
import threading
from contextlib import contextmanager

_POLL_SECONDS = 0.05
_lock = threading.Lock()
_open_runs = 0
_horovods = {}  # what the patches replaced


@contextmanager
def patched_horovod_spark():
    """Patch Horovod's Spark launcher while the block runs (see the module's docstring)."""
    global _open_runs
    import horovod.runner.gloo_run as gloo_run
    import horovod.spark.runner as runner
    with _lock:
        if _open_runs == 0:
            _horovods.update(make_mapper=runner._make_mapper, register_shutdown_event=gloo_run.register_shutdown_event)
            runner._make_mapper = _prompt_mapper(runner._make_mapper)
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
                gloo_run.register_shutdown_event = _horovods["register_shutdown_event"]
                del socketserver.ThreadingTCPServer.serve_forever


def _shutdown_event_on_any_thread():
    if threading.current_thread() is threading.main_thread():
        return _horovods["register_shutdown_event"]()
    return threading.Event()


def _serve_polling_often(server, poll_interval=_POLL_SECONDS):
    socketserver.BaseServer.serve_forever(server, poll_interval)


def _prompt_mapper(make_mapper):
    """Wrap Horovod's Spark task function so that it first mends the task service on its executor."""
    def make_prompt_mapper(*args):
        mapper = make_mapper(*args)

        def prompt_mapper(index, rows):
            _mend_task_service()
            return mapper(index, rows)

        return prompt_mapper

    return make_prompt_mapper


def _mend_task_service():
    """Patch Horovod's task service in this executor process, which a reused Python worker keeps."""
    from horovod.spark.task.task_service import SparkTaskService
    if SparkTaskService._handle is not _answer_exit_code_promptly:
        _horovods["task_handle"] = SparkTaskService._handle
        SparkTaskService._handle = _answer_exit_code_promptly
    SparkTaskService._run_command = _run_command_timed_from_start
    # Executor processes run only Horovod's task services as threaded TCP servers.
    socketserver.ThreadingTCPServer.serve_forever = _serve_polling_often


def _run_command_timed_from_start(service, *command_args, **command_kwargs):
    from horovod.runner.common.service.task_service import BasicTaskService
    from horovod.runner.common.util.timeout import Timeout
    if service._minimum_command_lifetime_s is not None:
        service._minimum_command_lifetime = Timeout(service._minimum_command_lifetime_s, message="lifetime")
    BasicTaskService._run_command(service, *command_args, **command_kwargs)


def _answer_exit_code_promptly(service, request, client_address):
    from horovod.runner.common.service.task_service import (WaitForCommandExitCodeRequest,
                                                            WaitForCommandExitCodeResponse)
    if not isinstance(request, WaitForCommandExitCodeRequest):
        return _horovods["task_handle"](service, request, client_address)
    service.wait_for_command_start()
    service._command_thread.join()
    return WaitForCommandExitCodeResponse(service._command_exit_code)
