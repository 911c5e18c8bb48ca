"""Where staged data lives: ``storePath`` as the URL that Spark writes and the URL that the ranks read.

Spark writes the staged Parquet through its Hadoop file systems; the driver
(to read the files' footers) and the ranks read it through pyarrow, or
fsspec where pyarrow has no file system for the scheme.

=======================================  =========================  ==============================================
storePath                                Spark writes               the driver and the ranks read
=======================================  =========================  ==============================================
``/mnt/shared/x``, ``file:///mnt/x``     ``file:///mnt/shared/x``   the same (a folder every host mounts: NFS)
``/Volumes/c/s/v``, ``dbfs:/Volumes/…``  ``file:///Volumes/c/s/v``  the same (a Unity Catalog volume's FUSE mount)
``dbfs:/x``, ``/dbfs/x``                 ``file:///dbfs/x``         the same (Databricks' DBFS FUSE mount)
``hdfs://namenode/x``                    the same                   pyarrow's HadoopFileSystem (libhdfs)
``s3://bucket/x``, ``s3a://bucket/x``    ``s3a://bucket/x`` (S3A)   ``s3://bucket/x``, pyarrow's S3FileSystem
``gs://bucket/x``                        the same (GCS connector)   pyarrow's GcsFileSystem
``abfss://c@a.dfs.core.windows.net/x``   the same (ABFS)            fsspec's ``abfss`` (the adlfs package)
=======================================  =========================  ==============================================

Example::

    >>> resolve_store("s3://bucket/staging")
    Store(spark_url='s3a://bucket/staging', read_url='s3://bucket/staging')
    >>> resolve_store("dbfs:/tmp/staging").read_url
    'file:///dbfs/tmp/staging'
    >>> fs, path = open_filesystem("file:///tmp/staging/part-0.parquet")
"""
import os
import re
from dataclasses import dataclass

from ..errors import InputError

# Spark's Hadoop scheme for each scheme that the ranks read with another name.
_SPARK_SCHEMES = {"s3": "s3a", "s3n": "s3a"}
_READ_SCHEMES = {"s3a": "s3", "s3n": "s3"}
_PYARROW_SCHEMES = {"file", "hdfs", "viewfs", "s3", "gs"}
SCHEMES = ("file", "dbfs", "hdfs", "viewfs", "s3", "s3a", "s3n", "gs", "abfs", "abfss")


@dataclass(frozen=True)
class Store:
    """One staging folder under two names: Spark's (``spark_url``) and pyarrow's (``read_url``)."""
    spark_url: str
    read_url: str

    def read_url_of(self, spark_url):
        """A URL under ``spark_url`` as the driver and the ranks read it."""
        spark, read = _normalized(spark_url), _normalized(self.spark_url)
        if not spark.startswith(read):
            raise ValueError(f"{spark_url} is not under the store {self.spark_url}")
        return self.read_url + spark[len(read):]

    @property
    def is_local(self):
        return self.read_url.startswith("file://")


def resolve_store(store_path):
    """The :class:`Store` for a ``storePath`` (see the module's table); an unknown scheme is an :class:`InputError`.

    A local path is a path, not a URL: ``#`` and ``?`` in it are part of a folder's name.
    """
    parsed = _parts(store_path)
    if parsed.scheme in ("", "file"):
        url = "file://" + os.path.abspath(parsed.path)
        return Store(url, url)
    if parsed.scheme == "dbfs":
        url = "file://" + _dbfs_mount(parsed)
        return Store(url, url)
    if parsed.scheme not in SCHEMES:
        raise InputError(f"storePath '{store_path}' has scheme '{parsed.scheme}', which is not supported; use a "
                         f"path or one of {', '.join(s + '://' for s in SCHEMES)}")
    rest = store_path.rstrip("/")[len(parsed.scheme):]
    scheme = parsed.scheme
    return Store(_SPARK_SCHEMES.get(scheme, scheme) + rest, _READ_SCHEMES.get(scheme, scheme) + rest)


def local_or_url(path):
    """A path or URL for libraries that take local paths: local ones made absolute, ``dbfs:/x`` as ``/dbfs/x``
    (``dbfs:/Volumes/x`` as ``/Volumes/x``).

    Other URLs (``gs://``, ``hdfs://``) are returned as they are; ``""`` stays ``""``.
    """
    if not path:
        return path
    parsed = _parts(path)
    if parsed.scheme in ("", "file"):
        return os.path.abspath(parsed.path)
    if parsed.scheme == "dbfs":
        return _dbfs_mount(parsed)
    return path


def local_path(url):
    """The path of a ``file://`` URL (as :class:`Store` names local folders), or ``None`` for any other URL.

    >>> local_path("file:///mnt/my#store/runs"), local_path("s3://bucket/x")
    ('/mnt/my#store/runs', None)
    """
    parsed = _parts(url)
    return parsed.path if parsed.scheme == "file" else None


@dataclass(frozen=True)
class _Parts:
    scheme: str  # lower case; "" for a path
    netloc: str
    path: str


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


def _parts(url):
    """A URL's scheme, authority and path, without ``urlparse``'s query and fragment: in a storage path, ``?`` and
    ``#`` are characters of a name (``urlparse("/x/my#store").path`` is ``/x/my``)."""
    scheme = _SCHEME.match(url)
    if scheme is None:
        return _Parts("", "", url)
    rest = url[scheme.end():]
    if rest.startswith("//"):
        netloc, slash, path = rest[2:].partition("/")
        return _Parts(scheme.group(1).lower(), netloc, slash + path)
    return _Parts(scheme.group(1).lower(), "", rest)


def _dbfs_mount(parsed):
    """Where a node mounts a ``dbfs:`` URL: Unity Catalog volumes at /Volumes, the rest of DBFS at /dbfs."""
    path = "/" + (parsed.netloc + parsed.path).lstrip("/")
    return path if path.startswith("/Volumes/") else "/dbfs" + path


def open_filesystem(url):
    """``(pyarrow FileSystem, path)`` for a read URL, through fsspec for schemes pyarrow lacks."""
    import pyarrow.fs
    parsed = _parts(url)
    if parsed.scheme == "file":
        return pyarrow.fs.LocalFileSystem(), parsed.path
    if parsed.scheme in _PYARROW_SCHEMES:
        return pyarrow.fs.FileSystem.from_uri(url)
    import fsspec
    handler = pyarrow.fs.FSSpecHandler(fsspec.filesystem(parsed.scheme))
    return pyarrow.fs.PyFileSystem(handler), parsed.netloc + parsed.path


def _normalized(url):
    """``file:/x`` (as Hadoop writes it) and ``file:///x`` alike, without a trailing slash."""
    parsed = _parts(url)
    if parsed.scheme == "file":
        return "file://" + parsed.path.rstrip("/")
    return url.rstrip("/")
