"""Spark's per-task import cache invalidation re-reads a zip on the path only when the zip changed."""
import importlib
import sys
import zipfile
import zipimport

import pytest

from horovod_spark_ml.zip_import_cache import reread_changed_zips


@pytest.mark.skipif(sys.version_info[:2] >= (3, 12), reason="CPython 3.12 re-reads zips lazily itself")
def test_an_unchanged_zip_is_not_read_again_and_a_changed_one_is(tmp_path, monkeypatch):
    archive = tmp_path / "modules.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("zipped_pkg/__init__.py", "")
        z.writestr("zipped_pkg/first.py", "VALUE = 1\n")
    monkeypatch.syspath_prepend(str(archive))
    import zipped_pkg.first  # one importer for the archive, one for the package inside it
    monkeypatch.setattr(sys, "path_hooks", list(sys.path_hooks))
    monkeypatch.setattr(sys, "path_importer_cache", dict(sys.path_importer_cache))
    reads = []
    read_directory = zipimport._read_directory
    monkeypatch.setattr(zipimport, "_read_directory", lambda path: reads.append(path) or read_directory(path))

    reread_changed_zips()
    importlib.invalidate_caches()
    assert reads == [str(archive)]  # once for both importers
    assert type(sys.path_importer_cache[str(archive)]).__name__ == "ZipImporter"
    importlib.invalidate_caches()
    assert reads == [str(archive)]

    with zipfile.ZipFile(archive, "a") as z:
        z.writestr("zipped_pkg/second.py", "VALUE = 2\n")
    importlib.invalidate_caches()
    import zipped_pkg.second
    assert (zipped_pkg.first.VALUE, zipped_pkg.second.VALUE) == (1, 2)
    for name in ("zipped_pkg", "zipped_pkg.first", "zipped_pkg.second"):
        monkeypatch.delitem(sys.modules, name)
