"""A small three-species CSV file, the kind of table a user hands to ``horovod-spark-ml train``."""
import csv

import numpy as np


def write_flowers_csv(path, rows=240):
    """Write ``petal,sepal,species`` rows around three well-separated centers to ``path``; return it as a string."""
    rng = np.random.default_rng(5)
    centers = {"setosa": (1, 5), "versicolor": (5, 1), "virginica": (5, 5)}
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["petal", "sepal", "species"])
        for i in range(rows):
            name = list(centers)[i % 3]
            writer.writerow([*(np.array(centers[name]) + rng.normal(scale=0.5, size=2)).round(3), name])
    return str(path)
