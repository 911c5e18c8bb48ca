"""Where rank servers listen: a folder of this user's alone under ``/tmp``, and who may connect to them.

The folder ``/tmp/hsm-ranks-<uid>`` holds, for each server (named by its
executor daemon's pid and a key, :mod:`.warm_ranks`), its socket
``<pid>-<key>.sock``, the lock it holds while it runs, a log while it
starts, and ``<pid>-<key>.sock.tmp/``, its ranks' temporary files. A
command hands the server its whole environment and the server runs the
arguments it is given, so the folder must be private
(:func:`..private_folder.private_folder`) and each end checks that the
other runs as the same user (:func:`same_user`).

Example::

    >>> server_folder()  # doctest: +ELLIPSIS
    '/tmp/hsm-ranks-...'
"""
import fcntl
import os
import shutil
import socket
import struct

from ...private_folder import private_folder


def server_folder():
    """This user's rank-server folder, made if missing; ``PermissionError`` where it is not this user's alone.

    Under ``/tmp`` rather than ``$TMPDIR``: a socket's path may be at most 107 bytes long.
    """
    return private_folder(f"/tmp/hsm-ranks-{os.getuid()}")


def same_user(connection):
    """Whether the process at the other end of a Unix socket runs as this process's user (its peer credentials)."""
    _, uid, _ = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                          struct.calcsize("3i")))
    return uid == os.getuid()


def remove_stale(folder):
    """Remove what servers killed without their clean-up left: the socket, lock and log of an executor daemon
    that is gone, whose lock no server holds."""
    for name in os.listdir(folder):
        base, dot, ending = name.partition(".")
        owner = base.partition("-")[0]
        if dot and ending == "sock.lock" and owner.isdigit() and not os.path.exists(f"/proc/{owner}"):
            with open(f"{folder}/{name}", "a") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                remove_server_files(f"{folder}/{base}.sock")


def remove_server_files(path):
    """Remove the files of the server whose socket is ``path``: the socket, its lock, log and temporary folder."""
    shutil.rmtree(f"{path}.tmp", ignore_errors=True)
    for leftover in (path, f"{path}.lock", f"{path}.log"):
        try:
            os.unlink(leftover)
        except FileNotFoundError:
            pass


def empty(folder):
    """Remove what is in ``folder`` (the ranks' temporary files, once none of them runs)."""
    for name in os.listdir(folder):
        path = f"{folder}/{name}"
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
