"""The Spark task that stands for one rank on an executor: a Horovod task service that runs the rank.

A launch (:mod:`..driver.horovod_launch`) runs one Spark task per rank, each
:func:`run_task`. The task starts a :class:`RankTaskService` (Horovod's
``SparkTaskService``, subclassed), registers it with the driver's service and
waits for the driver to send the rank's command; the service runs it
(:mod:`.rank_process`), and the task returns what the rank's function
returned. Unlike Horovod's own task, it:

- ends as soon as the driver has fetched the rank's exit code, which the
  service answers the moment the rank ends (Horovod's task stayed up 3 s after
  the command ended, and looked for its end once a second);
- reads its (empty) partition to the end, so that pyspark reuses the Python
  worker for the next launch's task instead of starting a fresh one that
  imports Horovod again;
- registers without waiting for the other tasks: the driver needs no
  addresses between tasks, since gloo's interface is chosen per host.

Example (what a launch's Spark job runs)::

    >>> tasks = TaskLaunch(driver.addresses(), key, start_seconds=600, verbose=0)
    >>> spark.sparkContext.range(0, numSlices=2).mapPartitionsWithIndex(partial(run_task, tasks)).collect()
"""
import threading
import time
from dataclasses import dataclass

from horovod.runner.common.service.task_service import WaitForCommandExitCodeRequest, WaitForCommandExitCodeResponse
from horovod.runner.common.util.timeout import Timeout
from horovod.spark.common.util import host_hash
from horovod.spark.driver.driver_service import SparkDriverClient
from horovod.spark.task.task_service import SparkTaskService

from ..horovod_services import PromptShutdown
from .rank_process import run_rank_process
from ...zip_import_cache import reread_changed_zips

# The most a task waits, after its rank ended, for the driver to fetch the exit code: counted from the
# rank's start (the driver, if it is still there, fetches it at once).
FETCH_SECONDS = 3


@dataclass(frozen=True)
class TaskLaunch:
    """What each of a launch's tasks needs to reach the driver's service."""
    driver_addresses: dict
    key: bytes
    start_seconds: float
    verbose: int


def run_task(launch, index, rows):
    """The Spark task of rank slot ``index`` (a ``mapPartitionsWithIndex`` function): yields the rank's result."""
    for _ in rows:
        pass  # pyspark reuses a Python worker only when its task read the input to the end
    reread_changed_zips()
    service = RankTaskService(index, launch.key, launch.verbose)
    try:
        driver = SparkDriverClient(launch.driver_addresses, launch.key, launch.verbose)
        driver.register_task(index, service.addresses(), host_hash())
        service.wait_for_command_start(Timeout(launch.start_seconds, message="Timed out waiting for {activity}: the "
                                               "driver sent this task no rank to run"))
        service.wait_for_command_termination()
        service.wait_for_exit_code_fetched()
        yield service.fn_result()
    finally:
        service.shutdown()


class RankTaskService(PromptShutdown, SparkTaskService):
    """Horovod's Spark task service, running its command as a rank (:mod:`.rank_process`) and answering for its
    exit code as soon as the rank ends."""

    def __init__(self, index, key, verbose=0):
        super().__init__(index, key, None, None, verbose)
        self._started = time.monotonic()
        self._fetched = threading.Event()

    def _run_command(self, command, env, event, stdout=None, stderr=None, index=None,
                     prefix_output_with_timestamp=False):
        self._started = time.monotonic()
        try:
            self._command_exit_code = run_rank_process(command, env, event, stdout, stderr)
        finally:
            for stream in (stdout, stderr):
                if stream is not None:
                    stream.close()

    def _handle(self, req, client_address):
        if isinstance(req, WaitForCommandExitCodeRequest):
            self.wait_for_command_start()
            self.wait_for_command_termination()
            self._fetched.set()  # the shutdown waits for this answer to be sent
            return WaitForCommandExitCodeResponse(self.command_exit_code())
        return super()._handle(req, client_address)

    def wait_for_exit_code_fetched(self):
        """Wait until the driver has the exit code, or at most until :data:`FETCH_SECONDS` after the rank's start."""
        self._fetched.wait(max(0.0, self._started + FETCH_SECONDS - time.monotonic()))
