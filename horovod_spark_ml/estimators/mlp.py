"""Multilayer perceptrons: MLPClassifier and MLPRegressor, with their fitted models.

Both are drop-in Spark ML stages: features from a Vector or array column (or
several numeric columns with ``featuresCols``), the classifier's outputs follow
Spark's probabilistic classifiers (``rawPrediction``, ``probability``,
``prediction``), and the prediction column carries the label's class names so
``IndexToString`` needs no labels argument.
"""
from pyspark import keyword_only

from .architectures import build_mlp
from .estimator import HorovodClassifier, HorovodRegressor
from .prediction_models import HorovodClassificationModel, HorovodRegressionModel
from ..params import (FeatureParams, HasLabelCols, MLPParams, TrainingParams)


class _MLPClassifierParams(FeatureParams, MLPParams, TrainingParams):
    def _set_defaults(self):
        self._set_training_defaults()
        self._set_mlp_defaults()
        self._setDefault(featuresCol="features", labelCol="label", predictionCol="prediction",
                         probabilityCol="probability", rawPredictionCol="rawPrediction")


class _MLPRegressorParams(FeatureParams, HasLabelCols, MLPParams, TrainingParams):
    def _set_defaults(self):
        self._set_training_defaults()
        self._set_mlp_defaults()
        self._setDefault(featuresCol="features", labelCol="label", predictionCol="prediction")


class MLPClassifier(HorovodClassifier, _MLPClassifierParams):
    """A multilayer perceptron classifier trained with Horovod on the Spark executors.

    The label column holds class indices 0..k-1; k and the class names come
    from the column's ML attribute (as StringIndexer writes it), else from the
    data. The network ends in k raw scores; probabilities are their softmax.

    Example::

        >>> from pyspark.ml import Pipeline
        >>> from pyspark.ml.feature import StringIndexer, VectorAssembler
        >>> mlp = MLPClassifier(hiddenLayers=[64, 32], dropout=0.1, epochs=20, batchSize=64, numProc=2)
        >>> model = Pipeline(stages=[StringIndexer(inputCol="species", outputCol="label"),
        ...                          VectorAssembler(inputCols=["a", "b"], outputCol="features"),
        ...                          mlp]).fit(train)
        >>> model.transform(test).select("probability", "prediction").show()
    """

    _model_from_params = True

    @keyword_only
    def __init__(self, *, featuresCol="features", featuresCols=None, labelCol="label", predictionCol="prediction",
                 probabilityCol="probability", rawPredictionCol="rawPrediction", thresholds=None, hiddenLayers=None,
                 activation="relu", dropout=0.0, l1=0.0, l2=0.0, batchNorm=False, optimizer="adam",
                 learningRate=0.001, batchSize=32, epochs=10, numProc=None, validationSplit=0.0,
                 earlyStoppingPatience=0, seed=None, storePath=None, verbose=1,
                 runId=None, maxRetries=2, logDir="", mlflowLogging=None, readerBackend="arrow",
                 weightCol=None, validationIndicatorCol=None):
        super().__init__()
        self._set_defaults()
        self.setParams(**self._input_kwargs)

    def _build_keras_model(self, info, features, dataset):
        return build_mlp(info.num_features, self.getHiddenLayers(), info.num_classes,
                         activation=self.getActivation(), dropout=self.getDropout(), l1=self.getL1(),
                         l2=self.getL2(), batch_norm=self.getBatchNorm())

    def _create_model(self, model_bytes, history, info):
        return MLPClassificationModel(model_bytes, history, info.num_features, info.num_classes, info.class_names)


class MLPClassificationModel(HorovodClassificationModel, _MLPClassifierParams):
    """A fitted :class:`MLPClassifier`: adds rawPrediction, probability and prediction columns.

    Example::

        >>> model = MLPClassifier(numProc=2).fit(train)
        >>> model.numClasses, model.classLabels
        (3, ['setosa', 'versicolor', 'virginica'])
        >>> model.transform(test).select("prediction").show()
    """

    def __init__(self, model_bytes=None, history=None, numFeatures=None, numClasses=None, classLabels=None):
        super().__init__(model_bytes, history, numFeatures, numClasses, classLabels)
        self._set_defaults()


class MLPRegressor(HorovodRegressor, _MLPRegressorParams):
    """A multilayer perceptron regressor of one target or several.

    One target: a numeric ``labelCol``; several: a Vector or array
    ``labelCol``, or several numeric columns in ``labelCols``. The prediction
    is a double for one target and a Vector for several.

    Example::

        >>> reg = MLPRegressor(hiddenLayers=[32], epochs=30, numProc=2, labelCol="price")
        >>> reg.fit(train).transform(test).select("prediction").show()
    """

    _model_from_params = True

    @keyword_only
    def __init__(self, *, featuresCol="features", featuresCols=None, labelCol="label", labelCols=None,
                 predictionCol="prediction", hiddenLayers=None, activation="relu", dropout=0.0, l1=0.0, l2=0.0,
                 batchNorm=False, optimizer="adam", learningRate=0.001, batchSize=32, epochs=10, numProc=None,
                 validationSplit=0.0, earlyStoppingPatience=0, seed=None, storePath=None, verbose=1,
                 runId=None, maxRetries=2, logDir="", mlflowLogging=None, readerBackend="arrow",
                 weightCol=None, validationIndicatorCol=None):
        super().__init__()
        self._set_defaults()
        self.setParams(**self._input_kwargs)

    def _label_cols(self):
        return self.getLabelCols() if self.isDefined(self.labelCols) else [self.getLabelCol()]

    def _build_keras_model(self, info, features, dataset):
        return build_mlp(info.num_features, self.getHiddenLayers(), info.num_targets,
                         activation=self.getActivation(), dropout=self.getDropout(), l1=self.getL1(),
                         l2=self.getL2(), batch_norm=self.getBatchNorm())

    def _loss_and_metrics(self, info):
        return "mean_squared_error", ["mean_absolute_error"]

    def _create_model(self, model_bytes, history, info):
        return MLPRegressionModel(model_bytes, history, info.num_features, info.num_targets)


class MLPRegressionModel(HorovodRegressionModel, _MLPRegressorParams):
    """A fitted :class:`MLPRegressor`: adds the prediction column (double, or Vector for several targets).

    Example::

        >>> model = MLPRegressor(numProc=2).fit(train)
        >>> model.transform(test).select("label", "prediction").show()
    """

    def __init__(self, model_bytes=None, history=None, numFeatures=None, numTargets=1):
        super().__init__(model_bytes, history, numFeatures, numTargets)
        self._set_defaults()
