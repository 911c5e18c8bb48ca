"""Which staged columns feed which model inputs and targets, in what shape.

A model may take one input or several named ones (a sequence and its length,
or the inputs of a multi-input model), and have one target or several. The
same small description is used by the ranks (on tf.data batches) and by
inference (on NumPy arrays), so both feed the model in exactly the same way.

Example::

    >>> fields = [Field("features", (20, 3), "sequence"), Field("length", (), "length")]
    >>> assemble(fields, {"features": flat, "length": lengths}, np.reshape)
    {'sequence': array of shape (n, 20, 3), 'length': array of shape (n,)}
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    """One staged column fed to the model as one input (or target) of the given per-row shape."""
    column: str
    shape: tuple
    name: str = None  # the model's input or output name; None for a model's only, unnamed one


def assemble(fields, values, reshape):
    """The model's input (or target) from a batch of column ``values``: one array, or a dict by name."""
    if len(fields) == 1 and fields[0].name is None:
        return reshape(values[fields[0].column], (-1, *fields[0].shape))
    return {f.name: reshape(values[f.column], (-1, *f.shape)) for f in fields}
