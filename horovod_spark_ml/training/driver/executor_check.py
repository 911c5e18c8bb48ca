"""Before anything is staged or launched: can the executors run the ranks, and write the store?

First, ``numProc`` must fit the cluster's task slots (:mod:`.task_slots`).
Then one small Spark job of ``numProc`` tasks asks each executor it reaches which
Python it runs, which of the modules training needs that Python lacks, and
whether it can write under ``storePath``. A problem raises
:class:`ClusterError` on the driver that names the executor, its Python and
the fix, instead of an unpickling error deep in Horovod's task job.

The probe itself must run where this package is missing, so it is pickled by
value and imports nothing from it. A check that passed is not repeated for
:data:`RECHECK_SECONDS` while the application has the same executors (each
costs a Spark job, 0.3 s of a small fit).

Example::

    >>> check_executors(spark, num_proc=2, store_url="file:///mnt/shared/store")
    [ExecutorInfo(host='10.0.0.11', python='/opt/env/bin/python', missing={}, store_error=None), ...]
"""
import time
from dataclasses import dataclass

from ...errors import ClusterError
from .launcher import RANK_ENV, spark_failure
from .task_slots import check_task_slots

# What a rank imports: a missing one fails the rank's start, or Horovod's task job.
REQUIRED_MODULES = ("horovod", "tensorflow", "keras", "pyarrow", "horovod_spark_ml")
RECHECK_SECONDS = 600
_passed = {}  # (application and executors, numProc, store, modules) -> (when a check passed, its ExecutorInfos)
SHIP_ENVIRONMENT = ("Set PYSPARK_PYTHON (or spark.pyspark.python) to a Python that has the training stack on "
                    "every executor, or ship one: venv-pack -o env.tar.gz, then spark.archives="
                    "env.tar.gz#environment and PYSPARK_PYTHON=./environment/bin/python (see docs/cluster.md, "
                    "'Executors that don't share the driver's environment')")


@dataclass(frozen=True)
class ExecutorInfo:
    """What one probe task saw on its executor."""
    host: str
    python: str
    missing: dict  # module name -> the import error
    store_error: str = None


def check_executors(spark, num_proc, store_url=None, modules=()):
    """Probe ``num_proc`` executor tasks; raise :class:`ClusterError` naming the first problem found.

    ``modules`` are what this fit's ranks import beyond :data:`REQUIRED_MODULES` (Petastorm, where selected).
    """
    modules = REQUIRED_MODULES + tuple(m for m in modules if m not in REQUIRED_MODULES)
    key = (_executors_now(spark), num_proc, store_url, modules)
    checked, executors = _passed.get(key, (None, None))
    if checked is not None and time.monotonic() - checked < RECHECK_SECONDS:
        return executors  # the slots too were enough for these executors
    check_task_slots(spark.sparkContext, num_proc)  # before the probe, whose tasks would run in turns
    executors = _check(spark, num_proc, store_url, modules)
    _passed[key] = (time.monotonic(), executors)
    return executors


def _executors_now(spark):
    """The application and its executors' block managers (a replaced executor has a new one)."""
    context = spark.sparkContext
    return context.applicationId, context._jsc.sc().getExecutorMemoryStatus().keySet().toString()


def _check(spark, num_proc, store_url, modules):
    from pyspark import cloudpickle

    from ..executor import executor_probe
    probe = executor_probe.probe  # the function, not the module: a module would be pickled by name
    # Left registered: fits in parallel threads (model search) would otherwise unregister it under each other.
    cloudpickle.register_pickle_by_value(executor_probe)
    try:
        rows = (spark.sparkContext.parallelize(range(num_proc), num_proc)
                .mapPartitions(lambda _: [probe(modules, store_url, RANK_ENV)]).collect())
    except Exception as e:  # the executors' Python could not even start the probe
        raise ClusterError(f"the executors could not run a Python task: {spark_failure(e)}. {SHIP_ENVIRONMENT}") from e
    executors = [ExecutorInfo(**row) for row in rows]
    for info in executors:
        if info.missing:
            names = ", ".join(f"{name} ({error})" for name, error in info.missing.items())
            raise ClusterError(f"the executors' Python {info.python} on {info.host} cannot import {names}. "
                               f"{SHIP_ENVIRONMENT}")
        if info.store_error:
            raise ClusterError(f"storePath '{store_url}' is not writable from the executor on {info.host} "
                               f"({info.store_error}); set storePath to storage that the driver and every "
                               "executor can write, such as an NFS mount, /Volumes/... or an hdfs:// or s3a:// URL")
    return executors

