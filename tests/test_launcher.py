"""The launch around ``horovod.spark.run``: ranks start on their data at once, and a run ends when they do."""
import socketserver
import subprocess
import sys
import time

import horovod.spark

from horovod_spark_ml.horovod_spark_patches import patched_horovod_spark


def test_a_run_returns_as_soon_as_its_ranks_end(spark):
    def finish_after_horovods_minimum_task_lifetime():  # nested: pickled by value, so the rank imports no TensorFlow
        time.sleep(3.2)  # a task's service stays up at least 3 s after its command starts
        return time.time()

    with patched_horovod_spark():
        ended, = horovod.spark.run(finish_after_horovods_minimum_task_lifetime, num_proc=1, verbose=0)
    # 0.37-0.41 s here: the rank's process exit and Spark's job end. Horovod's own
    # waits added 1.0-1.5 s to that, and 3 s more before the lifetime clock was mended.
    assert time.time() - ended < 0.9


def test_what_ranks_and_executors_import_first_loads_no_tensorflow():  # so a rank reads while it loads
    code = ("import sys, horovod_spark_ml.worker, horovod_spark_ml.reader, horovod_spark_ml.layout, "
            "horovod_spark_ml.horovod_spark_patches; "
            "print(sorted({'tensorflow', 'keras', 'pyspark', 'petastorm'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_rank_exits_promptly_after_tensorflow_was_imported():
    code = ("import time, tensorflow; from horovod_spark_ml.worker import skip_collection_at_exit; "
            "skip_collection_at_exit(); print(time.time(), flush=True)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # Python's own finalization took 1.1-1.2 s here (twice that on a loaded machine); the frozen one 0.12-0.14 s.
    assert time.time() - float(done.stdout.split()[-1]) < 0.6


def test_runs_that_overlap_in_threads_leave_horovod_as_it_was():
    import horovod.runner.gloo_run as gloo_run
    import horovod.spark.runner as runner
    horovods = runner._make_mapper, gloo_run.register_shutdown_event
    first, second = patched_horovod_spark(), patched_horovod_spark()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert runner._make_mapper is not horovods[0]  # the second run is still open
    second.__exit__(None, None, None)
    assert (runner._make_mapper, gloo_run.register_shutdown_event) == horovods
    assert "serve_forever" not in vars(socketserver.ThreadingTCPServer)
