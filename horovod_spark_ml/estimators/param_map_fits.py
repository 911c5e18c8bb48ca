"""Fit one or several param maps of an estimator together: checked first, staged once, trained in one launch.

``fit`` is one plan; ``fitMultiple`` (what ``CrossValidator`` and
``TrainValidationSplit`` call, once per fold) is one plan per param map. In
order, for all the plans:

1. every plan's params and input are checked on the driver, so a bad map fails
   before anything is staged or launched (the error names the map); the maps
   that check the same columns share one Spark job (see :mod:`..data.schema`);
2. the executors are checked once per ``numProc`` and store;
3. each plan's Keras model is built (seeded) and its run opened (a given runId
   is locked until the fit ends: :mod:`..training.driver.run_lock`);
4. the data is staged once for all the plans that would stage the same rows
   and columns;
5. the plans with the same ``numProc`` are trained in one Horovod launch, each
   map in turn, each in its own run (so a lost rank resumes the map it was on);
6. each result becomes the map's Spark ML Model (and its MLflow run).

Example::

    >>> models = dict(MLPClassifier(numProc=2).fitMultiple(train, grid))   # 4 maps, one launch
    >>> [m.history["loss"][-1] for _, m in sorted(models.items())]
    [0.21, 0.12, 0.35, 0.19]
"""
import threading
from dataclasses import dataclass

from ..errors import InputError
from ..stack import check_stack
from ..training.driver.executor_check import check_executors
from ..training.driver.runs import train_runs
from ..training.driver.tracking import tracking


@dataclass
class FitPlan:
    """One param map's fit as the driver prepares it: checked input, then (once built) its model and run."""
    estimator: object
    num_proc: int
    info: object  # schema.TrainingInput
    features: object  # schema.NumericFeatures or another feature input
    roles: object  # row_roles.RowRoles
    store: object  # store.Store
    rows: object  # the DataFrame of usable rows
    columns: list  # the Columns to stage
    keras_model: object = None
    model_bytes: bytes = None
    params: dict = None
    run: object = None


def fit_param_maps(dataset, estimators, labels=None):
    """Fit each estimator (copies of one, with each param map's values) on ``dataset``; return their models.

    ``labels`` names each one in progress and errors (``None`` for a single fit).
    """
    check_stack(("horovod",))
    labels = labels or [None] * len(estimators)
    plans = [_named(label, estimator._check_fit, dataset) for estimator, label in zip(estimators, labels)]
    _check_run_ids(estimators, labels)
    for (num_proc, read_url), modules in _executor_checks(plans).items():
        check_executors(dataset.sparkSession, num_proc, read_url, modules)
    try:
        for plan, label in zip(plans, labels):
            _named(label, plan.estimator._build, plan, dataset)
        staged = {}
        jobs = []
        for plan, label in zip(plans, labels):
            key = plan.estimator._staging_key(plan)
            if key not in staged:
                staged[key] = _named(label, plan.estimator._stage, plan)
            jobs.append(plan.estimator._job(plan, staged[key], label))
        models = [None] * len(plans)
        for group in _launches(plans):
            for i, model in zip(group, _train([plans[i] for i in group], [jobs[i] for i in group])):
                models[i] = model
        return models
    finally:
        for plan in plans:
            if plan.run is not None:
                plan.run.close()


def _executor_checks(plans):
    """The executor checks that ``plans`` need: by (numProc, store), the modules their ranks import beyond the
    training stack (Petastorm, where a plan's readerBackend selects it)."""
    checks = {}
    for plan in plans:
        modules = checks.setdefault((plan.num_proc, plan.store.read_url), ())
        if plan.estimator.getReaderBackend() == "petastorm" and "petastorm" not in modules:
            checks[(plan.num_proc, plan.store.read_url)] = modules + ("petastorm",)
    return checks


def _check_run_ids(estimators, labels):
    """Each param map trains a run of its own, so two maps cannot name the same one."""
    seen = {}
    for estimator, label in zip(estimators, labels):
        run_id = estimator._optional(estimator.runId)
        if run_id is not None and run_id in seen:
            raise InputError(f"runId '{run_id}' is set for {seen[run_id]} and {label}, but each param map trains a "
                             "run of its own: leave runId unset when fitting several param maps (fitMultiple, "
                             "CrossValidator, TrainValidationSplit), and read each model's getRunId()")
        if run_id is not None:
            seen[run_id] = label


def _named(label, step, *args):
    """Run a step of one plan, its error naming the param map when there are several."""
    try:
        return step(*args)
    except InputError as e:
        if label is None:
            raise
        raise InputError(f"{label}: {e}") from None


def _launches(plans):
    """The plans' indices, grouped by what one launch must share: ``numProc``, and how it relaunches and talks."""
    groups = {}
    for i, plan in enumerate(plans):
        estimator = plan.estimator
        groups.setdefault((plan.num_proc, estimator.getMaxRetries(), estimator.getVerbose()), []).append(i)
    return list(groups.values())


def _train(plans, jobs):
    """Train the plans' jobs in one launch; return their models. A single fit's MLflow run sees each epoch as it
    ends; with several maps in one launch, each map's run is logged when the launch is over."""
    first = plans[0].estimator
    launch = dict(num_proc=plans[0].num_proc, max_retries=first.getMaxRetries(), verbose=first.getVerbose())
    if len(plans) == 1:
        [plan] = plans
        with tracking(first._mlflow_setting(), _tracked_params(plan)) as mlflow_run:
            [result] = train_runs([plan.run], jobs, on_epoch=mlflow_run and mlflow_run.log_epoch, **launch)
            return [_model(plan, result, mlflow_run)]
    results = train_runs([plan.run for plan in plans], jobs, **launch)
    models = []
    for plan, result in zip(plans, results):
        with tracking(plan.estimator._mlflow_setting(), _tracked_params(plan), own_run=True) as mlflow_run:
            if mlflow_run:
                mlflow_run.log_history(result["history"], result["epoch_seconds"])
            models.append(_model(plan, result, mlflow_run))
    return models


def _tracked_params(plan):
    return {**plan.params, "runId": plan.run.run_id}


def _model(plan, result, mlflow_run):
    """The plan's fitted model, logged to its MLflow run if it has one."""
    model = plan.estimator._model(plan, result)
    if mlflow_run:
        mlflow_run.log_model(model)
    return model


class ModelsInTurn:
    """``fitMultiple``'s answer: ``(index, model)`` pairs, one per ``next()``, from any number of threads.

    The first ``next()`` fits them all (the others wait for it); a failure is
    raised to every caller rather than fitting again.
    """

    def __init__(self, fit_all, count):
        self._fit_all, self._count = fit_all, count
        self._lock = threading.Lock()
        self._models, self._error, self._next = None, None, 0

    def __iter__(self):
        return self

    def __next__(self):
        with self._lock:
            if self._next >= self._count:
                raise StopIteration
            if self._error is not None:
                raise self._error
            if self._models is None:
                try:
                    self._models = self._fit_all()
                except BaseException as e:
                    self._error = e
                    raise
            index, self._next = self._next, self._next + 1
            return index, self._models[index]
