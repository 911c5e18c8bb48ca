"""The fitted Model shared by every estimator: a Keras model that transforms DataFrames in batches.

Example::

    >>> model = MLPClassifier(numProc=2).fit(train)
    >>> model.getKerasModel().summary()
    >>> model.history["val_loss"]
"""
from pyspark.ml import Model
from pyspark.sql import functions as F

from .inference import predict_struct
from .keras_bytes import custom_modules, model_from_bytes
from .persistence import KerasPersistence
from .schema import features_array


class HorovodModel(Model, KerasPersistence):
    """Base of the fitted models: holds the trained Keras model (as ``.keras`` bytes) and its history.

    Subclasses define ``_output_columns(struct)``, the output columns built
    from the prediction struct of :func:`.inference.predict_struct`.
    """

    _head = "values"

    def __init__(self, model_bytes=None, history=None, numFeatures=None):
        super().__init__()
        self._model_bytes = model_bytes
        self._keras_model = None
        #: per-epoch loss and metrics (and validation ones), averaged over the ranks
        self.history = history or {}
        #: number of features per row the model was trained on
        self.numFeatures = numFeatures
        #: wall-clock seconds of each training epoch (on rank 0)
        self.epochSeconds = []

    def getKerasModel(self):
        """The trained Keras model (for inspection, or to use outside Spark)."""
        if self._keras_model is None:
            self._keras_model = model_from_bytes(self._model_bytes)
        return self._keras_model

    def _transform(self, dataset):
        features_cols = self.getFeaturesCols() if self.isDefined(self.featuresCols) else None
        features = features_array(dataset, self.getFeaturesCol(), features_cols)
        input_shape = tuple(self.getKerasModel().inputs[0].shape[1:])
        struct_name = f"__{self.uid}_out"
        struct = predict_struct(dataset, self._model_bytes, features, input_shape=input_shape,
                                batch_size=self.getBatchSize(), head=self._head,
                                modules=custom_modules(self.getKerasModel()))
        with_struct = dataset.withColumn(struct_name, struct)
        outputs = [column.alias(name, metadata=metadata)
                   for name, column, metadata in self._output_columns(F.col(struct_name)) if name]
        return with_struct.select("*", *outputs).drop(struct_name)

    def _output_columns(self, struct):
        """``(name, column, metadata)`` triples; an empty name (param set to "") skips the column."""
        raise NotImplementedError

    # -- persistence ------------------------------------------------------------
    def _keras_bytes(self):
        return self._model_bytes

    def _restore_keras_bytes(self, data):
        self._model_bytes = data
        self._keras_model = None

    def _extra_metadata(self):
        return {"history": self.history, "numFeatures": self.numFeatures, "epochSeconds": self.epochSeconds}

    def _restore_extra(self, metadata):
        self.history = metadata.get("history", {})
        self.numFeatures = metadata.get("numFeatures")
        self.epochSeconds = metadata.get("epochSeconds", [])
