"""A rank's shard of the staged Parquet, read by pyarrow (or Petastorm) into a batched tf.data pipeline.

A numeric shard that fits in ``_CACHE_BYTES`` is read from Parquet into memory
at once, and served as Keras serves NumPy arrays: a new permutation of the
rows every pass, and one gather per batch, so no per-row work competes with
training for the cores. A larger shard streams (:mod:`.arrow_stream`): a
window of row groups at a time, shuffled and cut into whole batches in NumPy,
so a rank's memory does not grow with the data. Either way rows become the
model's inputs and targets as :mod:`.layout` describes them, and a resumed run
gets exactly the batches an unbroken one would have. A rank starts reading an
in-memory shard (:func:`read_ahead`) before it imports TensorFlow, so that the
two overlap. Image rows are shuffled while still compressed, then decoded in
parallel (:mod:`.image_decoding`), so what is held is bytes, not pixels; an
image shard that fits is read once and kept. ``backend="petastorm"``
streams through Petastorm instead (:mod:`.petastorm_stream`), where it runs.

Example (inside a Horovod rank)::

    >>> with open_dataset(staged.train_urls, rank=0, size=2, batch_size=64, inputs=[Field("features", (64,))],
    ...                   targets=[Field("label", ())], shuffle=True, seed=1) as dataset:
    ...     model.fit(dataset, steps_per_epoch=13)
"""
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

_CACHE_BYTES = 1 << 30  # a rank's shard up to this size (staged, uncompressed Parquet) is held in memory
BACKENDS = ("arrow", "petastorm")


def read_ahead(urls, *, rank, size, inputs, targets, images=None, weight=None):
    """Start reading the rank's shard in a thread, if :func:`open_dataset` will hold it in memory.

    Returns a future of it, for ``open_dataset(ahead=...)``, or ``None`` for a
    shard that will stream. Started before TensorFlow is imported, the read
    (seconds at 100k rows) and the import overlap.
    """
    if not _held_in_memory(images, _fits(urls, size)):
        return None
    pool = ThreadPoolExecutor(1, thread_name_prefix="read-ahead")
    try:
        return pool.submit(_read_shard, urls, rank, size, _columns(inputs, targets, images, weight))
    finally:
        pool.shutdown(wait=False)


@contextmanager
def open_dataset(urls, *, rank, size, batch_size, inputs, targets, shuffle, seed, images=None,
                 corrupt_counter=None, ahead=None, first_batch=0, weight=None, backend="arrow"):
    """Yield an endless dataset of ``(inputs, targets)`` batches (inputs only without targets).

    ``inputs`` and ``targets`` are lists of :class:`.layout.Field`. Rows come
    from the row groups assigned to ``rank``. With ``shuffle`` set, every pass
    takes a new row order. ``images`` (an
    :class:`.image_decoding.ImageSpec`) decodes image rows instead, with
    augmentation when shuffling (training); undecodable images are counted in
    ``corrupt_counter`` (a ``tf.Variable``). ``ahead`` is :func:`read_ahead`'s
    future for the same shard, if it was started. ``weight`` names a staged column of per-row sample
    weights, which then comes third in each batch. ``first_batch`` resumes the
    sequence of batches where a run that had served that many stopped: exactly,
    except through Petastorm, which instead starts a new order, seeded by it.
    ``backend`` is how a shard that is not held in memory is read: ``"arrow"``
    or ``"petastorm"``.
    """
    import tensorflow as tf
    columns = _columns(inputs, targets, images, weight)
    fits = _fits(urls, size)
    if _held_in_memory(images, fits):
        values = ahead.result() if ahead else _read_shard(urls, rank, size, columns)
        yield _untuned(_in_memory_batches(values, inputs, targets, batch_size, shuffle, seed, first_batch, weight))
        return
    if backend == "petastorm":
        from .petastorm_stream import petastorm_rows
        with petastorm_rows(urls, rank=rank, size=size, columns=columns, shuffle=shuffle, seed=seed + first_batch,
                            cache=images is not None and shuffle and fits,
                            to_example=None if images else _to_example(inputs, targets, weight)) as rows:
            dataset = (rows.batch(batch_size, drop_remainder=True) if images is None else
                       _images(rows, images, shuffle, corrupt_counter, batch_size))
            yield _untuned(dataset.prefetch(tf.data.AUTOTUNE))
        return
    from . import arrow_stream
    shard = arrow_stream.ArrowShard(urls, rank=rank, size=size, columns=columns,
                                    window_bytes=None if images is not None and fits else arrow_stream.WINDOW_BYTES)
    batches = arrow_stream.dataset(shard, batch_size=batch_size, shuffle=shuffle, seed=seed, first_batch=first_batch)
    if images is None:
        dataset = batches.map(_to_example(inputs, targets, weight))
    else:
        dataset = _images(batches.unbatch(), images, shuffle, corrupt_counter, batch_size)
    yield _untuned(dataset.prefetch(tf.data.AUTOTUNE))


def _untuned(dataset):
    """``dataset`` with tf.data's autotuning off: ``AUTOTUNE`` parallelism and buffer sizes take TensorFlow's
    defaults.

    With autotuning on, a rank stalled as ``fit`` returned, while Keras let go
    of the dataset's iterator: 0.2-2.3 s on 9 of 13 warm fits of the demo's
    MLP, 2.2-2.5 s on 3 of 6 folds of a model search. With it off, none did
    in 35 fits and folds, and the epochs took as long. It is TensorFlow's own:
    in a plain Python, deleting this reader's autotuned iterator after 3 s of
    use took 2.1 s in 3 of 12 tries, and never more than 3 ms without
    autotuning (``python -m bench.iterator_stall``).
    """
    import tensorflow as tf
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def _columns(inputs, targets, images, weight=None):
    columns = list(dict.fromkeys(f.column for f in [*inputs, *targets]))  # an autoencoder's target is its input
    if weight:
        columns.append(weight)
    if images is not None and images.kind == "struct":
        from ...data.image_decoding import CHANNELS, HEIGHT, WIDTH
        columns += [HEIGHT, WIDTH, CHANNELS]
    return columns


def _fits(urls, size):
    return sum(fs.get_file_info(path).size for fs, path in map(_open, urls)) / size <= _CACHE_BYTES


def _open(url):
    from ...data.store import open_filesystem
    return open_filesystem(url)


def _held_in_memory(images, fits):
    return images is None and fits


def _read_shard(urls, rank, size, columns):
    """This rank's rows of ``columns`` as NumPy arrays, one row per item, each on a 64-byte boundary, so a
    tensor can share its memory (:func:`_shared_tensor`) rather than copy a shard of up to 1 GiB again.

    Row groups are dealt to the ranks in turn, over all files in order, as
    streaming (and Petastorm without a shard seed) deals them.
    """
    from .arrow_stream import ArrowShard
    return ArrowShard(urls, rank=rank, size=size, columns=columns).read()


def _in_memory_batches(values, inputs, targets, batch_size, shuffle, seed, first_batch=0, weight=None):
    """An endless dataset of batches gathered from in-memory ``values``, a new (seeded) row order every pass.

    A pass leaves out its last, partial batch; a shard smaller than a batch is
    repeated within the pass until it fills one. Batch ``first_batch`` of that
    sequence comes first: the passes' orders depend only on their number.
    """
    import tensorflow as tf
    rows = len(next(iter(values.values())))
    repeats = -(-batch_size // rows)
    batches = rows * repeats // batch_size

    @tf.autograph.experimental.do_not_convert  # no control flow to convert; converting took 0.1 s a rank
    def order(number):
        index = tf.range(rows, dtype=tf.int64)
        parts = [tf.random.experimental.stateless_shuffle(index, seed=tf.stack([tf.cast(seed, tf.int64),
                                                                               number * repeats + i]))
                 if shuffle else index for i in range(repeats)]
        return tf.reshape(tf.concat(parts, 0)[:batches * batch_size], (batches, batch_size))

    @tf.autograph.experimental.do_not_convert
    def gather(index, data):
        return _example(inputs, targets, weight, {column: tf.gather(value, index) for column, value in data.items()})

    indices = tf.data.Dataset.counter(first_batch // batches).map(order).unbatch().skip(first_batch % batches)
    data = tf.data.Dataset.from_tensors({column: _shared_tensor(value) for column, value in values.items()}).repeat()
    return tf.data.Dataset.zip(indices, data).map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE)


def _shared_tensor(array):
    """A tensor over a 64-byte aligned NumPy array's own memory, which it keeps alive."""
    import tensorflow as tf
    from .arrow_stream import ALIGNMENT
    if array.ctypes.data % ALIGNMENT:  # TensorFlow would abort the whole process rather than raise
        raise ValueError("an in-memory shard must start on a 64-byte boundary to be shared with TensorFlow")
    return tf.experimental.dlpack.from_dlpack(array.__dlpack__())


def _to_example(inputs, targets, weight):
    import tensorflow as tf

    @tf.autograph.experimental.do_not_convert
    def to_example(batch):
        return _example(inputs, targets, weight, batch)

    return to_example


def _example(inputs, targets, weight, values):
    """What Keras trains on, from a batch of column values: ``x``, ``(x, y)`` or ``(x, y, sample_weight)``."""
    import tensorflow as tf
    from ...data.layout import assemble
    x = assemble(inputs, values, tf.reshape)
    if not targets:
        return x
    y = assemble(targets, values, tf.reshape)
    return (x, y, values[weight]) if weight else (x, y)


def _images(rows, spec, shuffle, corrupt_counter, batch_size):
    """Batches of decoded images from a dataset of staged rows (dicts), undecodable ones dropped or failing."""
    from ...data.image_decoding import decode_rows, drop_corrupt
    images = drop_corrupt(decode_rows(rows, spec, training=shuffle), spec, corrupt_counter)
    return images.map(_single_or_pair).batch(batch_size, drop_remainder=True)


def _single_or_pair(*element):
    return element if len(element) > 1 else element[0]
