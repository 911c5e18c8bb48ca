"""A rank's process, as its Spark task runs it: forked, its output passed on line by line, stopped on request.

The task's service (:mod:`.rank_task`) gets the rank's arguments and
environment from the driver and calls :func:`run_rank_process`, which:

- gives gloo and NCCL the interface of this host that routes to the
  rendezvous address (the driver sends its address, not an interface name:
  names differ from host to host, and the driver's own may be ``lo``);
- forks the rank's command from this Python worker
  (:func:`.warm_ranks.fork_rank`), with no shell and no middleman process: it
  asks the executor's rank server for a warm rank, or runs Horovod's rank
  function in a fresh Python;
- passes on each line the rank writes, as it comes, prefixed
  ``[<rank>]<stdout>:`` or ``[<rank>]<stderr>:`` for the driver's launcher;
- stops the rank when the driver asks (SIGTERM to its process group, SIGKILL
  5 s later);
- returns the rank's exit code, 128 + the signal's number where a signal
  ended it, as a shell reports it (1, with the traceback on stderr, where the
  rank could not start).

Example::

    >>> run_rank_process(["<driver addresses>", "<settings>"], env, threading.Event(), sys.stdout, sys.stderr)
    [0]<stdout>:HSM-RANK {"rank": 0, ...}
    0
"""
import codecs
import os
import signal
import sys
import threading

from ..network import interface_towards

_STOP_SECONDS = 5  # from SIGTERM to SIGKILL
_DRAIN_SECONDS = 2  # how long the output may go on after the rank ended (a child of its that holds it open)


def run_rank_process(args, env, abort, stdout=None, stderr=None):
    """Run the rank with ``args`` and ``env`` to its end (see the module's docstring); its exit code.

    ``abort``: an event that stops the rank when set. ``stdout``, ``stderr``: text
    streams for its prefixed lines (this process's own where ``None``).
    """
    from .warm_ranks import fork_rank
    rank = env.get("HOROVOD_RANK", "?")
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    out, err = os.pipe(), os.pipe()
    try:
        pid = fork_rank(args, {**env, **gloo_interface(env)}, out[1], err[1])
    except Exception:  # noqa: BLE001 -- the rank could not start: its traceback goes to the driver
        import traceback
        os.close(out[0])
        os.close(err[0])
        _write(stderr, "".join(f"[{rank}]<stderr>:{line}\n" for line in traceback.format_exc().splitlines()))
        return 1
    finally:
        os.close(out[1])
        os.close(err[1])
    forwarders = [threading.Thread(target=_forward, args=(read_end, stream, f"[{rank}]<{name}>:"), daemon=True)
                  for read_end, stream, name in ((out[0], stdout, "stdout"), (err[0], stderr, "stderr"))]
    for forwarder in forwarders:
        forwarder.start()
    ended = threading.Event()
    threading.Thread(target=_stop_on, args=(abort, pid, ended), daemon=True).start()
    try:
        status = os.waitpid(pid, 0)[1]
    finally:
        ended.set()
        abort.set()  # ends the stopper, which finds the rank ended
    for forwarder in forwarders:
        forwarder.join(_DRAIN_SECONDS)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def gloo_interface(env):
    """The interface settings for gloo and NCCL: this host's interface that routes to the rendezvous address."""
    address = env.get("HOROVOD_GLOO_RENDEZVOUS_ADDR")
    if not address:
        return {}
    iface = interface_towards(address)
    return {"HOROVOD_GLOO_IFACE": iface, "NCCL_SOCKET_IFNAME": iface}


def _forward(read_end, stream, prefix):
    """Pass on what the rank writes to ``read_end``, a line at a time as each line is complete."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    partial = ""
    with open(read_end, "rb", buffering=0) as rank_output:
        while chunk := rank_output.read(1 << 16):
            lines = (partial + decoder.decode(chunk)).split("\n")
            partial = lines.pop()
            if lines:
                _write(stream, "".join(f"{prefix}{line}\n" for line in lines))
        partial += decoder.decode(b"", final=True)
    if partial:
        _write(stream, f"{prefix}{partial}\n")


def _write(stream, text):
    try:
        stream.write(text)
        stream.flush()
    except (RuntimeError, OSError, ValueError):
        pass  # the driver stopped listening (it aborted the rank): the rest is read and dropped


def _stop_on(abort, pid, ended):
    """When ``abort`` is set before the rank ended: SIGTERM to its process group, SIGKILL if it lives on."""
    abort.wait()
    for number in (signal.SIGTERM, signal.SIGKILL):
        if ended.is_set():
            return
        try:
            os.killpg(pid, number)
        except ProcessLookupError:
            return
        ended.wait(_STOP_SECONDS)
