"""The driver's side of one rank's Spark task: start the rank, pass its output on as it comes, fetch its exit code.

Horovod's client copied a task's output with buffered 64 KiB reads, which
wait for 64 KiB or the end: a rank's lines reached the driver in bursts,
often only when it ended, so the per-epoch lines came all at once.
:class:`RankClient` reads what has come (``read1``), and its
:meth:`~RankClient.run` returns only once the rank's output is complete, so
the launcher explains a failure with all of it. When the task goes away (its
process or executor lost), the output ends quietly and the exit code is
``None``: the launcher says what was lost.

Example::

    >>> client = RankClient(0, driver.task_addresses_for_driver(0), key, verbose=0)
    >>> client.run(["<driver addresses>", "<settings>"], {"HOROVOD_RANK": "0", ...}, sys.stdout, sys.stderr)
    0
"""
import codecs
import socket
import threading
import time

from horovod.runner.common.service.task_service import StreamCommandStdErrRequest, StreamCommandStdOutRequest
from horovod.runner.common.util.network import AckStreamResponse
from horovod.spark.task.task_service import SparkTaskClient

_DRAIN_SECONDS = 5  # how long the output may go on arriving after the exit code


class RankClient(SparkTaskClient):
    """Horovod's client of a Spark task's service, running one rank there."""

    def run(self, command, env, stdout, stderr):
        """Run the rank's ``command`` with ``env`` in the task; its exit code (``None`` if the task was lost)."""
        requests = ((StreamCommandStdOutRequest(), stdout), (StreamCommandStdErrRequest(), stderr))
        streams = [threading.Thread(target=self._stream, args=(request, stream), daemon=True)
                   for request, stream in requests if stream is not None]
        for stream in streams:
            stream.start()
        self.run_command(command, env, capture_stdout=stdout is not None, capture_stderr=stderr is not None)
        code = self.wait_for_command_exit_code()  # None where the task could not be asked
        for stream in streams:
            stream.join(_DRAIN_SECONDS)
        return code

    def stop(self):
        """Stop the rank, if its task can still be reached."""
        try:
            self.abort_command()
        except Exception:  # noqa: BLE001 -- its task is gone, and the rank with it
            pass

    def _stream(self, request, stream):
        """Copy the task's answer to ``request`` to ``stream`` as it arrives, until the task ends it.

        The rank blocks when its output is not read, so a stream that fails to
        take it does not stop the reading (the rest is dropped), and output that
        cannot be fetched at all stops the rank.
        """
        address = next(iter(self.addresses().values()))[0]
        try:
            sock = self._connect(address)
        except OSError:
            return self.stop()
        with sock, sock.makefile("rb") as rfile, sock.makefile("wb") as wfile:
            try:
                self._wire.write(request, wfile)
                if not isinstance(self._wire.read(rfile), AckStreamResponse):
                    return None
                decoder = codecs.getincrementaldecoder("utf-8")("replace")
                while chunk := rfile.read1(1 << 16):
                    stream = _write(stream, decoder.decode(chunk))
                _write(stream, decoder.decode(b"", final=True))
            except Exception:  # noqa: BLE001 -- the task went away, and with it the output; run() reports the loss
                pass
        return None

    def _connect(self, address):
        """A connection to the task's service, tried as often as Horovod's client tries its requests."""
        for attempt in range(1, self._attempts):
            try:
                return socket.create_connection(address)
            except OSError:
                time.sleep(0.1 * attempt)
        return socket.create_connection(address)


def _write(stream, text):
    """Write ``text`` to ``stream``; the stream to write to next: ``None`` once writing failed."""
    if stream is None or not text:
        return stream
    try:
        stream.write(text)
        return stream
    except Exception:  # noqa: BLE001 -- e.g. a progress callback that raised: the rank's output is still read
        import traceback
        traceback.print_exc()
        return None
