"""Deep belief networks: greedy layer-wise RBM pretraining, then supervised fine-tuning, all on Horovod.

Each hidden layer is first trained as an :class:`.unsupervised.RBM` on the
hidden activations of the layer below (the first on the features), each RBM
distributed over ``numProc`` ranks. The stacked RBMs then initialise a
sigmoid multilayer perceptron (:func:`stack_rbms`) that is fine-tuned with
backpropagation on the labels, as a classifier or a regressor.
"""
from pyspark import keyword_only
from pyspark.sql import functions as F

from .architectures import build_mlp
from .estimator import HorovodClassifier, HorovodEstimator, HorovodRegressor
from .model import HorovodModel
from .prediction_models import HorovodClassificationModel, HorovodRegressionModel
from ..params import (FeatureParams, HasCdSteps, HasDropout, HasHiddenLayers, HasPretrainEpochs,
                      HasPretrainLearningRate, HasVisibleType, TrainingParams)
from .rbm import VISIBLE_TYPES
from ..data.schema import features_array
from .unsupervised import RBM


def stack_rbms(rbms, output_dim, *, dropout=0.0):
    """A sigmoid MLP whose hidden layers start as the RBMs (weights and hidden biases), plus a new output layer.

    ``rbms`` are :class:`.rbm.RestrictedBoltzmannMachine` models, input side
    first; hidden layer ``i`` is named ``dense_i``.
    """
    network = build_mlp(rbms[0].visible, [rbm.hidden for rbm in rbms], output_dim, activation="sigmoid",
                        dropout=dropout)
    for i, rbm in enumerate(rbms, start=1):
        network.get_layer(f"dense_{i}").set_weights([rbm.kernel.numpy(), rbm.hidden_bias.numpy()])
    return network


class _DBNParams(FeatureParams, HasHiddenLayers, HasVisibleType, HasCdSteps,
                 HasPretrainEpochs, HasPretrainLearningRate, HasDropout, TrainingParams):
    def _set_common_defaults(self):
        self._set_training_defaults()
        self._setDefault(featuresCol="features", labelCol="label", predictionCol="prediction",
                         hiddenLayers=[256, 128], visibleType="binary", cdSteps=1, pretrainEpochs=5,
                         pretrainLearningRate=0.05, dropout=0.0)


class _DBNEstimator(HorovodEstimator):
    """Pretraining, shared by the DBN classifier and regressor."""

    def _param_checks(self):
        layers = self.getHiddenLayers()
        return super()._param_checks() + [
            ("hiddenLayers", layers, len(layers) > 0 and min(layers) >= 1, "a non-empty list of positive sizes"),
            ("visibleType", self.getVisibleType(), self.getVisibleType() in VISIBLE_TYPES, "'binary' or 'gaussian'"),
            ("cdSteps", self.getCdSteps(), self.getCdSteps() >= 1, "at least 1"),
            ("pretrainEpochs", self.getPretrainEpochs(), self.getPretrainEpochs() >= 0, "0 (no pretraining) or more"),
            ("pretrainLearningRate", self.getPretrainLearningRate(), self.getPretrainLearningRate() > 0, "positive")]

    def _build_keras_model(self, info, features, dataset):
        output_dim = info.num_classes if info.label_kind == "class" else info.num_targets
        self._pretraining_history = []
        if self.getPretrainEpochs() == 0:
            return build_mlp(info.num_features, self.getHiddenLayers(), output_dim, activation="sigmoid",
                             dropout=self.getDropout())
        rbms, self._pretraining_history = self._pretrain(dataset)
        return stack_rbms(rbms, output_dim, dropout=self.getDropout())

    def _pretrain(self, dataset):
        """Train one RBM per hidden layer, each on the hidden probabilities of the one below."""
        column = f"__{self.uid}_visible"
        layer_input = dataset.select(features_array(dataset, self.getFeaturesCol(), self._features_cols())
                                     .alias(column))
        rbms, history = [], []
        for i, units in enumerate(self.getHiddenLayers(), start=1):
            rbm = RBM(featuresCol=column, outputCol=f"{column}_{i}", hiddenUnits=units,
                      visibleType=self.getVisibleType() if i == 1 else "binary", cdSteps=self.getCdSteps(),
                      epochs=self.getPretrainEpochs(), learningRate=self.getPretrainLearningRate(),
                      batchSize=self.getBatchSize(), numProc=self._num_proc(dataset), seed=self.getSeed(),
                      **({"storePath": self.getStorePath()} if self.isSet(self.storePath) else {}),
                      verbose=self.getVerbose(),
                      maxRetries=self.getMaxRetries(), readerBackend=self.getReaderBackend()).fit(layer_input)
            rbms.append(rbm.getKerasModel())
            history.append(rbm.history)
            layer_input = rbm.transform(layer_input).select(F.col(f"{column}_{i}").alias(column))
        return rbms, history

    def _fitted(self, model):
        model.pretrainingHistory = self._pretraining_history
        return model


class _DBNModelMixin(HorovodModel):
    """Keeps the per-layer pretraining history with the model."""

    pretrainingHistory = ()

    def _extra_metadata(self):
        return {**super()._extra_metadata(), "pretrainingHistory": list(self.pretrainingHistory)}

    def _restore_extra(self, metadata):
        super()._restore_extra(metadata)
        self.pretrainingHistory = metadata.get("pretrainingHistory", [])


class _DBNClassifierParams(_DBNParams):
    def _set_defaults(self):
        self._set_common_defaults()
        self._setDefault(probabilityCol="probability", rawPredictionCol="rawPrediction")


class DBNClassifier(_DBNEstimator, HorovodClassifier, _DBNClassifierParams):
    """A deep belief network classifier: RBM pretraining of every hidden layer, then supervised fine-tuning.

    ``pretrainEpochs`` (0 turns pretraining off), ``pretrainLearningRate``,
    ``visibleType`` and ``cdSteps`` govern the pretraining; the other
    training params the fine-tuning. Outputs are Spark's classifier columns;
    ``model.pretrainingHistory`` holds each layer's reconstruction errors.

    Example::

        >>> dbn = DBNClassifier(hiddenLayers=[256, 128], pretrainEpochs=5, epochs=10, numProc=2)
        >>> model = dbn.fit(train)           # features in [0, 1] for the default binary visible units
        >>> model.transform(test).select("prediction", "probability").show()
    """

    @keyword_only
    def __init__(self, *, featuresCol="features", featuresCols=None, labelCol="label", predictionCol="prediction",
                 probabilityCol="probability", rawPredictionCol="rawPrediction", thresholds=None, hiddenLayers=None,
                 visibleType="binary", cdSteps=1, pretrainEpochs=5, pretrainLearningRate=0.05, dropout=0.0,
                 optimizer="adam", learningRate=0.001, batchSize=32, epochs=10, numProc=None, validationSplit=0.0,
                 earlyStoppingPatience=0, seed=None, storePath=None, verbose=1,
                 runId=None, maxRetries=2, logDir="", mlflowLogging=None, readerBackend="arrow",
                 weightCol=None, validationIndicatorCol=None):
        super().__init__()
        self._set_defaults()
        self.setParams(**self._input_kwargs)

    def _create_model(self, model_bytes, history, info):
        return DBNClassificationModel(model_bytes, history, info.num_features, info.num_classes, info.class_names)


class DBNClassificationModel(_DBNModelMixin, HorovodClassificationModel, _DBNClassifierParams):
    """A fitted :class:`DBNClassifier`: Spark's classifier columns, and the pretraining history.

    Example::

        >>> model = DBNClassifier(hiddenLayers=[64], numProc=2).fit(train)
        >>> model.pretrainingHistory[0]["reconstruction_error"]
    """

    def __init__(self, model_bytes=None, history=None, numFeatures=None, numClasses=None, classLabels=None):
        super().__init__(model_bytes, history, numFeatures, numClasses, classLabels)
        self._set_defaults()


class _DBNRegressorParams(_DBNParams):
    def _set_defaults(self):
        self._set_common_defaults()


class DBNRegressor(_DBNEstimator, HorovodRegressor, _DBNRegressorParams):
    """A deep belief network regressor of one numeric target (or a Vector of several).

    Example::

        >>> model = DBNRegressor(hiddenLayers=[64], labelCol="price", numProc=2).fit(train)
        >>> model.transform(test).select("price", "prediction").show()
    """

    @keyword_only
    def __init__(self, *, featuresCol="features", featuresCols=None, labelCol="label", predictionCol="prediction",
                 hiddenLayers=None, visibleType="binary", cdSteps=1, pretrainEpochs=5, pretrainLearningRate=0.05,
                 dropout=0.0, optimizer="adam", learningRate=0.001, batchSize=32, epochs=10, numProc=None,
                 validationSplit=0.0, earlyStoppingPatience=0, seed=None, storePath=None, verbose=1,
                 runId=None, maxRetries=2, logDir="", mlflowLogging=None, readerBackend="arrow",
                 weightCol=None, validationIndicatorCol=None):
        super().__init__()
        self._set_defaults()
        self.setParams(**self._input_kwargs)

    def _label_cols(self):
        return [self.getLabelCol()]

    def _loss_and_metrics(self, info):
        return "mean_squared_error", ["mean_absolute_error"]

    def _create_model(self, model_bytes, history, info):
        return DBNRegressionModel(model_bytes, history, info.num_features, info.num_targets)


class DBNRegressionModel(_DBNModelMixin, HorovodRegressionModel, _DBNRegressorParams):
    """A fitted :class:`DBNRegressor`: a double prediction (a Vector for several targets).

    Example::

        >>> DBNRegressor(numProc=2).fit(train).transform(test).select("prediction").show()
    """

    def __init__(self, model_bytes=None, history=None, numFeatures=None, numTargets=1):
        super().__init__(model_bytes, history, numFeatures, numTargets)
        self._set_defaults()
