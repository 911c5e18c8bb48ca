"""The fit path shared by every estimator, top to bottom.

DataFrame -> checked schema (:mod:`.schema`) -> staged Parquet
(:mod:`.staging`) -> Horovod ranks (:mod:`.launcher`, :mod:`.worker`) ->
the fitted Spark Model. Subclasses say only what differs: which label they
expect, which Keras model to train with which loss, and which Model to return.

Example (what every estimator inherits)::

    >>> model = MLPClassifier(numProc=2, epochs=5).fit(train_df)   # HorovodEstimator._fit
    >>> model.history["loss"]
    [1.53, 0.61, 0.32, 0.21, 0.15]
"""
import json

from pyspark.ml import Estimator
from pyspark.ml.classification import ProbabilisticClassifier
from pyspark.ml.regression import Regressor
from pyspark.ml.functions import vector_to_array
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import functions as F
from pyspark.sql.types import IntegralType

from ..errors import InputError
from ..keras_bytes import custom_modules, model_to_bytes
from ..training.driver.runs import open_run
from ..training.driver.tracking import check_tracking
from ..data.layout import Field
from ..params import FeatureParams, TrainingParams
from ..persistence import KerasPersistence
from ..data.schema import LABEL, NumericFeatures, check_training_input
from ..data.staging import DEFAULT_ROW_GROUP_BYTES, prepare_store, stage
from ..data.store import local_or_url
from ..data.row_roles import check_row_roles
from ..training.rank.petastorm_stream import check_petastorm
from ..training.rank.reader import BACKENDS
from ..training.messages import TrainingJob
from .built_models import built
from .param_map_fits import FitPlan, ModelsInTurn, fit_param_maps


class HorovodEstimator(Estimator, FeatureParams, TrainingParams, KerasPersistence):
    """Base of the estimators: checks, stages, launches Horovod and wraps the result in a Model."""

    # -- what subclasses define -------------------------------------------------
    _label_kind = "value"  # "class", "value", or None for unsupervised estimators
    # True, set by a class itself (a subclass does not inherit it), where its Keras model depends only on the
    # params and the input's widths: :mod:`.built_models` keeps it
    _model_from_params = False

    def _label_cols(self):
        raise NotImplementedError

    def _build_keras_model(self, info, features, dataset):
        """The (uncompiled) Keras model to train, given the checked input (and the data, to pretrain on)."""
        raise NotImplementedError

    def _loss_and_metrics(self, info):
        raise NotImplementedError

    def _loss_weights(self):
        return None

    def _feature_input(self):
        """Where the features come from and how they reach the model (see :class:`.schema.NumericFeatures`)."""
        return NumericFeatures(self.getFeaturesCol(), self._features_cols())

    def _row_group_bytes(self):
        return DEFAULT_ROW_GROUP_BYTES

    def _create_model(self, model_bytes, history, info):
        raise NotImplementedError

    def _fitted(self, model):
        """The fitted model, with anything a subclass adds that the training result does not hold."""
        return model

    def setParams(self, **params):
        """Set params by name (the constructor's keyword arguments); returns self."""
        return self._set(**{name: value for name, value in params.items() if value is not None})

    # -- the fit path (see :mod:`.fit_param_maps` for the order) -----------------
    def _fit(self, dataset):
        [model] = fit_param_maps(dataset, [self])
        return model

    def fitMultiple(self, dataset, paramMaps):
        """Fit a model for each param map, those with the same numProc in one Horovod launch.

        Returns an iterator of ``(index, model)``, safe to share between threads,
        as Spark ML's ``CrossValidator`` and ``TrainValidationSplit`` use it (with
        any ``parallelism``): the first ``next()`` checks every map, stages the data
        once, trains every map in turn in one launch, and the calls hand out the
        models. Each model equals what ``fit`` with that map alone would give.
        """
        estimators = [self.copy(param_map) for param_map in paramMaps]
        labels = [_label(i, len(paramMaps), param_map) for i, param_map in enumerate(paramMaps)]
        return ModelsInTurn(lambda: fit_param_maps(dataset, estimators, labels), len(paramMaps))

    def _check_fit(self, dataset):
        """Check this fit's params and input on the driver; return its :class:`.FitPlan` (not yet built)."""
        num_proc = self._check_params(dataset)
        check_tracking(self._mlflow_setting())
        label_cols = self._label_cols()
        features = self._feature_input()
        info = check_training_input(dataset, features=features, label_cols=label_cols, label_kind=self._label_kind,
                                    num_proc=num_proc)
        roles = check_row_roles(dataset, weight_col=self._optional(self.weightCol),
                                indicator_col=self._optional(self.validationIndicatorCol), num_proc=num_proc)
        self._check_validation_rows(info, num_proc)
        columns = self._staged_columns(dataset, features, label_cols, info) + roles.staged_columns(
            self._optional(self.weightCol), self._optional(self.validationIndicatorCol))
        return FitPlan(estimator=self, num_proc=num_proc, info=info, features=features, roles=roles,
                       store=prepare_store(self.getStorePath(), private=not self.isSet(self.storePath)),
                       rows=features.usable_rows(dataset), columns=columns)

    def _build(self, plan, dataset):
        """Build the Keras model to train (seeded, so its initial weights are reproducible; or the same model,
        kept from an earlier fit: :mod:`.built_models`) and open its run."""
        plan.params = self._run_params()
        plan.keras_model, plan.model_bytes = built(self._model_key(plan), lambda: self._new_model(plan, dataset))
        plan.run = open_run(plan.store, self._optional(self.runId),
                            self._run_description(plan.info, plan.keras_model, plan.params))

    def _new_model(self, plan, dataset):
        import keras
        keras.utils.set_random_seed(self.getSeed())
        keras_model = self._build_keras_model(plan.info, plan.features, dataset)
        return keras_model, model_to_bytes(keras_model)

    def _model_key(self, plan):
        """What the model :meth:`_build_keras_model` builds depends on, where that is only the params and the
        input's widths (:attr:`_model_from_params`, set by the class itself: a subclass may build from more);
        else ``None``."""
        if not vars(type(self)).get("_model_from_params"):
            return None
        info = plan.info
        return (type(self), json.dumps(plan.params, sort_keys=True), info.num_features, info.label_kind,
                info.num_targets, info.num_classes)

    def _stage(self, plan):
        """Write the plan's rows to the store (:func:`.stage`) and return the staged data."""
        staged = stage(plan.rows, plan.columns, num_proc=plan.num_proc, validation_split=self.getValidationSplit(),
                       validation_indicator=plan.roles.validation, seed=self.getSeed(), store=plan.store,
                       row_group_bytes=self._row_group_bytes())
        if staged.val_urls is not None and staged.val_rows < plan.num_proc:
            raise InputError(f"validationSplit={self.getValidationSplit()} left {staged.val_rows} validation rows, "
                             f"fewer than numProc={plan.num_proc}; raise validationSplit or set it to 0")
        return staged

    def _staging_key(self, plan):
        """Equal for two plans exactly when :meth:`_stage` would write the same data for both."""
        return (plan.rows.semanticHash(), tuple(str(c) for c in plan.columns), plan.num_proc, plan.store.read_url,
                self.getValidationSplit(), plan.roles.validation, self.getSeed(), self._row_group_bytes())

    def _job(self, plan, staged, label):
        loss, metrics = self._loss_and_metrics(plan.info)
        keras_model = plan.keras_model
        return TrainingJob(model_bytes=plan.model_bytes, loss=loss, metrics=metrics,
                           loss_weights=self._loss_weights(),
                           optimizer=self.getOptimizer(), learning_rate=self.getLearningRate(),
                           batch_size=self.getBatchSize(), epochs=self.getEpochs(),
                           early_stopping_patience=self.getEarlyStoppingPatience(), seed=self.getSeed(),
                           train_urls=staged.train_urls, train_rows=staged.train_rows,
                           val_urls=staged.val_urls, val_rows=staged.val_rows,
                           inputs=plan.features.fields(keras_model),
                           targets=self._target_fields(plan.info, keras_model),
                           custom_modules=custom_modules(keras_model), input_spec=plan.features.spec,
                           log_dir=local_or_url(self.getLogDir()), weight=plan.roles.weight, label=label,
                           reader_backend=self.getReaderBackend())

    def _model(self, plan, result):
        """The fitted Spark ML Model for a trained plan's result."""
        model = self._create_model(result["model"], result["history"], plan.info)
        model.epochSeconds = result["epoch_seconds"]
        model._fitted_from = plan.keras_model
        return self._fitted(self._copyValues(model)._set(runId=plan.run.run_id))

    def _mlflow_setting(self):
        return self._optional(self.mlflowLogging)

    def _optional(self, param):
        """A param's value, or ``None`` when it is neither set nor defaulted (or set to ``""``)."""
        value = self.getOrDefault(param) if self.isDefined(param) else None
        return None if value == "" else value

    def _run_params(self):
        """This fit's params as plain JSON values, by name (those kept as JSON when the estimator is saved)."""
        params = {p.name: v for p, v in self.extractParamMap().items() if p.name not in self._unsaved_params}
        return json.loads(json.dumps(params, default=str))

    def _run_description(self, info, keras_model, params):
        """What a run started with, to check a resumption against (see :mod:`..training.driver.runs`)."""
        return {"estimator": f"{type(self).__module__}.{type(self).__name__}", "params": params,
                "rows": info.rows, "weights": [list(map(int, w.shape)) for w in keras_model.weights]}

    def _num_proc(self, dataset):
        return (self.getNumProc() if self.isDefined(self.numProc)
                else dataset.sparkSession.sparkContext.defaultParallelism)

    def _check_params(self, dataset):
        """Check param values, raising on the first bad one; return the number of ranks."""
        num_proc = self._num_proc(dataset)
        for name, value, ok, expected in [("numProc", num_proc, num_proc >= 1, "at least 1"), *self._param_checks()]:
            if not ok:
                raise InputError(f"{name}={value} is invalid: it must be {expected}")
        if self.getReaderBackend() == "petastorm":
            check_petastorm()
        return num_proc

    def _param_checks(self):
        """``(name, value, ok, expected)`` for each param value to check; subclasses add their own."""
        return [("batchSize", self.getBatchSize(), self.getBatchSize() >= 1, "at least 1"),
                ("epochs", self.getEpochs(), self.getEpochs() >= 1, "at least 1"),
                ("validationSplit", self.getValidationSplit(), 0 <= self.getValidationSplit() < 1, "in [0, 1)"),
                ("earlyStoppingPatience", self.getEarlyStoppingPatience(), self.getEarlyStoppingPatience() >= 0,
                 "0 (off) or more"),
                ("maxRetries", self.getMaxRetries(), self.getMaxRetries() >= 0, "0 (no relaunch) or more"),
                ("readerBackend", repr(self.getReaderBackend()), self.getReaderBackend() in BACKENDS,
                 " or ".join(map(repr, BACKENDS))),
                ("validationIndicatorCol", self._optional(self.validationIndicatorCol),
                 not (self._optional(self.validationIndicatorCol) and self.getValidationSplit() > 0),
                 f"unset while validationSplit={self.getValidationSplit()} is set: use one way to choose the "
                 "validation rows"),
                ("weightCol", self._optional(self.weightCol),
                 not (self._optional(self.weightCol) and self._label_kind is None),
                 "unset: this estimator has no label, so there is no loss per row to weigh")]

    def _check_validation_rows(self, info, num_proc):
        expected = int(info.rows * self.getValidationSplit())
        if self.getValidationSplit() > 0 and expected < num_proc:
            raise InputError(f"validationSplit={self.getValidationSplit()} of {info.rows} rows leaves about "
                             f"{expected} validation rows, fewer than numProc={num_proc}; raise validationSplit "
                             "or set it to 0")

    def _staged_columns(self, dataset, features, label_cols, info):
        return features.columns(dataset) + (self._label_columns(dataset, label_cols, info) if label_cols else [])

    def _target_fields(self, info, keras_model):
        """How the staged label feeds the model's output (see :mod:`.layout`)."""
        if info.label_kind is None:
            return []
        return [Field(LABEL, (info.num_targets,) if info.label_kind == "vector" else ())]

    def _label_columns(self, dataset, label_cols, info):
        """The label as one staged column: an int class index, a float, or a float array."""
        if info.label_kind == "class":
            label = F.col(label_cols[0]).cast("int")
        elif len(label_cols) > 1:
            label = F.array(*[F.col(c).cast("float") for c in label_cols])
        else:
            data_type = dataset.schema[label_cols[0]].dataType
            if isinstance(data_type, VectorUDT):
                label = vector_to_array(F.col(label_cols[0]), "float32")
            elif isinstance(data_type, IntegralType):
                label = F.col(label_cols[0]).cast("int")
            elif info.label_kind == "vector":
                label = F.col(label_cols[0]).cast("array<float>")
            else:
                label = F.col(label_cols[0]).cast("float")
        return [label.alias(LABEL)]


def _label(index, count, param_map):
    """How a param map is named in progress and errors: ``param map 2 of 4 (learningRate=0.01, epochs=5)``."""
    values = ", ".join(f"{param.name}={json.dumps(value, default=str)}" for param, value in param_map.items())
    return f"param map {index + 1} of {count}" + (f" ({values})" if values else "")


class HorovodClassifier(ProbabilisticClassifier, HorovodEstimator):
    """Base of the classifiers (pyspark's ``ProbabilisticClassifier``): class indices in labelCol, k raw scores
    out, cross-entropy on their softmax."""

    _label_kind = "class"

    def _label_cols(self):
        return [self.getLabelCol()]

    def _check_fit(self, dataset):
        plan = super()._check_fit(dataset)
        from .prediction_models import checked_thresholds
        checked_thresholds(self, plan.info.num_classes)  # before anything is staged or trained
        return plan

    def _loss_and_metrics(self, info):
        import keras
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        return keras.saving.serialize_keras_object(loss), ["accuracy"]


class HorovodRegressor(Regressor, HorovodEstimator):
    """Base of the regressors (pyspark's ``Regressor``): one numeric target or several."""
