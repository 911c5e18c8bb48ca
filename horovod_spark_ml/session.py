"""The SparkSession that the CLI, the examples, tests and benchmarks run on: local, or the cluster given.

Under ``spark-submit`` the session is the one submitted, on its master and
with its ``--conf`` settings. Otherwise ``master`` picks the cluster
(``spark://host:7077``, ``yarn``, ``k8s://...``), and without it the session
is ``local[cores]``.

Example::

    >>> spark = get_spark(cores=2)                       # python my_job.py: local[2]
    >>> spark = get_spark(master="spark://10.0.0.1:7077")  # a standalone cluster
    $ spark-submit --master yarn --archives env.tar.gz#environment my_job.py   # get_spark() inside: yarn
"""
import os
import sys


def get_spark(master=None, cores=2, app_name="horovod-spark-ml"):
    """Get or create the SparkSession for ``master`` (see the module's docstring)."""
    # The TensorFlow wheel probes for CUDA in every Python worker; on CPU machines
    # that is a screenful of errors per worker.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from pyspark.sql import SparkSession
    builder = SparkSession.builder.appName(app_name)
    if master is None and not submitted():
        master = f"local[{cores}]"
    if master is not None:
        # Unless told otherwise, executors run this Python (with TensorFlow and Horovod): on a
        # cluster that shares this environment (an image, a mount) that is right, and where it
        # does not, the first fit says so (executor_check) with the fixes.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if master is not None and master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        log4j = os.path.join(os.path.dirname(os.path.abspath(__file__)), "log4j2-local.properties")
        builder = (builder.config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log4j}")
                   .config("spark.sql.shuffle.partitions", str(cores))
                   .config("spark.driver.memory", "4g").config("spark.ui.enabled", "false"))
    if master is not None:
        builder = builder.master(master)
    spark = (builder.config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.execution.arrow.pyspark.enabled", "true")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def local_spark(cores=2, app_name="horovod-spark-ml"):
    """A ``local[cores]`` SparkSession whose Python workers use this interpreter, without Spark's web UI."""
    return get_spark(master=f"local[{cores}]", cores=cores, app_name=app_name)


def submitted():
    """Whether this Python was started with a Spark master: by ``spark-submit`` (which passes it the JVM's
    gateway), or as a Databricks job task, whose cluster's session is there to get."""
    return "PYSPARK_GATEWAY_PORT" in os.environ or "DATABRICKS_RUNTIME_VERSION" in os.environ
