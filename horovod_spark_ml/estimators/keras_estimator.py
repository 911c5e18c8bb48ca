"""KerasEstimator: any Keras 3 model, with the user's loss, optimizer and metrics, as a Spark ML Estimator.

A model with several inputs takes one ``featuresCols`` column per input, in
the order of its inputs; a model with several outputs takes one ``labelCols``
column per output, with a ``loss`` (and ``lossWeights``, ``metrics``) per
output name. Joining DataFrames on a key gives the columns of several sources.

The model is given uncompiled or compiled (compile state is ignored: loss,
optimizer and metrics come from the params, so they persist as JSON).
Training starts from the model's current weights, so a pretrained model can
be fine-tuned with some layers frozen (``frozenLayers``, or the complement,
``trainableLayers``); the user's model object itself is never changed.
Features are fed as one flat float array per row and reshaped to the model's
input shape, so a Vector of 784 values can feed a ``(28, 28, 1)`` input.
"""
import math

import keras
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.sql import functions as F
from pyspark import keyword_only

from ..errors import InputError
from .estimator import HorovodEstimator
from ..keras_bytes import custom_modules, model_from_bytes, model_to_bytes
from .model import HorovodModel, vector
from ..data.layout import Field
from ..params import (FeatureParams, HasLabelCol, HasLabelCols, HasLoss, HasLossWeights, HasMetrics, HasPredictionCol,
                     TrainingParams)
from ..data.multi_input import MultiInputFeatures
from ..data.schema import LABEL, NumericFeatures
from ..stack import warn_if_keras_unsafe


def _to_keras_model(value):
    if not isinstance(value, keras.Model):
        raise TypeError(f"model must be a Keras 3 model (keras.Model), got {type(value).__name__}")
    return value


def model_from_json(text):
    """A Keras model from ``model.to_json()`` text; anything else is an :class:`InputError` saying what is wrong."""
    import json
    try:
        config = json.loads(text)
    except ValueError as e:
        raise InputError(f"modelJson is not valid JSON ({e}); give the text of a Keras model's to_json()") from None
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise InputError("modelJson is JSON but not a Keras model: expected an object with 'class_name' and "
                         "'config', as model.to_json() writes")
    warn_if_keras_unsafe("a modelJson")
    try:
        model = keras.models.model_from_json(text)
    except Exception as e:  # noqa: BLE001 -- Keras raises many kinds; all mean the same to the user
        raise InputError(f"modelJson could not be turned into a Keras model ({type(e).__name__}: {e}); a custom "
                         "layer must be registered (keras.saving.register_keras_serializable) in a module "
                         "imported before fit") from None
    if not isinstance(model, keras.Model):
        raise InputError(f"modelJson describes a {type(model).__name__}, not a Keras model")
    return model


def _output_names(model):
    # Functional models name their outputs (by their layers); a Sequential model has one.
    return list(getattr(model, "output_names", None) or ["output"])


class _KerasEstimatorParams(FeatureParams, HasLabelCol, HasLabelCols, HasPredictionCol, HasLoss, HasLossWeights,
                            HasMetrics, TrainingParams):
    model = Param(Params._dummy(), "model", "the Keras 3 model to train (saved as .keras, not as JSON)",
                  typeConverter=_to_keras_model)

    def getModel(self):
        """Gets the Keras model to train."""
        return self.getOrDefault(self.model)

    modelJson = Param(Params._dummy(), "modelJson",
                      "the network to train as text, in Keras' model.to_json() format, instead of model (custom "
                      "layers must be registered in a module the driver and executors import)",
                      typeConverter=TypeConverters.toString)

    def getModelJson(self):
        """Gets the network to train, as Keras JSON."""
        return self.getOrDefault(self.modelJson)

    def setModelJson(self, value):
        """Sets the network to train, as Keras JSON (``model.to_json()``)."""
        return self._set(modelJson=value)

    def setModel(self, value):
        """Sets the Keras model to train."""
        return self._set(model=value)

    frozenLayers = Param(Params._dummy(), "frozenLayers", "names of the model's layers whose weights stay as given",
                         typeConverter=TypeConverters.toListString)
    trainableLayers = Param(Params._dummy(), "trainableLayers",
                            "names of the only layers that train (all others are frozen); instead of frozenLayers",
                            typeConverter=TypeConverters.toListString)

    def getFrozenLayers(self):
        """Gets the names of the frozen layers."""
        return self.getOrDefault(self.frozenLayers)

    def setFrozenLayers(self, value):
        """Sets the names of the layers whose weights stay as given."""
        return self._set(frozenLayers=value)

    def getTrainableLayers(self):
        """Gets the names of the only layers that train."""
        return self.getOrDefault(self.trainableLayers)

    def setTrainableLayers(self, value):
        """Sets the names of the only layers that train; the others are frozen."""
        return self._set(trainableLayers=value)

    def _set_defaults(self):
        self._set_training_defaults()
        self._setDefault(featuresCol="features", labelCol="label", predictionCol="prediction", metrics=[])

    def _network(self, fresh=False):
        """The Keras model to train: ``model``, or one built from ``modelJson`` (``fresh``: newly initialised)."""
        if not self.isDefined(self.modelJson):
            return self.getModel()
        text = self.getModelJson()
        cached = getattr(self, "_from_json", None)
        if fresh or cached is None or cached[0] != text:
            self._from_json = (text, model_from_json(text))
        return self._from_json[1]

    def _feature_input_of(self, keras_model):
        if len(keras_model.inputs) > 1:
            return MultiInputFeatures(self.getFeaturesCols(), keras_model)
        return NumericFeatures(self.getFeaturesCol(), self._features_cols(),
                               math.prod(keras_model.inputs[0].shape[1:]))


class KerasEstimator(HorovodEstimator, _KerasEstimatorParams):
    """Train any Keras 3 model with Horovod on the Spark executors.

    The label column may be numeric (one target or a class index for a
    sparse loss) or a Vector/array (several targets). The fitted
    :class:`KerasModel` puts the model's output in ``predictionCol``: a double
    for a single output, else a Vector.

    Example::

        >>> import keras
        >>> net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"),
        ...                         keras.layers.Dense(3)])
        >>> est = KerasEstimator(model=net, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
        ...                      optimizer="adam", learningRate=0.01, epochs=20, numProc=2)
        >>> est.fit(train).transform(test).select("prediction").show()

    Fine-tuning a pretrained network with its convolutions frozen::

        >>> base = cnn_model.getKerasModel()
        >>> head = keras.layers.Dense(5, name="new_head")(base.get_layer("fc7").output)
        >>> tuned = KerasEstimator(model=keras.Model(base.inputs, head), frozenLayers=["conv1", "conv2"],
        ...                        loss="sparse_categorical_crossentropy", numProc=2).fit(train)
    """

    _unsaved_params = ("model",)

    @keyword_only
    def __init__(self, *, model=None, modelJson=None, loss=None, lossWeights=None, metrics=None, featuresCol="features",
                 featuresCols=None, labelCol="label", labelCols=None, predictionCol="prediction", frozenLayers=None,
                 trainableLayers=None,
                 optimizer="adam", learningRate=0.001, batchSize=32, epochs=10, numProc=None, validationSplit=0.0,
                 earlyStoppingPatience=0, seed=None, storePath=None, verbose=1,
                 runId=None, maxRetries=2, logDir="", mlflowLogging=None, readerBackend="arrow",
                 weightCol=None, validationIndicatorCol=None):
        super().__init__()
        self._set_defaults()
        self.setParams(**self._input_kwargs)

    def _check_params(self, dataset):
        if self.isDefined(self.model) == self.isDefined(self.modelJson):
            raise InputError("give KerasEstimator its network either as a Keras model (model=...) or as Keras JSON "
                             "(modelJson=model.to_json()), not both" if self.isDefined(self.model) else
                             "model is not set: give KerasEstimator a Keras model (model=...) or its JSON "
                             "(modelJson=...)")
        if not self.isDefined(self.loss):
            raise InputError("loss is not set: give KerasEstimator a Keras loss, e.g. loss='mse'")
        model = self._network()
        self._check_count("featuresCols", self.featuresCols, "inputs", [t.name for t in model.inputs])
        self._check_count("labelCols", self.labelCols, "outputs", _output_names(model))
        if self.isDefined(self.frozenLayers) and self.isDefined(self.trainableLayers):
            raise InputError("frozenLayers and trainableLayers are both set; set one of them")
        names = [layer.name for layer in model.layers]
        for param in (self.frozenLayers, self.trainableLayers):
            unknown = [n for n in (self.getOrDefault(param) if self.isDefined(param) else []) if n not in names]
            if unknown:
                raise InputError(f"{param.name} names {', '.join(unknown)}, not layers of the model; its layers "
                                 f"are: {', '.join(names)}")
        return super()._check_params(dataset)

    def _check_count(self, param, value, what, names):
        if len(names) > 1 and (not self.isDefined(value) or len(self.getOrDefault(value)) != len(names)):
            given = self.getOrDefault(value) if self.isDefined(value) else None
            raise InputError(f"the model has {len(names)} {what} ({', '.join(names)}), so {param} needs one column "
                             f"for each, in that order; got {given}")

    def _feature_input(self):
        return self._feature_input_of(self._network())

    def _label_cols(self):
        return self.getLabelCols() if len(self._network().outputs) > 1 else [self.getLabelCol()]

    def _label_columns(self, dataset, label_cols, info):
        if len(label_cols) > 1:
            return [F.col(c).cast("float").alias(f"{LABEL}_{j}") for j, c in enumerate(label_cols)]
        return super()._label_columns(dataset, label_cols, info)

    def _target_fields(self, info, keras_model):
        names = _output_names(keras_model)
        if len(names) > 1:
            return [Field(f"{LABEL}_{j}", (), name) for j, name in enumerate(names)]
        return super()._target_fields(info, keras_model)

    def _loss_weights(self):
        return self.getLossWeights() if self.isDefined(self.lossWeights) else None

    def _build_keras_model(self, info, features, dataset):
        if self.isDefined(self.modelJson):
            original = self._network(fresh=True)  # initialised after fit seeded Keras: reproducible
        else:
            original = self.getModel()
        if not (self.isDefined(self.frozenLayers) or self.isDefined(self.trainableLayers)):
            return original
        # A copy: the user's model keeps its own trainable flags.
        model = model_from_bytes(model_to_bytes(original), modules=custom_modules(original))
        if self.isDefined(self.trainableLayers):
            trainable = set(self.getTrainableLayers())
            for layer in model.layers:
                layer.trainable = layer.name in trainable
        else:
            for name in self.getFrozenLayers():
                model.get_layer(name).trainable = False
        return model

    def _loss_and_metrics(self, info):
        metrics = self.getMetrics()  # a list, or for several outputs a dict of lists by output name
        return self.getLoss(), metrics if isinstance(metrics, dict) else list(metrics)

    def _create_model(self, model_bytes, history, info):
        return KerasModel(model_bytes, history, info.num_features)

    def _model(self, plan, result):
        model = super()._model(plan, result)
        if self.isDefined(self.model) and plan.keras_model is self.getModel():
            model._fitted_from = None  # the user's own model object, which they may change after the fit
        return model

    def _keras_bytes(self):
        return model_to_bytes(self.getModel()) if self.isDefined(self.model) else None

    def _restore_keras_bytes(self, data):
        self._set(model=model_from_bytes(data))


class KerasModel(HorovodModel, _KerasEstimatorParams):
    """A fitted :class:`KerasEstimator`: the trained Keras model, applied to every row in batches.

    Example::

        >>> fitted = KerasEstimator(model=net, loss="mse", numProc=2).fit(train)
        >>> fitted.transform(test).select("prediction").show()
        >>> fitted.getKerasModel().summary()
    """

    _unsaved_params = ("model",)

    def __init__(self, model_bytes=None, history=None, numFeatures=None):
        super().__init__(model_bytes, history, numFeatures)
        self._set_defaults()

    def _feature_input(self):
        return self._feature_input_of(self._architecture())

    def _output_columns(self, struct, dataset):
        """One prediction column per output: ``predictionCol``, or ``<predictionCol>_<output name>`` for several."""
        model, raw, start, columns = self._architecture(), struct["raw"], 1, []
        for name, tensor in zip(_output_names(model), model.outputs):
            size = math.prod(tensor.shape[1:])
            column = raw[start - 1] if size == 1 else vector(F.slice(raw, start, size))
            single = len(model.outputs) == 1
            columns.append((self.getPredictionCol() if single else f"{self.getPredictionCol()}_{name}", column, None))
            start += size
        return columns
