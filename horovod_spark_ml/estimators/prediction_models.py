"""The fitted classifiers and regressors, as pyspark's own prediction models.

pyspark describes a prediction model with abstract classes on its Python
side: ``PredictionModel`` (``featuresCol``, ``predictionCol``,
``numFeatures``, ``predict(value)``), ``ClassificationModel``
(``rawPredictionCol``, ``numClasses``, ``predictRaw``) and
``ProbabilisticClassificationModel`` (``probabilityCol``, ``thresholds``,
``predictProbability``). The classifiers' models inherit the last, and the
regressors' models ``pyspark.ml.regression.RegressionModel``, so code that
checks ``isinstance`` against pyspark recognises them. The one-row methods
compute on the driver what ``transform`` computes on the executors, through
the same conversion of the features to model inputs. ``thresholds`` works as
in Spark's own classifiers: the predicted class is the one with the largest
probability divided by its threshold (a threshold of 0 wins where its class
has any probability), checked against the classes before a fit stages
anything.

Not every fitted model is one. :class:`.KerasModel` outputs whatever the
user's network gives, one column per output, which a single ``prediction``
does not describe; :class:`.AutoencoderModel` and :class:`.RBMModel` learn
without a label and output codes and scores, not predictions. They are
:class:`.HorovodModel` alone.

Example::

    >>> from pyspark.ml.classification import ProbabilisticClassificationModel
    >>> model = MLPClassifier(numProc=2).fit(train)
    >>> isinstance(model, ProbabilisticClassificationModel), model.numFeatures, model.numClasses
    (True, 64, 10)
    >>> model.predictProbability(Vectors.dense(test.first().features))
    DenseVector([0.0, 0.98, ...])
    >>> model.setThresholds([1.0] * 9 + [0.5]).transform(test)   # class 9 where half as likely suffices
"""
import numpy as np
from pyspark.ml.classification import ProbabilisticClassificationModel
from pyspark.ml.linalg import Vectors
from pyspark.ml.regression import RegressionModel
from pyspark.sql import functions as F

from ..errors import InputError
from ..serving.inference import softmax
from .model import HorovodModel, vector


class HorovodClassificationModel(HorovodModel, ProbabilisticClassificationModel):
    """Base of the fitted classifiers: Spark's rawPrediction, probability and prediction columns.

    The prediction column carries the class names as nominal metadata, so
    ``IndexToString`` needs no labels argument.
    """

    _head = "classes"

    def __init__(self, model_bytes=None, history=None, numFeatures=None, numClasses=None, classLabels=None):
        super().__init__(model_bytes, history, numFeatures)
        self.numClasses = numClasses
        #: class names from the label's ML attribute, or None
        self.classLabels = classLabels

    @property
    def numClasses(self):
        """Number of classes (values which the label can take)."""
        return self._num_classes

    @numClasses.setter
    def numClasses(self, value):
        self._num_classes = value

    def predictRaw(self, value):
        """The raw scores (logits) of each class for one row's features ``value`` (a Vector, as featuresCol holds
        it)."""
        return Vectors.dense(self._raw_of_one(value))

    def predictProbability(self, value):
        """The probability of each class for one row's features ``value``."""
        return Vectors.dense(softmax(self._raw_of_one(value)))

    def predict(self, value):
        """The predicted class index for one row's features ``value``, with ``thresholds`` where set."""
        probability = softmax(self._raw_of_one(value))
        thresholds = self._thresholds()
        if thresholds is None:
            return float(np.argmax(probability))
        # as Spark's p / t: a threshold of 0 wins outright, unless its class has no probability at all (NaN)
        scaled = [(np.inf if p > 0 else -np.inf) if t == 0 else p / t for p, t in zip(probability, thresholds)]
        return float(np.argmax(scaled))

    def _thresholds(self):
        """The ``thresholds`` set, checked against the classes; ``None`` when unset."""
        return checked_thresholds(self, self.numClasses)

    def _output_columns(self, struct, dataset):
        attr = {"type": "nominal", "name": self.getPredictionCol()}
        if self.classLabels:
            attr["vals"] = list(self.classLabels)
        else:
            attr["num_vals"] = self.numClasses
        return [(self.getRawPredictionCol(), vector(struct["raw"]), None),
                (self.getProbabilityCol(), vector(struct["probability"]), None),
                (self.getPredictionCol(), self._prediction(struct), {"ml_attr": attr})]

    def _prediction(self, struct):
        thresholds = self._thresholds()
        if thresholds is None:
            return struct["prediction"]
        probability = struct["probability"]
        scaled = F.array(*[F.when(probability[i] > 0, float("inf")).otherwise(float("-inf")) if t == 0
                           else probability[i] / F.lit(float(t)) for i, t in enumerate(thresholds)])
        return F.when(probability.isNotNull(), argmax(scaled).cast("double"))

    def _extra_metadata(self):
        return {**super()._extra_metadata(), "numClasses": self.numClasses, "classLabels": self.classLabels}

    def _restore_extra(self, metadata):
        super()._restore_extra(metadata)
        self.numClasses = metadata.get("numClasses")
        self.classLabels = metadata.get("classLabels")


class HorovodRegressionModel(HorovodModel, RegressionModel):
    """Base of the fitted regressors: ``predictionCol`` is a double, or a Vector for several targets."""

    def __init__(self, model_bytes=None, history=None, numFeatures=None, numTargets=1):
        super().__init__(model_bytes, history, numFeatures)
        #: number of targets predicted per row
        self.numTargets = numTargets

    def predict(self, value):
        """The prediction for one row's features ``value``: a float, or a Vector for several targets."""
        raw = self._raw_of_one(value)
        return float(raw[0]) if self._num_targets() == 1 else Vectors.dense(raw)

    def _output_columns(self, struct, dataset):
        raw = struct["raw"]
        return [(self.getPredictionCol(), raw[0] if self._num_targets() == 1 else vector(raw), None)]

    def _num_targets(self):
        """Values predicted per row: one is a double in ``predictionCol``, several a Vector."""
        return self.numTargets

    def _extra_metadata(self):
        return {**super()._extra_metadata(), "numTargets": self.numTargets}

    def _restore_extra(self, metadata):
        super()._restore_extra(metadata)
        self.numTargets = metadata.get("numTargets", 1)


def checked_thresholds(stage, num_classes):
    """``stage``'s ``thresholds`` where set, checked as Spark checks them against ``num_classes``; else ``None``."""
    if not stage.isDefined(stage.thresholds):
        return None
    thresholds = stage.getThresholds()
    if len(thresholds) != num_classes or any(t < 0 for t in thresholds) or thresholds.count(0) > 1:
        raise InputError(f"thresholds {thresholds} must have one value per class ({num_classes}), each at least 0, "
                         "with at most one 0")
    return thresholds


def argmax(values):
    """The position of the largest value of an array column (the first, on a tie), as a JVM expression."""
    positions = F.sequence(F.lit(0), F.size(values) - 1)
    return F.aggregate(positions, F.lit(0), lambda best, i: F.when(values[i] > values[best], i).otherwise(best))
