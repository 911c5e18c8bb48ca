"""Recovery: per-epoch checkpoints, relaunch after a lost rank, resume by hand, runs that never mix."""
import contextlib
import io
import os
import threading

import keras
import numpy as np
import pytest

from failing_layer import DieOnRank, FailOnRank
from horovod_spark_ml import InputError, KerasEstimator, MLPClassifier, TrainingError
from horovod_spark_ml.training.run_folder import latest_checkpoint
from horovod_spark_ml.training.run_folder import RUNS

EPOCHS = 6


def _estimator(store, layer=None, **params):
    keras.utils.set_random_seed(1)
    layers = [keras.Input((4,)), *([layer] if layer else []), keras.layers.Dense(8, activation="relu"),
              keras.layers.Dense(3)]
    settings = dict(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                    epochs=EPOCHS, batchSize=16, numProc=2, storePath=store, seed=3, learningRate=0.01)
    return KerasEstimator(model=keras.Sequential(layers), **{**settings, **params})


def _fit_printing(estimator, data, **params):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        model = estimator.fit(data, params) if params else estimator.fit(data)
    return model, out.getvalue()


def _steps(rows=300, batch=16, ranks=2):
    return -(-rows // (batch * ranks))


@pytest.fixture(scope="module")
def undisturbed(blobs, store):
    return _estimator(store).fit(blobs)


def test_a_killed_rank_is_relaunched_from_the_last_checkpoint_and_trains_exactly_the_epochs(
        blobs, store, tmp_path, undisturbed):
    # Rank 1 kills itself (SIGKILL) during epoch 4, once: epochs 1-3 are checkpointed.
    dying = DieOnRank(1, "kill", step=3 * _steps() + 2, once=str(tmp_path / "died"))
    model, out = _fit_printing(_estimator(store, dying), blobs)
    assert "rank 1 (on host " in out and "SIGKILL (killed: by the out-of-memory killer, or by someone)" in out
    assert "resuming from epoch 3 of 6 (retry 1 of 2)" in out
    assert [len(v) for v in model.history.values()] == [EPOCHS] * len(model.history)
    assert len(model.epochSeconds) == EPOCHS
    # Weights, optimizer state and the data order all continue: the same numbers as an undisturbed fit.
    np.testing.assert_allclose(model.history["loss"], undisturbed.history["loss"], rtol=1e-4)
    np.testing.assert_allclose(model.history["accuracy"], undisturbed.history["accuracy"], atol=0.02)


def test_a_python_error_in_a_rank_is_not_retried(blobs, store):
    with pytest.raises(TrainingError, match="FailOnRank: deliberate failure in rank 1") as error:
        _fit_printing(_estimator(store, FailOnRank(1), maxRetries=2), blobs)
    assert error.value.lost is None


def test_a_run_that_did_not_finish_resumes_by_its_run_id(blobs, store, tmp_path, undisturbed):
    dying = DieOnRank(1, "kill", step=2 * _steps() + 1, once=str(tmp_path / "died"))
    estimator = _estimator(store, dying, runId="by-hand", maxRetries=0)
    with pytest.raises(TrainingError, match="SIGKILL"):
        _fit_printing(estimator, blobs)
    checkpoint = latest_checkpoint(f"file://{store}/{RUNS}/by-hand")
    assert checkpoint.epoch == 2 and len(checkpoint.state["history"]["loss"]) == 2

    model, out = _fit_printing(estimator, blobs)  # the "died" file exists: this time it trains on
    assert "run by-hand: resuming from its checkpoint after epoch 2 of 6" in out
    assert len(model.history["loss"]) == EPOCHS and model.getRunId() == "by-hand"
    np.testing.assert_allclose(model.history["loss"], undisturbed.history["loss"], rtol=1e-4)
    assert sorted(os.listdir(f"{store}/{RUNS}/by-hand")) == ["epoch-0006", "model.keras", "result.json",
                                                              "run.json"]

    again, out = _fit_printing(estimator, blobs)
    assert "run by-hand finished before: its model is returned without training" in out
    assert again.history == model.history

    with pytest.raises(InputError, match=r"runId 'by-hand' names a run that started with other settings.*"
                                         r"batchSize: 16 then, 32 now"):
        estimator.fit(blobs, {estimator.batchSize: 32})


def test_a_run_lost_after_its_last_checkpoint_writes_the_newer_model_instead_of_returning_the_older(blobs, store):
    # A finished run of 3 epochs, trained on to 5: epochs 4 and 5 are checkpointed, then its ranks are lost before
    # the new model.keras and result.json replace the old ones (made here by giving the old result a newer
    # checkpoint). The next fit must resume from that checkpoint and write its model, not call the run finished.
    import shutil
    from horovod_spark_ml.training.run_folder import STATE, read_json, write_json
    estimator = _estimator(store, runId="trained-on", epochs=3)
    first = estimator.fit(blobs)
    run = f"{store}/{RUNS}/trained-on"
    state = read_json(f"file://{run}/epoch-0003/{STATE}")
    state.update(epoch=5, history={k: v + v[-2:] for k, v in state["history"].items()},
                 epoch_seconds=state["epoch_seconds"] + [0.1, 0.1])
    shutil.copytree(f"{run}/epoch-0003", f"{run}/epoch-0005")
    write_json(f"file://{run}/epoch-0005/{STATE}", state)
    shutil.rmtree(f"{run}/epoch-0003")

    model, out = _fit_printing(estimator.copy({estimator.epochs: 5}), blobs)
    assert "run trained-on: resuming from its checkpoint after epoch 5 of 5" in out
    assert len(model.history["loss"]) == 5 and len(first.history["loss"]) == 3
    assert read_json(f"file://{run}/result.json")["epochs"] == 5


def test_a_run_id_is_trained_by_one_fit_at_a_time_and_a_dead_fits_lock_is_taken_over(blobs, store):
    import json
    from horovod_spark_ml.training.driver.run_lock import LOCK
    results, errors = [], []

    def fit():
        try:
            results.append(_estimator(store, runId="shared", epochs=3, verbose=0).fit(blobs))
        except InputError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=fit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 1 and len(errors) == 1, errors
    assert errors[0].startswith(f"runId 'shared' is being trained by another fit (on {os.uname().nodename}, pid "
                                f"{os.getpid()}, since ")
    assert not os.path.exists(f"{store}/{RUNS}/shared/{LOCK}")  # released when the fit ended

    # A driver that died (its pid is gone) left its lock: the next fit takes it over and resumes the run.
    with open(f"{store}/{RUNS}/shared/{LOCK}", "w") as f:
        json.dump({"host": os.uname().nodename, "pid": 4999999, "token": "dead", "since": "earlier",
                   "renewed": 0}, f)
    again, out = _fit_printing(_estimator(store, runId="shared", epochs=3), blobs)
    assert "run shared finished before" in out and again.history == results[0].history
    assert not os.path.exists(f"{store}/{RUNS}/shared/{LOCK}")


def test_concurrent_fits_into_one_store_never_share_a_run_folder(blobs, store):
    models, errors = [], []

    def fit(epochs):
        try:
            models.append(MLPClassifier(hiddenLayers=[8], epochs=epochs, numProc=1, storePath=store,
                                        verbose=0).fit(blobs))
        except Exception as e:  # noqa: BLE001 -- reported below
            errors.append(e)

    threads = [threading.Thread(target=fit, args=(epochs,)) for epochs in (2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len({m.getRunId() for m in models}) == 2
    for model in models:
        checkpoint = latest_checkpoint(f"file://{store}/{RUNS}/{model.getRunId()}")
        assert checkpoint.epoch == model.getEpochs() == len(model.history["loss"])
        assert checkpoint.state["history"] == model.history


def test_a_bad_run_id_or_retry_count_is_refused_before_staging(blobs, store):
    with pytest.raises(InputError, match="runId '../x' is invalid"):
        MLPClassifier(runId="../x", storePath=store).fit(blobs)
    with pytest.raises(InputError, match="runId 'x\n' is invalid"):
        MLPClassifier(runId="x\n", storePath=store).fit(blobs)
    with pytest.raises(InputError, match="maxRetries=-1 is invalid"):
        MLPClassifier(maxRetries=-1, storePath=store).fit(blobs)


def test_old_runs_are_deleted_by_age_finished_ones_only_unless_asked_and_never_one_being_trained(tmp_path):
    import json
    import time
    from horovod_spark_ml import delete_runs
    from horovod_spark_ml.training.driver.run_lock import LOCK
    runs = tmp_path / RUNS
    month_ago = time.time() - 30 * 86400

    def run(run_id, files, age=month_ago):
        (runs / run_id / "epoch-0002").mkdir(parents=True)
        for name, text in files.items():
            (runs / run_id / name).write_text(text)
        for path in [runs / run_id, *(runs / run_id).iterdir()]:
            os.utime(path, (age, age))

    run("finished-old", {"run.json": "{}", "result.json": "{}"})
    run("finished-new", {"run.json": "{}", "result.json": "{}"}, age=time.time())
    run("unfinished-old", {"run.json": "{}"})
    being_trained = {"host": os.uname().nodename, "pid": os.getpid(), "token": "t", "since": "now",
                     "renewed": time.time()}
    run("locked-old", {"run.json": "{}", "result.json": "{}", LOCK: json.dumps(being_trained)})
    os.utime(runs / "locked-old" / LOCK, (month_ago, month_ago))

    assert delete_runs(str(tmp_path), olderThanDays=7) == ["finished-old"]
    assert delete_runs(str(tmp_path), olderThanDays=7, unfinished=True) == ["unfinished-old"]
    assert sorted(os.listdir(runs)) == ["finished-new", "locked-old"]
    assert delete_runs(str(tmp_path), olderThanDays=0) == ["finished-new"]
    assert delete_runs(str(tmp_path / "never-used")) == []
