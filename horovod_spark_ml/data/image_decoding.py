"""Image decoding on the ranks and in inference: one TF function from a staged row to model pixels.

Encoded images (JPEG, PNG, GIF, BMP) travel compressed through staging and
are decoded here, inside tf.data, by each Horovod rank, and in the same way
by the inference UDF. Spark image structs (``spark.read.format("image")``,
BGR pixel bytes) and pixel arrays are reshaped here too. Every kind then
goes through the same steps: channel conversion, resizing to the model's
image size, scaling by ``pixel_scale`` and, in training only, augmentation.

An image that cannot be decoded is never fed to the model: it is dropped and
counted (``skip_corrupt``) or stops training with a message naming the column.

Example::

    >>> spec = ImageSpec(kind="encoded", column="image", height=64, width=64, channels=3)
    >>> rows = tf.data.Dataset.from_tensor_slices({"features": png_bytes, "label": labels})
    >>> images = decode_rows(rows, spec, training=True)      # (image, label, ok) elements
"""
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .schema import FEATURES, LABEL, WEIGHT

HEIGHT, WIDTH, CHANNELS = "height", "width", "channels"  # staged columns of Spark image structs


@dataclass(frozen=True)
class ImageSpec:
    """How the images of one column become model inputs; plain data, sent to every rank."""
    kind: str                   # "encoded", "struct" or "pixels"
    column: str                 # the user's column, for messages
    height: int
    width: int
    channels: int
    pixel_shape: tuple = None   # (height, width, channels) of the stored pixel arrays ("pixels")
    pixel_scale: float = 1 / 255
    random_flip: bool = False
    random_crop: float = 0.0
    skip_corrupt: bool = True

    @property
    def shape(self):
        return (self.height, self.width, self.channels)


def decode_rows(rows, spec, *, training):
    """Map a dataset of staged rows (dicts) to ``(image, label, ok)``, or ``(image, ok)`` without label.

    A staged sample weight follows the label: ``(image, label, weight, ok)``.

    ``ok`` is False for an encoded image that could not be decoded; its image
    is zeros. Only encoded bytes can fail here: the other kinds were checked
    on the driver.
    """
    def convert(row):
        image = _to_model_pixels(row, spec, training)
        return (image, *_label_and_weight(row), True)

    if spec.kind != "encoded":
        return rows.map(convert, num_parallel_calls=tf.data.AUTOTUNE)

    def convert_or_flag(row):
        failed = (tf.zeros(spec.shape), *_label_and_weight(row), False)
        decoded = tf.data.Dataset.from_tensors(row).map(convert).ignore_errors()
        return decoded.concatenate(tf.data.Dataset.from_tensors(failed)).take(1)

    # A decode error would end the whole pipeline; decoding each row in its own
    # one-element dataset turns the error into a flag instead.
    return rows.interleave(convert_or_flag, cycle_length=tf.data.AUTOTUNE, num_parallel_calls=tf.data.AUTOTUNE,
                           deterministic=False)


def _label_and_weight(row):
    return [row[column] for column in (LABEL, WEIGHT) if column in row]


UNDECODABLE = "an image could not be decoded"


def undecodable_message(spec):
    return (f"featuresCol '{spec.column}': {UNDECODABLE} (corrupt, truncated or not an image); set "
            "onCorruptImage='skip' to train without such images")


def drop_corrupt(images, spec, counter):
    """Drop flagged images, counting them in ``counter``; or fail on the first one when not ``skip_corrupt``.

    The failure is a ``tf.errors.InvalidArgumentError`` whose text holds :data:`UNDECODABLE`.
    """
    def check(*element):
        ok = element[-1]
        if not spec.skip_corrupt:
            tf.debugging.assert_equal(ok, True, message=undecodable_message(spec))
        counter.assign_add(tf.cast(tf.logical_not(ok), tf.int64))
        return element

    return images.map(check).filter(_is_ok).map(_without_flag)


def _is_ok(*element):
    return element[-1]


def _without_flag(*element):
    return element[:-1]


def _to_model_pixels(row, spec, training):
    if spec.kind == "encoded":
        image = tf.io.decode_image(row[FEATURES], channels=spec.channels, expand_animations=False)
    elif spec.kind == "struct":
        pixels = tf.io.decode_raw(row[FEATURES], tf.uint8)
        image = _bgr_to_rgb(tf.reshape(pixels, tf.stack([row[HEIGHT], row[WIDTH], row[CHANNELS]])))
    else:
        image = tf.reshape(row[FEATURES], spec.pixel_shape)
    image = _with_channels(tf.cast(image, tf.float32), spec.channels)
    image = _resize(image, spec, training)
    if training and spec.random_flip:
        image = tf.image.random_flip_left_right(image)
    return image * spec.pixel_scale


def _bgr_to_rgb(image):
    # Spark's image source stores OpenCV order: BGR or BGRA.
    return tf.cond(tf.shape(image)[-1] >= 3,
                   lambda: tf.concat([tf.reverse(image[..., :3], [-1]), image[..., 3:]], axis=-1),
                   lambda: image)


def _with_channels(image, channels):
    found = image.shape[-1]
    if found is not None:  # known when the graph is built: pixel arrays, decoded files
        if found == channels:
            return image
        if channels == 3:
            return tf.image.grayscale_to_rgb(image) if found == 1 else image[..., :3]
        return tf.image.rgb_to_grayscale(image[..., :3])
    # Spark image structs: each row says how many channels it has.
    convert = _to_rgb if channels == 3 else _to_gray
    image = tf.cond(tf.shape(image)[-1] == channels, lambda: image, lambda: convert(image))
    image.set_shape([None, None, channels])
    return image


def _to_rgb(image):
    return tf.cond(tf.shape(image)[-1] == 1, lambda: tf.image.grayscale_to_rgb(image), lambda: image[..., :3])


def _to_gray(image):
    return tf.cond(tf.shape(image)[-1] == 1, lambda: image, lambda: tf.image.rgb_to_grayscale(image[..., :3]))


def _resize(image, spec, training):
    size = [spec.height, spec.width]
    if training and spec.random_crop > 0:
        # Resize a little larger, then cut a random window of the model's size.
        larger = [round(spec.height * (1 + spec.random_crop)), round(spec.width * (1 + spec.random_crop))]
        return tf.image.random_crop(tf.image.resize(image, larger), spec.shape)
    if spec.kind == "pixels" and tuple(spec.pixel_shape[:2]) == (spec.height, spec.width):
        return image
    return tf.image.resize(image, size)


class ImageBatches:
    """Inference inputs from image rows: decoded as in training (no augmentation), in batches.

    Used by :func:`.inference.predict_struct` with the staged columns as one
    struct. Null, malformed and undecodable images are left out (null outputs).
    """

    def __init__(self, spec):
        self.spec = spec

    def symbolic_inputs(self):
        """The model's input for one row, as a Keras symbolic tensor."""
        import keras
        return keras.KerasTensor((1, *self.spec.shape))

    def __call__(self, frame, batch_size):
        positions = np.flatnonzero(self._usable(frame))
        if len(positions) == 0:
            return
        values = frame[FEATURES].iloc[positions]
        rows = {FEATURES: (np.stack(values.to_numpy()).astype(np.float32) if self.spec.kind == "pixels"
                           else np.array([bytes(v) for v in values], dtype=object))}
        rows.update({name: frame[name].iloc[positions].to_numpy(np.int32)
                     for name in (HEIGHT, WIDTH, CHANNELS) if name in frame})
        # Each row's position rides in the label slot, so rows can be dropped and reordered.
        indexed = tf.data.Dataset.from_tensor_slices({**rows, LABEL: positions})
        images = decode_rows(indexed, self.spec, training=False).filter(_is_ok).map(_position_first)
        for index, batch in images.batch(batch_size).prefetch(tf.data.AUTOTUNE):
            yield index.numpy(), batch

    def _usable(self, frame):
        values = frame[FEATURES]
        usable = values.notna().to_numpy()
        if self.spec.kind == "encoded":  # checked by decoding
            return usable
        sizes = np.array([len(v) if ok else 0 for v, ok in zip(values, usable)])
        if self.spec.kind == "pixels":
            usable &= sizes == np.prod(self.spec.pixel_shape)
        elif self.spec.kind == "struct":
            height, width, channels = (frame[n].fillna(0).to_numpy() for n in (HEIGHT, WIDTH, CHANNELS))
            usable &= (height > 0) & (width > 0) & np.isin(channels, (1, 3, 4)) & (sizes == height * width * channels)
        return usable


def _position_first(image, position, ok):
    return position, image
