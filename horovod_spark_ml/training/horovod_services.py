"""Horovod's services, made to stop at once: the driver's service and each task's subclass this.

Horovod's driver and task services answer requests in a
``socketserver.ThreadingTCPServer``, whose loop looks for a shutdown request
every 0.5 s. A launch stops the driver's service and every task's, so each
launch waited up to half a second for each. :class:`PromptShutdown` wakes the
loop with a ``PingRequest`` as it asks it to stop, so ``shutdown()`` returns
as soon as the loop has ended, without touching ``socketserver`` itself.

Example::

    >>> class DriverService(PromptShutdown, SparkDriverService):
    ...     pass
    >>> DriverService(2, 2, train, (jobs,), {}, key, None).shutdown()   # returns in milliseconds
"""
import socket
import threading

_WAKE_SECONDS = 0.01


class PromptShutdown:
    """A mixin for a Horovod ``network.BasicService`` whose ``shutdown()`` returns as soon as its loop ends."""

    def shutdown(self):
        stopping = threading.Thread(target=super().shutdown, name="service shutdown", daemon=True)
        stopping.start()
        while stopping.is_alive():
            if self._thread.is_alive():  # its loop, yet to see the request (then: handlers still answering)
                self._wake()
            stopping.join(_WAKE_SECONDS)

    def _wake(self):
        """Ping the service, so that its loop handles a request and sees the shutdown it was asked for."""
        from horovod.runner.common.util.network import PingRequest
        try:
            with socket.create_connection(("127.0.0.1", self.get_port()), timeout=1) as sock, \
                    sock.makefile("wb") as wfile, sock.makefile("rb") as rfile:
                self._wire.write(PingRequest(), wfile)
                self._wire.read(rfile)
        except Exception:  # noqa: BLE001 -- the loop ended before it took the ping: its close reset the connection
            pass
