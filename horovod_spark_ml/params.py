"""Spark ML params, each declared once with its doc and type converter.

Every param is a small mixin with a getter and a setter (``getBatchSize`` /
``setBatchSize``), so estimators and models are assembled from the same
parts and ``explainParams()`` documents every stage.

Example::

    >>> from horovod_spark_ml import MLPClassifier
    >>> MLPClassifier(epochs=5).getEpochs()
    5
"""
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param import shared


def _param_mixin(name, doc, converter):
    """A ``Has<Name>`` mixin declaring one Param with ``get<Name>``/``set<Name>``."""
    title = name[0].upper() + name[1:]

    def getter(self):
        return self.getOrDefault(getattr(self, name))

    def setter(self, value):
        return self._set(**{name: value})

    getter.__doc__ = f"Gets the value of {name}: {doc}"
    setter.__doc__ = f"Sets the value of {name}: {doc}"
    return type(f"Has{title}", (Params,), {
        "__doc__": f"Mixin for param {name}: {doc}",
        "__module__": __name__,
        name: Param(Params._dummy(), name, doc, typeConverter=converter),
        f"get{title}": getter,
        f"set{title}": setter,
    })


def _shared_mixin(base, name):
    """pyspark's own ``Has<Name>`` mixin (same Param, name and getter), with the setter pyspark leaves to each
    class: code that checks ``isinstance(stage, pyspark.ml.param.shared.HasLabelCol)`` recognises our stages."""
    title = name[0].upper() + name[1:]

    def setter(self, value):
        return self._set(**{name: value})

    setter.__doc__ = f"Sets the value of {name}."
    return type(base.__name__, (base,), {"__doc__": base.__doc__, "__module__": __name__, f"set{title}": setter})


def _to_json_value(value):
    """Keras objects (losses, metrics, optimizers) become their JSON config."""
    if isinstance(value, (str, int, float, bool, dict)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_to_json_value(v) for v in value]
    import keras
    return keras.saving.serialize_keras_object(value)


def _to_list_json_values(value):
    if isinstance(value, dict):  # one list per output of a multi-output model
        return {name: _to_list_json_values(v) for name, v in value.items()}
    return [_to_json_value(v) for v in (value if isinstance(value, (list, tuple)) else [value])]


def _to_loss_json(value):
    if isinstance(value, dict) and "class_name" not in value:  # one loss per output of a multi-output model
        return {name: _to_json_value(v) for name, v in value.items()}
    return _to_json_value(value)


# Columns: pyspark's shared params where it has one
HasFeaturesCol = _shared_mixin(shared.HasFeaturesCol, "featuresCol")
HasLabelCol = _shared_mixin(shared.HasLabelCol, "labelCol")
HasPredictionCol = _shared_mixin(shared.HasPredictionCol, "predictionCol")
HasOutputCol = _shared_mixin(shared.HasOutputCol, "outputCol")
HasWeightCol = _shared_mixin(shared.HasWeightCol, "weightCol")
HasValidationIndicatorCol = _shared_mixin(shared.HasValidationIndicatorCol, "validationIndicatorCol")
HasFeaturesCols = _param_mixin(
    "featuresCols", "numeric columns used as features instead of featuresCol", TypeConverters.toListString)
HasLabelCols = _param_mixin(
    "labelCols", "numeric label columns, one per target, instead of labelCol", TypeConverters.toListString)
HasOutputLayer = _param_mixin(
    "outputLayer", "name of a Keras layer whose activations are output into outputCol instead of the predictions "
    "(\"\" for the predictions)", TypeConverters.toString)

# Architecture of the MLP
HasHiddenLayers = _param_mixin("hiddenLayers", "sizes of the hidden layers, input side first", TypeConverters.toListInt)
HasActivation = _param_mixin("activation", "activation of the hidden layers (a Keras name)", TypeConverters.toString)
HasDropout = _param_mixin("dropout", "dropout rate after each hidden layer, in [0, 1)", TypeConverters.toFloat)
HasL1 = _param_mixin("l1", "L1 penalty on the weights of every dense and convolution layer", TypeConverters.toFloat)
HasL2 = _param_mixin("l2", "L2 penalty on the weights of every dense and convolution layer", TypeConverters.toFloat)
HasBatchNorm = _param_mixin("batchNorm", "batch normalisation after each hidden layer", TypeConverters.toBoolean)

# Images
HasArchitecture = _param_mixin(
    "architecture", "network: 'alexnet' (the 227x227 original, scaled to smaller imageSize) or 'lenet' "
    "(small images)", TypeConverters.toString)
HasWidthMultiplier = _param_mixin(
    "widthMultiplier", "AlexNet's filter and unit counts times this; default: imageSize / 227 (at least 1/8)",
    TypeConverters.toFloat)
HasImageSize = _param_mixin("imageSize", "[height, width] the images are resized to", TypeConverters.toListInt)
HasChannels = _param_mixin("channels", "color channels fed to the network: 3 (RGB) or 1 (grayscale)",
                           TypeConverters.toInt)
HasInputShape = _param_mixin(
    "inputShape", "[height, width, channels] of the pixel arrays in featuresCol, when it holds pixels rather "
    "than image files (default: imageSize and channels)", TypeConverters.toListInt)
HasPixelScale = _param_mixin(
    "pixelScale", "pixel values are multiplied by this (default 1/255: 0..255 becomes 0..1)", TypeConverters.toFloat)
HasRandomFlip = _param_mixin("randomFlip", "flip training images left-right at random", TypeConverters.toBoolean)
HasRandomCrop = _param_mixin(
    "randomCrop", "enlarge training images by this fraction and cut a random window of imageSize (0: off; "
    "at most 0.5)", TypeConverters.toFloat)
HasOnCorruptImage = _param_mixin(
    "onCorruptImage", "'skip': leave out images that cannot be decoded, counting them (the corrupt_images "
    "figure of each epoch); 'raise': stop with an error", TypeConverters.toString)
HasRowGroupSizeMB = _param_mixin(
    "rowGroupSizeMB", "target size of the staged Parquet row groups in MB; a rank holds a few in memory",
    TypeConverters.toFloat)

# Sequences
HasUnits = _param_mixin("units", "sizes of the stacked recurrent layers, input side first", TypeConverters.toListInt)
HasCell = _param_mixin("cell", "recurrent cell: 'lstm', 'gru' or 'rnn' (SimpleRNN)", TypeConverters.toString)
HasBidirectional = _param_mixin("bidirectional", "read each sequence both ways", TypeConverters.toBoolean)
HasRecurrentDropout = _param_mixin(
    "recurrentDropout", "dropout rate on the recurrent state, in [0, 1)", TypeConverters.toFloat)
HasMaxLength = _param_mixin(
    "maxLength", "longest sequence the network sees; longer ones are truncated (see truncateFrom); "
    "default: the longest in the training data", TypeConverters.toInt)
HasTruncateFrom = _param_mixin(
    "truncateFrom", "which steps a too-long sequence loses: 'start' (keep the newest) or 'end' (keep the oldest)",
    TypeConverters.toString)
HasLabelPerStep = _param_mixin(
    "labelPerStep", "labelCol holds an array with a label per time step (sequence tagging), and the prediction "
    "is an array with one per step", TypeConverters.toBoolean)
HasHorizon = _param_mixin(
    "horizon", "number of values predicted per sequence (e.g. the next horizon values of a series); labelCol "
    "then holds a Vector or array of that many", TypeConverters.toInt)

# Unsupervised
HasEncoderLayers = _param_mixin("encoderLayers", "sizes of the encoder's layers; the last is the code",
                                TypeConverters.toListInt)
HasTiedWeights = _param_mixin("tiedWeights", "the decoder uses the transposed encoder weights",
                              TypeConverters.toBoolean)
HasDenoising = _param_mixin(
    "denoising", "standard deviation of the Gaussian noise added to the input while training (0: off)",
    TypeConverters.toFloat)
HasSparsity = _param_mixin("sparsity", "L1 penalty on the code (0: off)", TypeConverters.toFloat)
HasReconstructionCol = _param_mixin(
    "reconstructionCol", "column of the reconstructed input (a Vector); \"\" for none", TypeConverters.toString)
HasReconstructionErrorCol = _param_mixin(
    "reconstructionErrorCol", "column of each row's mean squared reconstruction error, usable as an anomaly "
    "score; \"\" for none", TypeConverters.toString)
HasHiddenUnits = _param_mixin("hiddenUnits", "number of hidden units", TypeConverters.toInt)
HasVisibleType = _param_mixin(
    "visibleType", "visible units: 'binary' (values in [0, 1]) or 'gaussian' (standardised values)",
    TypeConverters.toString)
HasCdSteps = _param_mixin("cdSteps", "Gibbs steps of contrastive divergence (CD-k)", TypeConverters.toInt)
HasPretrainEpochs = _param_mixin(
    "pretrainEpochs", "epochs of RBM pretraining for each hidden layer (0: no pretraining)", TypeConverters.toInt)
HasPretrainLearningRate = _param_mixin(
    "pretrainLearningRate", "SGD learning rate of the RBM pretraining", TypeConverters.toFloat)

# Training
HasOptimizer = _param_mixin(
    "optimizer", "Keras optimizer: a name such as 'adam' or 'sgd', or a Keras optimizer (kept as its config)",
    _to_json_value)
HasLearningRate = _param_mixin("learningRate", "learning rate of the optimizer", TypeConverters.toFloat)
HasLoss = _param_mixin(
    "loss", "Keras loss: a name or a Keras loss (kept as its config); for several outputs, a dict of them by "
    "output name", _to_loss_json)
HasLossWeights = _param_mixin(
    "lossWeights", "for several outputs: the weight of each output's loss, as a dict by output name", _to_json_value)
HasMetrics = _param_mixin(
    "metrics", "Keras metrics: names or Keras metrics (kept as configs); for several outputs, a dict of lists "
    "by output name", _to_list_json_values)
HasBatchSize = _param_mixin("batchSize", "rows per batch on each rank (and per inference batch)", TypeConverters.toInt)
HasEpochs = _param_mixin("epochs", "number of passes over the training data", TypeConverters.toInt)
HasNumProc = _param_mixin(
    "numProc", "number of Horovod ranks (Spark tasks); default: spark.default.parallelism", TypeConverters.toInt)
HasValidationSplit = _param_mixin(
    "validationSplit", "fraction of rows held out to report validation loss and metrics, in [0, 1)",
    TypeConverters.toFloat)
HasEarlyStoppingPatience = _param_mixin(
    "earlyStoppingPatience", "stop after this many epochs without improvement of the validation loss "
    "(of the training loss without validationSplit); 0 turns early stopping off", TypeConverters.toInt)
HasSeed = _shared_mixin(shared.HasSeed, "seed")
HasStorePath = _param_mixin(
    "storePath", "directory for staged training data and runs, on storage every executor can read "
    "(a local path in local mode; a Unity Catalog volume's /Volumes/... path on Databricks); default: a folder "
    "of this user's alone in the temp folder, enough for one host",
    TypeConverters.toString)
HasRunId = _param_mixin(
    "runId", "name of the training run: its checkpoints live in storePath/runs/<runId>, and a fit given the "
    "runId of a run that did not finish resumes it from its last checkpoint; unset: a new run per fit",
    TypeConverters.toString)
HasMaxRetries = _param_mixin(
    "maxRetries", "times a fit relaunches its ranks from the last checkpoint after losing a rank or an executor "
    "(killed, out of memory, host lost); errors that a retry cannot fix are raised at once", TypeConverters.toInt)
HasLogDir = _param_mixin(
    "logDir", "folder for TensorBoard event files (loss and metrics per epoch, train/ and validation/), written "
    "by rank 0, so on storage its executor can write; \"\" for none", TypeConverters.toString)
HasMlflowLogging = _param_mixin(
    "mlflowLogging", "log params, per-epoch metrics and the fitted model to MLflow: unset, when mlflow is "
    "installed and a run is active; True, always (starting a run if none is active); False, never",
    TypeConverters.toBoolean)
HasReaderBackend = _param_mixin(
    "readerBackend", "how the ranks stream staged data too large to hold in memory, and images: 'arrow' "
    "(pyarrow, the default) or 'petastorm' (Petastorm 0.13.1, which needs pyarrow 14 and numpy < 2)",
    TypeConverters.toString)
HasVerbose = _param_mixin(
    "verbose", "0: silent, 1: one line per epoch on the driver, 2: also every rank's output",
    TypeConverters.toInt)


class TrainingParams(HasOptimizer, HasLearningRate, HasBatchSize, HasEpochs, HasNumProc, HasValidationSplit,
                     HasEarlyStoppingPatience, HasSeed, HasStorePath, HasVerbose, HasRunId, HasMaxRetries, HasLogDir,
                     HasMlflowLogging, HasWeightCol, HasValidationIndicatorCol, HasReaderBackend):
    """Params of every Horovod-trained estimator."""

    def _set_training_defaults(self):
        import os
        import tempfile
        self._setDefault(optimizer="adam", learningRate=0.001, batchSize=32, epochs=10, validationSplit=0.0,
                         earlyStoppingPatience=0, seed=42, verbose=1, maxRetries=2, logDir="",
                         readerBackend="arrow", storePath=f"{tempfile.gettempdir()}/horovod_spark_ml-{os.getuid()}")


class FeatureParams(HasFeaturesCol, HasFeaturesCols):
    """Where the features come from: featuresCol, or featuresCols when set."""

    def _features_cols(self):
        return self.getFeaturesCols() if self.isDefined(self.featuresCols) else None


class MLPParams(HasHiddenLayers, HasActivation, HasDropout, HasL1, HasL2, HasBatchNorm):
    """Architecture params of the multilayer perceptron."""

    def _set_mlp_defaults(self):
        self._setDefault(hiddenLayers=[64, 32], activation="relu", dropout=0.0, l1=0.0, l2=0.0, batchNorm=False)


class ImageParams(HasImageSize, HasChannels, HasInputShape, HasPixelScale, HasRandomFlip, HasRandomCrop,
                  HasOnCorruptImage, HasRowGroupSizeMB):
    """How an image column becomes network input."""

    def _set_image_defaults(self):
        self._setDefault(imageSize=[227, 227], channels=3, pixelScale=1 / 255, randomFlip=False, randomCrop=0.0,
                         onCorruptImage="skip", rowGroupSizeMB=8.0)


class SequenceParams(HasUnits, HasCell, HasBidirectional, HasDropout, HasRecurrentDropout, HasMaxLength,
                     HasTruncateFrom, HasLabelPerStep):
    """Architecture and sequence handling of the recurrent estimators."""

    def _set_sequence_defaults(self):
        self._setDefault(units=[64], cell="lstm", bidirectional=False, dropout=0.0, recurrentDropout=0.0,
                         truncateFrom="start", labelPerStep=False)
