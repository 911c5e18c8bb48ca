"""Rank processes that start warm: forked from a server on the executor that has TensorFlow imported already.

A rank used to be a fresh Python that imported TensorFlow, Keras and Horovod
before it could train: 2.5-3 s of every launch on a 2-core machine. Now the
rank's command runs this module instead of Horovod's ``gloo_exec_fn``, with the
same arguments. It asks the executor's rank server for a rank process; the
server, started by the executor's first rank and alive as long as the
executor's Python daemon, has imported everything a rank needs and forks a
child for each rank. The child takes over the command's stdin, stdout and
stderr, environment and working folder, and runs ``gloo_exec_fn`` as the
command would have. The command stays in place of the rank: it passes on the
signals it gets, ends with the rank's own exit status (the same signal when
the rank was killed), and the rank is killed if the command goes away (its
task or executor lost). Nothing TensorFlow starts at import (threads, CUDA)
exists yet when the server forks. The command itself needs no new Python
either: in the executor, Horovod's middleman forks it (:func:`fork_command`).

A rank forked from the server still does TensorFlow's first work in its
process (its runtime, first ops, first tf.data pipeline): 0.1-0.2 s of each
launch. So when a rank ends, the server readies spare ranks for the next
launch, one per rank the host had, each forked and warmed up on a tiny model
(``worker.warm_up``) while the executor is idle between launches; a command
whose host has as many ranks takes one. Spares are not readied on hosts with
NVIDIA's driver (a rank picks its GPU as it starts) or with
``HSM_SPARE_RANKS=0``, and end after 10 minutes unused.

Without a server (none can start, or ``HSM_WARM_RANKS=0``; by default also on
hosts with NVIDIA's driver, where this has not been tried yet), or when asking
fails, the command runs ``gloo_exec_fn`` itself, as before. Each server
serves one Python, one package version and one ``PYTHONPATH``: it is found by a
socket whose name says so, under ``/tmp/hsm-ranks-<uid>``.

Example (what each rank's command becomes)::

    $ HOROVOD_RANK=0 ... python -m horovod_spark_ml.training.warm_ranks <driver addresses> <settings>
"""
import fcntl
import hashlib
import json
import os
import select
import shlex
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

COLD = "horovod.spark.task.gloo_exec_fn"
WARM = "horovod_spark_ml.training.warm_ranks"
RANK_COMMAND_PID = "HSM_RANK_COMMAND_PID"  # in a warm rank's environment: the pid of the command standing in
_START_SECONDS = 120  # how long a rank waits for a server that is starting (its imports take seconds)
_IDLE_SECONDS = 3600  # a server with no rank to start for this long ends
_SPARE_SECONDS = 600  # a spare rank not used for this long ends
# What the server imports, so that a forked rank does not.
_PRELOAD = ("tensorflow", "keras", "horovod.tensorflow", "horovod.spark.task", "petastorm", "pyarrow.parquet",
            "horovod_spark_ml.training.worker", "horovod_spark_ml.training.horovod_keras",
            "horovod_spark_ml.training.reader", "horovod_spark_ml.training.checkpoints",
            "horovod_spark_ml.training.progress", "horovod_spark_ml.training.devices")


# What Horovod's Spark task (the Python worker that runs a rank's task service) imports.
_TASK_MODULES = ("horovod.spark.runner", "horovod.spark.task.task_service", "horovod.spark.driver.driver_service",
                 "horovod_spark_ml.training.horovod_spark_patches")


def warm_command(command):
    """A rank's command that starts the rank warm (see the module's docstring)."""
    return command.replace(f"-m {COLD} ", f"-m {WARM} ")


def main(args, cold=None):
    """The rank's command: a warm rank if a server can fork one, else ``cold(args)`` (by default: the rank in this
    process)."""
    owner = _executor_daemon()
    connection = None
    if owner is not None and _wanted():
        try:
            connection = _server_connection(_socket_path(owner), owner)
        except OSError as e:
            print(f"warm rank: {e}; starting a rank in this process", file=sys.stderr, flush=True)
    if connection is None:
        return (cold or _run_rank)(args)
    with connection:
        return _stand_in(connection, args)


def fork_command(command, env, stdout, stderr):
    """Run a rank's command in a fork of this process (Horovod's middleman, in the executor) rather than in a
    shell that starts a Python; the child's pid, or ``None`` when ``command`` is not a warm rank's command.

    A shell, then a Python that imports this module, took 0.04-0.06 s of each
    launch; the fork takes milliseconds. The command, as Horovod sends it, is
    ``env K=V ... <this Python> -m horovod_spark_ml.training.warm_ranks <args>``:
    the child sets that environment on ``env`` and writes to ``stdout`` and
    ``stderr`` (file descriptors), as the command would. Where no server can
    fork the rank, the child runs the command in a shell after all, so that the
    rank starts in a fresh Python, as before.
    """
    parsed = _warm_command_parts(command)
    if parsed is None:
        return None
    assigned, args = parsed
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()  # or the child writes this process's pending output again
    pid = os.fork()
    if pid:
        return pid

    def stand_in():
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        _close_all_but_stdio()  # what a shell's exec would have left
        os.environ.clear()
        os.environ.update({**env, **assigned})
        return main(args, cold=lambda _: os.execv("/bin/sh", ["/bin/sh", "-c", command]))
    os._exit(_exit_code(stand_in))


def _exit_code(run):
    """Run ``run()`` as all that this process does: its exit code (``SystemExit``'s, or 1 for any other error,
    whose traceback is printed), with its output flushed."""
    code = 1
    try:
        code = run() or 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    return code


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


def _warm_command_parts(command):
    """``({name: value}, args)`` of ``env K=V ... <this Python> -m <this module> <args>``, or ``None`` for a
    command with anything a shell would expand or interpret (then a shell runs it)."""
    if any(c in command for c in "$`\\*?[~;&|<>(){}#\n"):
        return None
    words = shlex.split(command)
    if words[:1] != ["env"]:
        return None
    assigned, rest = {}, words[1:]
    while rest and rest[0].partition("=")[0].isidentifier() and "=" in rest[0]:
        name, _, value = rest.pop(0).partition("=")
        assigned[name] = value
    if rest[:3] != [sys.executable, "-m", WARM]:
        return None
    return assigned, rest[3:]


# -- the command's side ------------------------------------------------------------------------------------------
def _wanted():
    """``HSM_WARM_RANKS=1`` or ``0``; unset, warm except on a host with NVIDIA's driver (GPU ranks forked from a
    server that imported TensorFlow have not been tried yet)."""
    setting = os.environ.get("HSM_WARM_RANKS")
    return setting == "1" if setting in ("0", "1") else not os.path.exists("/proc/driver/nvidia")


def _run_rank(args):
    from horovod.runner.common.util import codec
    from horovod.spark.task import gloo_exec_fn
    gloo_exec_fn.main(codec.loads_base64(args[0]), codec.loads_base64(args[1]))


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
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sources = sorted(os.path.join(folder, name) for folder, _, names in os.walk(package) for name in names
                     if name.endswith(".py"))
    key = json.dumps([os.path.realpath(sys.executable), env.get("PYTHONPATH", ""), package,
                      [os.stat(path).st_mtime_ns for path in sources]])
    folder = f"/tmp/hsm-ranks-{os.getuid()}"
    os.makedirs(folder, mode=0o700, exist_ok=True)
    mode = os.stat(folder)
    if mode.st_uid != os.getuid() or mode.st_mode & 0o077:
        raise PermissionError(f"{folder} is not this user's alone: no rank server is used")
    return f"{folder}/{owner}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.sock"


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
        return subprocess.Popen([sys.executable, "-m", WARM, "--serve", path, str(owner)], stdin=subprocess.DEVNULL,
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
            return connection
        except OSError:
            connection.close()
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
    _send(connection, {"args": args, "env": {**os.environ, RANK_COMMAND_PID: str(os.getpid())}, "cwd": os.getcwd()})
    rank = _receive(connection)["pid"]

    def pass_on(number, frame):
        os.kill(rank, number)
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, pass_on)
    threading.Thread(target=_die_with_parent, args=(os.getppid(), rank), daemon=True).start()
    try:
        status = _receive(connection)["status"]
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


def _send(connection, document):
    data = json.dumps(document).encode()
    connection.sendall(struct.pack("!I", len(data)) + data)


def _receive(connection):
    size = struct.unpack("!I", _exactly(connection, 4))[0]
    return json.loads(_exactly(connection, size))


def _exactly(connection, size):
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise EOFError("the other end went away")
        data += chunk
    return data


# -- the server's side -------------------------------------------------------------------------------------------
def serve(path, owner):
    """Import what ranks need, then start a rank for each command that asks, while the executor daemon lives.

    Each command gets a keeper, a child of the server that starts its rank and
    reports its end. When the last of its ranks has ended, the server readies as
    many spare keepers as that rank's host had ranks, each with a rank forked
    and warmed up (:func:`_spare`), so that the next launch's ranks skip
    TensorFlow's first work; they are readied while the executor is otherwise
    idle, between launches, never while its ranks train.
    """
    lock = open(f"{path}.lock", "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another server for the same path started first
    import gc
    import importlib
    for module in _PRELOAD:
        importlib.import_module(module)
    gc.freeze()  # what the ranks share from here is not scanned by their collections (nor copied by them)
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the keepers are reaped as they end
    spares = []  # (control socket, local size, when readied): spare keepers, oldest first
    keepers = []  # control sockets of keepers whose rank runs: each says its local size when its rank ends
    last = time.monotonic()
    try:
        while os.path.exists(f"/proc/{owner}") and time.monotonic() - last < _IDLE_SECONDS:
            readable, _, _ = select.select([*keepers, listener], [], [], 1.0)
            for ready in readable:  # the keepers' news first: a rank that ended readies spares for the next
                if ready is listener:
                    connection, _ = listener.accept()
                    last = time.monotonic()
                    keepers.append(_hand_over(connection, spares, [listener, lock, *keepers]))
                    continue
                ended = ready.recv(16)
                keepers.remove(ready)
                ready.close()
                if ended.isdigit() and not keepers and _spares_wanted():  # the last rank: the executor is idle
                    _ready_spares(spares, int(ended), [listener, lock])
            while spares and time.monotonic() - spares[0][2] > _SPARE_SECONDS:
                spares.pop(0)[0].close()  # its keeper ends, and its rank
    finally:
        for leftover in (path, f"{path}.lock", f"{path}.log"):  # a log stays only when the server failed to start
            os.unlink(leftover)


def _hand_over(connection, spares, held):
    """Give a command's connection to the oldest spare keeper, or to a new keeper; that keeper's control socket."""
    while spares:
        control = spares.pop(0)[0]
        try:
            socket.send_fds(control, [b"c"], [connection.fileno()])
        except OSError:
            control.close()  # that spare had ended
            continue
        connection.close()
        return control
    control, theirs = socket.socketpair()
    if os.fork() == 0:
        _in_keeper([control, *held, *(spare[0] for spare in spares)])
        _keep(connection, theirs)
    theirs.close()
    connection.close()
    return control


def _ready_spares(spares, local_size, held):
    """As many spare keepers as ``local_size`` (the ranks on this host in the last launch), each with a warm rank;
    spares readied for another number of ranks end."""
    for stale in [s for s in spares if s[1] != local_size]:
        spares.remove(stale)
        stale[0].close()
    while len(spares) < local_size:
        control, theirs = socket.socketpair()
        if os.fork() == 0:
            _in_keeper([control, *held, *(spare[0] for spare in spares)])
            _keep_spare(theirs, local_size)
        theirs.close()
        spares.append((control, local_size, time.monotonic()))


def _in_keeper(held):
    """In a keeper just forked: close what the server holds (its lock says whether the server runs; the other
    keepers' sockets tell them when the server ends)."""
    for each in held:
        each.close()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)


def _spares_wanted():
    """Spare ranks are readied on hosts without NVIDIA's driver (a warm-up would choose a GPU before the rank knows
    which is its own), unless ``HSM_SPARE_RANKS=0``."""
    return os.environ.get("HSM_SPARE_RANKS") != "0" and not os.path.exists("/proc/driver/nvidia")


def _keep_spare(control, local_size):
    """A spare keeper: fork a rank that warms up and waits; when the server hands over a command, keep it."""
    channel, theirs = socket.socketpair()
    report, reporting = os.pipe()
    rank = os.fork()
    if rank == 0:
        control.close()
        channel.close()
        os.close(report)
        _spare(theirs, local_size, reporting)
    theirs.close()
    os.close(reporting)
    try:
        _, fds, _, _ = socket.recv_fds(control, 1, 1)
    except OSError:
        fds = []
    if not fds:  # the server ended, or retired this spare
        os.kill(rank, signal.SIGKILL)
        os._exit(0)
    connection = socket.socket(fileno=fds[0])
    _keep(connection, control, spare=(rank, channel, local_size, report))


def _spare(channel, local_size, report):
    """A spare rank: warm up as a rank on a host of ``local_size`` ranks, then wait for a command's request."""
    try:
        from horovod_spark_ml.training.worker import warm_up
        warm_up(local_size, wanted=lambda: bool(select.select([channel], [], [], 0)[0]))
        _, fds, _, _ = socket.recv_fds(channel, 1, 3)
        request = _receive(channel)
    except BaseException:
        os._exit(1)  # its keeper forks a rank instead
    _become_rank(channel, fds, request, report)


def _keep(connection, control, spare=None):
    """In a keeper: start the command's rank (the spare's, if it was readied for as many ranks on this host, else
    a rank forked now), tell the command its pid, and its exit status when it ends; then tell the server the
    rank's local size, so that it readies spares for the next launch."""
    status, local_size = 1, b""
    try:
        connection.settimeout(None)
        _, fds, _, _ = socket.recv_fds(connection, 1, 3)
        request = _receive(connection)
        local_size = request["env"].get("HOROVOD_LOCAL_SIZE", "").encode()
        rank, report = _use_spare(spare, fds, request, local_size)
        if rank is None:
            report, reporting = os.pipe()
            rank = os.fork()
            if rank == 0:
                control.close()
                os.close(report)
                _become_rank(connection, fds, request, reporting)
            os.close(reporting)
        for fd in fds:
            os.close(fd)
        _send(connection, {"pid": rank})
        threading.Thread(target=_kill_when_gone, args=(connection, rank), daemon=True).start()
        status = _reported_status(report)
        reaped = status is None
        if reaped:  # it ended without reporting (killed, or it could not)
            _, status = os.waitpid(rank, 0)
        _tell_server(control, local_size)  # first: the command's end may start the next launch
        _send(connection, {"status": status})
        if not reaped:
            os.waitpid(rank, 0)  # its teardown, which the command did not wait for
        status = 0
    finally:
        _tell_server(control, local_size)
        os._exit(status)


def _tell_server(control, local_size):
    """Say that this keeper's rank has ended (with its local size, if known), once."""
    if control.fileno() != -1:
        try:
            control.sendall(local_size if local_size.isdigit() else b"-")
        except OSError:
            pass
        control.close()


def _use_spare(spare, fds, request, local_size):
    """Hand the request to the spare rank: its pid and the pipe it reports its exit code on; ``(None, None)``
    (and it ends) if it cannot take it."""
    if spare is None:
        return None, None
    rank, channel, readied_for, report = spare
    if local_size == str(readied_for).encode():
        try:
            socket.send_fds(channel, [b"r"], fds)
            _send(channel, request)
            return rank, report
        except OSError:
            pass  # it failed to warm up
    os.kill(rank, signal.SIGKILL)
    os.waitpid(rank, 0)
    os.close(report)
    return None, None


def _reported_status(report):
    """The rank's exit status as it reported it, just before exiting, or ``None`` if it ended without a report.

    A rank's process takes 50 ms more to end (the kernel tearing down its
    memory and TensorFlow's threads), which the command, Horovod and the next
    launch need not wait for: the rank lets go of the command's output and
    reports its exit code before it exits.
    """
    with os.fdopen(report, "rb") as pipe:
        reported = pipe.read(4)
    return (struct.unpack("!i", reported)[0] & 0xFF) << 8 if len(reported) == 4 else None


def _kill_when_gone(connection, rank):
    """The command went away (killed with its task or executor): so must its rank."""
    while connection.recv(1):
        pass
    try:
        os.kill(rank, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it had ended


def _become_rank(connection, fds, request, report):
    """In the rank's process: take on the command's stdio, environment and folder, and run the rank; report its
    exit code on the pipe ``report`` as it exits."""
    connection.close()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.stdout.reconfigure(line_buffering=True)
    code = _exit_code(lambda: _run_rank(request["args"]))
    null = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):  # the command's output ends here, not when this process is gone
        os.dup2(null, target)
    os.write(report, struct.pack("!i", code))
    os._exit(code)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        main(sys.argv[1:])
