"""Keras models as the bytes of a ``.keras`` file: how models travel and persist, never pickled.

Example::

    >>> import keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> clone = model_from_bytes(model_to_bytes(model))
    >>> clone.output_shape
    (None, 2)
"""
import os
import tempfile


def model_to_bytes(model):
    """The model (architecture, weights, and compile state if any) in Keras' ``.keras`` format."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        with open(path, "rb") as f:
            return f.read()


def model_from_bytes(data, compile=False):
    """Rebuild a model from :func:`model_to_bytes` output; ``safe_mode`` refuses lambdas' bytecode."""
    import keras
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        with open(path, "wb") as f:
            f.write(data)
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
