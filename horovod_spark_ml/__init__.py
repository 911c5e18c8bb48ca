"""horovod-spark-ml: Keras 3 models as Spark ML estimators, trained by Horovod on the Spark executors.

Example::

    >>> from horovod_spark_ml import MLPClassifier
    >>> model = MLPClassifier(hiddenLayers=[64, 32], epochs=20, numProc=2).fit(train_df)
    >>> model.transform(test_df).select("prediction", "probability").show()

The names below are imported on first use, so that a Horovod rank, which
imports only what training needs, does not wait for PySpark and every
estimator before it starts reading its data.
"""
import importlib

from .moved_modules import install as _install_moved_modules

_install_moved_modules()  # models saved before the modules moved name them by their old paths

_MODULES = {
    "Autoencoder": "estimators.unsupervised", "AutoencoderModel": "estimators.unsupervised",
    "RBM": "estimators.unsupervised", "RBMModel": "estimators.unsupervised",
    "DBNClassifier": "estimators.dbn", "DBNClassificationModel": "estimators.dbn",
    "DBNRegressor": "estimators.dbn", "DBNRegressionModel": "estimators.dbn",
    "CNNClassifier": "estimators.cnn", "CNNClassificationModel": "estimators.cnn",
    "KerasEstimator": "estimators.keras_estimator", "KerasModel": "estimators.keras_estimator",
    "LSTMClassifier": "estimators.recurrent", "LSTMClassificationModel": "estimators.recurrent",
    "LSTMRegressor": "estimators.recurrent", "LSTMRegressionModel": "estimators.recurrent",
    "MLPClassifier": "estimators.mlp", "MLPClassificationModel": "estimators.mlp",
    "MLPRegressor": "estimators.mlp", "MLPRegressionModel": "estimators.mlp",
    "read_images": "data.image_files", "read_sequence_csvs": "data.sequence_files",
    "delete_runs": "training.driver.run_cleanup",
    "InputError": "errors", "TrainingError": "errors", "ClusterError": "errors", "StackError": "stack",
}
__all__ = list(_MODULES)
__version__ = "0.1.0"


def __getattr__(name):
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _MODULES[name] not in ("errors", "stack", "training.driver.run_cleanup"):  # the others load Keras, and TF
        from .quiet_tensorflow import import_tensorflow
        from .stack import FRAMEWORKS, check_stack
        check_stack(FRAMEWORKS)  # what is missing, and how to install it, before an ImportError from deep inside
        import_tensorflow()
    value = getattr(importlib.import_module(f".{_MODULES[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_MODULES])
