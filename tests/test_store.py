"""storePath: a folder or a URL of any Hadoop file system, written by Spark and read back by pyarrow or fsspec."""
import pytest

from horovod_spark_ml import InputError, MLPClassifier
from horovod_spark_ml.data.store import Store, resolve_store


@pytest.mark.parametrize("store_path, spark_url, read_url", [
    ("/mnt/shared/staging", "file:///mnt/shared/staging", "file:///mnt/shared/staging"),
    ("/mnt/my#store?1", "file:///mnt/my#store?1", "file:///mnt/my#store?1"),
    ("file:///mnt/shared/staging/", "file:///mnt/shared/staging", "file:///mnt/shared/staging"),
    ("dbfs:/tmp/staging", "file:///dbfs/tmp/staging", "file:///dbfs/tmp/staging"),
    ("/dbfs/tmp/staging", "file:///dbfs/tmp/staging", "file:///dbfs/tmp/staging"),
    ("/Volumes/main/default/v/store", "file:///Volumes/main/default/v/store", "file:///Volumes/main/default/v/store"),
    ("dbfs:/Volumes/main/default/v/store", "file:///Volumes/main/default/v/store",
     "file:///Volumes/main/default/v/store"),
    ("hdfs://namenode:8020/user/me/staging", "hdfs://namenode:8020/user/me/staging",
     "hdfs://namenode:8020/user/me/staging"),
    ("s3://bucket/staging", "s3a://bucket/staging", "s3://bucket/staging"),
    ("s3a://bucket/staging/", "s3a://bucket/staging", "s3://bucket/staging"),
    ("gs://bucket/staging", "gs://bucket/staging", "gs://bucket/staging"),
    ("abfss://data@account.dfs.core.windows.net/staging", "abfss://data@account.dfs.core.windows.net/staging",
     "abfss://data@account.dfs.core.windows.net/staging"),
])
def test_each_scheme_maps_to_what_spark_writes_and_what_the_ranks_read(store_path, spark_url, read_url):
    assert resolve_store(store_path) == Store(spark_url, read_url)


def test_files_that_spark_names_are_read_under_the_read_url():
    store = resolve_store("s3://bucket/staging")
    assert store.read_url_of("s3a://bucket/staging/abc/part-0.parquet") == "s3://bucket/staging/abc/part-0.parquet"
    assert resolve_store("/x/y").read_url_of("file:/x/y/abc/part-0.parquet") == "file:///x/y/abc/part-0.parquet"


def test_an_unknown_scheme_is_refused_with_the_supported_ones():
    with pytest.raises(InputError, match=r"storePath 'ftp://host/x' has scheme 'ftp', which is not supported.*"
                                         r"hdfs://.*s3://"):
        resolve_store("ftp://host/x")


def test_a_file_url_store_trains_end_to_end(blobs, tmp_path):
    url = f"file://{tmp_path}/my#store?1"  # "#" and "?" are a folder's name here, not a URL's fragment and query
    model = MLPClassifier(hiddenLayers=[8], epochs=3, batchSize=32, numProc=2, storePath=url, verbose=0).fit(blobs)
    assert len(model.history["loss"]) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["my#store?1"]
    assert any(p.suffix == ".parquet" for p in (tmp_path / "my#store?1").rglob("*"))

