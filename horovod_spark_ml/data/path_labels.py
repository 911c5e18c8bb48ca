"""Labels taken from where a file lies: its folder, or a regular expression on its name.

Shared by the file readers (:func:`.image_files.read_images`,
:func:`.sequence_files.read_sequence_csvs`).

Example::

    >>> check_label_pattern(r"^([a-z]+)_\\d+\\.png$")
    >>> df.withColumn("className", path_label(F.col("path"), "parentDir"))   # .../daisy/1.jpg -> 'daisy'
"""
import re

from pyspark.sql import functions as F

from ..errors import InputError


def check_label_pattern(label_from):
    """Raise unless ``label_from`` is "parentDir" or a regular expression with exactly one group."""
    if label_from == "parentDir":
        return
    try:
        groups = re.compile(label_from).groups
    except re.error as e:
        raise InputError(f"labelFrom '{label_from}' is not a valid regular expression ({e})") from None
    if groups != 1:
        raise InputError(f"labelFrom '{label_from}' has {groups} groups; it needs exactly one, around the part "
                         "of the file name that is the label, e.g. r'^([a-z]+)_\\d+'")


def path_label(path, label_from):
    """The folder name of ``path`` ("parentDir"), or the pattern's group in its file name (null if no match)."""
    parts = F.split(path, "/")
    if label_from == "parentDir":
        return F.element_at(parts, -2)
    name = F.element_at(parts, -1)
    return F.when(name.rlike(label_from), F.regexp_extract(name, label_from, 1))
