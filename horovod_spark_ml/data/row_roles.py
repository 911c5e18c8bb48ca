"""Per-row roles besides features and label: a sample weight (``weightCol``), a validation flag
(``validationIndicatorCol``). Checked on the driver in one Spark aggregation, staged as two more columns.

Example::

    >>> check_row_roles(df, weight_col="w", indicator_col="isVal", num_proc=2)
    RowRoles(weight='weight', validation='is_validation', train_rows=1600, val_rows=197)
    >>> check_row_roles(df, weight_col="w", indicator_col=None, num_proc=2)
    InputError: weightCol 'w' has 3 negative values; weights must be >= 0 ...
"""
from dataclasses import dataclass

from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, NumericType

from ..errors import InputError
from .schema import FLOAT32_MAX, VALIDATION, WEIGHT


@dataclass(frozen=True)
class RowRoles:
    """The staged column names of the weight and the validation flag (``None`` when unused), and the split."""
    weight: str = None
    validation: str = None
    train_rows: int = 0
    val_rows: int = 0

    def staged_columns(self, weight_col, indicator_col):
        """The columns to stage for these roles, named as the ranks read them."""
        columns = [F.col(weight_col).cast("float").alias(WEIGHT)] if self.weight else []
        return columns + ([F.col(indicator_col).alias(VALIDATION)] if self.validation else [])


def check_row_roles(df, *, weight_col, indicator_col, num_proc):
    """Check the weight and validation indicator columns (either may be ``None``); raise :class:`InputError`."""
    if not weight_col and not indicator_col:
        return RowRoles()
    for param, column in (("weightCol", weight_col), ("validationIndicatorCol", indicator_col)):
        if column and column not in df.columns:
            raise InputError(f"{param} '{column}' is not a column of the DataFrame; its columns are: "
                             f"{', '.join(df.columns)}")
    aggregates = []
    if weight_col:
        if not isinstance(df.schema[weight_col].dataType, NumericType):
            raise InputError(f"weightCol '{weight_col}' has type {df.schema[weight_col].dataType.simpleString()}; "
                             "it must hold numbers (one weight per row)")
        weight = F.col(weight_col).cast("double")
        aggregates += [F.sum(weight.isNull().cast("long")).alias("null_weights"),
                       F.sum(F.isnan(weight).cast("long")).alias("nan_weights"),
                       F.sum((weight < 0).cast("long")).alias("negative_weights"),
                       F.sum(F.when(weight > FLOAT32_MAX, 1).otherwise(0)).alias("infinite_weights")]
    if indicator_col:
        if not isinstance(df.schema[indicator_col].dataType, BooleanType):
            raise InputError(f"validationIndicatorCol '{indicator_col}' has type "
                             f"{df.schema[indicator_col].dataType.simpleString()}; it must be boolean (true for "
                             "the validation rows); cast it, e.g. F.col('fold') == 4")
        flag = F.col(indicator_col)
        aggregates += [F.sum(flag.isNull().cast("long")).alias("null_flags"),
                       F.sum(flag.cast("long")).alias("val_rows"), F.count(F.lit(1)).alias("rows")]
    found = df.agg(*aggregates).first().asDict()
    if weight_col:
        for key, what in (("null_weights", "null"), ("nan_weights", "NaN"),
                          ("infinite_weights", "infinite (or beyond float32's 3.4e38)"),
                          ("negative_weights", "negative")):
            if found[key]:
                raise InputError(f"weightCol '{weight_col}' has {found[key]} {what} values; weights must be "
                                 "finite numbers >= 0 (drop or fill those rows)")
    if not indicator_col:
        return RowRoles(weight=WEIGHT)
    if found["null_flags"]:
        raise InputError(f"validationIndicatorCol '{indicator_col}' has {found['null_flags']} null values; each "
                         "row must be true (validation) or false (training)")
    val_rows, train_rows = found["val_rows"] or 0, found["rows"] - (found["val_rows"] or 0)
    for what, rows in (("validation", val_rows), ("training", train_rows)):
        if rows < num_proc:
            raise InputError(f"validationIndicatorCol '{indicator_col}' marks {rows} {what} rows, fewer than "
                             f"numProc={num_proc}: each rank needs at least one")
    return RowRoles(weight=WEIGHT if weight_col else None, validation=VALIDATION, train_rows=train_rows,
                    val_rows=val_rows)
