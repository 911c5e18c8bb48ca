"""A Spark standalone cluster for the cluster tier: a master and workers started from pyspark's own scripts.

With ``separate_hosts=True`` (root, ``ip netns``), each worker runs in its own
network namespace with its own address on a bridge, so to Spark and Horovod
they are different hosts; the driver and the master stay in the root
namespace on the bridge's address. Every process is started in its own
process group and stopped by its pid, and the namespaces and the bridge are
removed, whatever happened.

Example::

    >>> with StandaloneCluster(tmp_path, workers=2, separate_hosts=True) as cluster:
    ...     spark = SparkSession.builder.master(cluster.master_url) \\
    ...         .config("spark.driver.host", cluster.driver_host).getOrCreate()
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pyspark

SPARK_HOME = os.path.dirname(pyspark.__file__)
BRIDGE_ADDRESS = "10.77.0.1"


def namespaces_unavailable():
    """Why worker namespaces cannot be made here, or None when they can."""
    if os.environ.get("HSM_TEST_ONE_HOST"):  # to run the tier as it runs where namespaces cannot be made
        return "HSM_TEST_ONE_HOST is set"
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if not shutil.which("ip"):
        return "needs the 'ip' command (iproute2)"
    probe = f"hsmprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"'ip netns add' failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    return None


def _remove_hosts_of_ended_runs():
    """Remove the bridges, links and namespaces of a test run whose process is gone (killed before it could
    stop its cluster): the bridge's address would clash with this run's."""
    import re
    names = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    names += subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for pid in {int(p) for p in re.findall(r"\bhsm(\d+)(?:br|v\d+|w\d+)\b", names)}:
        if any(os.path.exists(f"/proc/{alive}") for alive in range(pid, 1 << 22, 100000)):
            continue  # a process whose pid ends so may still be running its cluster
        for kind, name in re.findall(rf"\b(?:(\d+: )?)(hsm{pid}(?:br|v\d+|w\d+))\b", names):
            command = ["ip", "netns", "delete", name] if name.rpartition(str(pid))[2].startswith("w") else \
                ["ip", "link", "delete", name]
            subprocess.run(command, capture_output=True)


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class StandaloneCluster:
    """A master and ``workers`` workers of ``cores`` cores; stops everything it started on exit."""

    def __init__(self, folder, workers=2, cores=1, memory="3g", separate_hosts=False, worker_conf=None,
                 python=sys.executable):
        self.folder = str(folder)
        self.workers, self.cores, self.memory = workers, cores, memory
        self.separate_hosts = separate_hosts
        self.worker_conf = dict(worker_conf or {})
        self.python = python
        self._tag = f"hsm{os.getpid() % 100000}"
        self._processes = []
        self._namespaces = []
        self._links = []
        self.driver_host = BRIDGE_ADDRESS if separate_hosts else "127.0.0.1"
        self.worker_hosts = []
        self.master_url = None
        self.logs = os.path.join(self.folder, "logs")

    # -- start and stop ---------------------------------------------------------
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        os.makedirs(self.logs, exist_ok=True)
        if self.separate_hosts:
            self._make_hosts()
        else:
            self.worker_hosts = ["127.0.0.1"] * self.workers
        port, ui_port = free_port(self.driver_host), free_port(self.driver_host)
        self.master_url = f"spark://{self.driver_host}:{port}"
        self._spawn("master", None, self.driver_host, "org.apache.spark.deploy.master.Master",
                    "--host", self.driver_host, "--port", str(port), "--webui-port", str(ui_port))
        self._ui = f"http://{self.driver_host}:{ui_port}/json/"
        for i, host in enumerate(self.worker_hosts):
            namespace = self._namespaces[i] if self.separate_hosts else None
            work = os.path.join(self.folder, f"worker{i}")
            os.makedirs(work, exist_ok=True)
            self._spawn(f"worker{i}", namespace, host, "org.apache.spark.deploy.worker.Worker",
                        "--host", host, "--cores", str(self.cores), "--memory", self.memory,
                        "--work-dir", work, "--webui-port", "0", self.master_url, worker_index=i)
        self._wait_for_workers()

    def stop(self):
        for process in reversed(self._processes):
            _kill_group(process)
        self._processes.clear()
        for link in self._links:
            subprocess.run(["ip", "link", "delete", link], capture_output=True)
        self._links.clear()
        for namespace in self._namespaces:
            subprocess.run(["ip", "netns", "delete", namespace], capture_output=True)
        self._namespaces.clear()

    # -- internals --------------------------------------------------------------
    def _make_hosts(self):
        _remove_hosts_of_ended_runs()
        bridge = f"{self._tag}br"
        _ip("link", "add", bridge, "type", "bridge")
        self._links.append(bridge)
        _ip("addr", "add", f"{BRIDGE_ADDRESS}/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for i in range(self.workers):
            namespace, outside = f"{self._tag}w{i}", f"{self._tag}v{i}"
            address = f"10.77.0.{11 + i}"
            _ip("netns", "add", namespace)
            self._namespaces.append(namespace)
            # Inside, the interface is "eth1": a name the driver's host does not have.
            _ip("link", "add", outside, "type", "veth", "peer", "name", "eth1", "netns", namespace)
            self._links.append(outside)
            _ip("link", "set", outside, "master", bridge, "up")
            _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", "eth1")
            _ip("-n", namespace, "link", "set", "eth1", "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
            self.worker_hosts.append(address)

    def _spawn(self, name, namespace, host, main_class, *args, worker_index=None):
        env = dict(os.environ, SPARK_HOME=SPARK_HOME, PYSPARK_PYTHON=self.python, SPARK_LOCAL_IP=host,
                   SPARK_LOCAL_HOSTNAME=host, SPARK_NO_DAEMONIZE="1", SPARK_LOG_DIR=self.logs)
        if worker_index is not None:
            conf = dict(self.worker_conf)
            env["SPARK_WORKER_OPTS"] = " ".join(f"-D{k}={v}".replace("{worker}", str(worker_index))
                                                for k, v in conf.items())
        command = [os.path.join(SPARK_HOME, "bin", "spark-class"), main_class, *args]
        if namespace:
            command = ["ip", "netns", "exec", namespace, *command]
        log = open(os.path.join(self.logs, f"{name}.log"), "wb")
        self._processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True))

    def _wait_for_workers(self, timeout=90):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for process in self._processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a Spark daemon exited with {process.returncode}; see {self.logs}")
            try:
                with urllib.request.urlopen(self._ui, timeout=2) as response:
                    state = json.load(response)
                if state.get("aliveworkers", 0) >= self.workers:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{self.workers} workers did not register within {timeout} s; see {self.logs}")


def _ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _kill_group(process):
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:  # the workers' executors and Python workers are in the same group
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def spark_submit_command(cluster, *args, conf=None):
    """A ``spark-submit`` command line against ``cluster`` (its driver on the cluster's network)."""
    settings = {"spark.driver.host": cluster.driver_host, "spark.driver.bindAddress": cluster.driver_host,
                "spark.executor.memory": "1g", "spark.ui.enabled": "false", **(conf or {})}
    command = [os.path.join(SPARK_HOME, "bin", "spark-submit"), "--master", cluster.master_url]
    for key, value in settings.items():
        command += ["--conf", f"{key}={value}"]
    return command + list(args)
