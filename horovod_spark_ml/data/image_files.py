"""read_images: a folder tree of image files as a DataFrame of compressed bytes with a class name.

The files are listed and read by Spark's ``binaryFile`` source on the
executors, in parallel; nothing is decoded. The usual layout has one
sub-folder per class (``flowers/daisy/1.jpg``); otherwise a regular
expression on the file name gives the class.

Example::

    >>> df = read_images(spark, "/data/flowers", labelFrom="parentDir")
    >>> df.columns
    ['path', 'image', 'className']
    >>> read_images(spark, "/data/pets", labelFrom=r"^([a-z]+)_\\d+\\.jpg$")   # cat_12.jpg -> 'cat'
"""
from pyspark.sql import functions as F

from .path_labels import check_label_pattern, path_label

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "gif", "bmp")


def read_images(spark, path, labelFrom="parentDir", extensions=IMAGE_EXTENSIONS):
    """Read every image file under ``path`` (recursively) into ``path``, ``image`` (bytes) and ``className``.

    ``labelFrom`` is ``"parentDir"`` (the name of the folder holding the
    file), a regular expression with one group matched against the file name
    (``className`` is null where it does not match), or None for no
    ``className``. Only files ending in one of ``extensions`` (any case) are read.
    """
    if labelFrom is not None:
        check_label_pattern(labelFrom)
    glob = "*.{" + ",".join(sorted({v for e in extensions for v in (e.lower(), e.upper())})) + "}"
    files = (spark.read.format("binaryFile").option("recursiveFileLookup", "true")
             .option("pathGlobFilter", glob).load(path))
    df = files.select("path", F.col("content").alias("image"))
    if labelFrom is None:
        return df
    return df.withColumn("className", path_label(F.col("path"), labelFrom))
