"""The launch around ``horovod.spark.run``: a run ends as soon as its ranks do."""
import time

import horovod.spark

from horovod_spark_ml.launcher import _prompt_task_exit


def _finish_time():
    return time.time()


def test_a_run_returns_without_horovods_3_second_wait_after_the_ranks_end(spark):
    with _prompt_task_exit():
        ended, = horovod.spark.run(_finish_time, num_proc=1, verbose=0)
    # Without the fix the Spark task sleeps 3 s after its rank exits; the rest takes well under a second.
    assert time.time() - ended < 2.5
