"""Unsupervised estimators: Autoencoder and RBM, trained with Horovod, used as feature extractors.

Neither needs a label. The fitted models add a code or hidden-feature Vector
(``outputCol``), so they fit in a Pipeline in front of any classifier; the
Autoencoder also scores how badly it reconstructs each row, an anomaly score.
"""
from pyspark import keyword_only
from pyspark.sql import functions as F

from .architectures import build_autoencoder
from .estimator import HorovodEstimator
from ..data.layout import Field
from .model import HorovodModel, vector
from ..params import (FeatureParams, HasActivation, HasCdSteps, HasDenoising, HasEncoderLayers, HasHiddenUnits,
                     HasOutputCol, HasReconstructionCol, HasReconstructionErrorCol, HasSparsity, HasTiedWeights,
                     HasVisibleType, TrainingParams)
from .rbm import VISIBLE_TYPES, RestrictedBoltzmannMachine
from ..data.schema import FEATURES, NumericFeatures, features_array


class _AutoencoderParams(FeatureParams, HasOutputCol, HasReconstructionCol, HasReconstructionErrorCol,
                         HasEncoderLayers, HasActivation, HasTiedWeights, HasDenoising, HasSparsity, TrainingParams):
    def _set_defaults(self):
        self._set_training_defaults()
        self._setDefault(featuresCol="features", outputCol="code", reconstructionCol="",
                         reconstructionErrorCol="reconstructionError", encoderLayers=[64, 16], activation="relu",
                         tiedWeights=False, denoising=0.0, sparsity=0.0)


class Autoencoder(HorovodEstimator, _AutoencoderParams):
    """A dense autoencoder: learns to reconstruct its input through a small code, with no label.

    The fitted :class:`AutoencoderModel` outputs the code (``outputCol``), and
    where asked the reconstruction (``reconstructionCol``) and each row's mean
    squared reconstruction error (``reconstructionErrorCol``), which ranks
    unusual rows high. ``tiedWeights``, ``denoising`` (input noise while
    training) and ``sparsity`` (L1 on the code) are params.

    Example::

        >>> from pyspark.ml.classification import LogisticRegression
        >>> ae = Autoencoder(encoderLayers=[128, 32], denoising=0.1, featuresCol="features",
        ...                  outputCol="code", reconstructionErrorCol="anomalyScore", numProc=2)
        >>> codes = ae.fit(df).transform(df)          # code: Vector(32); anomalyScore: double
        >>> Pipeline(stages=[assembler, ae, LogisticRegression(featuresCol="code")]).fit(df)
    """

    _label_kind = None

    _model_from_params = True

    @keyword_only
    def __init__(self, *, featuresCol="features", featuresCols=None, outputCol="code", reconstructionCol="",
                 reconstructionErrorCol="reconstructionError", encoderLayers=None, activation="relu",
                 tiedWeights=False, denoising=0.0, sparsity=0.0, optimizer="adam", learningRate=0.001, batchSize=32,
                 epochs=10, numProc=None, validationSplit=0.0, earlyStoppingPatience=0, seed=None, storePath=None,
                 verbose=1,
                 runId=None, maxRetries=2, logDir="", mlflowLogging=None, readerBackend="arrow",
                 weightCol=None, validationIndicatorCol=None):
        super().__init__()
        self._set_defaults()
        self.setParams(**self._input_kwargs)

    def _param_checks(self):
        layers = self.getEncoderLayers()
        return super()._param_checks() + [
            ("encoderLayers", layers, len(layers) > 0 and min(layers) >= 1, "a non-empty list of positive sizes"),
            ("denoising", self.getDenoising(), self.getDenoising() >= 0, "0 (off) or positive"),
            ("sparsity", self.getSparsity(), self.getSparsity() >= 0, "0 (off) or positive")]

    def _label_cols(self):
        return []

    def _build_keras_model(self, info, features, dataset):
        return build_autoencoder(info.num_features, self.getEncoderLayers(), activation=self.getActivation(),
                                 tied=self.getTiedWeights(), denoising=self.getDenoising(),
                                 sparsity=self.getSparsity())

    def _loss_and_metrics(self, info):
        return {"reconstruction": "mean_squared_error"}, []

    def _target_fields(self, info, keras_model):
        return [Field(FEATURES, (info.num_features,), "reconstruction")]  # the target is the input itself

    def _create_model(self, model_bytes, history, info):
        return AutoencoderModel(model_bytes, history, info.num_features)


class AutoencoderModel(HorovodModel, _AutoencoderParams):
    """A fitted :class:`Autoencoder`: adds the code, and optionally the reconstruction and its error.

    Example::

        >>> model = Autoencoder(encoderLayers=[32, 8], numProc=2).fit(df)
        >>> model.transform(df).select("code", "reconstructionError").show()
    """

    def __init__(self, model_bytes=None, history=None, numFeatures=None):
        super().__init__(model_bytes, history, numFeatures)
        self._set_defaults()

    def _output_columns(self, struct, dataset):
        code_size = self._architecture().get_layer("code").output.shape[-1]
        raw = struct["raw"]  # the code, then the reconstruction (outputs in name order)
        reconstruction = F.slice(raw, code_size + 1, self._num_features)
        given = features_array(dataset, self.getFeaturesCol(), self._features_cols())
        squared = F.zip_with(given, reconstruction, lambda a, b: (a - b) * (a - b))
        error = F.aggregate(squared, F.lit(0.0), lambda total, x: total + x) / self._num_features
        return [(self.getOutputCol(), vector(F.slice(raw, 1, code_size)), None),
                (self.getReconstructionCol(), vector(reconstruction), None),
                (self.getReconstructionErrorCol(), F.when(raw.isNotNull(), error), None)]


class _RBMParams(FeatureParams, HasOutputCol, HasHiddenUnits, HasVisibleType, HasCdSteps, TrainingParams):
    def _set_defaults(self):
        self._set_training_defaults()
        self._setDefault(featuresCol="features", outputCol="hidden", hiddenUnits=64, visibleType="binary",
                         cdSteps=1, optimizer="sgd", learningRate=0.05)


class _RBMFeatures(NumericFeatures):
    def fields(self, keras_model):
        return [Field(self.staged, (keras_model.visible,))]


class RBM(HorovodEstimator, _RBMParams):
    """A restricted Boltzmann machine trained by contrastive divergence (CD-k) on Horovod ranks.

    Binary visible units want values in [0, 1] (e.g. pixels / 255); Gaussian
    ones want standardised values. The CD updates are averaged across ranks
    like gradients. Each epoch reports the reconstruction error (in
    ``model.history["reconstruction_error"]``). The fitted :class:`RBMModel`
    outputs the hidden units' probabilities as a Vector in ``outputCol``.

    Example::

        >>> rbm = RBM(hiddenUnits=64, visibleType="binary", cdSteps=1, featuresCol="pixels", outputCol="hidden",
        ...           epochs=10, numProc=2)
        >>> rbm.fit(df).transform(df).select("hidden").show()
    """

    _label_kind = None

    _model_from_params = True

    @keyword_only
    def __init__(self, *, featuresCol="features", featuresCols=None, outputCol="hidden", hiddenUnits=64,
                 visibleType="binary", cdSteps=1, optimizer="sgd", learningRate=0.05, batchSize=32, epochs=10,
                 numProc=None, validationSplit=0.0, earlyStoppingPatience=0, seed=None, storePath=None, verbose=1,
                 runId=None, maxRetries=2, logDir="", mlflowLogging=None, readerBackend="arrow",
                 weightCol=None, validationIndicatorCol=None):
        super().__init__()
        self._set_defaults()
        self.setParams(**self._input_kwargs)

    def _param_checks(self):
        return super()._param_checks() + [
            ("hiddenUnits", self.getHiddenUnits(), self.getHiddenUnits() >= 1, "at least 1"),
            ("visibleType", self.getVisibleType(), self.getVisibleType() in VISIBLE_TYPES, "'binary' or 'gaussian'"),
            ("cdSteps", self.getCdSteps(), self.getCdSteps() >= 1, "at least 1")]

    def _feature_input(self):
        return _RBMFeatures(self.getFeaturesCol(), self._features_cols())

    def _label_cols(self):
        return []

    def _build_keras_model(self, info, features, dataset):
        return RestrictedBoltzmannMachine(info.num_features, self.getHiddenUnits(), self.getVisibleType(),
                                          self.getCdSteps(), seed=self.getSeed())

    def _loss_and_metrics(self, info):
        return None, []

    def _create_model(self, model_bytes, history, info):
        return RBMModel(model_bytes, history, info.num_features)


class RBMModel(HorovodModel, _RBMParams):
    """A fitted :class:`RBM`: adds the hidden units' probabilities as a Vector in ``outputCol``.

    Example::

        >>> model = RBM(hiddenUnits=32, numProc=2).fit(df)
        >>> model.history["reconstruction_error"]
        >>> model.transform(df).select("hidden").show()
    """

    def __init__(self, model_bytes=None, history=None, numFeatures=None):
        super().__init__(model_bytes, history, numFeatures)
        self._set_defaults()

    def _feature_input(self):
        return _RBMFeatures(self.getFeaturesCol(), self._features_cols())

    def _output_columns(self, struct, dataset):
        return [(self.getOutputCol(), vector(struct["raw"]), None)]
