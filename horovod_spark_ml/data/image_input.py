"""Image columns on the driver: detect their kind, check them, and choose what to stage.

Three kinds of image column are accepted, told apart by their Spark type:

* ``encoded``: a binary column of JPEG/PNG/GIF/BMP bytes (``binaryFile``'s
  ``content``, or :func:`.image_files.read_images`). Staged as the compressed
  bytes; decoded on the ranks.
* ``struct``: Spark's image struct (``spark.read.format("image")``): staged as
  its pixel bytes with their height, width and channel count.
* ``pixels``: a Vector or number array per row holding ``pixelShape`` values.

The checks run in the same single aggregation as the label checks
(:func:`.schema.check_training_input`): nulls always fail; rows that are not
images at all (no image signature, an invalid struct) fail when
``onCorruptImage="raise"`` and are left out of staging, with a warning, when
it is ``"skip"``. Images that are damaged inside are caught where they are
decoded (:mod:`.image_decoding`).

Example::

    >>> features = ImageFeatures("image", image_size=(64, 64), channels=3)
    >>> info = check_training_input(df, features=features, label_cols=["label"], label_kind="class")
    >>> features.spec.kind
    'encoded'
"""
import math
import warnings

from pyspark.ml.linalg import VectorUDT
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, BinaryType, NumericType, StructType

from ..errors import InputError
from .image_decoding import CHANNELS, HEIGHT, WIDTH, ImageSpec
from .layout import Field
from .schema import FEATURES, NumericFeatures, count_where, require_column

# Leading bytes (hex) of the formats tf.io.decode_image reads.
_SIGNATURES = ("FFD8FF", "89504E470D0A1A0A", "47494638", "424D")
_STRUCT_FIELDS = {"data", "height", "width", "nChannels"}


class ImageFeatures:
    """An image column as model input: which kind it is, how it is checked, staged and decoded."""

    def __init__(self, column, *, image_size, channels, pixel_shape=None, pixel_scale=1 / 255, random_flip=False,
                 random_crop=0.0, skip_corrupt=True):
        self.column = column
        self.pixel_shape = tuple(pixel_shape or (*image_size, channels))
        self._spec = dict(column=column, height=image_size[0], width=image_size[1], channels=channels,
                          pixel_scale=pixel_scale, random_flip=random_flip, random_crop=random_crop,
                          skip_corrupt=skip_corrupt)
        self.spec = None  # known once the column's type is seen (check_columns)
        self._pixels = NumericFeatures(column, num_features=math.prod(self.pixel_shape))

    def check_columns(self, df):
        require_column(df, self.column, "featuresCol")
        kind = image_kind(df.schema[self.column].dataType)
        if kind is None:
            found = df.schema[self.column].dataType.simpleString()
            raise InputError(f"featuresCol '{self.column}' has type {found}; expected images: a binary column of "
                             "JPEG/PNG bytes (binaryFile's 'content', or read_images), Spark's image struct "
                             "(spark.read.format('image')), or a Vector/array of pixels with inputShape set")
        self._set_kind(kind)

    def stats(self, df):
        kind, image = self.spec.kind, F.col(self.column)
        if kind == "pixels":
            return self._pixels.stats(df)
        if kind == "encoded":
            return [count_where(image.isNull()).alias("img_null"),
                    count_where(image.isNotNull() & ~_has_image_signature(image)).alias("img_invalid")]
        return [count_where(image.isNull() | image.data.isNull()).alias("img_null"),
                count_where(image.isNotNull() & ~_valid_struct(image)).alias("img_invalid")]

    def check_stats(self, stats):
        """Raise on nulls and (unless skipping) on non-images; return the number of model inputs per row."""
        if self.spec.kind == "pixels":
            self._pixels.check_stats(stats)
            return math.prod(self.spec.shape)
        if stats["img_null"]:
            raise InputError(f"featuresCol '{self.column}' has {stats['img_null']} rows with null images; drop "
                             f"them before fit (e.g. df.na.drop(subset=['{self.column}']))")
        invalid = stats["img_invalid"]
        if invalid:
            what = ("hold no JPEG, PNG, GIF or BMP data" if self.spec.kind == "encoded"
                    else "are invalid image structs (unreadable files, or data not height x width x nChannels)")
            if not self.spec.skip_corrupt:
                raise InputError(f"featuresCol '{self.column}' has {invalid} rows that {what}; remove them, or set "
                                 "onCorruptImage='skip' to train without them")
            warnings.warn(f"featuresCol '{self.column}': skipping {invalid} of {stats['rows']} rows that {what}",
                          stacklevel=2)
        return math.prod(self.spec.shape)

    def usable_rows(self, df):
        if self.spec.kind == "encoded":
            return df.filter(_has_image_signature(F.col(self.column)))
        if self.spec.kind == "struct":
            return df.filter(_valid_struct(F.col(self.column)))
        return df

    def columns(self, df):
        """The staged columns: encoded bytes, struct pixels with their shape, or a float array of pixels."""
        image = F.col(self.column)
        if self.spec.kind == "encoded":
            return [image.alias(FEATURES)]
        if self.spec.kind == "struct":
            return [image.data.alias(FEATURES), image.height.alias(HEIGHT), image.width.alias(WIDTH),
                    image.nChannels.alias(CHANNELS)]
        return self._pixels.columns(df)


    def fields(self, keras_model):
        return [Field(FEATURES, self.spec.shape)]

    def one_row(self, value):
        """One row's image as inference reads it: encoded bytes, Spark's image struct (a Row or dict), or pixels
        (a Vector or array); :attr:`spec` follows from which it is, so call this before reading the spec."""
        import pandas as pd
        if isinstance(value, (bytes, bytearray)):
            kind, row = "encoded", {FEATURES: bytes(value)}
        elif hasattr(value, "asDict") or isinstance(value, dict):
            image = value.asDict() if hasattr(value, "asDict") else value
            kind, row = "struct", {FEATURES: bytes(image["data"]), HEIGHT: image["height"], WIDTH: image["width"],
                                   CHANNELS: image["nChannels"]}
        else:
            kind, row = "pixels", {FEATURES: self._pixels.one_row(value)[0]}
        self._set_kind(kind)
        return pd.DataFrame({name: [v] for name, v in row.items()})

    def _set_kind(self, kind):
        """Take images of ``kind`` ('encoded', 'struct' or 'pixels'): :attr:`spec` follows from it."""
        self.spec = ImageSpec(kind=kind, pixel_shape=self.pixel_shape if kind == "pixels" else None, **self._spec)


def image_kind(data_type):
    """'encoded', 'struct' or 'pixels' for an image column's Spark type; None if it holds no images."""
    if isinstance(data_type, BinaryType):
        return "encoded"
    if isinstance(data_type, StructType) and _STRUCT_FIELDS <= set(data_type.fieldNames()):
        return "struct"
    if isinstance(data_type, VectorUDT) or (
            isinstance(data_type, ArrayType) and isinstance(data_type.elementType, NumericType)):
        return "pixels"
    return None


def _has_image_signature(image):
    head = F.hex(F.substring(image, 1, 8))
    return F.coalesce(F.greatest(*[head.startswith(s) for s in _SIGNATURES]), F.lit(False))


def _valid_struct(image):
    size = image.height * image.width * image.nChannels
    return F.coalesce((image.height > 0) & (image.width > 0) & image.nChannels.isin(1, 3, 4)
                      & (F.length(image.data) == size), F.lit(False))
