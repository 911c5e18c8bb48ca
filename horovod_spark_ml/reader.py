"""A rank's shard of the staged Parquet, read by Petastorm into a batched tf.data pipeline.

Numeric rows are reshaped a whole Petastorm batch at a time, into the model's
inputs and targets as :mod:`.layout` describes them. A training shard that
fits in ``_CACHE_BYTES`` is read from Parquet once and kept in memory as its
Petastorm batches; later passes replay them in a new order (and rows are
still shuffled), so Parquet decoding does not compete with training for the
cores. Image rows are shuffled while still compressed, then decoded in parallel
(:mod:`.image_decoding`), so a shuffle buffer holds bytes, not pixels.

Example (inside a Horovod rank)::

    >>> with open_dataset(staged.train_urls, rank=0, size=2, batch_size=64, inputs=[Field("features", (64,))],
    ...                   targets=[Field("label", ())], shuffle=True, seed=1) as dataset:
    ...     model.fit(dataset, steps_per_epoch=13)
"""
import os
from contextlib import contextmanager
from urllib.parse import urlparse

_SHUFFLE_ROWS = 10_000
_SHUFFLE_IMAGES = 1_000
_CACHE_BYTES = 1 << 30  # a rank's training shard up to this size (staged, uncompressed Parquet) stays in memory
_CACHED_ORDER = 256  # cached Petastorm batches (row groups) are reordered within this window on each replay


@contextmanager
def open_dataset(urls, *, rank, size, batch_size, inputs, targets, shuffle, seed, images=None,
                 corrupt_counter=None):
    """Yield an endless dataset of ``(inputs, targets)`` batches (inputs only without targets).

    ``inputs`` and ``targets`` are lists of :class:`.layout.Field`. Rows come
    from the row groups assigned to ``rank``; row groups are reshuffled every
    pass and rows within a buffer when ``shuffle`` is set. ``images`` (an
    :class:`.image_decoding.ImageSpec`) decodes image rows instead, with
    augmentation when shuffling (training); undecodable images are counted in
    ``corrupt_counter`` (a ``tf.Variable``).
    """
    import tensorflow as tf
    from petastorm import make_batch_reader
    from petastorm.tf_utils import make_petastorm_dataset

    columns = list(dict.fromkeys(f.column for f in [*inputs, *targets]))  # an autoencoder's target is its input
    if images is not None and images.kind == "struct":
        from .image_decoding import CHANNELS, HEIGHT, WIDTH
        columns += [HEIGHT, WIDTH, CHANNELS]
    in_memory = shuffle and _staged_bytes(urls) / size <= _CACHE_BYTES
    reader = make_batch_reader(urls, cur_shard=rank, shard_count=size, num_epochs=1 if in_memory else None,
                               shuffle_row_groups=shuffle, seed=seed, workers_count=2, schema_fields=columns)
    try:
        batches = make_petastorm_dataset(reader)
        if in_memory:  # the first pass reads (and caches) as Petastorm goes; later ones replay, reordered
            cached = batches.cache()
            batches = cached.concatenate(cached.shuffle(_CACHED_ORDER, seed=seed).repeat())
        if images is None:
            dataset = _tensor_rows(batches, inputs, targets)
            if shuffle:
                dataset = dataset.shuffle(_SHUFFLE_ROWS, seed=seed)
        else:
            dataset = _image_rows(batches, images, shuffle, seed, corrupt_counter)
        yield dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    finally:
        reader.stop()
        reader.join()


def _staged_bytes(urls):
    return sum(os.path.getsize(urlparse(url).path) for url in urls)


def _tensor_rows(batches, inputs, targets):
    import tensorflow as tf
    from .layout import assemble

    def to_example(batch):
        values = batch._asdict()
        x = assemble(inputs, values, tf.reshape)
        return (x, assemble(targets, values, tf.reshape)) if targets else x

    return batches.map(to_example).unbatch()


def _image_rows(batches, spec, shuffle, seed, corrupt_counter):
    from .image_decoding import decode_rows, drop_corrupt
    rows = batches.unbatch().map(_as_dict)
    if shuffle:
        rows = rows.shuffle(_SHUFFLE_IMAGES, seed=seed)
    images = drop_corrupt(decode_rows(rows, spec, training=shuffle), spec, corrupt_counter)
    return images.map(_single_or_pair)


def _as_dict(row):
    return row._asdict()


def _single_or_pair(*element):
    return element if len(element) > 1 else element[0]
