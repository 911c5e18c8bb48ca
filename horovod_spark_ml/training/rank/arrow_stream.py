"""A rank's shard of staged Parquet streamed by pyarrow, a window of row groups at a time, as whole batches.

A shard too large to hold in memory is read about ``window_bytes`` of row
groups at a time, the next window read in a thread while the current one is
served: a rank holds at most two windows (and their permuted copies), however
large the data. Each pass over the shard takes an order that depends only on
the seed and the pass's number: the row groups in a new order, cut into
windows, the rows of each window permuted. Batches are cut from that sequence
of rows and a pass leaves out its last, partial batch, so the batch a resumed
run starts at is found from its number alone, without reading the rows before
it. A shard kept whole (``window_bytes=None``: image bytes that fit in memory)
is read once and its rows permuted each pass.

The generator yields blocks, each a dict of column -> array of shape
``(batches, batch_size, ...)``; :func:`dataset` serves them to tf.data.

Example (inside a Horovod rank)::

    >>> shard = ArrowShard(urls, rank=0, size=2, columns=["features", "label"])
    >>> block = next(shard.blocks(batch_size=64, shuffle=True, seed=1))
    >>> block["features"].shape
    (341, 64, 784)
"""
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

WINDOW_BYTES = 64 << 20  # a streamed shard is read, and its rows shuffled, this much (staged Parquet) at a time
ALIGNMENT = 64  # bytes; TensorFlow takes NumPy memory aligned like its own without a copy


@dataclass(frozen=True)
class _Group:
    file: int    # index into the shard's files
    index: int   # the row group's index in its file
    rows: int
    bytes: int


class ArrowShard:
    """The row groups of ``urls`` dealt to ``rank`` of ``size`` (in turn, over all files in order), and
    their ``columns``."""

    def __init__(self, urls, *, rank, size, columns, window_bytes=WINDOW_BYTES):
        import pyarrow.parquet as pq
        from ...data.store import open_filesystem
        self.columns = columns
        self.window_bytes = window_bytes
        self._files = [pq.ParquetFile(fs.open_input_file(path)) for fs, path in map(open_filesystem, urls)]
        self.groups = [_Group(i, g, f.metadata.row_group(g).num_rows, f.metadata.row_group(g).total_byte_size)
                       for i, f in enumerate(self._files) for g in range(f.num_row_groups)][rank::size]
        self.rows = sum(g.rows for g in self.groups)
        self._kept = None

    def types(self):
        """The pyarrow type of each column (of its values, for list columns) and whether it is a list."""
        import pyarrow as pa
        schema = self._files[0].schema_arrow
        found = {}
        for column in self.columns:
            data_type, is_list = schema.field(column).type, False
            while pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
                data_type, is_list = data_type.value_type, True
            found[column] = (data_type, is_list)
        return found

    def blocks(self, *, batch_size, shuffle, seed, first_batch=0):
        """Endless blocks of whole batches, starting at batch ``first_batch`` of the sequence of passes."""
        if not self.rows:
            raise ValueError("this rank's shard of the staged data has no rows")
        repeats = math.ceil(batch_size / self.rows)  # a shard smaller than a batch is repeated until it fills one
        per_pass = self.rows * repeats // batch_size
        number, skip = divmod(first_batch, per_pass)
        with ThreadPoolExecutor(1, thread_name_prefix="arrow-stream") as pool:
            windows = self._windows_from(number, skip * batch_size, repeats, shuffle, seed)
            pending = pool.submit(self._load, *next(windows))
            tail, pass_number = None, number
            while True:
                number, values = pending.result()
                pending = pool.submit(self._load, *next(windows))
                if number != pass_number:  # a pass leaves out its last, partial batch
                    tail, pass_number = None, number
                if tail is not None:
                    need = batch_size - len(next(iter(tail.values())))
                    if len(next(iter(values.values()))) < need:
                        tail = {c: np.concatenate([tail[c], values[c]]) for c in values}
                        continue
                    yield {c: np.concatenate([tail[c], values[c][:need]])[None] for c in values}
                    values = {c: v[need:] for c, v in values.items()}
                rows = len(next(iter(values.values())))
                whole = rows // batch_size * batch_size
                if whole:
                    yield {c: v[:whole].reshape(-1, batch_size, *v.shape[1:]) for c, v in values.items()}
                tail = {c: v[whole:] for c, v in values.items()} if whole < rows else None

    def _windows_from(self, number, start, repeats, shuffle, seed):
        """``(pass number, groups, row order, first row)`` of each window from row ``start`` of pass ``number``
        on; the row order is a seeded permutation, or ``None``."""
        while True:
            passed = 0
            for i, groups in enumerate(self._pass_windows(number, repeats, shuffle, seed)):
                rows = sum(g.rows for g in groups)
                if passed + rows > start:
                    order = (np.random.default_rng([seed, number, i]).permutation(rows) if shuffle else None)
                    yield number, groups, order, max(0, start - passed)
                passed += rows
            number, start = number + 1, 0

    def _pass_windows(self, number, repeats, shuffle, seed):
        """The groups of each window of pass ``number``, in order."""
        if self.window_bytes is None:
            return [self.groups * repeats]
        rng = np.random.default_rng([seed, number])
        order = [self.groups[i] for _ in range(repeats)
                 for i in (rng.permutation(len(self.groups)) if shuffle else range(len(self.groups)))]
        windows, current, size = [], [], 0
        for group in order:
            current.append(group)
            size += group.bytes
            if size >= self.window_bytes:
                windows.append(current)
                current, size = [], 0
        return windows + [current] if current else windows

    def _load(self, number, groups, order, first):
        """``(number, values)``: the window's rows from ``first`` on, in ``order``, by column."""
        if self.window_bytes is None:
            if self._kept is None:
                self._kept = self._read(self.groups)
            repeats = len(groups) // len(self.groups)
            values = {c: np.concatenate([v] * repeats) if repeats > 1 else v for c, v in self._kept.items()}
            if order is not None:
                values = {c: v[order] for c, v in values.items()}
        else:
            values = self._read(groups, order)
        return number, {c: v[first:] for c, v in values.items()} if first else values

    def read(self):
        """The whole shard, by column."""
        return self._read(self.groups)

    def _read(self, groups, order=None):
        """The rows of ``groups`` by column, in ``order`` (a permutation of them) if given: each row is copied
        once, from the values pyarrow decoded to its place in an :func:`aligned` array."""
        tables = [self._files[g.file].read_row_group(g.index, columns=self.columns) for g in groups]
        rows = sum(t.num_rows for t in tables)
        where = None if order is None else np.argsort(order)  # where each row read goes
        values = {}
        for column in self.columns:
            parts = [rows_of(chunk) for table in tables for chunk in table.column(column).chunks]
            parts = [p for p in parts if len(p)] or parts[:1]
            result = aligned((rows, *parts[0].shape[1:]), parts[0].dtype)
            start = 0
            for part in parts:
                result[slice(start, start + len(part)) if where is None else where[start:start + len(part)]] = part
                start += len(part)
            values[column] = result
        return values


def aligned(shape, dtype):
    """An empty array of ``shape`` that starts on an :data:`ALIGNMENT` boundary (of numbers: TensorFlow takes
    no other memory as its own)."""
    if np.dtype(dtype) == object:
        return np.empty(shape, dtype)
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buffer = np.empty(size + ALIGNMENT, np.uint8)
    start = -buffer.ctypes.data % ALIGNMENT
    return buffer[start:start + size].view(dtype).reshape(shape)


def rows_of(chunk):
    """A pyarrow array as NumPy, without a copy where it can: ``(rows,)`` for numbers and bytes,
    ``(rows, values)`` for arrays (flattened)."""
    import pyarrow as pa
    values = chunk
    while pa.types.is_list(values.type) or pa.types.is_large_list(values.type):
        values = values.flatten()
    array = values.to_numpy(zero_copy_only=False)
    return array.reshape(len(chunk), -1) if values is not chunk and len(chunk) else array


def dataset(shard, *, batch_size, shuffle, seed, first_batch=0):
    """A tf.data dataset of the shard's batches (dicts by column), endless."""
    import tensorflow as tf
    signature = {}
    for column, (data_type, is_list) in shard.types().items():
        dtype = tf.string if _is_bytes(data_type) else tf.as_dtype(data_type.to_pandas_dtype())
        signature[column] = tf.TensorSpec((None, batch_size) + ((None,) if is_list else ()), dtype)

    def blocks():
        return shard.blocks(batch_size=batch_size, shuffle=shuffle, seed=seed, first_batch=first_batch)

    return tf.data.Dataset.from_generator(blocks, output_signature=signature).unbatch()


def _is_bytes(data_type):
    import pyarrow as pa
    return pa.types.is_binary(data_type) or pa.types.is_string(data_type) or pa.types.is_large_binary(data_type)
