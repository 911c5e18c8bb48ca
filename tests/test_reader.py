"""A rank's shard of staged Parquet: every row once per pass, ranks disjoint, in memory or streamed (by pyarrow,
or by Petastorm where it runs: see backends.py)."""
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from horovod_spark_ml.errors import InputError
from horovod_spark_ml.training.rank import arrow_stream, reader
from horovod_spark_ml.training.rank.petastorm_stream import check_petastorm
from horovod_spark_ml.data.layout import Field

from backends import STREAMING

ROWS, WIDTH, BATCH = 96, 3, 8
INPUTS, TARGETS = [Field("features", (WIDTH,))], [Field("label", ())]


@pytest.fixture(scope="module")
def urls(tmp_path_factory):
    """Rows 0..95 in two files of three row groups; row i holds features [i, i, i] and label i."""
    folder = tmp_path_factory.mktemp("staged")
    urls = []
    for part, ids in enumerate(np.split(np.arange(ROWS), 2)):
        features = pa.array([[float(i)] * WIDTH for i in ids], pa.list_(pa.float32()))
        path = folder / f"part-{part}.parquet"
        pq.write_table(pa.table({"features": features, "label": pa.array(ids, pa.int32())}), path,
                       row_group_size=len(ids) // 3)
        urls.append(f"file://{path}")
    return urls


@pytest.fixture
def streamed(monkeypatch):
    """Every shard streams, a row group per window (so batches cross windows)."""
    monkeypatch.setattr(reader, "_CACHE_BYTES", 0)
    monkeypatch.setattr(arrow_stream, "WINDOW_BYTES", 1)


def _labels(urls, rank, size, batches, shuffle=True, batch_size=BATCH, ahead=None, backend="arrow", first_batch=0,
            seed=None):
    with reader.open_dataset(urls, rank=rank, size=size, batch_size=batch_size, inputs=INPUTS, targets=TARGETS,
                             shuffle=shuffle, seed=rank if seed is None else seed, ahead=ahead, backend=backend,
                             first_batch=first_batch) as dataset:
        labels = []
        for x, y in dataset.take(batches):
            assert x.shape == (batch_size, WIDTH) and x.dtype == "float32"
            assert np.array_equal(x.numpy()[:, 0], y.numpy())  # features and labels stay together
            labels.append(y.numpy())
        return np.concatenate(labels)


def test_in_memory_shards_cover_every_row_once_per_pass_in_a_new_order(urls):
    per_rank = ROWS // 2 // BATCH
    passes = {rank: _labels(urls, rank, 2, 2 * per_rank).reshape(2, -1) for rank in (0, 1)}
    for first, second in passes.values():
        assert sorted(first) == sorted(second) and not np.array_equal(first, second)
    assert sorted(np.concatenate([passes[0][0], passes[1][0]])) == list(range(ROWS))


def test_validation_order_is_the_staged_order(urls):
    assert list(_labels(urls, 0, 1, ROWS // BATCH, shuffle=False)) == list(range(ROWS))


def test_a_shard_smaller_than_a_batch_fills_it_by_repeating(urls):
    labels = _labels(urls, 0, 1, 1, batch_size=2 * ROWS)
    assert sorted(labels) == sorted(list(range(ROWS)) * 2)


def test_a_shard_read_ahead_gives_the_same_batches(urls):
    ahead = reader.read_ahead(urls, rank=1, size=2, inputs=INPUTS, targets=TARGETS)
    assert np.array_equal(_labels(urls, 1, 2, 6, ahead=ahead), _labels(urls, 1, 2, 6))


@pytest.mark.parametrize("backend", STREAMING)
def test_shards_over_the_memory_limit_stream_with_the_same_rows(urls, streamed, backend):
    assert reader.read_ahead(urls, rank=0, size=2, inputs=INPUTS, targets=TARGETS) is None
    labels = np.concatenate([_labels(urls, rank, 2, ROWS // 2 // BATCH, shuffle=False, backend=backend)
                             for rank in (0, 1)])
    assert sorted(labels) == list(range(ROWS))


def test_streamed_shards_cover_every_row_once_per_pass_in_a_new_order(urls, streamed):
    per_rank = ROWS // 2 // BATCH
    passes = {rank: _labels(urls, rank, 2, 3 * per_rank).reshape(3, -1) for rank in (0, 1)}
    for first, second, third in passes.values():
        assert sorted(first) == sorted(second) == sorted(third)
        assert not np.array_equal(first, second) and not np.array_equal(second, third)
    assert sorted(np.concatenate([passes[0][0], passes[1][0]])) == list(range(ROWS))


def test_a_streamed_validation_shard_keeps_the_staged_order(urls, streamed):
    assert list(_labels(urls, 0, 1, ROWS // BATCH, shuffle=False)) == list(range(ROWS))


@pytest.mark.parametrize("where", ["in memory", "streamed"])
def test_a_resumed_run_gets_exactly_the_batches_an_unbroken_one_would(urls, monkeypatch, where):
    if where == "streamed":
        monkeypatch.setattr(reader, "_CACHE_BYTES", 0)
        monkeypatch.setattr(arrow_stream, "WINDOW_BYTES", 1)
    unbroken = _labels(urls, 0, 2, 20, seed=5).reshape(20, BATCH)
    for first_batch in (3, 7, 13):
        resumed = _labels(urls, 0, 2, 20 - first_batch, seed=5, first_batch=first_batch).reshape(-1, BATCH)
        assert np.array_equal(resumed, unbroken[first_batch:])


def test_a_streamed_shard_smaller_than_a_batch_fills_it_by_repeating(urls, streamed):
    labels = _labels(urls, 0, 1, 2, batch_size=2 * ROWS)
    assert sorted(labels[:2 * ROWS]) == sorted(list(range(ROWS)) * 2)


def test_a_stream_holds_a_window_of_row_groups_at_a_time(urls):
    shard = arrow_stream.ArrowShard(urls, rank=0, size=1, columns=["features", "label"], window_bytes=1)
    blocks = shard.blocks(batch_size=4, shuffle=True, seed=0)
    group_rows = ROWS // 6
    for _ in range(12):  # two passes: each block comes from one row group's rows (and a partial batch's rest)
        assert len(next(blocks)["label"]) * 4 <= group_rows + 4


def test_petastorm_is_refused_on_the_driver_where_it_cannot_run():
    if "petastorm" in STREAMING:
        check_petastorm()  # runs here: nothing to refuse
        return
    with pytest.raises(InputError, match=r"readerBackend='petastorm'.*pyarrow 14 and numpy < 2.*pyarrow \d"):
        check_petastorm()


def test_in_memory_columns_become_tensors_without_a_copy(urls):
    for array in reader._read_shard(urls, 0, 1, ["features", "label"]).values():
        assert array.ctypes.data % 64 == 0  # TensorFlow aborts the process on unaligned shared memory
        tensor = reader._shared_tensor(array)
        array[0] = -1
        assert np.all(tensor.numpy()[0] == -1)
    with pytest.raises(ValueError, match="64-byte boundary"):
        reader._shared_tensor(np.ones(9)[1:])
