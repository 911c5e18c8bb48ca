"""The cluster tier: a Spark standalone master and two one-core workers, started from pyspark's own scripts.

Where network namespaces can be made (root, ``ip netns``), each worker is its
own host with its own address on a bridge, and the driver reaches them there;
elsewhere all run on 127.0.0.1, and the tests that need separate hosts are
skipped with the reason. Each worker advertises one fake GPU (a discovery
script that prints an address), so an application that asks Spark for GPUs
gets a different address on each.
"""
import stat

import pytest

from cluster.standalone_cluster import StandaloneCluster, namespaces_unavailable


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster")
    for worker in range(2):
        script = folder / f"gpus{worker}.sh"
        script.write_text(f'#!/bin/sh\necho \'{{"name": "gpu", "addresses": ["{worker}"]}}\'\n')
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    why_not = namespaces_unavailable()
    conf = {"spark.worker.resource.gpu.amount": "1",
            "spark.worker.resource.gpu.discoveryScript": str(folder / "gpus{worker}.sh")}
    with StandaloneCluster(folder, workers=2, cores=1, separate_hosts=why_not is None, worker_conf=conf) as running:
        running.separate_hosts_unavailable = why_not
        yield running


@pytest.fixture(scope="module")
def cluster_spark(cluster):
    """A session on the cluster; the local test session, if any, is stopped first (one per process)."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession
    if SparkContext._active_spark_context is not None:
        SparkSession.builder.getOrCreate().stop()
    spark = (SparkSession.builder.master(cluster.master_url).appName("horovod-spark-ml-cluster-tier")
             .config("spark.driver.host", cluster.driver_host)
             .config("spark.driver.bindAddress", cluster.driver_host)
             .config("spark.executor.memory", "1g")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", "2")
             .config("spark.sql.execution.arrow.pyspark.enabled", "true")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    yield spark
    spark.stop()


@pytest.fixture
def separate_hosts(cluster):
    if cluster.separate_hosts_unavailable:
        pytest.skip(f"workers as separate hosts: {cluster.separate_hosts_unavailable}")

