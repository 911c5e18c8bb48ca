"""A rank's shard of the staged Parquet, read by Petastorm into a batched tf.data pipeline.

Example (inside a Horovod rank)::

    >>> with open_dataset(staged.train_urls, rank=0, size=2, batch_size=64,
    ...                   input_shape=(64,), shuffle=True, seed=1) as dataset:
    ...     model.fit(dataset, steps_per_epoch=13)
"""
from contextlib import contextmanager

from .schema import FEATURES, LABEL

_SHUFFLE_ROWS = 10_000


@contextmanager
def open_dataset(urls, *, rank, size, batch_size, input_shape, shuffle, seed, with_label=True):
    """Yield an endless dataset of ``(features, label)`` batches (features only without label).

    Rows come from the row groups assigned to ``rank``; row groups are
    reshuffled every pass and rows within a buffer when ``shuffle`` is set.
    """
    import tensorflow as tf
    from petastorm import make_batch_reader
    from petastorm.tf_utils import make_petastorm_dataset

    fields = [FEATURES, LABEL] if with_label else [FEATURES]
    reader = make_batch_reader(urls, cur_shard=rank, shard_count=size, num_epochs=None,
                               shuffle_row_groups=shuffle, seed=seed, workers_count=2, schema_fields=fields)
    shape = [-1, *input_shape]

    def to_example(batch):
        features = tf.reshape(batch.features, shape)
        return (features, batch.label) if with_label else features

    try:
        dataset = make_petastorm_dataset(reader).map(to_example).unbatch()
        if shuffle:
            dataset = dataset.shuffle(_SHUFFLE_ROWS, seed=seed)
        yield dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    finally:
        reader.stop()
        reader.join()
