"""One fit at a time per run: a lock file in the run's folder while a fit trains it.

A fit given an explicit ``runId`` takes ``<storePath>/runs/<runId>/lock.json``
(its host, pid and a token) before it trains, renews it every
:data:`RENEW_SECONDS` while it runs, and removes it when it ends. A second fit
of the same run, in this process or any other, is refused while the lock is
held. A lock left by a fit whose driver died is taken over: at once on the
same host (its pid is gone), elsewhere once it has not been renewed for
:data:`STALE_SECONDS`. The lock is created exclusively where the store is a
local or mounted folder; on object stores (which have no exclusive create)
the fit writes it, reads it back and proceeds only if it is still its own.

Example::

    >>> lock = RunLock.take("file:///tmp/store/runs/by-hand", "by-hand")
    >>> lock.release()
"""
import json
import os
import socket
import threading
import time
import uuid

from ...data.store import local_path, open_filesystem
from ...errors import InputError
from ..run_folder import read_json, write_json

LOCK = "lock.json"
RENEW_SECONDS = 30
STALE_SECONDS = 120


class RunLock:
    """A held run lock; :meth:`release` it when the fit ends."""

    def __init__(self, url, token):
        self.url, self.token = url, token
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew, daemon=True, name=f"run lock {url}")
        self._renewer.start()

    @classmethod
    def take(cls, run_url, run_id):
        """Take the lock of the run at ``run_url``, or raise :class:`InputError` naming the fit that holds it."""
        url = f"{run_url}/{LOCK}"
        token = uuid.uuid4().hex
        for _ in range(2):  # the second try after removing a stale lock
            if _create(url, _holder(token)):
                return cls(url, token)
            held = _read(url)
            if held is None:
                continue  # released meanwhile
            if not _stale(held):
                raise InputError(f"runId '{run_id}' is being trained by another fit (on {held['host']}, pid "
                                 f"{held['pid']}, since {held['since']}); wait for it to end, or pick another "
                                 f"runId (a lock not renewed for {STALE_SECONDS} s is taken over: {url})")
            _remove(url, held["token"])
        raise InputError(f"runId '{run_id}': its lock {url} could not be taken; another fit took it meanwhile")

    def release(self):
        self._stop.set()
        self._renewer.join()
        _remove(self.url, self.token)

    def _renew(self):
        while not self._stop.wait(RENEW_SECONDS):
            held = _read(self.url)
            if held is None or held.get("token") != self.token:
                return  # taken over after all (this driver stalled for minutes): nothing to renew
            write_json(self.url, {**held, "renewed": time.time()})


def held_lock(url):
    """Whether the lock at ``url`` is held by a fit that still runs (not stale)."""
    held = _read(url)
    return held is not None and not _stale(held)


def _holder(token):
    now = time.time()
    return {"host": socket.gethostname(), "pid": os.getpid(), "token": token,
            "since": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)), "renewed": now}


def _stale(held):
    if held.get("host") == socket.gethostname() and not os.path.exists(f"/proc/{held.get('pid')}"):
        return True  # its driver, on this host, is gone
    return time.time() - held.get("renewed", 0) > STALE_SECONDS


def _create(url, holder):
    """Write ``holder`` at ``url`` if no lock is there; whether it is now this fit's."""
    data = json.dumps(holder).encode()
    path = local_path(url)
    if path is not None:  # a local or mounted folder: an exclusive create
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return True
    if _read(url) is not None:
        return False
    write_json(url, holder)
    time.sleep(1)  # another writer's lock, written meanwhile, has replaced this one by now
    held = _read(url)
    return held is not None and held.get("token") == holder["token"]


def _read(url):
    try:
        return read_json(url)
    except ValueError:
        return None  # caught half-written, just after an exclusive create: looked at again by the caller


def _remove(url, token):
    """Remove the lock if it is still the one with ``token``."""
    held = _read(url)
    if held is not None and held.get("token") == token:
        fs, path = open_filesystem(url)
        try:
            fs.delete_file(path)
        except FileNotFoundError:
            pass
