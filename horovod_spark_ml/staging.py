"""Staging: the needed columns only, written once as Parquet under storePath by Petastorm.

Features become one float array column and the label one int or float column,
converted on the JVM side (``vector_to_array``), never through Python rows.
Petastorm's converter keeps a cache keyed on the DataFrame's plan, so fitting
the same DataFrame again (a second fit, CrossValidator folds over the same
input, a param grid) reuses the staged files instead of writing them again.
Row counts and files come from the Parquet footers, not from a Spark job, so
such a cache hit costs a plan comparison and a directory listing.

Each Horovod rank reads whole Parquet row groups, so staging makes sure there
are at least as many row groups as ranks.

Example::

    >>> store = prepare_store("/tmp/horovod_spark_ml")
    >>> staged = stage(df, columns, num_proc=2, validation_split=0.1, seed=42, store_url=store)
    >>> staged.train_rows, len(staged.train_urls)
    (1617, 2)
"""
import logging
import os
import uuid
from dataclasses import dataclass
from urllib.parse import urlparse

from petastorm.spark.spark_dataset_converter import _cache_df_or_retrieve_cache_data_url

from .errors import InputError

log = logging.getLogger(__name__)

DEFAULT_ROW_GROUP_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class StagedData:
    """Where the staged training (and validation) data lie, and how many rows each has."""
    train_urls: list
    train_rows: int
    val_urls: list = None
    val_rows: int = 0


def prepare_store(store_path):
    """Create ``store_path`` if needed, check that it is writable, and return it as a URL."""
    parsed = urlparse(store_path)
    if parsed.scheme not in ("", "file"):
        raise InputError(f"storePath '{store_path}' has scheme '{parsed.scheme}'; give a local or mounted "
                         "path that every executor can read (on Databricks a /dbfs/... path)")
    path = os.path.abspath(parsed.path if parsed.scheme else store_path)
    probe = os.path.join(path, f".write-probe-{uuid.uuid4().hex}")
    try:
        os.makedirs(path, exist_ok=True)
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise InputError(f"storePath '{store_path}' is not writable ({e.strerror}); set storePath to a "
                         "directory this process and every executor can write") from None
    return "file://" + path


def stage(df, columns, *, num_proc, validation_split, seed, store_url, row_group_bytes=DEFAULT_ROW_GROUP_BYTES):
    """Write ``df.select(*columns)`` (split for validation if asked) and return a :class:`StagedData`.

    ``row_group_bytes`` is the Parquet row group size: a rank reads one row
    group at a time, so images want smaller groups than numeric rows.
    """
    selected = df.select(*columns)
    if validation_split > 0:
        train, val = selected.randomSplit([1.0 - validation_split, validation_split], seed=seed)
        train_urls, train_rows = _stage_one(train, num_proc, store_url, row_group_bytes)
        val_urls, val_rows = _stage_one(val, num_proc, store_url, row_group_bytes)
        return StagedData(train_urls, train_rows, val_urls, val_rows)
    return StagedData(*_stage_one(selected, num_proc, store_url, row_group_bytes))


def _stage_one(df, num_proc, store_url, row_group_bytes):
    if df.rdd.getNumPartitions() < num_proc:
        # Small data: one round-robin pass spreads the rows evenly over the ranks.
        df = df.coalesce(1).repartition(num_proc)
    files = _convert(df, store_url, row_group_bytes)
    if sum(f.num_row_groups for f in files.values()) < num_proc:
        # Empty partitions wrote no file: spread the rows out and stage again.
        log.info("staged data has fewer row groups than the %d ranks; repartitioning", num_proc)
        files = _convert(df.repartition(num_proc), store_url, row_group_bytes)
    return list(files), sum(f.num_rows for f in files.values())


def _convert(df, store_url, row_group_bytes):
    """Stage ``df`` under ``store_url`` (or find it staged) with Petastorm; its Parquet footers by file URL."""
    import pyarrow.parquet as pq
    folder = _cache_df_or_retrieve_cache_data_url(df, store_url, row_group_bytes, "uncompressed", None)
    path = urlparse(folder).path
    names = sorted(n for n in os.listdir(path) if n.endswith(".parquet"))
    return {f"file://{os.path.join(path, n)}": pq.read_metadata(os.path.join(path, n)) for n in names}
