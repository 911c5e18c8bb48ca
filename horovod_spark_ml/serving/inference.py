"""Batched inference: one pandas UDF, the Keras model loaded once per Python worker.

Rows travel to Python through Arrow in batches (``spark.sql.execution.arrow.
maxRecordsPerBatch`` rows), are turned into model inputs (stacked arrays, or
decoded images) and predicted in chunks; never one row at a time. Numeric
chunks hold about 32 MB of input (at least ``batch_size`` rows), as the cost
of each predict call dominates small batches. The model crosses to the
executors as ``.keras`` bytes in a broadcast and is rebuilt once per Python
worker, then reused by every later batch and task in that worker (which from
then on also skips re-reading PySpark's zips at each task: see
:mod:`..zip_import_cache`). A worker keeps the models it used last, at most
``HSM_INFERENCE_MODELS`` of them (in the executors' environment; default 4),
so a model search's many models do not all stay loaded. Spark converts array results from pandas element
by element in Python, which costs more per row than predicting; so narrow
outputs (a classifier's) come back as one double per value and become arrays
on the JVM. Wide ones (embeddings, reconstructions) come back as arrays: past
about a hundred fields Spark stops compiling the plan, and one field per value
gets slower than arrays.

Example::

    >>> outputs = predict_struct(df, model_bytes, features_array(df, "features"),
    ...                          batches=ArrayBatches([Field("features", (64,))]), batch_size=256, width=10,
    ...                          head="classes")
    >>> df.withColumn("out", outputs).select("out.prediction", "out.probability")
"""
import hashlib
import math
import os
from collections import OrderedDict

import numpy as np
import pandas as pd
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, BooleanType, DoubleType, StructField, StructType

_MODELS = OrderedDict()  # model digest -> Keras model, per Python worker, the one used last at the end
_CHUNK_BYTES = 32 << 20  # numeric rows go to the model in chunks of about this much input, at least batch_size rows
_VALUE_FIELDS = 64  # outputs of up to this many values per row (probabilities included) come back one field each


def output_width(model, inputs):
    """The number of values in one row of ``model``'s outputs, all flattened side by side.

    ``inputs`` are symbolic inputs of one row (``batches.symbolic_inputs()``).
    """
    import keras
    return sum(math.prod(output.shape[1:]) for output in keras.tree.flatten(model.compute_output_spec(inputs)))


def predict_struct(df, model_bytes, features, *, batches, batch_size, width, head="values", modules=()):
    """A struct column of model outputs for ``features``.

    ``batches(data, batch_size)`` turns one Arrow batch of ``features`` (a
    pandas Series, or a DataFrame for a struct column) into model inputs: it
    yields ``(positions, inputs)`` pairs, leaving out rows it cannot use
    (see :class:`ArrayBatches` and :class:`.image_decoding.ImageBatches`).
    ``width`` is the number of output values per row (see :func:`output_width`).
    ``head="values"`` gives ``raw`` (the outputs as an array); ``head="classes"``
    adds ``probability`` (softmax of raw) and ``prediction`` (the argmax).
    Rows left out (null features, undecodable images) get null outputs.
    ``modules`` are imported before the model is loaded (see
    :func:`.keras_bytes.custom_modules`).
    """
    digest = hashlib.sha256(model_bytes).hexdigest()
    shipped = df.sparkSession.sparkContext.broadcast(model_bytes)
    names = _value_names(head, width)
    by_value = len(names) <= _VALUE_FIELDS

    @F.pandas_udf(_value_type(names) if by_value else _array_type(head))
    def predict(data: pd.Series) -> pd.DataFrame:
        raw, present = _raw_outputs(_load(digest, shipped, modules), data, batches, batch_size, width)
        outputs = _outputs(raw, present, head)
        return _value_frame(outputs, present, names) if by_value else _array_frame(outputs, present)

    values = predict(features)
    return _struct_of_values(values, head, width) if by_value else values


def _struct_of_values(values, head, width):
    """The outputs struct, with its arrays built on the JVM from one double field per value."""
    def array(prefix):
        return F.when(values["present"], F.array(*[values[f"{prefix}_{i}"] for i in range(width)]))

    fields = [array("raw").alias("raw")]
    if head == "classes":
        fields += [array("probability").alias("probability"), values["prediction"].alias("prediction")]
    return F.struct(*fields)


def _value_names(head, width):
    raw = [f"raw_{i}" for i in range(width)]
    return raw + [f"probability_{i}" for i in range(width)] + ["prediction"] if head == "classes" else raw


def _value_type(names):
    return StructType([StructField(name, DoubleType()) for name in names] + [StructField("present", BooleanType())])


def _array_type(head):
    vector = ArrayType(DoubleType())
    if head == "classes":
        return StructType([StructField("raw", vector), StructField("probability", vector),
                           StructField("prediction", DoubleType())])
    return StructType([StructField("raw", vector)])


class ArrayBatches:
    """Numeric rows fed to the model as the ranks feed it (see :mod:`.layout`), in chunks of about 32 MB.

    A chunk holds at least ``batch_size`` rows. ``data`` is the one staged
    column (a Series) or several (a DataFrame, from a struct column); rows with
    a null in any of them are left out.
    """

    def __init__(self, fields):
        self.fields = fields

    def symbolic_inputs(self):
        """The model's input for one row, as Keras symbolic tensors."""
        import keras
        from ..data.layout import assemble
        return assemble(self.fields, {f.column: None for f in self.fields},
                        lambda _, shape: keras.KerasTensor((1, *shape[1:])))

    def __call__(self, data, batch_size):
        from ..data.layout import assemble
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


def predict_rows(model, data, batches):
    """The raw outputs (a float64 matrix) for the rows of ``data``, here and at once, as ``predict_struct``
    computes them on the executors. ``data`` is as its Arrow batches come (a Series, or a DataFrame for a
    struct column); ``None`` when a row is not usable."""
    raw, present = _raw_outputs(model, data, batches, max(1, len(data)), output_width(model, batches.symbolic_inputs()))
    return raw if present.all() else None


def _raw_outputs(model, data, batches, batch_size, width):
    """``(raw, present)``: the outputs of ``width`` values for each usable row of ``data`` (NaN elsewhere), and
    which rows were usable."""
    present = np.zeros(len(data), dtype=bool)
    raw = np.full((len(data), width), np.nan)
    for positions, inputs in batches(data, batch_size):
        raw[positions] = _flat(model.predict_on_batch(inputs), len(positions))
        present[positions] = True
    return raw, present


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
        return np.stack(values).astype(np.float32, copy=False)  # features arrive as float32: no second copy
    return values


def _load(digest, shipped, modules):
    model = _MODELS.get(digest)
    if model is not None:
        _MODELS.move_to_end(digest)
        return model
    from ..keras_bytes import model_from_bytes  # the first batch with this model in this Python worker
    from ..quiet_tensorflow import quiet_retracing_warnings
    from ..zip_import_cache import reread_changed_zips
    reread_changed_zips()  # for the worker's next tasks
    quiet_retracing_warnings()
    setting = os.environ.get("HSM_INFERENCE_MODELS", "")
    while len(_MODELS) >= max(1, int(setting) if setting.isdigit() else 4):
        _MODELS.popitem(last=False)  # the one used longest ago
    model = _MODELS[digest] = model_from_bytes(shipped.value, modules=modules)
    return model


def _outputs(raw, present, head):
    """``raw``, and for classes ``probability`` (softmax) and ``prediction`` (NaN where a row is not present)."""
    if head != "classes":
        return {"raw": raw}
    probability = softmax(raw)
    return {"raw": raw, "probability": probability, "prediction": np.where(present, probability.argmax(axis=1), np.nan)}


def softmax(raw):
    """The softmax of raw scores along their last axis (each row's classes)."""
    shifted = np.exp(raw - raw.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _value_frame(outputs, present, names):
    """One column per output value, then ``present``."""
    values = np.concatenate([v.reshape(len(present), -1) for v in outputs.values()], axis=1)
    frame = pd.DataFrame(values, columns=names)
    frame["present"] = present
    return frame


def _array_frame(outputs, present):
    """One column per output: an array per row (None where a row is not present), or a number."""
    return pd.DataFrame({name: [row if ok else None for row, ok in zip(v, present)] if v.ndim == 2 else v
                         for name, v in outputs.items()})
