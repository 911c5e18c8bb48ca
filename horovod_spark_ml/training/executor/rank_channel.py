"""How a rank's command and the rank server talk, and how a rank runs: shared by both ends.

One JSON document at a time, its length first (:func:`send`,
:func:`receive`), beside the file descriptors ``socket.send_fds`` hands
over; :func:`run_rank` runs Horovod's rank function as its command would,
and :func:`exit_code` runs a process's whole work to an exit code.

Example::

    >>> left, right = socket.socketpair()
    >>> send(left, {"pid": 812})
    >>> receive(right)
    {'pid': 812}
"""
import json
import struct
import sys


def exit_code(run):
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


def run_rank(args):
    """Run the rank in this process, as Horovod's ``gloo_exec_fn`` would with the command's arguments."""
    from horovod.runner.common.util import codec
    from horovod.spark.task import gloo_exec_fn
    gloo_exec_fn.main(codec.loads_base64(args[0]), codec.loads_base64(args[1]))


def send(connection, document):
    """Send one JSON document, its length first."""
    data = json.dumps(document).encode()
    connection.sendall(struct.pack("!I", len(data)) + data)


def receive(connection):
    """The next JSON document :func:`send` sent; ``EOFError`` if the other end went away first."""
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
