"""How many Spark tasks the cluster can run at once: a fit's ``numProc`` ranks must all run together.

Each Horovod rank is a Spark task that waits for all the others before any
trains, so a launch of more ranks than the cluster's task slots never starts:
the first tasks wait for the rest, which wait for a free slot. The driver
compares ``numProc`` with the slots before anything is staged and raises
:class:`..errors.ClusterError` naming both numbers. The slots are, in this
order:

- with dynamic allocation, ``spark.dynamicAllocation.maxExecutors`` times the
  slots of one executor (unknown, and not checked, without a maximum);
- else the larger of the slots the registered executors have now (Spark's
  own count, as its barrier scheduling uses) and those the configuration
  promises (``spark.cores.max``, or ``spark.executor.instances`` executors).

A slot is ``spark.task.cpus`` cores.

Example::

    >>> task_slots(spark.sparkContext)   # on local[2]
    (2, "local[2]: the registered executors' cores, spark.task.cpus=1")
"""
from ...errors import ClusterError


def check_task_slots(sc, num_proc):
    """Raise :class:`ClusterError` if ``num_proc`` ranks cannot all run at once on this cluster."""
    slots, how = task_slots(sc)
    if slots is not None and num_proc > slots:
        raise ClusterError(f"numProc={num_proc} needs {num_proc} Spark tasks running at once, but this cluster "
                           f"has {slots} task slots ({how}), so the ranks would wait for each other forever; set "
                           f"numProc to at most {slots}, or give the application more executors or cores")


def task_slots(sc):
    """``(slots, how they were counted)``; ``(None, why)`` where the number cannot be known."""
    conf = sc.getConf()
    task_cpus = int(conf.get("spark.task.cpus", "1"))
    executor_cores = conf.get("spark.executor.cores")
    if conf.get("spark.dynamicAllocation.enabled", "false").lower() == "true":
        most = conf.get("spark.dynamicAllocation.maxExecutors")
        if most is None or executor_cores is None or int(most) > 100000:
            return None, "dynamic allocation without a maximum"
        slots = int(most) * (int(executor_cores) // task_cpus)
        return slots, (f"spark.dynamicAllocation.maxExecutors={most} executors of spark.executor.cores="
                       f"{executor_cores}, spark.task.cpus={task_cpus}")
    now = _slots_now(sc)
    promised, how = _promised_slots(conf, task_cpus, executor_cores)
    if now is None and promised is None:
        return None, "no executor has registered yet"
    if promised is None or (now is not None and now >= promised):
        return now, f"{sc.master}: the registered executors' cores, spark.task.cpus={task_cpus}"
    return promised, how


def _slots_now(sc):
    """The tasks the registered executors can run at once, as Spark counts them for barrier stages."""
    try:
        context = sc._jsc.sc()
        slots = context.maxNumConcurrentTasks(context.resourceProfileManager().defaultResourceProfile())
    except Exception:  # noqa: BLE001 -- a Spark without these: the number cannot be known
        return None
    return slots or None  # 0: no executor yet


def _promised_slots(conf, task_cpus, executor_cores):
    cores_max = conf.get("spark.cores.max")
    if cores_max is not None:
        return int(cores_max) // task_cpus, f"spark.cores.max={cores_max}, spark.task.cpus={task_cpus}"
    instances = conf.get("spark.executor.instances")
    if instances is not None and executor_cores is not None:
        return (int(instances) * (int(executor_cores) // task_cpus),
                f"spark.executor.instances={instances} of spark.executor.cores={executor_cores}, "
                f"spark.task.cpus={task_cpus}")
    return None, None
