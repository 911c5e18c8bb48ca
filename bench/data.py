"""Synthetic MNIST-sized classification data, written once as Parquet (features: array<float>, label: int)."""
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def synthetic(rows, features, classes=10, seed=0):
    """Rows drawn around ``classes`` random centres, so a network can learn something."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, features)).astype(np.float32)
    labels = rng.integers(0, classes, size=rows)
    x = centres[labels] + rng.normal(scale=2.0, size=(rows, features)).astype(np.float32)
    return x.astype(np.float32), labels.astype(np.int32)


def write_parquet(path, x, y, files=4):
    """Write ``x, y`` as ``files`` Parquet files under ``path``; returns the folder."""
    os.makedirs(path, exist_ok=True)
    for i, part in enumerate(np.array_split(np.arange(len(x)), files)):
        features = pa.FixedSizeListArray.from_arrays(pa.array(x[part].ravel()), x.shape[1]).cast(
            pa.list_(pa.float32()))
        table = pa.table({"features": features, "label": pa.array(y[part])})
        pq.write_table(table, os.path.join(path, f"part-{i}.parquet"))
    return path


def synthetic_images(rows, size=32, channels=3, classes=10, seed=0):
    """Pixel arrays in [0, 255] (flattened height x width x channels): a class-coloured square on noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=rows)
    images = rng.uniform(0, 96, size=(rows, size, size, channels)).astype(np.float32)
    colours = rng.uniform(96, 255, size=(classes, channels)).astype(np.float32)
    corner = (labels * (size // 2)) // classes
    for i in range(rows):
        images[i, corner[i]:corner[i] + size // 2, corner[i]:corner[i] + size // 2] = colours[labels[i]]
    return images.reshape(rows, -1), labels.astype(np.int32)
