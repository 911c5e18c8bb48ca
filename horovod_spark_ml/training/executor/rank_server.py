"""The rank server: one per executor's Python, it has imported what a rank needs and forks each rank warm.

The rank's command (:mod:`.warm_ranks`) connects to the server's socket and
hands over its stdin, stdout, stderr, environment, folder and arguments. For
each command the server forks a keeper, which starts the command's rank,
tells the command the rank's pid, and its exit status when it ends; the rank
is killed if the command goes away. Nothing TensorFlow starts at import
(threads, CUDA) exists yet when the server forks.

A rank forked from the server still does TensorFlow's first work in its
process (its runtime, first ops, first tf.data pipeline): 0.1-0.2 s of each
launch. So when a host's last rank ends, the server readies spare ranks for
the next launch, one per rank the host had, each forked and warmed up on a
tiny model (``worker.warm_up``) while the executor is idle between launches;
a command whose host has as many ranks takes one. Spares are not readied on
hosts with NVIDIA's driver (a rank picks its GPU as it starts) or with
``HSM_SPARE_RANKS=0``. What the server holds while idle (with two spares,
about 0.46 GB, outside Spark's memory accounting) is bounded, by these
settings of the executor's environment (``spark.executorEnv.*``):

- ``HSM_SPARE_RANKS``: at most this many spares (default: as many as the
  host's ranks in the last launch; ``0``: none);
- ``HSM_SPARE_SECONDS``: spares not used for this long end (default 120);
- ``HSM_RANK_SERVER_IDLE_SECONDS``: the server ends after this long without
  a rank to start (default 600), and with its executor's Python daemon.

Only the user who started it may connect (checked by the socket's peer
credentials), and a command that connects but sends nothing is dropped after
10 s. The ranks' temporary files (TensorFlow's autograph writes a ``.py`` file
per traced function) go into the server's own temporary folder, emptied
whenever none of its ranks runs and removed when it ends: a rank ends with
``os._exit``, which skips the clean-up at exit. A server killed without its
clean-up leaves its socket, lock, log and temporary folder, which the next
server started in the folder removes.

Example (what the first warm rank's command starts, in a session of its own)::

    $ python -m horovod_spark_ml.training.executor.rank_server /tmp/hsm-ranks-0/<daemon pid>-<key>.sock <daemon pid>
"""
import fcntl
import os
import select
import signal
import socket
import struct
import sys
import threading
import time

from .rank_channel import exit_code, receive, run_rank, send
from .rank_folder import empty, remove_server_files, remove_stale, same_user

_REQUEST_SECONDS = 10  # a command that connects must send its request within this
# What the server imports, so that a forked rank does not.
_PRELOAD = ("tensorflow", "keras", "horovod.tensorflow", "horovod.spark.task", "pyarrow.parquet",
            "horovod_spark_ml.training.rank.worker", "horovod_spark_ml.training.rank.horovod_keras",
            "horovod_spark_ml.training.rank.reader", "horovod_spark_ml.training.rank.checkpoints",
            "horovod_spark_ml.training.rank.progress", "horovod_spark_ml.training.rank.devices")


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
    remove_stale(os.path.dirname(path))
    temporary = f"{path}.tmp"
    os.makedirs(temporary, mode=0o700, exist_ok=True)
    os.environ["TMPDIR"] = temporary  # before anything asks Python's tempfile, which keeps the first answer
    idle_seconds = _setting("HSM_RANK_SERVER_IDLE_SECONDS", 600)
    spare_seconds = _setting("HSM_SPARE_SECONDS", 120)
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
        while os.path.exists(f"/proc/{owner}") and time.monotonic() - last < idle_seconds:
            readable, _, _ = select.select([*keepers, listener], [], [], 1.0)
            for ready in readable:  # the keepers' news first: a rank that ended readies spares for the next
                if ready is listener:
                    connection, _ = listener.accept()
                    if not same_user(connection):
                        connection.close()
                        continue
                    last = time.monotonic()
                    keepers.append(_hand_over(connection, spares, [listener, lock, *keepers]))
                    continue
                ended = ready.recv(16)
                keepers.remove(ready)
                ready.close()
                if not keepers:  # the last rank: the executor is idle
                    empty(temporary)
                    if ended.isdigit():
                        _ready_spares(spares, int(ended), [listener, lock])
            while spares and time.monotonic() - spares[0][2] > spare_seconds:
                spares.pop(0)[0].close()  # its keeper ends, and its rank
    finally:
        remove_server_files(path)  # its log too, which stays only when a server fails to start


def _setting(name, default):
    """A whole number of seconds from the environment, ``default`` where unset or not a number."""
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else default


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
    """Spare keepers for a launch of ``local_size`` ranks on this host (:func:`_spares_wanted`), each with a warm
    rank; spares readied for another number of ranks end."""
    for stale in [s for s in spares if s[1] != local_size]:
        spares.remove(stale)
        stale[0].close()
    while len(spares) < _spares_wanted(local_size):
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


def _spares_wanted(local_size):
    """How many spare ranks to ready after a launch of ``local_size`` ranks on this host: as many, at most
    ``HSM_SPARE_RANKS``; none on hosts with NVIDIA's driver (a warm-up would choose a GPU before the rank knows
    which is its own)."""
    if os.path.exists("/proc/driver/nvidia"):
        return 0
    return min(local_size, _setting("HSM_SPARE_RANKS", local_size))


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
        from horovod_spark_ml.training.rank.worker import warm_up
        warm_up(local_size, wanted=lambda: bool(select.select([channel], [], [], 0)[0]))
        _, fds, _, _ = socket.recv_fds(channel, 1, 3)
        request = receive(channel)
    except BaseException:
        os._exit(1)  # its keeper forks a rank instead
    _become_rank(channel, fds, request, report)


def _keep(connection, control, spare=None):
    """In a keeper: start the command's rank (the spare's, if it was readied for as many ranks on this host, else
    a rank forked now), tell the command its pid, and its exit status when it ends; then tell the server the
    rank's local size, so that it readies spares for the next launch."""
    status, local_size = 1, b""
    try:
        connection.settimeout(_REQUEST_SECONDS)  # a command that connects and says nothing is dropped
        _, fds, _, _ = socket.recv_fds(connection, 1, 3)
        request = receive(connection)
        connection.settimeout(None)
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
        send(connection, {"pid": rank})
        threading.Thread(target=_kill_when_gone, args=(connection, rank), daemon=True).start()
        status = _reported_status(report)
        reaped = status is None
        if reaped:  # it ended without reporting (killed, or it could not)
            _, status = os.waitpid(rank, 0)
        _tell_server(control, local_size)  # first: the command's end may start the next launch
        send(connection, {"status": status})
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
            send(channel, request)
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
    code = exit_code(lambda: run_rank(request["args"]))
    null = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):  # the command's output ends here, not when this process is gone
        os.dup2(null, target)
    os.write(report, struct.pack("!i", code))
    os._exit(code)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
