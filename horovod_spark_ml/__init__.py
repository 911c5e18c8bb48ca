"""horovod-spark-ml: Keras 3 models as Spark ML estimators, trained by Horovod on the Spark executors.

Example::

    >>> from horovod_spark_ml import MLPClassifier
    >>> model = MLPClassifier(hiddenLayers=[64, 32], epochs=20, numProc=2).fit(train_df)
    >>> model.transform(test_df).select("prediction", "probability").show()
"""
from .cnn import CNNClassificationModel, CNNClassifier
from .dbn import DBNClassificationModel, DBNClassifier, DBNRegressionModel, DBNRegressor
from .errors import InputError, TrainingError
from .image_files import read_images
from .keras_estimator import KerasEstimator, KerasModel
from .mlp import MLPClassificationModel, MLPClassifier, MLPRegressionModel, MLPRegressor
from .recurrent import LSTMClassificationModel, LSTMClassifier, LSTMRegressionModel, LSTMRegressor
from .sequence_files import read_sequence_csvs
from .unsupervised import RBM, Autoencoder, AutoencoderModel, RBMModel

__all__ = ["Autoencoder", "AutoencoderModel", "RBM", "RBMModel", "DBNClassifier", "DBNClassificationModel",
           "DBNRegressor", "DBNRegressionModel", "CNNClassifier", "CNNClassificationModel", "KerasEstimator",
           "KerasModel", "LSTMClassifier", "LSTMClassificationModel", "LSTMRegressor", "LSTMRegressionModel",
           "MLPClassifier", "MLPClassificationModel", "MLPRegressor", "MLPRegressionModel", "read_images",
           "read_sequence_csvs", "InputError", "TrainingError"]
__version__ = "0.1.0"
