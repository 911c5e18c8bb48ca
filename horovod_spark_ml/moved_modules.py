"""Models saved before the package's modules moved into subpackages still load.

A saved pipeline names each stage's class by module
(``horovod_spark_ml.mlp.MLPClassificationModel``), and a saved Keras model
names the modules of its custom layers (``horovod_spark_ml.layers``). Those
modules now live in ``estimators/``, ``data/``, ``training/`` and
``serving/``. An old name imports as a small module that loads the new one
and hands out its names, so the old paths keep working without a second copy
of any module.

Example::

    >>> import importlib
    >>> importlib.import_module("horovod_spark_ml.mlp").MLPClassificationModel
    <class 'horovod_spark_ml.estimators.mlp.MLPClassificationModel'>
"""
import importlib
import importlib.abc
import importlib.util
import sys

PACKAGE = "horovod_spark_ml"
MOVED = {old: f"{group}.{old}" for group, olds in {
    "estimators": ["estimator", "mlp", "cnn", "recurrent", "unsupervised", "dbn", "keras_estimator", "model",
                   "architectures", "layers", "rbm"],
    "data": ["schema", "layout", "staging", "store", "image_files", "image_input", "image_decoding",
             "sequence_files", "sequence_input", "path_labels"],
    "training.driver": ["launcher"],
    "training.rank": ["worker", "reader", "horovod_keras", "devices", "progress"],
    "serving": ["inference"],
}.items() for old in olds}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        package, _, old = name.rpartition(".")
        if package == PACKAGE and old in MOVED:
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return None  # a plain module, filled by exec_module

    def exec_module(self, module):
        moved = importlib.import_module(f"{PACKAGE}.{MOVED[module.__name__.rpartition('.')[2]]}")
        module.__doc__ = f"Moved to {moved.__name__}."
        module.__dict__["__getattr__"] = lambda name: getattr(moved, name)


def install():
    """Let the old module names import (once per process)."""
    if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModules())
