"""read_sequence_csvs: a folder of CSV files, one sequence per file, as a DataFrame of sequences.

Each file is one sequence, one time step per line. Spark reads the files on
the executors in parallel (each file whole, as text) and parses them with SQL
functions; the driver only plans. The label of each sequence comes from a
column inside the files, from the file name, from its folder, or from a
separate CSV keyed by file name.

Example::

    >>> seqs = read_sequence_csvs(spark, "/data/sensors", header=True, labelFrom="file", labelColumn="activity")
    >>> seqs.columns
    ['path', 'file', 'sequence', 'label']
    >>> read_sequence_csvs(spark, "/data/sensors", labelFrom=r"^(walk|run)_\\d+\\.csv$")
    >>> read_sequence_csvs(spark, "/data/sensors", labelsFile="/data/labels.csv")   # columns file,label
"""
import re

from pyspark.sql import functions as F

from ..errors import InputError
from .path_labels import check_label_pattern, path_label


def read_sequence_csvs(spark, path, *, header=False, sep=",", labelFrom=None, labelColumn=None, labelsFile=None):
    """Read every ``*.csv`` under ``path`` (recursively) into ``path``, ``file``, ``sequence`` and ``label``.

    ``sequence`` is ``array<array<double>>``: the file's lines (blank ones
    skipped; the first one too when ``header``), split on ``sep``. The label:

    * ``labelFrom="file"`` with ``labelColumn``: that column of the file (by
      name with ``header``, else by 0-based index), taken from its last line
      and left out of the steps; a number when it parses as one, else a string;
    * ``labelFrom="parentDir"``: the name of the file's folder;
    * ``labelFrom`` a regular expression with one group: that group of the file name;
    * ``labelsFile``: a CSV with a header and columns ``file`` (the file name)
      and ``label``, joined on the file name.

    Values that are not numbers become nulls, which ``fit`` reports.
    """
    _check_label_args(header, labelFrom, labelColumn, labelsFile)
    files = (spark.read.text(path, wholetext=True, recursiveFileLookup=True, pathGlobFilter="*.csv")
             .select(F.col("_metadata.file_path").alias("path"), F.col("value").alias("text")))
    lines = F.filter(F.split(F.regexp_replace("text", "\r", ""), "\n"), lambda line: F.trim(line) != "")
    names = F.split(F.element_at(lines, 1), re.escape(sep)) if header else None
    if header:
        lines = F.slice(lines, 2, F.greatest(F.size(lines) - 1, F.lit(0)))
    # A lambda, not F.trim itself: Spark 4's trim takes a second argument, which would get the element's index.
    cells = F.transform(lines, lambda line: F.transform(F.split(line, re.escape(sep)), lambda cell: F.trim(cell)))
    df = files.select("path", F.element_at(F.split("path", "/"), -1).alias("file"), cells.alias("cells"),
                      (names if header else F.lit(None)).alias("names"))
    label = None
    if labelFrom == "file":
        index = (F.array_position(F.col("names"), labelColumn) - 1 if header else F.lit(int(labelColumn)))
        index = index.cast("int")
        df = df.withColumn("index", index)
        label = F.when(F.col("index") >= 0, F.element_at(F.element_at("cells", -1), F.col("index") + 1))
        steps = F.transform("cells", lambda row: F.filter(row, lambda value, i: i != F.col("index")))
    else:
        steps = F.col("cells")
    df = df.withColumn("steps", steps)
    columns = ["path", "file", _numbers_or_nulls("transform(steps, row -> transform(row, value -> {}))", "value")
               .alias("sequence")]
    if labelFrom == "file":
        columns.append(label.alias("label"))
    elif labelFrom is not None:
        columns.append(path_label(F.col("path"), labelFrom).alias("label"))
    result = df.select(*columns)
    if labelFrom == "file":
        result = _numeric_if_possible(result, "label")
    if labelsFile:
        labels = spark.read.option("header", "true").csv(labelsFile).select("file", "label")
        result = _numeric_if_possible(result.join(labels, "file", "left"), "label")
    return result


def _numeric_if_possible(df, name):
    """Cast a string column to double when every non-null value is a number (one small aggregation)."""
    number = _numbers_or_nulls("{}", f"`{name}`")
    text = F.col(name).isNotNull() & number.isNull()
    non_numeric = df.agg(F.count(F.when(text, 1))).first()[0]
    return df.withColumn(name, number) if non_numeric == 0 else df


def _numbers_or_nulls(template, value):
    """A SQL expression, ``template`` with ``value`` cast to double: null where it is not a number, whether
    Spark's ANSI mode (on by default in Spark 4, where a failed cast raises) is on or off."""
    return F.expr(template.format(f"try_cast({value} AS DOUBLE)"))


def _check_label_args(header, label_from, label_column, labels_file):
    if label_from is not None and labels_file is not None:
        raise InputError("labelFrom and labelsFile are both set; take the label from one place")
    if label_from == "file":
        if label_column is None:
            raise InputError("labelFrom='file' needs labelColumn: the name (with header=True) or 0-based index "
                             "of the label column in each file")
        if not header and not str(label_column).isdigit():
            raise InputError(f"labelColumn '{label_column}' is a name but header=False; give a 0-based index, or "
                             "header=True")
    elif label_from is not None:
        check_label_pattern(label_from)
