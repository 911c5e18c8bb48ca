"""A rank's shard of staged Parquet: every row once per pass, ranks disjoint, in memory or streamed by Petastorm."""
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from horovod_spark_ml.training import reader
from horovod_spark_ml.data.layout import Field

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


def _labels(urls, rank, size, batches, shuffle=True, batch_size=BATCH, ahead=None):
    with reader.open_dataset(urls, rank=rank, size=size, batch_size=batch_size, inputs=INPUTS, targets=TARGETS,
                             shuffle=shuffle, seed=rank, ahead=ahead) as dataset:
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


def test_shards_over_the_memory_limit_stream_through_petastorm_with_the_same_rows(urls, monkeypatch):
    monkeypatch.setattr(reader, "_CACHE_BYTES", 0)
    assert reader.read_ahead(urls, rank=0, size=2, inputs=INPUTS, targets=TARGETS) is None
    labels = np.concatenate([_labels(urls, rank, 2, ROWS // 2 // BATCH, shuffle=False) for rank in (0, 1)])
    assert sorted(labels) == list(range(ROWS))


def test_in_memory_columns_become_tensors_without_a_copy(urls):
    for array in reader._read_shard(urls, 0, 1, ["features", "label"]).values():
        assert array.ctypes.data % 64 == 0  # TensorFlow aborts the process on unaligned shared memory
        tensor = reader._shared_tensor(array)
        array[0] = -1
        assert np.all(tensor.numpy()[0] == -1)
    with pytest.raises(ValueError, match="64-byte boundary"):
        reader._shared_tensor(np.ones(9)[1:])
