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


def custom_modules(model):
    """Modules defining the model's non-Keras layer classes, read from the live model on the driver.

    Keras finds custom classes only once their module is imported; ranks and
    Python workers import these before loading the model. The list comes from
    the user's own objects, never from a file being loaded.
    """
    modules = {type(layer).__module__ for layer in model._flatten_layers(include_self=True)}
    builtin = ("keras", "tensorflow", "tf_keras", "builtins", "__main__")
    return sorted(m for m in modules if m.split(".")[0] not in builtin)


def model_from_bytes(data, compile=False, modules=()):
    """Rebuild a model from :func:`model_to_bytes` output, importing ``modules`` first.

    ``safe_mode`` stays on: a saved lambda's bytecode is refused.
    """
    import importlib

    from .quiet_tensorflow import import_tensorflow
    import_tensorflow()  # first in a Python worker: without its CUDA start-up lines
    import keras
    for module in modules:
        importlib.import_module(module)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        with open(path, "wb") as f:
            f.write(data)
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
