"""Recurrent networks on sequence columns: LSTMClassifier and LSTMRegressor, with their fitted models.

``featuresCol`` holds one sequence per row, of any length: time steps x
features (``array<array<double>>``) or one feature per step
(``array<double>``). Rows are padded on the JVM and the padded steps masked
inside the network (:mod:`.sequence_input`), so padding changes nothing.
``cell`` picks LSTM, GRU or SimpleRNN layers; ``labelPerStep`` turns either
estimator into a sequence tagger with one prediction per time step.
"""
import numpy as np
from pyspark import keyword_only
from pyspark.ml.linalg import Vectors
from pyspark.sql import functions as F

from .architectures import RNN_CELLS, build_rnn
from ..errors import InputError
from .estimator import HorovodClassifier, HorovodEstimator, HorovodRegressor
from ..data.layout import Field
from .model import HorovodModel
from .prediction_models import HorovodClassificationModel, HorovodRegressionModel, argmax
from ..params import (FeatureParams, HasHorizon, HasLabelCols, SequenceParams, TrainingParams)
from ..data.schema import LABEL
from ..data.sequence_input import SequenceFeatures
from ..serving.inference import softmax

_THRESHOLDS_PER_STEP = "thresholds apply to whole sequences; with labelPerStep, predict without them"


class _SequenceParams(FeatureParams, SequenceParams, TrainingParams):
    def _set_common_defaults(self):
        self._set_training_defaults()
        self._set_sequence_defaults()
        self._setDefault(featuresCol="sequence", labelCol="label", predictionCol="prediction")

    def _sequence_features(self, keras_model=None, label_kind=None):
        steps = width = None
        if keras_model is not None:
            steps, width = keras_model.get_layer("sequence").output.shape[1:]
        return SequenceFeatures(self.getFeaturesCol(),
                                max_length=self.getMaxLength() if self.isDefined(self.maxLength) else None,
                                truncate=self.getTruncateFrom(), steps=steps, width=width,
                                step_labels=(self.getLabelCol(), label_kind) if self.getLabelPerStep() else None)


class _RecurrentEstimator(HorovodEstimator):
    """What both recurrent estimators share: sequence checks, per-step labels, the network."""

    _step_label_kind = None

    def _param_checks(self):
        return super()._param_checks() + [
            ("cell", self.getCell(), self.getCell() in RNN_CELLS, f"one of {', '.join(RNN_CELLS)}"),
            ("units", self.getUnits(), len(self.getUnits()) > 0 and min(self.getUnits()) > 0,
             "a non-empty list of positive sizes"),
            ("truncateFrom", self.getTruncateFrom(), self.getTruncateFrom() in ("start", "end"), "'start' or 'end'"),
            ("maxLength", self.getMaxLength() if self.isDefined(self.maxLength) else None,
             not self.isDefined(self.maxLength) or self.getMaxLength() > 0, "positive")]

    def _feature_input(self):
        return self._sequence_features(label_kind=self._step_label_kind)

    def _label_cols(self):
        return [] if self.getLabelPerStep() else super()._label_cols()

    def _staged_columns(self, dataset, features, label_cols, info):
        columns = super()._staged_columns(dataset, features, label_cols, info)
        return columns + [features.label_column()] if self.getLabelPerStep() else columns

    def _target_fields(self, info, keras_model):
        if self.getLabelPerStep():
            # (steps, 1) for values, so the loss is per step (and masked per step) like the outputs.
            steps = keras_model.get_layer("sequence").output.shape[1]
            return [Field(LABEL, (steps,) if self._step_label_kind == "class" else (steps, 1))]
        return super()._target_fields(info, keras_model)

    def _network(self, features, output_dim):
        return build_rnn(features.steps, features.width, self.getUnits(), output_dim, cell=self.getCell(),
                         bidirectional=self.getBidirectional(), dropout=self.getDropout(),
                         recurrent_dropout=self.getRecurrentDropout(), per_step=self.getLabelPerStep())


class _RecurrentModel(HorovodModel):
    def _feature_input(self):
        return self._sequence_features(self._architecture())

    def _steps_of_one(self, value, width):
        """One row's per-step outputs, ``width`` values each, for its real (unpadded) steps."""
        steps = min(len(value), self._feature_input().steps)
        return self._raw_of_one(value).reshape(-1, width)[:steps]

    def _steps(self, raw, dataset, width):
        """Per-step outputs of ``width`` values, for the real (unpadded) steps of each row."""
        length = self._feature_input().length(dataset)
        positions = F.sequence(F.lit(0), F.greatest(length - 1, F.lit(0)))
        return F.when(raw.isNotNull() & (length > 0),
                      F.transform(positions, lambda i: F.slice(raw, i * width + 1, width)))


class _LSTMClassifierParams(_SequenceParams):
    def _set_defaults(self):
        self._set_common_defaults()
        self._setDefault(probabilityCol="probability", rawPredictionCol="rawPrediction")

    def _no_thresholds_per_step(self):
        """Refuse ``thresholds`` with ``labelPerStep``: they apply to whole sequences."""
        if self.getLabelPerStep() and self.isDefined(self.thresholds):
            raise InputError(_THRESHOLDS_PER_STEP)


class LSTMClassifier(_RecurrentEstimator, HorovodClassifier, _LSTMClassifierParams):
    """A recurrent classifier of whole sequences, or of each time step with ``labelPerStep``.

    Whole sequences: ``labelCol`` holds class indices (e.g. from
    StringIndexer) and the outputs are Spark's classifier columns. Per step:
    ``labelCol`` holds an array of class indices, one per step, and the
    outputs are arrays over the row's steps: ``prediction`` (class indices)
    and ``probability`` (one probability array per step).

    Example::

        >>> clf = LSTMClassifier(units=[64], cell="lstm", bidirectional=False, epochs=10,
        ...                      featuresCol="sequence", labelCol="label", numProc=2)
        >>> clf.fit(train).transform(test).select("prediction", "probability").show()
    """

    _step_label_kind = "class"

    @keyword_only
    def __init__(self, *, featuresCol="sequence", labelCol="label", predictionCol="prediction", thresholds=None,
                 probabilityCol="probability", rawPredictionCol="rawPrediction", units=None, cell="lstm",
                 bidirectional=False, dropout=0.0, recurrentDropout=0.0, maxLength=None, truncateFrom="start",
                 labelPerStep=False, optimizer="adam", learningRate=0.001, batchSize=32, epochs=10, numProc=None,
                 validationSplit=0.0, earlyStoppingPatience=0, seed=None, storePath=None, verbose=1,
                 runId=None, maxRetries=2, logDir="", mlflowLogging=None, readerBackend="arrow",
                 weightCol=None, validationIndicatorCol=None):
        super().__init__()
        self._set_defaults()
        self.setParams(**self._input_kwargs)

    def _check_fit(self, dataset):
        self._no_thresholds_per_step()  # before anything is staged
        return super()._check_fit(dataset)

    def _build_keras_model(self, info, features, dataset):
        return self._network(features, features.num_classes if self.getLabelPerStep() else info.num_classes)

    def _create_model(self, model_bytes, history, info):
        return LSTMClassificationModel(model_bytes, history, info.num_features, info.num_classes, info.class_names)


class LSTMClassificationModel(_RecurrentModel, HorovodClassificationModel, _LSTMClassifierParams):
    """A fitted :class:`LSTMClassifier`: pads and masks each sequence as in training, predicts in batches.

    Example::

        >>> model = LSTMClassifier(numProc=2).fit(train)
        >>> model.transform(test).select("prediction", "probability").show()
    """

    def __init__(self, model_bytes=None, history=None, numFeatures=None, numClasses=None, classLabels=None):
        super().__init__(model_bytes, history, numFeatures, numClasses, classLabels)
        self._set_defaults()

    @property
    def _head(self):
        return "values" if self.getLabelPerStep() else "classes"

    def predictRaw(self, value):
        """The raw scores of each class: for the sequence, or with labelPerStep a Vector per step."""
        if not self.getLabelPerStep():
            return super().predictRaw(value)
        return [Vectors.dense(step) for step in self._steps_of_one(value, self._classes())]

    def predictProbability(self, value):
        """The probability of each class: for the sequence, or with labelPerStep a Vector per step."""
        if not self.getLabelPerStep():
            return super().predictProbability(value)
        return [Vectors.dense(step) for step in softmax(self._steps_of_one(value, self._classes()))]

    def predict(self, value):
        """The predicted class index: for the sequence, or with labelPerStep one per step."""
        if not self.getLabelPerStep():
            return super().predict(value)
        self._no_thresholds_per_step()
        return [float(np.argmax(step)) for step in self._steps_of_one(value, self._classes())]

    def _classes(self):
        return self._architecture().outputs[0].shape[-1]

    def _output_columns(self, struct, dataset):
        if not self.getLabelPerStep():
            return super()._output_columns(struct, dataset)
        self._no_thresholds_per_step()
        classes = self._classes()
        logits = self._steps(struct["raw"], dataset, classes)

        def step_softmax(step):
            exps = F.transform(step, lambda v: F.exp(v - F.array_max(step)))
            return F.transform(exps, lambda e: e / F.aggregate(exps, F.lit(0.0), lambda acc, x: acc + x))

        prediction = F.transform(logits, lambda s: argmax(s).cast("double"))
        return [(self.getProbabilityCol(), F.transform(logits, step_softmax), None),
                (self.getPredictionCol(), prediction, None)]


class _LSTMRegressorParams(_SequenceParams, HasLabelCols, HasHorizon):
    def _set_defaults(self):
        self._set_common_defaults()
        self._setDefault(horizon=1)


class LSTMRegressor(_RecurrentEstimator, HorovodRegressor, _LSTMRegressorParams):
    """A recurrent regressor: ``horizon`` values per sequence, or one value per time step with ``labelPerStep``.

    With ``horizon=1`` the label is a number and the prediction a double; with
    more, the label is a Vector or array of ``horizon`` values (or
    ``labelCols``) and the prediction a Vector. Per step, the label and the
    prediction are arrays over the row's steps.

    Example::

        >>> reg = LSTMRegressor(units=[32], featuresCol="sequence", labelCol="nextValue", horizon=1,
        ...                     epochs=20, numProc=2)
        >>> reg.fit(train).transform(test).select("nextValue", "prediction").show()
    """

    _step_label_kind = "value"

    @keyword_only
    def __init__(self, *, featuresCol="sequence", labelCol="label", labelCols=None, predictionCol="prediction",
                 horizon=1, units=None, cell="lstm", bidirectional=False, dropout=0.0, recurrentDropout=0.0,
                 maxLength=None, truncateFrom="start", labelPerStep=False, optimizer="adam", learningRate=0.001,
                 batchSize=32, epochs=10, numProc=None, validationSplit=0.0, earlyStoppingPatience=0, seed=None,
                 storePath=None, verbose=1,
                 runId=None, maxRetries=2, logDir="", mlflowLogging=None, readerBackend="arrow",
                 weightCol=None, validationIndicatorCol=None):
        super().__init__()
        self._set_defaults()
        self.setParams(**self._input_kwargs)

    def _label_cols(self):
        if self.getLabelPerStep():
            return []
        return self.getLabelCols() if self.isDefined(self.labelCols) else [self.getLabelCol()]

    def _build_keras_model(self, info, features, dataset):
        if not self.getLabelPerStep() and info.num_targets != self.getHorizon():
            label = ", ".join(self._label_cols())
            raise InputError(f"labelCol '{label}' holds {info.num_targets} values per row but horizon="
                             f"{self.getHorizon()}; give {self.getHorizon()} target values per row or set horizon")
        return self._network(features, 1 if self.getLabelPerStep() else self.getHorizon())

    def _loss_and_metrics(self, info):
        return "mean_squared_error", ["mean_absolute_error"]

    def _create_model(self, model_bytes, history, info):
        return LSTMRegressionModel(model_bytes, history, info.num_features)


class LSTMRegressionModel(_RecurrentModel, HorovodRegressionModel, _LSTMRegressorParams):
    """A fitted :class:`LSTMRegressor`: a double, a Vector of ``horizon`` values, or an array per step.

    Example::

        >>> model = LSTMRegressor(numProc=2, labelCol="nextValue").fit(train)
        >>> model.transform(test).select("nextValue", "prediction").show()
    """

    def __init__(self, model_bytes=None, history=None, numFeatures=None):
        super().__init__(model_bytes, history, numFeatures)
        self._set_defaults()

    def predict(self, value):
        """The prediction for one sequence: a float, a Vector of ``horizon`` values, or with labelPerStep a
        float per step."""
        if self.getLabelPerStep():
            return [float(step[0]) for step in self._steps_of_one(value, 1)]
        return super().predict(value)

    def _num_targets(self):
        return self.getHorizon()

    def _output_columns(self, struct, dataset):
        if not self.getLabelPerStep():
            return super()._output_columns(struct, dataset)
        prediction = F.transform(self._steps(struct["raw"], dataset, 1), lambda s: s[0])
        return [(self.getPredictionCol(), prediction, None)]
