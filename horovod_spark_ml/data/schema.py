"""Input checks on the driver: resolve feature and label columns and reject bad data early.

Everything here runs before anything is staged or launched, so a user learns
about a missing column, a wrong type, a null or NaN, or a label outside
0..k-1 from one clear :class:`InputError` that names the column, what was
found and what to do, instead of from a failed Horovod rank.

Example::

    >>> info = check_training_input(df, features=NumericFeatures("features"), label_cols=["label"],
    ...                             label_kind="class", num_proc=2)
    >>> info.num_features, info.num_classes
    (64, 10)
"""
from dataclasses import dataclass, field

from pyspark.ml.functions import vector_to_array
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, BooleanType, NumericType

from ..errors import InputError
from .layout import Field
from .plan_memo import PlanMemo

FEATURES = "features"  # name of the staged features column
LABEL = "label"        # name of the staged label column
WEIGHT = "weight"  # the staged sample weight column (weightCol)
VALIDATION = "is_validation"  # the staged validationIndicatorCol, until the split
_checked = PlanMemo(kept=64)  # the aggregates' row, by plan and checks


@dataclass(frozen=True)
class TrainingInput:
    """What the checks learned about a training DataFrame."""
    rows: int
    num_features: int
    label_kind: str = None              # "class", "value" or "vector"; None when unsupervised
    num_targets: int = 1
    num_classes: int = None
    class_names: list = field(default=None)


def features_array(df, features_col, features_cols=None):
    """A float array column of the features, from a Vector, an array or several numeric columns."""
    if features_cols:
        return F.array(*[F.col(c).cast("float") for c in features_cols])
    data_type = df.schema[features_col].dataType
    if isinstance(data_type, VectorUDT):
        return _null_safe_vector_to_array(features_col, "float32")
    return F.col(features_col).cast("array<float>")


def _null_safe_vector_to_array(name, dtype="float64"):
    # vector_to_array fails on a null vector instead of returning null.
    return F.when(F.col(name).isNull(), None).otherwise(vector_to_array(F.col(name), dtype))


class NumericFeatures:
    """Numeric features: a Vector or number-array ``featuresCol``, or several numeric ``featuresCols``.

    Every feature input (this one, :class:`.image_input.ImageFeatures`) answers
    the same questions: which columns it needs, what to aggregate to check them,
    and which columns to stage and feed to the model.
    """

    spec = None  # nothing to decode on the ranks: rows are reshaped to the model's input

    def __init__(self, features_col, features_cols=None, num_features=None, *, prefix="f", staged=FEATURES):
        self.features_col = features_col
        self.features_cols = list(features_cols) if features_cols else None
        self.num_features = num_features
        self.prefix = prefix  # of its aggregate names, so several can share one aggregation
        self.staged = staged  # name of the staged column

    def check_columns(self, df):
        for name in self.features_cols or [self.features_col]:
            require_column(df, name, "featuresCols" if self.features_cols else "featuresCol")
        _check_feature_types(df, self.features_col, self.features_cols)

    def stats(self, df):
        return _feature_stats(df, self.features_col, self.features_cols, self.prefix)

    def check_stats(self, stats):
        """Raise on bad values; return the number of features per row."""
        return _check_feature_stats(stats, self.features_col, self.features_cols, self.num_features, self.prefix)

    def usable_rows(self, df):
        return df

    def columns(self, df):
        """The features as one float array column named ``features``, for staging and inference."""
        return [features_array(df, self.features_col, self.features_cols).alias(self.staged)]

    def fields(self, keras_model):
        """The staged column feeds the model's one input, reshaped to its shape."""
        return [Field(self.staged, tuple(keras_model.inputs[0].shape[1:]))]

    def one_row(self, value):
        """One row's features, as :meth:`columns` gives them to inference: ``value`` is a Vector or a sequence of
        numbers (with ``featuresCols``, one per column, in their order)."""
        import numpy as np
        import pandas as pd
        values = value.toArray() if hasattr(value, "toArray") else value
        return pd.Series([np.asarray(values, dtype=np.float32).reshape(-1)])


def check_training_input(df, *, features, label_cols=(), label_kind=None, num_proc=1):
    """Check ``df`` for training and return a :class:`TrainingInput`.

    ``features`` is a feature input such as :class:`NumericFeatures`.
    ``label_kind`` is "class" (integer class indices 0..k-1), "value" (one or
    several numeric targets) or None (no label).
    """
    features.check_columns(df)
    for name in label_cols:
        require_column(df, name, "labelCol")
    label_names = list(label_cols)
    label_is_vector = False
    if label_names:
        label_is_vector = _check_label_types(df, label_names, label_kind)

    stats = _aggregate(df, (_described(features), label_names, label_kind, label_is_vector),
                       lambda: [F.count(F.lit(1)).alias("rows"), *features.stats(df),
                                *_label_stats(df, label_names, label_kind, label_is_vector)])
    rows = stats["rows"]
    if rows == 0:
        raise InputError("the DataFrame is empty: fit needs at least one row for each of the "
                         f"numProc={num_proc} Horovod ranks")
    if rows < num_proc:
        raise InputError(f"the DataFrame has {rows} rows, fewer than numProc={num_proc}: every Horovod rank "
                         "needs at least one row; lower numProc or add rows")
    width = features.check_stats(stats)
    if not label_names:
        return TrainingInput(rows=rows, num_features=width)
    _check_label_values(stats, label_names)
    if label_kind == "class":
        num_classes, names = _classes(df, label_names[0], stats)
        return TrainingInput(rows, width, "class", 1, num_classes, names)
    if label_is_vector:
        return TrainingInput(rows, width, "vector", _vector_label_width(stats, label_names[0]))
    return TrainingInput(rows, width, "value" if len(label_names) == 1 else "vector", len(label_names))


def _described(value):
    """A feature input as its class and attributes, recursively: the same for equal inputs, as a repr is not."""
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return type(value).__name__, [(name, _described(v)) for name, v in sorted(vars(value).items())]
    if isinstance(value, (list, tuple)):
        return [_described(v) for v in value]
    return value


def _aggregate(df, checks, aggregates):
    """``df.agg(*aggregates())``'s one row as a dict: one Spark job per plan and ``checks`` in an application.

    Refits on a DataFrame, and ``fitMultiple``'s param maps that check the same
    columns, are checked without another Spark job (0.2-0.3 s each on small
    data), nor building the aggregates (0.02 s) (:mod:`.plan_memo`).
    ``checks`` describes what the aggregates compute.
    """
    return _checked.get(df, repr(checks), lambda: df.agg(*aggregates()).first().asDict())


def require_column(df, name, param):
    if name not in df.columns:
        raise InputError(f"{param} '{name}' was not found in the DataFrame; its columns are: "
                         f"{', '.join(df.columns)}")


def _is_numeric(data_type):
    return isinstance(data_type, NumericType) and not isinstance(data_type, BooleanType)


def _is_numeric_array(data_type):
    return isinstance(data_type, ArrayType) and _is_numeric(data_type.elementType)


def _check_feature_types(df, features_col, features_cols):
    if features_cols:
        for name in features_cols:
            found = df.schema[name].dataType
            if not _is_numeric(found):
                raise InputError(f"featuresCols column '{name}' has type {found.simpleString()}; each of "
                                 "featuresCols must be numeric (cast it, or index strings with StringIndexer)")
        return
    found = df.schema[features_col].dataType
    if not (isinstance(found, VectorUDT) or _is_numeric_array(found)):
        raise InputError(f"featuresCol '{features_col}' has type {found.simpleString()}; expected a Vector "
                         "(e.g. from VectorAssembler) or an array of numbers; for several numeric columns "
                         "set featuresCols instead")


def _check_label_types(df, label_names, label_kind):
    """Return whether the (single) label column holds vectors or arrays."""
    for name in label_names:
        found = df.schema[name].dataType
        if _is_numeric(found):
            continue
        if label_kind == "value" and len(label_names) == 1 and (
                isinstance(found, VectorUDT) or _is_numeric_array(found)):
            return True
        expected = ("a numeric class index 0..k-1 (index strings with StringIndexer)" if label_kind == "class"
                    else "numeric, or a Vector / array of numbers for several targets")
        raise InputError(f"labelCol '{name}' has type {found.simpleString()}; expected {expected}")
    return False


def _as_double_array(df, name):
    if isinstance(df.schema[name].dataType, VectorUDT):
        return _null_safe_vector_to_array(name)
    return F.col(name).cast("array<double>")


def count_where(condition):
    """The number of rows where ``condition`` holds, as an aggregate."""
    return F.sum(F.when(condition, 1).otherwise(0))


FLOAT32_MAX = 3.4028234663852886e38  # numbers are staged as float32: a larger double becomes an infinity
NONFINITE = "NaN or infinite values (or beyond float32's ±3.4e38, which staging would make infinite)"


def _nonfinite(value):
    return F.isnan(value) | (F.abs(value) > FLOAT32_MAX)


def any_nonfinite(array):
    """Whether a numeric array column holds NaN, an infinity or a number beyond float32's range (null elements
    aside)."""
    # Spark orders NaN above every number and array_max/array_min skip nulls, so these two
    # (compiled) functions find NaN and infinities; a lambda per element costs twice as much.
    largest, smallest = F.array_max(array), F.array_min(array)
    return F.isnan(largest) | (largest > FLOAT32_MAX) | (smallest < -FLOAT32_MAX)


def _any_null(array):
    """Whether a double array column is null or holds a null element."""
    # arrays_overlap with [NaN] is null exactly when the array is null or holds a null but no NaN (a row
    # with both counts as NaN). It is compiled, and twice as fast as exists() with a lambda per element.
    return F.arrays_overlap(array, F.array(F.lit(float("nan")))).isNull()


def _array_stats(prefix, array):
    return [
        count_where(_any_null(array)).alias(f"{prefix}_null"),
        count_where(any_nonfinite(array)).alias(f"{prefix}_nonfinite"),
        F.min(F.size(array)).alias(f"{prefix}_min_size"),
        F.max(F.size(array)).alias(f"{prefix}_max_size"),
    ]


def _scalar_stats(prefix, value):
    return [count_where(value.isNull()).alias(f"{prefix}_null"),
            count_where(_nonfinite(value)).alias(f"{prefix}_nonfinite")]


def _feature_stats(df, features_col, features_cols, prefix):
    stats = []
    if features_cols:
        for i, name in enumerate(features_cols):
            stats += _scalar_stats(f"{prefix}{i}", F.col(name).cast("double"))
        return stats
    return stats + _array_stats(prefix, _as_double_array(df, features_col))


def _label_stats(df, label_names, label_kind, label_is_vector):
    if label_is_vector:
        return _array_stats("l0", _as_double_array(df, label_names[0]))
    stats = []
    for i, name in enumerate(label_names):
        value = F.col(name).cast("double")
        stats += _scalar_stats(f"l{i}", value)
        if label_kind == "class":
            stats += [count_where(value != F.floor(value)).alias("l_fraction"),
                      F.first(F.when(value != F.floor(value), value), ignorenulls=True).alias("l_fraction_example"),
                      F.min(value).alias("l_min"), F.max(value).alias("l_max")]
    return stats


def _bad_values_message(param, name, stats, prefix):
    if stats[f"{prefix}_null"]:
        return (f"{param} '{name}' has {stats[f'{prefix}_null']} rows with null values; drop or impute them "
                f"before fit (e.g. df.na.drop(subset=['{name}']))")
    if stats[f"{prefix}_nonfinite"]:
        return (f"{param} '{name}' has {stats[f'{prefix}_nonfinite']} rows with {NONFINITE}; "
                "drop or replace them before fit")
    return None


def _check_feature_stats(stats, features_col, features_cols, num_features, prefix):
    if features_cols:
        for i, name in enumerate(features_cols):
            message = _bad_values_message("featuresCols column", name, stats, f"{prefix}{i}")
            if message:
                raise InputError(message)
        width = len(features_cols)
        param, name = "featuresCols", ", ".join(features_cols)
    else:
        param, name = "featuresCol", features_col
        message = _bad_values_message(param, name, stats, prefix)
        if message:
            raise InputError(message)
        low, high = stats[f"{prefix}_min_size"], stats[f"{prefix}_max_size"]
        if low != high:
            raise InputError(f"{param} '{name}' holds rows of different sizes ({low} to {high} values); every row "
                             "needs the same number of features")
        width = low
    if width == 0:
        raise InputError(f"{param} '{name}' holds empty rows: there are no features to train on")
    if num_features is not None and width != num_features:
        raise InputError(f"{param} '{name}' has {width} features per row but the Keras model's input "
                         f"expects {num_features}; give the model an input of that size or change the features")
    return width


def _check_label_values(stats, label_names):
    for i, name in enumerate(label_names):
        message = _bad_values_message("labelCol", name, stats, f"l{i}")
        if message:
            raise InputError(message)


def _vector_label_width(stats, name):
    if stats["l0_min_size"] != stats["l0_max_size"]:
        raise InputError(f"labelCol '{name}' holds rows of different sizes ({stats['l0_min_size']} to "
                         f"{stats['l0_max_size']} targets); every row needs the same number of targets")
    return stats["l0_min_size"]


_MAX_CLASSES = 1 << 24  # staged as 32-bit ints; a network's output layer of more classes would not fit anyway


def _classes(df, name, stats):
    """Number of classes and their names, from the ML attribute if there is one."""
    if stats["l_fraction"]:
        raise InputError(f"labelCol '{name}' has {stats['l_fraction']} non-integer values (e.g. "
                         f"{stats['l_fraction_example']}); a classifier needs class indices 0..k-1: index the "
                         "labels with StringIndexer")
    names = class_names_from_metadata(df.schema[name].metadata)
    low, high = int(stats["l_min"]), int(stats["l_max"])
    if names is not None:
        if low < 0 or high >= len(names):
            raise InputError(f"labelCol '{name}' has values from {low} to {high}, outside 0..{len(names) - 1} "
                             f"given by its metadata ({len(names)} classes)")
        return len(names), (names if all(isinstance(n, str) for n in names) else None)
    if low < 0:
        raise InputError(f"labelCol '{name}' has negative values (minimum {low}); a classifier needs class "
                         "indices 0..k-1: index the labels with StringIndexer")
    if high >= _MAX_CLASSES:
        raise InputError(f"labelCol '{name}' has values up to {high}, which would make {high + 1} classes (at most "
                         f"{_MAX_CLASSES} here); a classifier needs class indices 0..k-1: index the labels with "
                         "StringIndexer")
    return max(high + 1, 2), None


def class_names_from_metadata(metadata):
    """Class names from a column's Spark ML attribute (written by StringIndexer), or None.

    Without names but with a count (``num_vals``) the result is a list of
    that many indices as strings.
    """
    attr = (metadata or {}).get("ml_attr", {})
    if attr.get("type") == "nominal":
        if "vals" in attr:
            return list(attr["vals"])
        if "num_vals" in attr:
            return [str(i) for i in range(attr["num_vals"])]
    if attr.get("type") == "binary":
        return list(attr.get("values", ["0", "1"]))
    return None
