"""Batched inference: one pandas UDF, the Keras model loaded once per Python worker.

Rows travel to Python through Arrow in batches (``spark.sql.execution.arrow.
maxRecordsPerBatch`` rows), are stacked into one NumPy array and predicted in
chunks of ``batch_size``; never one row at a time. The model crosses to the
executors as ``.keras`` bytes in a broadcast and is rebuilt once per Python
worker, then reused by every later batch and task in that worker.

Example::

    >>> outputs = predict_struct(df, model_bytes, features_array(df, "features"),
    ...                          input_shape=(64,), batch_size=256, head="classes")
    >>> df.withColumn("out", outputs).select("out.prediction", "out.probability")
"""
import hashlib

import numpy as np
import pandas as pd
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType, StructField, StructType

_MODELS = {}  # model digest -> Keras model, per Python worker


def _struct_type(head):
    vector = ArrayType(DoubleType())
    if head == "classes":
        return StructType([StructField("raw", vector), StructField("probability", vector),
                           StructField("prediction", DoubleType())])
    return StructType([StructField("raw", vector)])


def predict_struct(df, model_bytes, features, *, input_shape, batch_size, head="values", modules=()):
    """A struct column of model outputs for ``features`` (a float array column).

    ``head="values"`` gives ``raw`` (the outputs as an array); ``head="classes"``
    adds ``probability`` (softmax of raw) and ``prediction`` (the argmax).
    Rows with null features get null outputs. ``modules`` are imported
    before the model is loaded (see :func:`.keras_bytes.custom_modules`).
    """
    digest = hashlib.sha256(model_bytes).hexdigest()
    shipped = df.sparkSession.sparkContext.broadcast(model_bytes)
    shape = (-1, *input_shape)

    @F.pandas_udf(_struct_type(head))
    def predict(column: pd.Series) -> pd.DataFrame:
        model = _load(digest, shipped, modules)
        present = column.notna().to_numpy()
        raw = np.full((len(column), 0), np.nan)
        if present.any():
            x = np.stack(column[present].to_numpy()).astype(np.float32).reshape(shape)
            outputs = _predict_chunks(model, x, batch_size)
            raw = np.full((len(column), outputs.shape[1]), np.nan)
            raw[present] = outputs
        return _frame(raw, present, head)

    return predict(features)


def _load(digest, shipped, modules):
    model = _MODELS.get(digest)
    if model is None:
        from .keras_bytes import model_from_bytes
        model = _MODELS[digest] = model_from_bytes(shipped.value, modules=modules)
    return model


def _predict_chunks(model, x, batch_size):
    outputs = [np.asarray(model.predict_on_batch(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
    return np.concatenate(outputs).reshape(len(x), -1).astype(np.float64)


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
