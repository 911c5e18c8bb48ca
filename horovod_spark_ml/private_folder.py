"""Folders of this user's alone in a shared temp folder: the rank server's sockets, the default ``storePath``.

``/tmp`` is shared by every user of a host (an edge node, a YARN node
without per-user containers), so a folder with a predictable name there may
already be someone else's: a folder they made, or a symbolic link to one they
read. :func:`private_folder` makes the folder, or accepts an existing one, only
when it is a real folder (not a link), owned by this user, that no one else
may enter. ``/tmp``'s sticky bit then keeps others from renaming or replacing
it afterwards, so what was checked stays true.

Example::

    >>> import tempfile
    >>> private_folder(f"{tempfile.gettempdir()}/hsm-doc-{os.getuid()}")  # doctest: +ELLIPSIS
    '/tmp/hsm-doc-...'
"""
import os
import stat


def private_folder(path):
    """``path``, made (mode 0700) if missing; ``PermissionError`` naming the problem where it is a link, not a
    folder, another user's, open to others, or in a parent folder where others could replace it."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    found = os.lstat(path)  # the entry itself: a symbolic link is not followed
    problem = None
    if stat.S_ISLNK(found.st_mode):
        problem = f"is a symbolic link (to {os.readlink(path)})"
    elif not stat.S_ISDIR(found.st_mode):
        problem = "is not a folder"
    elif found.st_uid != os.getuid():
        problem = f"belongs to uid {found.st_uid}, not to this user (uid {os.getuid()})"
    elif found.st_mode & 0o077:
        problem = f"may be used by other users (mode {stat.S_IMODE(found.st_mode):o})"
    else:
        parent = os.stat(os.path.dirname(os.path.abspath(path)))
        if parent.st_mode & 0o022 and not parent.st_mode & stat.S_ISVTX and parent.st_uid != os.getuid():
            problem = "is in a folder where other users may rename it (writable, without the sticky bit)"
    if problem:
        raise PermissionError(f"{path} {problem}: it is not used; remove it, or ask whoever made it")
    return path
