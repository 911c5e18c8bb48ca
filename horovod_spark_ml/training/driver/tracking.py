"""MLflow tracking of a fit: its params, each epoch's metrics as they arrive, the fitted model.

With ``mlflowLogging`` unset, a fit logs when mlflow is installed and a run is
active in the calling thread; with ``True`` it always logs (starting a run if
none is active, and ending it after); with ``False`` never. A fit whose params
differ from those already logged in the active run (a second fit in one run)
logs into a nested run of its own, since MLflow's params cannot change; so
does each param map of ``fitMultiple`` (when the launch is over). The
model is logged as a Spark ML model (``mlflow.spark.log_model``), which
``mlflow.spark.load_model`` loads back as a ``PipelineModel``. mlflow itself is
optional: ``pip install mlflow-skinny`` is enough. A URL among the params is
logged without its password or query (SAS tokens, signatures).

Example::

    >>> import mlflow
    >>> with mlflow.start_run() as run:
    ...     model = MLPClassifier(numProc=2, epochs=5).fit(train)
    >>> mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")   # one per epoch, step 1..5
    >>> mlflow.spark.load_model(f"runs:/{run.info.run_id}/model").transform(test)
"""
import sys
import time
from contextlib import contextmanager

from ...errors import InputError

MODEL_PATH = "model"
_MAX_PARAM = 6000  # MLflow's limit on a param value's length


def check_tracking(setting):
    """Raise on the driver, before anything runs, if ``mlflowLogging=True`` cannot be honoured."""
    if setting:
        try:
            import mlflow  # noqa: F401
        except ImportError:
            raise InputError("mlflowLogging=True needs the mlflow package, which is not installed here: "
                             "pip install mlflow-skinny (or mlflow), or unset mlflowLogging") from None


@contextmanager
def tracking(setting, params, own_run=False):
    """Yield an :class:`MlflowRun` to log this fit into, or ``None`` when the fit is not tracked.

    ``own_run``: log into a run of its own (nested in the active one, if any), as each param map of
    ``fitMultiple`` does.
    """
    if setting is False or (setting is None and "mlflow" not in sys.modules):
        yield None  # unset, and no run can be active where mlflow was never imported (its import takes 0.8 s)
        return
    try:
        import mlflow
    except ImportError:
        yield None
        return
    active = mlflow.active_run()
    if active is None and not setting:
        yield None
        return
    values = {name: _text(value) for name, value in params.items()}
    client = mlflow.MlflowClient()
    nested = active is not None and (own_run or any(
        client.get_run(active.info.run_id).data.params.get(k, v) != v for k, v in values.items()))
    started = mlflow.start_run(nested=True) if active is None or nested else None
    run = MlflowRun(mlflow, client, (started or active).info.run_id)
    run.log_params(values)
    try:
        yield run
    except BaseException:
        if started:
            mlflow.end_run(status="FAILED")
        raise
    if started:
        mlflow.end_run()


class MlflowRun:
    """The MLflow run a fit logs into."""

    def __init__(self, mlflow, client, run_id):
        self.mlflow, self.client, self.run_id = mlflow, client, run_id

    def log_params(self, values):
        from mlflow.entities import Param
        params = [Param(k, v) for k, v in values.items()]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=params[start:start + 100])

    def log_epoch(self, record):
        """Log one epoch's record (from the ranks' progress) with the epoch number as its step."""
        from mlflow.entities import Metric
        now = int(time.time() * 1000)
        names = {"seconds": "epoch_seconds"}
        self.client.log_batch(self.run_id, metrics=[Metric(names.get(k, k), float(v), now, record["epoch"])
                                                    for k, v in record.items() if k not in ("epoch", "epochs")])

    def log_history(self, history, epoch_seconds):
        """Log a whole fit's epochs at once, as :meth:`log_epoch` would have one by one."""
        for i, seconds in enumerate(epoch_seconds):
            self.log_epoch({"epoch": i + 1, "seconds": seconds, **{k: v[i] for k, v in history.items()}})

    def log_model(self, model):
        """Log the fitted Spark ML model under ``model/`` of the run."""
        import keras
        import pyspark
        import mlflow.spark
        from ... import __version__
        requirements = [f"horovod-spark-ml=={__version__}", f"pyspark=={pyspark.__version__}",
                        f"keras=={keras.__version__}"]
        mlflow.spark.log_model(model, MODEL_PATH, pip_requirements=requirements)


def _text(value):
    import json
    text = _without_credentials(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text[:_MAX_PARAM]


def _without_credentials(text):
    """A URL (a storePath, a logDir) as it may be logged: a password in it, or its query (where SAS tokens and
    signatures travel), replaced by ``***``; anything else as it is.

    >>> _without_credentials("abfss://c@acct.dfs.core.windows.net/x?sv=2024&sig=abc")
    'abfss://c@acct.dfs.core.windows.net/x?***'
    >>> _without_credentials("hdfs://me:secret@namenode/x")
    'hdfs://me:***@namenode/x'
    """
    from urllib.parse import urlsplit, urlunsplit
    if "://" not in text or any(c.isspace() for c in text):
        return text
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:  # not a URL after all (a port that is not a number)
        return text
    netloc = parts.netloc
    if password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:***@{host}"
    return urlunsplit(parts._replace(netloc=netloc, query="***" if parts.query else ""))
