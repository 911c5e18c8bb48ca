"""Spark's Python workers re-read the pyspark and py4j zips before every task on CPython 3.10 and 3.11.

PySpark's worker calls ``importlib.invalidate_caches()`` at the start of each
task. On CPython 3.10 and 3.11 that makes every zip importer read its whole
archive directory again, in Python (CPython gh-103200; 3.12 made it lazy). A
worker holds one importer per package it imported from ``pyspark.zip`` (13
after a pandas UDF), so each task spent 61 ms of CPU there, measured in a
worker: 2-3 us of worker CPU per 784-float row in a transform of 25k-row
tasks; and each of a Horovod launch's tasks started 45-105 ms later (a launch
runs a task per rank, at the same time, on the same cores). After
:func:`reread_changed_zips`, an archive is read again only when its file
changed (size, modification time or inode), once for all its importers.
Every Python worker that runs this package's code calls it, for its next
tasks: transform's model load, the executor check and Horovod's task.

Example::

    >>> import importlib
    >>> reread_changed_zips()  # in a Python worker, before its next task
    >>> importlib.invalidate_caches()  # reads no unchanged zip
"""
import os
import sys
import zipimport

_EAGER = zipimport.zipimporter.__dict__.get("invalidate_caches")  # CPython's own: reads the whole directory
_READ = {}  # archive path -> its file's stamp when its directory was last read


def reread_changed_zips():
    """Make zip importers skip re-reading unchanged archives, in this process (a no-op outside 3.10 and 3.11)."""
    if _EAGER is not None and sys.version_info[:2] < (3, 12):
        zipimport.zipimporter.invalidate_caches = _invalidate


def _invalidate(importer):
    stamp = _stamp(importer.archive)
    directory = zipimport._zip_directory_cache.get(importer.archive)
    if stamp is None or directory is None or _READ.get(importer.archive) != stamp:
        _EAGER(importer)
        _READ[importer.archive] = stamp
    else:
        importer._files = directory  # as read for another importer of the same archive since it last changed


def _stamp(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev
