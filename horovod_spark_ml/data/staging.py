"""Staging: the needed columns only, written once as Parquet under storePath by Spark's Parquet writer.

Features become one float array column and the label one int or float column,
converted on the JVM side (``vector_to_array``), never through Python rows.
The staged folder is kept by the DataFrame's plan (:mod:`.plan_memo`), so
fitting the same DataFrame again (a second fit, CrossValidator folds over the
same input, a param grid) reuses the staged files instead of writing them
again. Row counts and files come from the Parquet footers, not from a Spark
job, so such a cache hit costs a plan's hash and a directory listing. The
folders staged by a driver are deleted when its Python exits.

Each Horovod rank reads whole Parquet row groups (uncompressed, of about
``row_group_bytes``), so staging makes sure there are at least as many row
groups as ranks.

Example::

    >>> store = prepare_store("/tmp/horovod_spark_ml")     # or hdfs://, s3://, dbfs:/ ... (see store.py)
    >>> staged = stage(df, columns, num_proc=2, validation_split=0.1, seed=42, store=store)
    >>> staged.train_rows, len(staged.train_urls)
    (1617, 2)
"""
import atexit
import logging
import time
import uuid
from dataclasses import dataclass

from pyspark.sql import functions as F

from ..errors import InputError
from ..private_folder import private_folder
from .plan_memo import PlanMemo
from .store import local_path, open_filesystem, resolve_store

log = logging.getLogger(__name__)

DEFAULT_ROW_GROUP_BYTES = 32 * 1024 * 1024
_partition_counts = PlanMemo(kept=256)
_staged_folders = PlanMemo(kept=256)


@dataclass(frozen=True)
class StagedData:
    """Where the staged training (and validation) data lie, and how many rows each has."""
    train_urls: list
    train_rows: int
    val_urls: list = None
    val_rows: int = 0


def prepare_store(store_path, private=False):
    """The :class:`.store.Store` for ``store_path``, created if needed and checked writable from the driver.

    ``private``: the default storePath, in the temp folder that every user of
    the host shares, must be a folder of this user's alone
    (:func:`..private_folder.private_folder`): not made, or replaced by a link,
    by someone who could then read or change the staged data and the runs.
    """
    store = resolve_store(store_path)
    if private and store.is_local:
        try:
            private_folder(local_path(store.read_url))
        except PermissionError as e:
            raise InputError(f"the default storePath {e}; set storePath to a folder of your own") from None
    try:
        fs, path = open_filesystem(store.read_url)
        probe = f"{path}/.write-probe-{uuid.uuid4().hex}"
        fs.create_dir(path, recursive=True)
        with fs.open_output_stream(probe) as f:
            f.write(b"ok")
        fs.delete_file(probe)
    except (OSError, ImportError) as e:
        raise InputError(f"storePath '{store_path}' is not writable ({e}); set storePath to storage that this "
                         "process and every executor can write") from None
    return store


def stage(df, columns, *, num_proc, validation_split, seed, store, row_group_bytes=DEFAULT_ROW_GROUP_BYTES,
          validation_indicator=None):
    """Write ``df.select(*columns)`` (split for validation if asked) and return a :class:`StagedData`.

    The validation rows are a random ``validation_split`` of the rows, or those where the staged boolean
    column ``validation_indicator`` is true (the column itself is not written).

    ``row_group_bytes`` is the Parquet row group size: a rank reads one row
    group at a time, so images want smaller groups than numeric rows.
    """
    selected = df.select(*columns)
    if validation_indicator:
        flag = F.col(validation_indicator)
        train_urls, train_rows = _stage_one(selected.filter(~flag).drop(validation_indicator), num_proc, store,
                                            row_group_bytes)
        val_urls, val_rows = _stage_one(selected.filter(flag).drop(validation_indicator), num_proc, store,
                                        row_group_bytes)
        return StagedData(train_urls, train_rows, val_urls, val_rows)
    if validation_split > 0:
        train, val = selected.randomSplit([1.0 - validation_split, validation_split], seed=seed)
        train_urls, train_rows = _stage_one(train, num_proc, store, row_group_bytes)
        val_urls, val_rows = _stage_one(val, num_proc, store, row_group_bytes)
        return StagedData(train_urls, train_rows, val_urls, val_rows)
    return StagedData(*_stage_one(selected, num_proc, store, row_group_bytes))


def _stage_one(df, num_proc, store, row_group_bytes):
    if _partitions(df) < num_proc:
        # Small data: one round-robin pass spreads the rows evenly over the ranks.
        df = df.coalesce(1).repartition(num_proc)
    files = _convert(df, store, row_group_bytes)
    if sum(f.num_row_groups for f in files.values()) < num_proc:
        # Empty partitions wrote no file: spread the rows out and stage again.
        log.info("staged data has fewer row groups than the %d ranks; repartitioning", num_proc)
        files = _convert(df.repartition(num_proc), store, row_group_bytes)
    return list(files), sum(f.num_rows for f in files.values())


def _partitions(df):
    """``df.rdd.getNumPartitions()``, asked once per plan in an application (:mod:`.plan_memo`): 15-20 ms each
    time on the driver, as the plan is compiled to an RDD, when a refit's whole staging is a cache lookup
    otherwise. A count gone stale would only make staging repartition when it need not, or not when it could."""
    return _partition_counts.get(df, "partitions", lambda: df.rdd.getNumPartitions())


def _convert(df, store, row_group_bytes):
    """Stage ``df`` in ``store`` (or find it staged); its Parquet footers by the files' read URLs."""
    import pyarrow.fs
    import pyarrow.parquet as pq
    folder = store.read_url_of(_staged_folders.get(df, ("staged", store.spark_url, row_group_bytes),
                                                   lambda: _write(df, store, row_group_bytes)))
    fs, path = open_filesystem(folder)
    names = sorted(info.base_name for info in fs.get_file_info(pyarrow.fs.FileSelector(path))
                   if info.base_name.endswith(".parquet"))
    return {f"{folder}/{name}": pq.read_metadata(fs.open_input_file(f"{path}/{name}")) for name in names}


def _write(df, store, row_group_bytes):
    """Write ``df`` as uncompressed Parquet into a new folder of ``store`` (deleted when this Python exits);
    its URL as Spark names it. The folder's name says when and by which Spark application it was written."""
    app = df.sparkSession.sparkContext.applicationId
    url = f"{store.spark_url}/{time.strftime('%Y%m%d%H%M%S')}-appid-{app}-{uuid.uuid4()}"
    # Uncompressed and without dictionaries, the ranks decode the pages about twice as fast (measured on
    # float arrays); a dictionary of distinct floats only grows until Parquet gives it up.
    (df.write.option("compression", "uncompressed").option("parquet.enable.dictionary", "false")
     .option("parquet.block.size", row_group_bytes).parquet(url))
    atexit.register(_delete, store.read_url_of(url))
    return url


def _delete(url):
    try:
        fs, path = open_filesystem(url)
        fs.delete_dir(path)
    except FileNotFoundError:  # deleted by hand already
        pass
    except Exception as e:  # at exit, a folder that cannot go is only worth a line
        log.warning("could not delete the staged data %s: %s", url, e)
