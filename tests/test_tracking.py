"""Tracking a fit: TensorBoard event files (logDir) and MLflow (params, per-epoch metrics, the Spark ML model)."""
import numpy as np
import pytest

from horovod_spark_ml import InputError, MLPClassifier


def _scalars(folder):
    """tag -> [(step, value)] of the scalar summaries in a TensorBoard run folder."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator, TENSORS
    events = EventAccumulator(folder, size_guidance={TENSORS: 0})
    events.Reload()
    import tensorflow as tf
    return {tag: [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in events.Tensors(tag)]
            for tag in events.Tags()["tensors"]}


def test_log_dir_gets_tensorboard_events_for_each_epoch_train_and_validation(blobs, store, tmp_path):
    model = MLPClassifier(hiddenLayers=[8], epochs=3, numProc=2, validationSplit=0.2, storePath=store,
                          logDir=str(tmp_path / "tb"), verbose=0).fit(blobs)
    train, validation = _scalars(str(tmp_path / "tb" / "train")), _scalars(str(tmp_path / "tb" / "validation"))
    assert [step for step, _ in train["epoch_loss"]] == [0, 1, 2]
    np.testing.assert_allclose([v for _, v in train["epoch_loss"]], model.history["loss"], rtol=1e-5)
    np.testing.assert_allclose([v for _, v in train["epoch_accuracy"]], model.history["accuracy"], rtol=1e-5)
    np.testing.assert_allclose([v for _, v in validation["epoch_loss"]], model.history["val_loss"], rtol=1e-5)


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 deprecates the file store, still fine here
    mlflow.set_tracking_uri(f"file://{tmp_path}/mlruns")
    yield mlflow
    while mlflow.active_run():
        mlflow.end_run()


def test_a_fit_in_an_active_mlflow_run_logs_params_epoch_metrics_and_a_loadable_model(blobs, store, mlflow_store):
    import mlflow.spark
    with mlflow_store.start_run() as run:
        model = MLPClassifier(hiddenLayers=[8], epochs=3, numProc=2, batchSize=16, storePath=store,
                              verbose=0).fit(blobs)
    client = mlflow_store.MlflowClient()
    logged = client.get_run(run.info.run_id).data
    assert logged.params["hiddenLayers"] == "[8]" and logged.params["epochs"] == "3"
    assert logged.params["runId"] == model.getRunId()
    losses = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in losses] == [1, 2, 3]
    np.testing.assert_allclose([m.value for m in losses], model.history["loss"], rtol=1e-6)
    assert len(client.get_metric_history(run.info.run_id, "epoch_seconds")) == 3

    loaded = mlflow.spark.load_model(f"runs:/{run.info.run_id}/model")
    ours = model.transform(blobs).select("probability").collect()
    theirs = loaded.transform(blobs).select("probability").collect()
    assert theirs == ours


def test_urls_are_logged_without_their_passwords_or_tokens(mlflow_store):
    from horovod_spark_ml.training.driver.tracking import tracking
    params = {"storePath": "abfss://data@acct.dfs.core.windows.net/store?sv=2024-01&sig=SECRET",
              "logDir": "hdfs://me:SECRET@namenode:8020/logs", "hiddenLayers": [8]}
    with tracking(True, params) as run:
        logged = mlflow_store.MlflowClient().get_run(run.run_id).data.params
    assert logged == {"storePath": "abfss://data@acct.dfs.core.windows.net/store?***",
                      "logDir": "hdfs://me:***@namenode:8020/logs", "hiddenLayers": "[8]"}


def test_mlflow_logging_is_off_without_an_active_run_and_on_when_asked(blobs, store, mlflow_store):
    MLPClassifier(hiddenLayers=[4], epochs=1, numProc=1, storePath=store, verbose=0).fit(blobs)
    assert mlflow_store.search_runs(search_all_experiments=True).empty
    model = MLPClassifier(hiddenLayers=[4], epochs=1, numProc=1, storePath=store, verbose=0,
                          mlflowLogging=True).fit(blobs)
    runs = mlflow_store.search_runs(search_all_experiments=True)
    assert len(runs) == 1 and runs["params.runId"][0] == model.getRunId()
    assert mlflow_store.active_run() is None  # the run it started, it ended


def test_mlflow_logging_without_mlflow_installed_is_refused_before_staging(blobs, store, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_mlflow(name, *args, **kwargs):
        if name == "mlflow" or name.startswith("mlflow."):
            raise ImportError("No module named 'mlflow'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlflow)
    with pytest.raises(InputError, match="mlflowLogging=True needs the mlflow package"):
        MLPClassifier(mlflowLogging=True, storePath=store).fit(blobs)


def test_fit_multiple_in_an_active_mlflow_run_logs_each_param_map_in_a_nested_run(blobs, store, mlflow_store):
    mlp = MLPClassifier(hiddenLayers=[8], epochs=2, numProc=2, batchSize=16, storePath=store, verbose=0)
    with mlflow_store.start_run() as parent:
        models = dict(mlp.fitMultiple(blobs, [{mlp.learningRate: 0.01}, {mlp.learningRate: 0.03}]))
    client = mlflow_store.MlflowClient()
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    by_run_id = {child.data.params["runId"]: child for child in children}
    assert set(by_run_id) == {model.getRunId() for model in models.values()}
    for model in models.values():
        child = by_run_id[model.getRunId()]
        assert float(child.data.params["learningRate"]) == model.getLearningRate()
        losses = client.get_metric_history(child.info.run_id, "loss")
        assert [m.step for m in losses] == [1, 2]
        np.testing.assert_allclose([m.value for m in losses], model.history["loss"], rtol=1e-6)
