"""How a staged image row becomes model pixels: the same in training and inference, augmented only in training."""
import numpy as np
import pandas as pd
import tensorflow as tf

from horovod_spark_ml.data.image_decoding import ImageBatches, ImageSpec, decode_rows


def decoded(rows, spec, training):
    dataset = tf.data.Dataset.from_tensor_slices(rows)
    return [image.numpy() for image, ok in decode_rows(dataset, spec, training=training)]


def gradient_png(height=20, width=30):
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[..., 0] = np.arange(width) * 8      # red grows to the right
    pixels[..., 2] = 200                       # blue is constant
    return tf.io.encode_png(pixels).numpy()


def test_pixels_are_scaled_to_0_1_and_resized_to_image_size():
    spec = ImageSpec(kind="encoded", column="image", height=10, width=12, channels=3)
    image, = decoded({"features": [gradient_png()]}, spec, training=False)
    assert image.shape == (10, 12, 3)
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert abs(image[..., 2].mean() - 200 / 255) < 1e-3


def test_augmentation_changes_training_images_only():
    spec = ImageSpec(kind="encoded", column="image", height=16, width=16, channels=3, random_flip=True,
                     random_crop=0.25)
    rows = {"features": [gradient_png()] * 8}
    plain = ImageSpec(kind="encoded", column="image", height=16, width=16, channels=3)
    inference = decoded(rows, spec, training=False)
    assert all(np.array_equal(image, decoded(rows, plain, training=False)[0]) for image in inference)
    training = decoded(rows, spec, training=True)
    assert any(not np.allclose(image, inference[0]) for image in training)
    assert all(image.shape == (16, 16, 3) for image in training)


def test_spark_image_structs_are_bgr_and_become_rgb():
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 0] = 255  # blue, first in Spark's (OpenCV's) order
    spec = ImageSpec(kind="struct", column="image", height=4, width=4, channels=3, pixel_scale=1.0)
    rows = {"features": [bgr.tobytes()], "height": [4], "width": [4], "channels": [3]}
    image, = decoded(rows, spec, training=False)
    assert image[..., 2].min() == 255 and image[..., 0].max() == 0


def test_grayscale_and_color_are_converted_to_the_channels_asked_for():
    gray = ImageSpec(kind="encoded", column="image", height=8, width=8, channels=1)
    image, = decoded({"features": [gradient_png()]}, gray, training=False)
    assert image.shape == (8, 8, 1)
    rgb = ImageSpec(kind="pixels", column="pixels", height=8, width=8, channels=3, pixel_shape=(8, 8, 1))
    image, = decoded({"features": np.ones((1, 64), np.float32)}, rgb, training=False)
    assert image.shape == (8, 8, 3)


def test_inference_batches_leave_out_null_and_undecodable_images():
    spec = ImageSpec(kind="encoded", column="image", height=8, width=8, channels=3)
    frame = pd.DataFrame({"features": [gradient_png(), None, gradient_png()[:40], gradient_png()]})
    batches = list(ImageBatches(spec)(frame, batch_size=2))
    positions = sorted(int(p) for positions, _ in batches for p in positions)
    assert positions == [0, 3]
    assert all(batch.shape[1:] == (8, 8, 3) for _, batch in batches)
