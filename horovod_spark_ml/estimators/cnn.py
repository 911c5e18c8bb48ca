"""Convolutional image classifiers: CNNClassifier (AlexNet or LeNet) and its fitted model.

Images come from an image-file column (JPEG/PNG bytes, e.g. from
:func:`.image_files.read_images`), Spark's image struct, or pixel arrays
(see :mod:`.image_input`). Files stay compressed until a rank decodes them;
the fitted model decodes in the same way, in batches, in ``transform``.
"""
from pyspark import keyword_only
from pyspark.sql import functions as F

from .architectures import build_alexnet, build_lenet
from .estimator import HorovodClassifier
from ..data.image_decoding import ImageBatches
from ..data.image_input import ImageFeatures
from .prediction_models import HorovodClassificationModel
from ..params import (FeatureParams, HasArchitecture, HasBatchNorm, HasDropout, HasL1, HasL2, HasWidthMultiplier,
                      ImageParams, TrainingParams)

_ARCHITECTURES = {"alexnet": build_alexnet, "lenet": build_lenet}


class _CNNClassifierParams(FeatureParams, HasArchitecture, HasWidthMultiplier, HasDropout, HasL1, HasL2,
                           HasBatchNorm, ImageParams, TrainingParams):
    def _set_defaults(self):
        self._set_training_defaults()
        self._set_image_defaults()
        self._setDefault(featuresCol="image", labelCol="label", predictionCol="prediction",
                         probabilityCol="probability", rawPredictionCol="rawPrediction", architecture="alexnet",
                         dropout=0.5, l1=0.0, l2=0.0, batchNorm=False)

    def _image_shape(self):
        return (*self.getImageSize(), self.getChannels())

    def _image_features(self):
        return ImageFeatures(self.getFeaturesCol(), image_size=self.getImageSize(), channels=self.getChannels(),
                             pixel_shape=self.getInputShape() if self.isDefined(self.inputShape) else None,
                             pixel_scale=self.getPixelScale(), random_flip=self.getRandomFlip(),
                             random_crop=self.getRandomCrop(), skip_corrupt=self.getOnCorruptImage() == "skip")


class CNNClassifier(HorovodClassifier, _CNNClassifierParams):
    """An image classifier (AlexNet, or LeNet for small images) trained with Horovod on the Spark executors.

    ``featuresCol`` holds images: encoded files (a binary column), Spark's
    image struct, or pixel arrays of ``inputShape``. Images are converted to
    ``channels``, resized to ``imageSize`` and multiplied by ``pixelScale``;
    ``randomFlip`` and ``randomCrop`` augment them during training only.
    Outputs are Spark's classifier columns; ``setOutputLayer("fc7")`` on the
    fitted model gives embeddings instead.

    Example::

        >>> from pyspark.ml import Pipeline
        >>> from pyspark.ml.feature import StringIndexer
        >>> from horovod_spark_ml import CNNClassifier, read_images
        >>> df = read_images(spark, "/data/flowers", labelFrom="parentDir")
        >>> cnn = CNNClassifier(architecture="alexnet", imageSize=[64, 64], channels=3, epochs=10,
        ...                     batchSize=32, numProc=2, featuresCol="image", labelCol="label")
        >>> model = Pipeline(stages=[StringIndexer(inputCol="className", outputCol="label"), cnn]).fit(df)
        >>> model.transform(df).select("prediction", "probability").show()
    """

    _model_from_params = True

    @keyword_only
    def __init__(self, *, featuresCol="image", labelCol="label", predictionCol="prediction", thresholds=None,
                 probabilityCol="probability", rawPredictionCol="rawPrediction", architecture="alexnet",
                 imageSize=None, channels=3, inputShape=None, pixelScale=None, randomFlip=False, randomCrop=0.0,
                 onCorruptImage="skip", rowGroupSizeMB=8.0, widthMultiplier=None, dropout=0.5, l1=0.0, l2=0.0,
                 batchNorm=False, optimizer="adam", learningRate=0.001, batchSize=32, epochs=10, numProc=None,
                 validationSplit=0.0, earlyStoppingPatience=0, seed=None, storePath=None, verbose=1,
                 runId=None, maxRetries=2, logDir="", mlflowLogging=None, readerBackend="arrow",
                 weightCol=None, validationIndicatorCol=None):
        super().__init__()
        self._set_defaults()
        self.setParams(**self._input_kwargs)

    def _param_checks(self):
        size, shape = self.getImageSize(), self.getInputShape() if self.isDefined(self.inputShape) else None
        return super()._param_checks() + [
            ("architecture", self.getArchitecture(), self.getArchitecture() in _ARCHITECTURES,
             f"one of {', '.join(_ARCHITECTURES)}"),
            ("imageSize", size, len(size) == 2 and min(size) > 0, "[height, width], both positive"),
            ("channels", self.getChannels(), self.getChannels() in (1, 3), "1 or 3"),
            ("inputShape", shape, shape is None or (len(shape) == 3 and min(shape) > 0),
             "[height, width, channels], all positive"),
            ("randomCrop", self.getRandomCrop(), 0 <= self.getRandomCrop() <= 0.5, "in [0, 0.5]"),
            ("onCorruptImage", self.getOnCorruptImage(), self.getOnCorruptImage() in ("skip", "raise"),
             "'skip' or 'raise'"),
            ("rowGroupSizeMB", self.getRowGroupSizeMB(), self.getRowGroupSizeMB() > 0, "positive"),
        ]

    def _feature_input(self):
        return self._image_features()

    def _row_group_bytes(self):
        return int(self.getRowGroupSizeMB() * 1024 * 1024)

    def _build_keras_model(self, info, features, dataset):
        options = dict(dropout=self.getDropout(), l1=self.getL1(), l2=self.getL2(), batch_norm=self.getBatchNorm())
        if self.getArchitecture() == "alexnet" and self.isDefined(self.widthMultiplier):
            options["width"] = self.getWidthMultiplier()
        return _ARCHITECTURES[self.getArchitecture()](info.num_classes, self._image_shape(), **options)

    def _create_model(self, model_bytes, history, info):
        return CNNClassificationModel(model_bytes, history, info.num_features, info.num_classes, info.class_names)


class CNNClassificationModel(HorovodClassificationModel, _CNNClassifierParams):
    """A fitted :class:`CNNClassifier`: decodes images in batches and adds Spark's classifier columns.

    Example::

        >>> model = CNNClassifier(architecture="alexnet", imageSize=[64, 64], numProc=2).fit(train)
        >>> model.transform(test).select("prediction", "probability").show()
        >>> model.setOutputLayer("fc7").transform(test).select("embedding").show()   # 4096-d at 227x227
    """

    def __init__(self, model_bytes=None, history=None, numFeatures=None, numClasses=None, classLabels=None):
        super().__init__(model_bytes, history, numFeatures, numClasses, classLabels)
        self._set_defaults()

    def _feature_input(self):
        return self._image_features()

    def _inference_input(self, dataset):
        features = self._image_features()
        features.check_columns(dataset)
        return F.struct(*features.columns(dataset)), self._batches(features)

    def _batches(self, features):
        return ImageBatches(features.spec)
