"""One local[2] Spark session and one staging store for the whole test run."""
import os
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
# Rank processes and Python workers inherit this, so they can import test-only
# Keras layers (tests/failing_layer.py) when they rebuild a model.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [TESTS, os.environ.get("PYTHONPATH")] if p)
sys.path.insert(0, TESTS)


@pytest.fixture(scope="session")
def spark():
    from horovod_spark_ml.session import local_spark
    session = local_spark(cores=2, app_name="horovod-spark-ml-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    """The package's wheel, built from this checkout (pip wheel, no dependencies)."""
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist),
                    root], check=True, capture_output=True)
    (built,) = os.listdir(dist)
    return str(dist / built)


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    return str(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="session")
def digits(spark):
    """scikit-learn's digits as (train, test) DataFrames with pixel columns p0..p63 and a string 'digit'."""
    from horovod_spark_ml.demo import digits_frame
    train, test = digits_frame(spark).randomSplit([0.8, 0.2], seed=7)
    return train.cache(), test.cache()


IMAGE_SIZE = 16


@pytest.fixture(scope="session")
def digit_folder(tmp_path_factory):
    """scikit-learn's digits as 16x16 grayscale PNG files, one folder per class (zero/, one/, ...)."""
    from horovod_spark_ml.demo import write_digit_images
    folder = str(tmp_path_factory.mktemp("digit_images"))
    write_digit_images(folder, size=IMAGE_SIZE)
    return folder


@pytest.fixture(scope="session")
def blobs(spark):
    """A small, easy 3-class problem: 'features' (dense Vector) and 'label' (0.0, 1.0, 2.0)."""
    import numpy as np
    from pyspark.ml.linalg import Vectors
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0, 4, 0], [4, 0, 0, 0], [0, 4, 0, 4]], dtype=float)
    rows = []
    for i in range(300):
        label = i % 3
        rows.append((Vectors.dense(centers[label] + rng.normal(size=4)), float(label)))
    return spark.createDataFrame(rows, ["features", "label"]).cache()


def pytest_collection_modifyitems(items):
    """The cluster tier (tests/cluster) runs last: it stops the local session and starts its own."""
    items.sort(key=lambda item: "/cluster/" in str(item.path))
