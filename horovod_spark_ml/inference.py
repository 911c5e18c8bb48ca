"""Batched inference: one pandas UDF, the Keras model loaded once per Python worker.

Rows travel to Python through Arrow in batches (``spark.sql.execution.arrow.
maxRecordsPerBatch`` rows), are turned into model inputs (stacked arrays, or
decoded images) and predicted in chunks; never one row at a time. Numeric
chunks hold about 32 MB of input (at least ``batch_size`` rows), as the cost
of each predict call dominates small batches. The model crosses to the
executors as ``.keras`` bytes in a broadcast and is rebuilt once per Python
worker, then reused by every later batch and task in that worker.

Example::

    >>> outputs = predict_struct(df, model_bytes, features_array(df, "features"),
    ...                          batches=ArrayBatches([Field("features", (64,))]), batch_size=256, head="classes")
    >>> df.withColumn("out", outputs).select("out.prediction", "out.probability")
"""
import hashlib

import numpy as np
import pandas as pd
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType, StructField, StructType

_MODELS = {}  # model digest -> Keras model, per Python worker
_CHUNK_BYTES = 32 << 20  # numeric rows go to the model in chunks of about this much input, at least batch_size rows


def _struct_type(head):
    vector = ArrayType(DoubleType())
    if head == "classes":
        return StructType([StructField("raw", vector), StructField("probability", vector),
                           StructField("prediction", DoubleType())])
    return StructType([StructField("raw", vector)])


def predict_struct(df, model_bytes, features, *, batches, batch_size, head="values", modules=()):
    """A struct column of model outputs for ``features``.

    ``batches(data, batch_size)`` turns one Arrow batch of ``features`` (a
    pandas Series, or a DataFrame for a struct column) into model inputs: it
    yields ``(positions, inputs)`` pairs, leaving out rows it cannot use
    (see :class:`ArrayBatches` and :class:`.image_decoding.ImageBatches`).
    ``head="values"`` gives ``raw`` (the outputs as an array); ``head="classes"``
    adds ``probability`` (softmax of raw) and ``prediction`` (the argmax).
    Rows left out (null features, undecodable images) get null outputs.
    ``modules`` are imported before the model is loaded (see
    :func:`.keras_bytes.custom_modules`).
    """
    digest = hashlib.sha256(model_bytes).hexdigest()
    shipped = df.sparkSession.sparkContext.broadcast(model_bytes)

    @F.pandas_udf(_struct_type(head))
    def predict(data: pd.Series) -> pd.DataFrame:
        model = _load(digest, shipped, modules)
        present = np.zeros(len(data), dtype=bool)
        raw = np.full((len(data), 0), np.nan)
        for positions, inputs in batches(data, batch_size):
            outputs = _flat(model.predict_on_batch(inputs), len(positions))
            if raw.shape[1] == 0:
                raw = np.full((len(data), outputs.shape[1]), np.nan)
            raw[positions] = outputs
            present[positions] = True
        return _frame(raw, present, head)

    return predict(features)


class ArrayBatches:
    """Numeric rows fed to the model as the ranks feed it (see :mod:`.layout`), in chunks of about 32 MB.

    A chunk holds at least ``batch_size`` rows. ``data`` is the one staged
    column (a Series) or several (a DataFrame, from a struct column); rows with
    a null in any of them are left out.
    """

    def __init__(self, fields):
        self.fields = fields

    def __call__(self, data, batch_size):
        from .layout import assemble
        columns = {self.fields[0].column: data} if isinstance(data, pd.Series) else {c: data[c] for c in data}
        present = np.logical_and.reduce([column.notna().to_numpy() for column in columns.values()])
        positions = np.flatnonzero(present)
        if len(positions) == 0:
            return
        values = {name: _stacked(column.iloc[positions]) for name, column in columns.items()}
        inputs = assemble(self.fields, values, np.reshape)
        row_bytes = sum(v.nbytes for v in values.values()) / len(positions)
        step = max(batch_size, int(_CHUNK_BYTES // max(row_bytes, 1)))
        for i in range(0, len(positions), step):
            chunk = ({k: v[i:i + step] for k, v in inputs.items()} if isinstance(inputs, dict)
                     else inputs[i:i + step])
            yield positions[i:i + step], chunk


def _flat(outputs, rows):
    """The model's outputs as one float64 matrix, several side by side in their order (a dict's: by sorted name)."""
    if isinstance(outputs, dict):
        outputs = [outputs[name] for name in sorted(outputs)]
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return np.concatenate([np.asarray(o).reshape(rows, -1) for o in outputs], axis=1).astype(np.float64)


def _stacked(column):
    values = column.to_numpy()
    if values.dtype == object:  # arrays, one per row
        return np.stack(values).astype(np.float32)
    return values


def _load(digest, shipped, modules):
    model = _MODELS.get(digest)
    if model is None:
        from .keras_bytes import model_from_bytes
        model = _MODELS[digest] = model_from_bytes(shipped.value, modules=modules)
    return model


def _frame(raw, present, head):
    rows = [r if ok else None for r, ok in zip(raw, present)]
    if head != "classes":
        return pd.DataFrame({"raw": rows})
    shifted = np.exp(raw - raw.max(axis=1, keepdims=True)) if raw.shape[1] else raw
    probability = shifted / shifted.sum(axis=1, keepdims=True) if raw.shape[1] else raw
    prediction = np.where(present, probability.argmax(axis=1) if raw.shape[1] else 0, np.nan)
    return pd.DataFrame({"raw": rows,
                         "probability": [p if ok else None for p, ok in zip(probability, present)],
                         "prediction": prediction})
