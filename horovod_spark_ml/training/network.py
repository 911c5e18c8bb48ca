"""Which of this host's addresses and interfaces lead to another host: the driver's, for the ranks' traffic.

Used on each executor (the rank's gloo interface) and in each rank (the
address it reports), so it lives beside both.

Example::

    >>> address_towards("127.0.0.1")
    '127.0.0.1'
"""
import socket


def address_towards(address):
    """This host's address on the interface that routes to ``address`` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((address, 9))
        return probe.getsockname()[0]


def interface_towards(address):
    """The name of this host's interface that routes to ``address``."""
    import psutil
    local = address_towards(address)
    for iface, bound in psutil.net_if_addrs().items():
        if any(a.family == socket.AF_INET and a.address == local for a in bound):
            return iface
    raise OSError(f"no interface of this host has {local}, the address that routes to {address}")
