"""Features for a multi-input Keras model: one numeric column per input, each checked and staged on its own.

Example::

    >>> features = MultiInputFeatures(["title_vec", "body_vec"], keras_model)   # inputs "title" and "body"
    >>> [field.name for field in features.fields(keras_model)]
    ['title', 'body']
"""
import math

from .layout import Field
from .schema import NumericFeatures


class MultiInputFeatures:
    """One numeric column (Vector or array) per input of a multi-input Keras model, in the order of its inputs.

    Each is checked like :class:`NumericFeatures` against its input's size,
    staged as its own column, and fed to the input of the same name.
    """

    spec = None

    def __init__(self, columns, keras_model):
        self.names = [tensor.name for tensor in keras_model.inputs]
        self.shapes = [tuple(tensor.shape[1:]) for tensor in keras_model.inputs]
        self.parts = [NumericFeatures(column, num_features=math.prod(shape), prefix=f"in{i}", staged=f"input_{i}")
                      for i, (column, shape) in enumerate(zip(columns, self.shapes))]

    def check_columns(self, df):
        for part in self.parts:
            part.check_columns(df)

    def stats(self, df):
        return [stat for part in self.parts for stat in part.stats(df)]

    def check_stats(self, stats):
        return sum(part.check_stats(stats) for part in self.parts)

    def usable_rows(self, df):
        return df

    def columns(self, df):
        return [column for part in self.parts for column in part.columns(df)]

    def fields(self, keras_model):
        return [Field(part.staged, shape, name) for part, shape, name in zip(self.parts, self.shapes, self.names)]
