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

_READ = {}  # archive path -> its file's stamp when its directory was last read


def reread_changed_zips():
    """Make this process's zip importers skip re-reading unchanged archives (a no-op outside 3.10 and 3.11).

    The path hook for zips becomes :class:`ZipImporter`, and the zip importers
    already in ``sys.path_importer_cache`` are replaced by one each.
    """
    if sys.version_info[:2] not in ((3, 10), (3, 11)):
        return
    if ZipImporter not in sys.path_hooks:
        sys.path_hooks.insert(0, ZipImporter)
    for path, finder in list(sys.path_importer_cache.items()):
        if type(finder) is zipimport.zipimporter:
            sys.path_importer_cache[path] = ZipImporter(path)


class ZipImporter(zipimport.zipimporter):
    """A zip importer whose ``invalidate_caches`` reads its archive's directory again only when the file changed
    (size, modification time or inode), once for all the importers of the archive."""

    def invalidate_caches(self):
        stamp = _stamp(self.archive)
        directory = zipimport._zip_directory_cache.get(self.archive)
        if stamp is None or directory is None or _READ.get(self.archive) != stamp:
            super().invalidate_caches()
            _READ[self.archive] = stamp
        else:
            self._files = directory  # as read for another importer of the same archive since it last changed


def _stamp(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev
