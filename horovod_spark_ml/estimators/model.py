"""The fitted Model shared by every estimator: a Keras model that transforms DataFrames in batches.

The classifiers' and regressors' models are also pyspark's prediction models
(:mod:`.prediction_models`); this base is what every fitted model has.

Any fitted model can also output an intermediate layer instead of its
predictions (transfer learning, embeddings): ``setOutputLayer(name)`` puts that
layer's activations, flattened, into ``outputCol`` as a Vector.

Example::

    >>> model = MLPClassifier(numProc=2).fit(train)
    >>> model.getKerasModel().summary()
    >>> model.history["val_loss"]
    >>> model.setOutputLayer("dense_2").transform(test).select("embedding")
"""
import keras
from pyspark.ml import Model
from pyspark.ml.functions import array_to_vector
from pyspark.sql import functions as F

from ..errors import InputError
from ..serving.inference import ArrayBatches, output_width, predict_rows, predict_struct
from ..keras_bytes import custom_modules, model_from_bytes, model_to_bytes
from ..params import HasOutputCol, HasOutputLayer
from ..persistence import KerasPersistence
from ..data.schema import NumericFeatures


def vector(array):
    """An array column as a Vector column; null rows (rows the model could not read) stay null."""
    return F.when(array.isNull(), None).otherwise(array_to_vector(array))


class HorovodModel(Model, HasOutputLayer, HasOutputCol, KerasPersistence):
    """Base of the fitted models: holds the trained Keras model (as ``.keras`` bytes) and its history.

    Subclasses define ``_output_columns(struct)``, the output columns built
    from the prediction struct of :func:`.inference.predict_struct`, and may
    redefine ``_inference_input`` for features that are not numeric arrays.
    """

    _head = "values"

    def __init__(self, model_bytes=None, history=None, numFeatures=None):
        super().__init__()
        self._model_bytes = model_bytes
        self._keras_model = None
        self._fitted_from = None  # the Keras model the fit started from: the trained one's layers, untrained
        #: per-epoch loss and metrics (and validation ones), averaged over the ranks
        self.history = history or {}
        self.numFeatures = numFeatures
        #: wall-clock seconds of each training epoch (on rank 0), from the previous epoch's end: they add up to
        #: the time from the first epoch's start to the last's end
        self.epochSeconds = []
        self._setDefault(outputLayer="", outputCol="embedding")

    @property
    def numFeatures(self):
        """Number of features per row the model was trained on (model inputs per row; -1 if unknown)."""
        return -1 if self._num_features is None else self._num_features

    @numFeatures.setter
    def numFeatures(self, value):
        self._num_features = value

    def setOutputLayer(self, value):
        """Output the activations of the Keras layer named ``value`` into outputCol ("" for the predictions)."""
        names = [layer.name for layer in self.getKerasModel().layers]
        if value and value not in names:
            raise InputError(f"outputLayer '{value}' is not a layer of this model; its layers are: {', '.join(names)}")
        return self._set(outputLayer=value)

    def getKerasModel(self):
        """The trained Keras model (for inspection, or to use outside Spark)."""
        if self._keras_model is None:
            self._keras_model = model_from_bytes(self._model_bytes)
        return self._keras_model

    def _architecture(self):
        """A Keras model with the trained one's layers, for what depends on them alone (input fields, output
        width, custom modules): the trained model if loaded, else the one the fit started from, so a transform
        after a fit does not load the trained model on the driver (0.26 s for the demo's MLP)."""
        if self._keras_model is None and self._fitted_from is not None:
            return self._fitted_from
        return self.getKerasModel()

    def _transform(self, dataset):
        features, batches = self._inference_input(dataset)
        layer = self.getOutputLayer()
        keras_model = self._layer_model(layer) if layer else self._architecture()
        model_bytes = model_to_bytes(keras_model) if layer else self._model_bytes
        struct_name = f"__{self.uid}_out"
        struct = predict_struct(dataset, model_bytes, features, batches=batches, batch_size=self.getBatchSize(),
                                width=output_width(keras_model, batches.symbolic_inputs()),
                                head="values" if layer else self._head, modules=custom_modules(self._architecture()))
        with_struct = dataset.withColumn(struct_name, struct)
        columns = ([(self.getOutputCol(), vector(F.col(struct_name)["raw"]), None)] if layer
                   else self._output_columns(F.col(struct_name), dataset))
        outputs = [column.alias(name, metadata=metadata) for name, column, metadata in columns if name]
        return with_struct.select("*", *outputs).drop(struct_name)

    def _feature_input(self):
        """Where the features come from (as in training; see :class:`.schema.NumericFeatures`)."""
        return NumericFeatures(self.getFeaturesCol(), self._features_cols())

    def _inference_input(self, dataset):
        """The features for inference as one column, and how its Arrow batches become model inputs."""
        features = self._feature_input()
        columns = features.columns(dataset)
        column = columns[0] if len(columns) == 1 else F.struct(*columns)
        return column, self._batches(features)

    def _batches(self, features):
        """How Arrow batches of ``features``' columns become model inputs (see :mod:`..serving.inference`)."""
        return ArrayBatches(features.fields(self._architecture()))

    def _raw_of_one(self, value):
        """The model's outputs for one row whose features column holds ``value``, computed here on the driver
        as ``transform`` computes them on the executors (the same conversion to model inputs)."""
        features = self._feature_input()
        try:
            row = features.one_row(value)  # first: an image input learns its kind from the value
            raw = predict_rows(self.getKerasModel(), row, self._batches(features))
            why = "transform would give null for it"
        except ValueError as e:  # numbers that do not fit the model's input
            raw, why = None, str(e)
        if raw is None:
            raise InputError(f"featuresCol '{self.getFeaturesCol()}': {str(value)[:80]} is not an input this model "
                             f"can read ({why})")
        return raw[0]

    def _layer_model(self, name):
        model = self.getKerasModel()
        return keras.Model(model.inputs, model.get_layer(name).output, name=f"{model.name}_{name}")

    def _output_columns(self, struct, dataset):
        """``(name, column, metadata)`` triples; an empty name (param set to "") skips the column."""
        raise NotImplementedError

    # -- persistence ------------------------------------------------------------
    def _keras_bytes(self):
        return self._model_bytes

    def _restore_keras_bytes(self, data):
        self._model_bytes = data
        self._keras_model = None

    def _extra_metadata(self):
        return {"history": self.history, "numFeatures": self._num_features, "epochSeconds": self.epochSeconds}

    def _restore_extra(self, metadata):
        self.history = metadata.get("history", {})
        self.numFeatures = metadata.get("numFeatures")
        self.epochSeconds = metadata.get("epochSeconds", [])
