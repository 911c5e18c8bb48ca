"""A local Spark session set up for this package (the CLI, tests and benchmarks use it).

Example::

    >>> spark = local_spark(cores=2)
    >>> spark.sparkContext.defaultParallelism
    2
"""
import os
import sys


def local_spark(cores=2, app_name="horovod-spark-ml"):
    """Get or create a ``local[cores]`` SparkSession whose Python workers use this interpreter."""
    # Executors must run the same Python (with TensorFlow and Horovod) as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # The TensorFlow wheel probes for CUDA in every Python worker; on CPU machines
    # that is a screenful of errors per worker.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master(f"local[{cores}]").appName(app_name)
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", str(cores))
             .config("spark.driver.memory", "4g")
             .config("spark.sql.execution.arrow.pyspark.enabled", "true")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark
