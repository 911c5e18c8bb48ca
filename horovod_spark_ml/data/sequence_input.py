"""Sequence columns on the driver: check them, truncate and pad them on the JVM, and stage them.

A sequence column holds, per row, ``array<array<double>>`` (time steps x
features) or ``array<double>`` (one feature per step), of any length. The
checks run in the training input's single aggregation. Staging truncates each
row to ``maxLength`` steps (dropping the oldest steps or the newest), flattens
it and pads it with zeros to the longest length on the JVM, next to a
``length`` column; nothing is collected on the driver. The model masks the
padded steps by that length (:class:`.layers.LengthMask`).

A label per time step (sequence tagging) is checked, truncated and padded in
the same way.

Example::

    >>> features = SequenceFeatures("sequence", max_length=100)
    >>> info = check_training_input(df, features=features, label_cols=["label"], label_kind="class")
    >>> features.steps, features.width
    (100, 3)
"""
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, NumericType

from ..errors import InputError
from .layout import Field
from .schema import FEATURES, LABEL, NONFINITE, any_nonfinite, count_where, require_column

LENGTH = "length"  # staged column: the number of real (unpadded) steps of each row


class SequenceFeatures:
    """A sequence column as the input of a recurrent network: ``sequence`` and ``length``.

    ``steps`` and ``width`` come from the data in training (the longest
    sequence, at most ``max_length``) and from the model in inference.
    ``step_labels`` is ``(column, kind)`` when there is a label per step, kind
    being "class" or "value"; its classes are then counted here.
    """

    spec = None

    def __init__(self, column, *, max_length=None, truncate="start", steps=None, width=None, step_labels=None):
        self.column, self.max_length, self.truncate = column, max_length, truncate
        self.steps, self.width = steps, width
        self.step_labels = step_labels
        self.num_classes = None

    def check_columns(self, df):
        require_column(df, self.column, "featuresCol")
        if _nesting(df.schema[self.column].dataType) is None:
            found = df.schema[self.column].dataType.simpleString()
            raise InputError(f"featuresCol '{self.column}' has type {found}; expected a sequence: an array of "
                             "time steps, each an array of numbers (array<array<double>>), or an array of numbers "
                             "(one feature per step)")
        if self.step_labels:
            name = self.step_labels[0]
            require_column(df, name, "labelCol")
            if _nesting(df.schema[name].dataType) != 1:
                raise InputError(f"labelCol '{name}' has type {df.schema[name].dataType.simpleString()}; with "
                                 "labelPerStep it must be an array of numbers, one label per time step")

    def stats(self, df):
        sequence, nested = self._sequence(df), self._nested(df)
        steps = F.flatten(sequence) if nested else sequence
        stats = [count_where(sequence.isNull()).alias("seq_null"),
                 count_where(F.size(sequence) == 0).alias("seq_empty"),
                 count_where(F.exists(steps, lambda x: x.isNull()) | (
                     F.exists(sequence, lambda s: s.isNull()) if nested else F.lit(False))).alias("seq_null_inside"),
                 count_where(any_nonfinite(steps)).alias("seq_nonfinite"),
                 F.max(F.size(sequence)).alias("seq_max_steps")]
        if nested:
            widths = F.transform(sequence, lambda s: F.size(s))
            stats += [count_where(F.array_min(widths) != F.array_max(widths)).alias("seq_ragged"),
                      F.min(F.array_min(widths)).alias("seq_min_width"),
                      F.max(F.array_max(widths)).alias("seq_max_width")]
        if self.step_labels:
            labels = F.col(self.step_labels[0]).cast("array<double>")
            missing = labels.isNull() | F.exists(labels, lambda x: x.isNull() | F.isnan(x))
            stats += [count_where(missing).alias("sl_null"),
                      count_where(F.size(labels) != F.size(sequence)).alias("sl_misaligned"),
                      count_where(F.exists(labels, lambda x: x != F.floor(x))).alias("sl_fraction"),
                      F.min(F.array_min(labels)).alias("sl_min"), F.max(F.array_max(labels)).alias("sl_max")]
        return stats

    def check_stats(self, stats):
        """Raise on bad sequences; set ``steps`` and ``width``; return the number of values per padded row."""
        name = self.column
        problems = [("seq_null", "null sequences"), ("seq_empty", "empty sequences (no time steps)"),
                    ("seq_null_inside", "sequences with null values inside"),
                    ("seq_nonfinite", f"sequences with {NONFINITE}"),
                    ("seq_ragged", "time steps of different widths within one sequence")]
        for key, what in problems:
            if stats.get(key):
                raise InputError(f"featuresCol '{name}' has {stats[key]} rows with {what}; every row needs at least "
                                 "one time step, and every step the same number of finite values")
        width = 1
        if "seq_min_width" in stats:
            if stats["seq_min_width"] != stats["seq_max_width"]:
                raise InputError(f"featuresCol '{name}' has time steps of {stats['seq_min_width']} to "
                                 f"{stats['seq_max_width']} values; every step of every row needs the same number")
            width = stats["seq_min_width"]
            if width == 0:
                raise InputError(f"featuresCol '{name}' has time steps with no values")
        self.width = width
        self.steps = min(stats["seq_max_steps"], self.max_length or stats["seq_max_steps"])
        if self.step_labels:
            self._check_step_labels(stats)
        return self.steps * self.width

    def _check_step_labels(self, stats):
        name, kind = self.step_labels
        if stats["sl_null"]:
            raise InputError(f"labelCol '{name}' has {stats['sl_null']} rows with null or NaN labels")
        if stats["sl_misaligned"]:
            raise InputError(f"labelCol '{name}' has {stats['sl_misaligned']} rows whose number of labels differs "
                             f"from their number of time steps in '{self.column}'; labelPerStep needs one per step")
        if kind == "class":
            if stats["sl_fraction"] or stats["sl_min"] < 0:
                raise InputError(f"labelCol '{name}' holds values that are not class indices 0..k-1 (from "
                                 f"{stats['sl_min']} to {stats['sl_max']}); index the labels first")
            self.num_classes = max(int(stats["sl_max"]) + 1, 2)

    def usable_rows(self, df):
        return df

    def columns(self, df):
        """Staged columns: the truncated, flattened, zero-padded sequence, and its number of steps."""
        sequence = self._truncated(self._sequence(df))
        flat = F.flatten(sequence) if self._nested(df) else sequence
        padding = F.array_repeat(F.lit(0.0), (F.lit(self.steps) - F.size(sequence)) * self.width)
        padded = F.when(F.size(sequence) > 0, F.concat(flat, padding).cast("array<float>"))
        return [padded.alias(FEATURES), F.size(sequence).cast("int").alias(LENGTH)]

    def label_column(self):
        """The per-step labels, truncated and padded like the sequence."""
        name, kind = self.step_labels
        labels = self._truncated(F.col(name).cast("array<double>"))
        padded = F.concat(labels, F.array_repeat(F.lit(0.0), F.lit(self.steps) - F.size(labels)))
        return padded.cast("array<int>" if kind == "class" else "array<float>").alias(LABEL)

    def length(self, df):
        """Each row's number of steps after truncation (the steps its outputs are for)."""
        return F.size(self._truncated(self._sequence(df)))

    def fields(self, keras_model):
        return [Field(FEATURES, (self.steps, self.width), "sequence"), Field(LENGTH, (), "length")]

    def one_row(self, value):
        """One row's sequence (an array of steps, each an array of numbers or one number), truncated and padded
        as :meth:`columns` does it for inference."""
        import numpy as np
        import pandas as pd
        if len(value) == 0:
            raise InputError(f"featuresCol '{self.column}': an empty sequence has nothing to predict from")
        steps = np.asarray(value, dtype=np.float32).reshape(len(value), -1)
        if steps.shape[1] != self.width:
            raise InputError(f"featuresCol '{self.column}': each step holds {steps.shape[1]} values, but this model "
                             f"reads {self.width} per step")
        steps = steps[-self.steps:] if self.truncate == "start" else steps[:self.steps]
        padded = np.zeros((self.steps, self.width), dtype=np.float32)
        padded[:len(steps)] = steps
        return pd.DataFrame({FEATURES: [padded.reshape(-1)], LENGTH: [len(steps)]})

    def _nested(self, df):
        return _nesting(df.schema[self.column].dataType) == 2

    def _sequence(self, df):
        return F.col(self.column).cast("array<array<double>>" if self._nested(df) else "array<double>")

    def _truncated(self, sequence):
        if self.truncate == "start":  # keep the newest steps
            start = F.greatest(F.size(sequence) - self.steps + 1, F.lit(1))
            return F.slice(sequence, start, F.lit(self.steps))
        return F.slice(sequence, 1, self.steps)


def _nesting(data_type):
    """2 for an array of number arrays, 1 for an array of numbers, else None."""
    if isinstance(data_type, ArrayType):
        inner = data_type.elementType
        if isinstance(inner, NumericType):
            return 1
        if isinstance(inner, ArrayType) and isinstance(inner.elementType, NumericType):
            return 2
    return None
