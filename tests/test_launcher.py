"""The launch around ``horovod.spark.run``: a run ends as soon as its ranks do."""
import subprocess
import sys
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


def test_a_rank_exits_promptly_after_tensorflow_was_imported():
    code = ("import time, tensorflow; from horovod_spark_ml.worker import skip_collection_at_exit; "
            "skip_collection_at_exit(); print(time.time(), flush=True)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # Python's own finalization took 1.1-1.2 s here (twice that on a loaded machine); the frozen one 0.12-0.14 s.
    assert time.time() - float(done.stdout.split()[-1]) < 0.6
