"""The launch of the ranks (:mod:`horovod_spark_ml.training.driver.horovod_launch`): ranks start on their data at
once, their output comes as it is written, a launch ends when they do, and Horovod itself is left as it was."""
import io
import subprocess
import sys
import time

import pytest

from horovod_spark_ml.training.driver.horovod_launch import LaunchFailed, launch_ranks

WARM = {"HSM_WARM_RANKS": "1"}


def test_a_launch_returns_as_soon_as_its_ranks_end(spark):
    def finish_after_horovods_minimum_task_lifetime():  # nested: pickled by value, so the rank imports no TensorFlow
        time.sleep(3.2)  # Horovod's own task stayed up at least 3 s after its command started
        return time.time()

    ended, = launch_ranks(finish_after_horovods_minimum_task_lifetime, (), 1)
    # 0.37-0.41 s here with Horovod's launcher mended: the rank's process exit and Spark's job end.
    # Horovod's own waits added 1.0-1.5 s to that, and 3 s more before its lifetime clock was mended.
    assert time.time() - ended < 0.9


def test_each_ranks_lines_come_prefixed_with_its_rank_and_complete_before_its_exit_is_reported(spark):
    def say_and_fail():  # nested: pickled by value
        import os
        import sys
        rank = os.environ["HOROVOD_RANK"]
        print(f"rank {rank} here", flush=True)
        print("".join(f"{rank}" for _ in range(100_000)), file=sys.stderr)  # one long line, left unflushed
        sys.exit(3 if rank == "1" else 0)

    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(LaunchFailed, match="rank 1 exited with code 3") as failed:
        launch_ranks(say_and_fail, (), 2, env=WARM, stdout=out, stderr=err)
    assert sorted(out.getvalue().splitlines()) == ["[0]<stdout>:rank 0 here", "[1]<stdout>:rank 1 here"]
    assert sorted(err.getvalue().splitlines()) == ["[0]<stderr>:" + "0" * 100_000, "[1]<stderr>:" + "1" * 100_000]
    assert sorted(failed.value.exits) == [(0, 0), (1, 3)]


def test_a_ranks_lines_reach_the_driver_while_the_rank_runs(spark, tmp_path):
    seen = str(tmp_path / "seen")

    def wait_until_seen():  # nested: pickled by value
        import os
        import time
        print("ready", flush=True)
        deadline = time.time() + 20
        while not os.path.exists(seen) and time.time() < deadline:
            time.sleep(0.02)
        return os.path.exists(seen)

    class Watching(io.StringIO):
        def write(self, text):
            if "ready" in text:
                open(seen, "w").close()
            return super().write(text)

    assert launch_ranks(wait_until_seen, (), 1, env=WARM, stdout=Watching(), stderr=io.StringIO()) == [True]


def test_the_other_ranks_are_stopped_when_one_failed_and_they_go_on(spark, monkeypatch):
    def fail_or_hang():  # nested: pickled by value
        import os
        import sys
        import time
        if os.environ["HOROVOD_RANK"] == "1":
            sys.exit(5)
        time.sleep(600)

    from horovod_spark_ml.training.driver import horovod_launch
    monkeypatch.setattr(horovod_launch, "PEER_SECONDS", 1)
    started = time.monotonic()
    with pytest.raises(LaunchFailed) as failed:
        launch_ranks(fail_or_hang, (), 2, env=WARM)
    assert time.monotonic() - started < 20
    assert failed.value.exits == [(1, 5), (0, 143)]  # 143: SIGTERM
    assert failed.value.stopped == {0}


def test_a_rank_the_launch_stopped_is_not_named_as_the_cause_nor_as_lost():
    from horovod_spark_ml.training.driver.launcher import RankOutput
    output = RankOutput(verbose=0, out=io.StringIO())
    output.write("[1]<stderr>:out of memory\n")
    message, lost = output.failure(LaunchFailed("rank 1 exited with code 3", [(1, 3), (0, 143)],
                                                stopped={0}))
    assert message == "Horovod rank 1 exited with code 3:\n  out of memory" and lost is None


def test_output_that_the_drivers_stream_fails_to_take_does_not_hold_up_the_ranks(spark):
    def talk():  # nested: pickled by value
        for i in range(2000):
            print(f"line {i}", flush=True)
        return "done"

    class Failing:
        def write(self, text):
            raise UnicodeEncodeError("ascii", text, 0, 1, "a stream that cannot take it")

    assert launch_ranks(talk, (), 1, env=WARM, stdout=Failing(), stderr=io.StringIO()) == ["done"]


def test_a_users_own_horovod_spark_run_is_stock_horovods_before_and_after_a_launch(spark):
    import socketserver
    import zipimport
    import horovod.runner.gloo_run
    import horovod.runner.common.util.safe_shell_exec
    import horovod.runner.common.service.task_service
    import horovod.spark.gloo_run
    import horovod.spark.runner
    import horovod.spark.task.task_service
    modules = (horovod.spark.runner, horovod.spark.gloo_run, horovod.runner.gloo_run, socketserver, zipimport,
               horovod.runner.common.util.safe_shell_exec, horovod.runner.common.service.task_service,
               horovod.spark.task.task_service)
    classes = (socketserver.ThreadingTCPServer, socketserver.BaseServer, zipimport.zipimporter,
               horovod.spark.task.task_service.SparkTaskService,
               horovod.runner.common.service.task_service.BasicTaskService,
               horovod.runner.common.service.task_service.BasicTaskClient)

    def attributes():
        return [dict(vars(thing)) for thing in modules + classes]

    def rank_and_task_service():  # nested: pickled by value
        import os
        from horovod.spark.task.task_service import SparkTaskService
        return int(os.environ["HOROVOD_RANK"]), SparkTaskService._run_command.__module__

    before = attributes()
    assert sorted(launch_ranks(rank_and_task_service, (), 2, env=WARM)) == [
        (0, "horovod.spark.task.task_service"), (1, "horovod.spark.task.task_service")]
    assert attributes() == before
    # in the same executor workers, which ran the launch's tasks: Horovod's own, as it comes
    import horovod.spark
    assert sorted(horovod.spark.run(rank_and_task_service, num_proc=2, verbose=0)) == [
        (0, "horovod.spark.task.task_service"), (1, "horovod.spark.task.task_service")]


def test_what_ranks_and_executors_import_first_loads_no_tensorflow():  # so a rank reads while it loads
    code = ("import sys, horovod_spark_ml.training.rank.worker, horovod_spark_ml.training.rank.reader, "
            "horovod_spark_ml.data.layout, horovod_spark_ml.training.driver.horovod_launch, "
            "horovod_spark_ml.training.executor.rank_task; "
            "print(sorted({'tensorflow', 'keras', 'petastorm'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_rank_exits_promptly_after_tensorflow_was_imported():
    code = ("import time, tensorflow; from horovod_spark_ml.training.rank.worker import skip_collection_at_exit; "
            "skip_collection_at_exit(); print(time.time(), flush=True)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # Python's own finalization took 1.1-1.2 s here (twice that on a loaded machine); the frozen one 0.12-0.14 s.
    assert time.time() - float(done.stdout.split()[-1]) < 0.6


def test_a_rank_talks_over_its_hosts_interface_towards_the_rendezvous_address():
    from horovod_spark_ml.training.executor.rank_process import gloo_interface
    assert gloo_interface({"HOROVOD_GLOO_RENDEZVOUS_ADDR": "127.0.0.1"}) == {"HOROVOD_GLOO_IFACE": "lo",
                                                                              "NCCL_SOCKET_IFNAME": "lo"}
    assert gloo_interface({}) == {}


def test_a_warm_ranks_command_is_a_fork_of_its_tasks_python_not_a_new_python(spark):
    def command_line_and_files():  # nested: pickled by value
        import os
        command = os.environ["HSM_RANK_COMMAND_PID"]
        with open(f"/proc/{command}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(), sorted(map(int, os.listdir(f"/proc/{command}/fd")))

    (line, files), = launch_ranks(command_line_and_files, (), 1, env=WARM)
    assert "pyspark.daemon" in line and "warm_ranks" not in line
    assert files == [0, 1, 2, 3]  # stdio, and its connection to the rank server: nothing of the Python worker's


def test_a_launch_gets_ranks_readied_when_the_last_ended_for_as_many_ranks_on_the_host(spark):
    def warmed_up():  # nested: pickled by value
        from horovod_spark_ml.training.rank import worker
        return worker.warmed_up

    launch_ranks(warmed_up, (), 1, env=WARM)  # its end readies one spare rank
    assert launch_ranks(warmed_up, (), 2, env=WARM) == [False, False]  # the spare was for 1
    assert launch_ranks(warmed_up, (), 2, env=WARM) == [True, True]


def test_the_rendezvous_is_on_the_driver_address_that_spark_driver_host_names():
    from horovod_spark_ml.training.driver.horovod_launch import _rendezvous_address

    class Context:  # what _rendezvous_address reads of a SparkContext and of the driver's service
        def __init__(self, host):
            self.host = host

        def getConf(self):
            return {"spark.driver.host": self.host}

        def addresses(self):
            return {"lo": [("127.0.0.1", 1)], "eth0": [("192.0.2.2", 1)], "br0": [("10.0.0.1", 1)]}

    assert _rendezvous_address(Context("10.0.0.1"), Context(None)) == "10.0.0.1"
    assert _rendezvous_address(Context("127.0.0.1"), Context(None)) == "127.0.0.1"
    assert _rendezvous_address(Context("203.0.113.9"), Context(None)) == "192.0.2.2"  # not the driver's: first not lo


def test_a_failed_run_names_the_rank_that_exited_first_with_its_status_and_last_stderr_lines():
    import io
    from horovod_spark_ml.training.driver.launcher import RankOutput
    output = RankOutput(verbose=1, out=io.StringIO())
    output.write('[1]<stdout>:HSM-RANK {"rank": 1, "size": 2, "host": "w2 (10.0.0.12)", "pid": 7, '
                 '"python": "/env/bin/python", "gpus": [], "visible_gpus": null}\n')
    output.write("[1]<stderr>:E0000 cuda_dnn.cc:8310] Unable to register cuDNN factory\n[1]<stderr>:out of memory\n")
    message, lost = output.failure(LaunchFailed("rank 1 exited with code 137", [(1, 137), (0, 1)]))
    assert message == ("Horovod rank 1 (on host w2 (10.0.0.12), pid 7, /env/bin/python) exited with code 137, "
                       "128 + SIGKILL (killed: by the out-of-memory killer, or by someone):\n  out of memory")
    assert "rank 1 of 2: host w2 (10.0.0.12), pid 7, /env/bin/python" in output.out.getvalue()


def test_a_progress_line_that_other_output_cut_into_is_shown_as_it_came_and_training_goes_on():
    import io
    from horovod_spark_ml.training.driver.launcher import RankOutput
    seen = []
    output = RankOutput(verbose=1, out=io.StringIO(), on_epoch=seen.append)
    output.write('[0]<stdout>:HSM-EPOCH {"epoch": 1, "epochs": 2, "seconds": 0.1, "loss": 0.5}\n')
    output.write('[0]<stdout>:HSM-EPOCH {"epoch": 2, "epochs": 2, "secoa layer printed this\n')  # raises nothing
    assert seen == [{"epoch": 1, "epochs": 2, "seconds": 0.1, "loss": 0.5}]
    assert output.out.getvalue().splitlines() == ["epoch 1/2  loss 0.5000  (0.1 s)",
                                                  'HSM-EPOCH {"epoch": 2, "epochs": 2, "secoa layer printed this']


def test_a_failed_spark_job_is_reported_by_its_cause_not_its_jvm_stack():
    from horovod_spark_ml.training.driver.launcher import spark_failure
    error = Exception("An error occurred while calling o1.collect.\n: org.apache.spark.SparkException: Job aborted "
                      "due to stage failure: Task 0 failed\n  File \"worker.py\", line 1\n"
                      "ModuleNotFoundError: No module named 'horovod'\n\tat org.apache.spark.api.python...")
    assert spark_failure(error) == "ModuleNotFoundError: No module named 'horovod'"


def test_a_rank_that_only_saw_horovods_shutdown_is_not_reported_as_the_cause():
    import io
    from horovod_spark_ml.training.driver.launcher import RankOutput
    output = RankOutput(verbose=0, out=io.StringIO())
    output.write('[0]<stderr>:HSM-ERROR {"rank": 0, "error": "Horovod has been shut down."}\n')
    output.write('[1]<stderr>:HSM-ERROR {"rank": 1, "error": "ValueError: an image could not be decoded"}\n')
    error = LaunchFailed("rank 0 exited with code 1", [(0, 1), (1, 1)])
    assert output.failure(error)[0] == ("Horovod rank 1 failed during training:\n"
                                             "ValueError: an image could not be decoded")


def test_the_job_named_is_the_one_the_failing_rank_was_on_whichever_line_comes_first():
    import io
    from horovod_spark_ml.training.driver.launcher import RankOutput
    from horovod_spark_ml.training.messages import ERROR_MARKER, JOB_MARKER
    output = RankOutput(verbose=1, out=io.StringIO())
    # rank 1 fails loading map 2 before rank 0's stdout brings the line that says both maps train together
    output.write(f'[1]<stderr>:{ERROR_MARKER}{{"rank": 1, "job": "map 2", "error": "RuntimeError: bad layer"}}\n')
    output.write(f"[0]<stdout>:{JOB_MARKER}map 1 together with map 2\n")
    output.write(f'[0]<stderr>:{ERROR_MARKER}{{"rank": 0, "job": "map 1 together with map 2", '
                 f'"error": "Horovod has been shut down."}}\n')
    message, lost = output.failure(LaunchFailed("rank 0 exited with code 1", [(0, 1), (1, 1)]))
    assert (message, lost) == ("map 2: Horovod rank 1 failed during training:\nRuntimeError: bad layer", None)
    assert output.out.getvalue() == "map 1 together with map 2\n"


def test_a_lost_executor_is_named_by_the_ranks_that_said_nothing_and_sparks_reason():
    import io
    from horovod_spark_ml.training.driver.launcher import RankOutput
    from horovod_spark_ml.training.messages import ERROR_MARKER, RANK_MARKER
    output = RankOutput(0, io.StringIO())
    for rank in (0, 1):
        output.write(f'[{rank}]<stdout>:{RANK_MARKER}{{"rank": {rank}, "size": 2, "host": "w{rank} (10.0.0.1{rank})", '
                     f'"pid": 7, "python": "/env/python"}}\n')
    output.write(f'[0]<stderr>:{ERROR_MARKER}{{"rank": 0, "error": "HorovodInternalError: Horovod has been shut '
                 f'down."}}\n')
    spark_error = RuntimeError(
        "An error occurred while calling z:org.apache.spark.api.python.PythonRDD.collectAndServe.\n"
        ": org.apache.spark.SparkException: Job aborted due to stage failure: Task 1 in stage 3.0 failed 1 times, "
        "most recent failure: Lost task 1.0 in stage 3.0 (TID 7) (10.0.0.11 executor 0): ExecutorLostFailure "
        "(executor 0 exited caused by one of the running tasks) Reason: Command exited with code 137\n\tat x")
    message, lost = output.failure(LaunchFailed("rank 1 exited with code None", [(0, 1), (1, None)],
                                                spark_error))
    assert message.startswith(f"Horovod training failed: {lost}; the other ranks then stopped:\n"
                              "Horovod rank 0 (on host w0 (10.0.0.10)")
    assert lost == ("rank 1 (on host w1 (10.0.0.11), pid 7, /env/python) ended without a word (Spark: "
                    "ExecutorLostFailure (executor 0 exited caused by one of the running tasks) Reason: Command "
                    "exited with code 137, on 10.0.0.11 executor 0)")


def test_a_spark_job_that_horovod_cancelled_adds_no_spark_reason_to_the_lost_line():
    from horovod_spark_ml.training.driver.launcher import _lost_task
    cancelled = RuntimeError("An error occurred while calling z:org.apache.spark.api.python.PythonRDD."
                             "collectAndServe.\n: org.apache.spark.SparkException: Job 7 cancelled part of "
                             "cancelled job group horovod.spark.run.1\n\tat org.apache...")
    assert _lost_task(cancelled) == ""


def _parent_and_exit_of_a_rank(warm):
    def parent_command():  # nested: pickled by value
        import os
        with open(f"/proc/{os.getppid()}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode()

    def end_by_sigterm():
        import os
        import signal
        os.kill(os.getpid(), signal.SIGTERM)

    env = {"HSM_WARM_RANKS": "1" if warm else "0"}
    parent, = launch_ranks(parent_command, (), 1, env=env)
    with pytest.raises(LaunchFailed) as failed:
        launch_ranks(end_by_sigterm, (), 1, env=env)
    return parent, [code for _, code in failed.value.exits]


def test_ranks_are_forked_warm_and_end_with_their_own_exit_status(spark):
    parent, codes = _parent_and_exit_of_a_rank(warm=True)
    assert "-m horovod_spark_ml.training.executor.rank_server " in parent
    assert codes == [143]  # SIGTERM, as for a rank of its own


def test_a_warm_rank_that_exits_with_a_code_ends_its_command_with_that_code(spark):
    def exit_with_3():  # nested: pickled by value
        import sys
        sys.exit(3)

    with pytest.raises(LaunchFailed, match="rank 0 exited with code 3"):
        launch_ranks(exit_with_3, (), 1, env=WARM)


def test_warm_ranks_can_be_turned_off(spark):
    parent, codes = _parent_and_exit_of_a_rank(warm=False)
    assert "rank_server" not in parent and "pyspark.daemon" in parent  # a fresh Python, its task's child
    assert codes == [143]


def test_the_executor_check_also_asks_for_what_the_fits_reader_needs(spark):  # Petastorm, where selected
    from horovod_spark_ml.errors import ClusterError
    from horovod_spark_ml.training.driver.executor_check import check_executors
    assert check_executors(spark, 1)[0].missing == {}
    with pytest.raises(ClusterError, match="cannot import hsm_no_such_reader"):
        check_executors(spark, 1, None, ("hsm_no_such_reader",))


def test_more_ranks_than_the_cluster_has_task_slots_fail_within_seconds_naming_both(spark, blobs, store):
    import time
    from horovod_spark_ml import ClusterError, MLPClassifier
    from horovod_spark_ml.training.driver.task_slots import task_slots
    assert task_slots(spark.sparkContext)[0] == 2  # local[2]
    started = time.monotonic()
    with pytest.raises(ClusterError, match=r"numProc=4 needs 4 Spark tasks running at once, but this cluster has 2 "
                                           r"task slots \(local\[2\]: .*spark.task.cpus=1\).*at most 2"):
        MLPClassifier(hiddenLayers=[4], epochs=1, numProc=4, storePath=store, verbose=0).fit(blobs)
    assert time.monotonic() - started < 30  # it used to wait for the other ranks for ever


def test_the_task_slots_come_from_dynamic_allocations_limit_or_the_configuration():
    from pyspark import SparkConf
    from horovod_spark_ml.training.driver.task_slots import task_slots

    class Context:  # what task_slots reads of a SparkContext, for clusters this machine does not have
        master = "yarn"

        def __init__(self, **conf):
            self._conf = SparkConf(loadDefaults=False).setAll(conf.items())

        def getConf(self):
            return self._conf

    dynamic = {"spark.dynamicAllocation.enabled": "true", "spark.executor.cores": "4", "spark.task.cpus": "2"}
    assert task_slots(Context(**dynamic, **{"spark.dynamicAllocation.maxExecutors": "3"}))[0] == 6
    assert task_slots(Context(**dynamic))[0] is None  # no maximum: any number may come
    static = {"spark.executor.instances": "5", "spark.executor.cores": "2"}
    assert task_slots(Context(**static)) == (10, "spark.executor.instances=5 of spark.executor.cores=2, "
                                                 "spark.task.cpus=1")
    assert task_slots(Context(**{"spark.cores.max": "8"}))[0] == 8
