"""A rank's shard of staged Parquet streamed by Petastorm (``readerBackend="petastorm"``).

Petastorm 0.13.1, its last release, runs only with pyarrow 14 and numpy < 2
(the Spark 3.5 stack, where Databricks 15.4 LTS ML preinstalls it); the
driver checks that before anything is staged (:func:`check_petastorm`). This
module is imported only when a fit selects it. Petastorm's batches (whole row
groups) are unbatched and shuffled per row in a buffer; an image shard that
fits in memory is cached as Petastorm's batches after the first pass and
replayed, reordered, on the next. Resuming starts a new order, seeded by the
batch it resumes at.

Example (inside a Horovod rank)::

    >>> with petastorm_rows(urls, rank=0, size=2, columns=["features", "label"], shuffle=True, seed=1,
    ...                     cache=False, to_example=lambda batch: (batch["features"], batch["label"])) as rows:
    ...     model.fit(rows.batch(64), steps_per_epoch=13)
"""
from contextlib import contextmanager

from ...errors import InputError

SHUFFLE_ROWS = 10_000
SHUFFLE_IMAGES = 1_000
_CACHED_ORDER = 256  # cached Petastorm batches (row groups) of images are reordered within this window on each replay


def check_petastorm():
    """Raise an :class:`.InputError` saying why, where Petastorm cannot run in this Python."""
    import numpy
    import pyarrow
    try:
        import petastorm  # noqa: F401
    except Exception as e:  # ImportError, or an AttributeError of numpy 2 inside Petastorm
        raise InputError(f"readerBackend='petastorm' cannot be used here: Petastorm does not import ({e}). "
                         f"Petastorm 0.13.1 needs pyarrow 14 and numpy < 2; this Python has pyarrow "
                         f"{pyarrow.__version__} and numpy {numpy.__version__}. Use readerBackend='arrow' (the "
                         "default), or install petastorm==0.13.1 with pyarrow==14.0.2 and numpy<2") from None


@contextmanager
def petastorm_rows(urls, *, rank, size, columns, shuffle, seed, cache, to_example=None):
    """Yield the shard's rows as an endless tf.data dataset, shuffled in a buffer when ``shuffle``: examples
    made by ``to_example`` from each Petastorm batch (a dict by column), or, without it, the rows as dicts
    (images, whose shard is read once and replayed in a new order each pass with ``cache``)."""
    import tensorflow as tf
    from petastorm import make_batch_reader
    from petastorm.tf_utils import make_petastorm_dataset

    reader = make_batch_reader(urls, cur_shard=rank, shard_count=size, num_epochs=1 if cache else None,
                               shuffle_row_groups=shuffle, seed=seed, workers_count=2, schema_fields=columns)
    try:
        batches = make_petastorm_dataset(reader)
        if cache:  # the first pass reads (and caches) as Petastorm goes; later ones replay, reordered
            cached = batches.cache()
            batches = cached.concatenate(cached.shuffle(_CACHED_ORDER, seed=seed).repeat())
        batches = batches.map(_as_dict, num_parallel_calls=tf.data.AUTOTUNE)
        rows = (batches if to_example is None else batches.map(to_example)).unbatch()
        if shuffle:
            rows = rows.shuffle(SHUFFLE_ROWS if to_example else SHUFFLE_IMAGES, seed=seed)
        yield rows
    finally:
        reader.stop()
        reader.join()


def _as_dict(batch):
    return batch._asdict()
