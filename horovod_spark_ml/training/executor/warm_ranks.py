"""Rank processes that start warm: a rank's command asks its executor's rank server for a forked rank.

A rank used to be a fresh Python that imported TensorFlow, Keras and Horovod
before it could train: 2.5-3 s of every launch on a 2-core machine. Now the
rank's Spark task forks the rank's command from its Python worker
(:func:`fork_rank`), and the command asks the executor's rank server
(:mod:`.rank_server`), started by the executor's first rank and alive as long
as the executor's Python daemon, for a rank process: a fork of the server,
which has imported everything a rank needs (or a spare rank it readied after
the last launch). The rank takes over the command's stdin, stdout and stderr,
environment and working folder, and runs Horovod's rank function
(``gloo_exec_fn``) with the command's arguments. The command stays in place
of the rank: it passes on the signals it gets, ends with the rank's own exit
status (the same signal when the rank was killed), and the rank is killed if
the command goes away (its task or executor lost).

Without a server (none can start, or ``HSM_WARM_RANKS=0``; by default also on
hosts with NVIDIA's driver, where this has not been tried yet), or when asking
fails, the command becomes a fresh Python that runs ``gloo_exec_fn``. Each
server serves one Python, one package version and one ``PYTHONPATH``: it is
found by a socket whose name says so, under ``/tmp/hsm-ranks-<uid>``. That
folder must be this user's alone (:mod:`..private_folder`), and each end
checks that the other runs as the same user, since the command hands its
whole environment over and the server runs the arguments it is given.

Example (in a rank's Spark task)::

    >>> pid = fork_rank(["<driver addresses>", "<settings>"], env, stdout_fd, stderr_fd)
    >>> os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    0
"""
import fcntl
import hashlib
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from .rank_folder import same_user, server_folder
from .rank_channel import exit_code, receive, send

COLD = "horovod.spark.task.gloo_exec_fn"
SERVER = "horovod_spark_ml.training.executor.rank_server"
RANK_COMMAND_PID = "HSM_RANK_COMMAND_PID"  # in a warm rank's environment: the pid of the command standing in
_START_SECONDS = 120  # how long a rank waits for a server that is starting (its imports take seconds)
# What Horovod's Spark task (the Python worker that runs a rank's task service) imports.
_TASK_MODULES = ("horovod_spark_ml.training.executor.rank_task",)


def main(args):
    """The rank's command: a warm rank if a server can fork one, else a fresh Python that runs Horovod's rank
    function."""
    owner = _executor_daemon()
    connection = None
    if owner is not None and _wanted():
        try:
            connection = _server_connection(_socket_path(owner), owner)
        except OSError as e:
            print(f"warm rank: {e}; starting the rank in a fresh Python", file=sys.stderr, flush=True)
    if connection is None:
        os.execv(sys.executable, [sys.executable, "-m", COLD, *args])
    with connection:
        return _stand_in(connection, args)


def fork_rank(args, env, stdout, stderr):
    """Start a rank's command with ``args`` in a fork of this process (the rank's Spark task, in an executor's
    Python worker): the child's pid.

    The child is the command: it starts a session of its own, writes to
    ``stdout`` and ``stderr`` (file descriptors), takes ``env`` as its
    environment, and asks for a warm rank (:func:`main`). Where no server can
    fork one, it becomes a fresh Python that runs Horovod's rank function. A
    shell, then a new Python, took 0.04-0.06 s of each launch; the fork takes
    milliseconds, and the worker runs nothing but the task's service, so
    nothing the fork leaves locked is used.
    """
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()  # or the child writes this process's pending output again
    pid = os.fork()
    if pid:
        return pid

    def stand_in():
        os.setsid()
        nothing = os.open(os.devnull, os.O_RDONLY)
        for source, target in ((nothing, 0), (stdout, 1), (stderr, 2)):
            os.dup2(source, target)
        _close_all_but_stdio()  # what an exec would have left
        os.environ.clear()
        os.environ.update(env)
        return main(args)
    os._exit(exit_code(stand_in))


def _close_all_but_stdio():
    """Close every file descriptor above 2: those open, as ``/proc`` lists them (a ``closerange`` to the limit
    may close a million one by one where the kernel has no ``close_range``)."""
    try:
        open_fds = [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:
        open_fds = range(3, os.sysconf("SC_OPEN_MAX"))
    for fd in open_fds:
        if fd > 2:
            try:
                os.close(fd)
            except OSError:
                pass  # the listing's own, or not open


def _wanted():
    """``HSM_WARM_RANKS=1`` or ``0``; unset, warm except on a host with NVIDIA's driver (GPU ranks forked from a
    server that imported TensorFlow have not been tried yet)."""
    setting = os.environ.get("HSM_WARM_RANKS")
    return setting == "1" if setting in ("0", "1") else not os.path.exists("/proc/driver/nvidia")



def _executor_daemon():
    """The pid of the pyspark daemon this command runs under (its executor's Python), or ``None``."""
    pid, daemon = os.getppid(), None
    while pid > 1:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            return daemon
        if b"pyspark.daemon" in command:
            daemon = pid  # the topmost: workers are forked from the daemon and name the same module
        elif daemon is not None:
            return daemon
        pid = parent
    return daemon


def _socket_path(owner, env=os.environ):
    """Where the server for this executor daemon, this Python, package and ``PYTHONPATH`` listens."""
    package = os.path.dirname(os.path.abspath(importlib.import_module("horovod_spark_ml").__file__))
    sources = sorted(os.path.join(folder, name) for folder, _, names in os.walk(package) for name in names
                     if name.endswith(".py"))
    key = json.dumps([os.path.realpath(sys.executable), env.get("PYTHONPATH", ""), package,
                      [os.stat(path).st_mtime_ns for path in sources]])
    return f"{server_folder()}/{owner}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.sock"


def start_server(rank_env):
    """Start this executor's rank server if none runs, without waiting for it; the executor check calls this,
    so that the server's imports overlap the rest of a first fit's preparation. ``rank_env``: what the
    launcher adds to the ranks' environment."""
    owner = _executor_daemon()
    if owner is None or not _wanted():
        return
    env = {**os.environ, **rank_env}
    path = _socket_path(owner, env)
    if not _server_alive(path):
        _start(path, owner, env)


def warm_task_imports():
    """Import Horovod's Spark task modules in this Python worker, in a thread: the worker is idle until
    Horovod's task comes, which then finds them imported (about 1 s on a first fit)."""
    import importlib
    threading.Thread(target=lambda: [importlib.import_module(m) for m in _TASK_MODULES], daemon=True).start()


def _start(path, owner, env):
    with open(f"{path}.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-m", SERVER, path, str(owner)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
                                env={k: v for k, v in env.items() if not k.startswith("HOROVOD_")})


def _server_connection(path, owner):
    """A connection to the server at ``path``, started if none runs; ``None`` if there is none to be had."""
    deadline = time.monotonic() + _START_SECONDS
    server = None
    while time.monotonic() < deadline:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(path)
        except OSError:
            connection.close()
        else:
            if same_user(connection):
                return connection
            connection.close()
            raise PermissionError(f"the rank server at {path} runs as another user")
        if server is None and not _server_alive(path):
            server = _start(path, owner, os.environ)
        if server is not None and server.poll() is not None and not _server_alive(path):
            return None  # it could not start (its log says why)
        time.sleep(0.05)
    return None


def _server_alive(path):
    """Whether a server holds the lock for ``path`` (it takes it first thing, and holds it until it ends)."""
    with open(f"{path}.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
        return False


def _stand_in(connection, args):
    """Hand the rank's stdio, environment and arguments to the server; then stand in for the rank until it ends."""
    socket.send_fds(connection, [b"r"], [0, 1, 2])
    send(connection, {"args": args, "env": {**os.environ, RANK_COMMAND_PID: str(os.getpid())}, "cwd": os.getcwd()})
    rank = receive(connection)["pid"]

    def pass_on(number, frame):
        os.kill(rank, number)
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, pass_on)
    threading.Thread(target=_die_with_parent, args=(os.getppid(), rank), daemon=True).start()
    try:
        status = receive(connection)["status"]
    except EOFError:
        print(f"warm rank {rank}: its server ended before the rank did", file=sys.stderr, flush=True)
        sys.exit(1)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number != signal.SIGKILL:
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    sys.exit(os.waitstatus_to_exitcode(status))


def _die_with_parent(parent, rank):
    """Horovod's rank ends when its parent does (its task went away); so does this command, and its rank."""
    while os.getppid() == parent:
        time.sleep(1)
    os.kill(rank, signal.SIGKILL)
    os._exit(1)

