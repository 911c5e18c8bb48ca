"""The checkpoint format on its own (no Horovod): complete checkpoints only, and everything a resumption needs."""
import json
import time

import keras
import numpy as np
import pytest

from horovod_spark_ml.training.rank.checkpoints import Checkpointer, ResumableEarlyStopping, restore
from horovod_spark_ml.training.run_folder import latest_checkpoint
from horovod_spark_ml.training.messages import EPOCH_MARKER
from horovod_spark_ml.training.rank.progress import ProgressPrinter


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.05), "mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


def _checkpointed_fit(run_url, epochs, resumed=None, model=None):
    model = model or _model()
    stopping = ResumableEarlyStopping(resumed, monitor="loss", patience=50, restore_best_weights=True)
    checkpointer = Checkpointer(run_url, stopping, resumed)
    x, y = _data()
    model.fit(x, y, batch_size=16, shuffle=False, epochs=epochs, initial_epoch=resumed.epoch if resumed else 0,
              callbacks=[stopping, checkpointer], verbose=0)
    return model, checkpointer, stopping


def test_a_resumed_fit_continues_exactly_where_the_checkpoint_left_off(tmp_path):
    straight, straight_checkpoints, _ = _checkpointed_fit(f"file://{tmp_path}/straight", 6)

    run = f"file://{tmp_path}/resumed"
    _checkpointed_fit(run, 3)
    (tmp_path / "resumed" / "epoch-0004").mkdir()  # a checkpoint whose writer died: no state.json
    checkpoint = latest_checkpoint(run)
    assert checkpoint.epoch == 3 and len(checkpoint.state["history"]["loss"]) == 3
    assert checkpoint.state["early_stopping"]["has_best_weights"]

    model = _model()
    restore(model, checkpoint)
    assert int(model.optimizer.iterations.numpy()) == 3 * 4  # 64 rows in batches of 16, 3 epochs
    resumed, checkpoints, stopping = _checkpointed_fit(run, 6, checkpoint, model)
    assert checkpoints.history["loss"] == straight_checkpoints.history["loss"]
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert [p.name for p in (tmp_path / "resumed").iterdir()] == ["epoch-0006"]  # epoch 4 written anew, then replaced


def test_early_stopping_resumes_its_counters_and_best_weights(tmp_path):
    run = f"file://{tmp_path}/run"
    _, _, before = _checkpointed_fit(run, 2)
    checkpoint = latest_checkpoint(run)
    stopping = ResumableEarlyStopping(checkpoint, monitor="loss", patience=50, restore_best_weights=True)
    stopping.on_train_begin()
    assert (stopping.wait, stopping.best, stopping.best_epoch) == (before.wait, before.best, before.best_epoch)
    for a, b in zip(stopping.best_weights, before.best_weights):
        np.testing.assert_array_equal(a, b)


def test_each_epoch_is_reported_once_its_checkpoint_is_in_place(tmp_path, capsys):
    run = f"file://{tmp_path}/run"
    model, (x, y) = _model(), _data()
    checkpointer = Checkpointer(run)
    seen = []

    class Reporter(keras.callbacks.Callback):  # what ProgressPrinter does with the checkpointer's when_written
        def on_epoch_end(self, epoch, logs=None):
            checkpointer.when_written(lambda: seen.append((epoch + 1, latest_checkpoint(run).epoch)))

    model.fit(x, y, batch_size=16, epochs=4, callbacks=[checkpointer, Reporter(), ProgressPrinter(checkpointer, 4)],
              verbose=0)
    assert seen == [(1, 1), (2, 2), (3, 3), (4, 4)]  # all reported by the time fit returns, each once written
    printed = [json.loads(line[len(EPOCH_MARKER):]) for line in capsys.readouterr().out.splitlines()]
    assert [(p["epoch"], p["seconds"]) for p in printed] == [
        (i + 1, round(s, 3)) for i, s in enumerate(checkpointer.epoch_seconds)]


def test_epoch_seconds_count_the_work_between_epochs(tmp_path):
    model, (x, y) = _model(), _data()
    checkpointer = Checkpointer(f"file://{tmp_path}/run")

    class Between(keras.callbacks.Callback):  # 50 ms after each epoch's end: part of the next epoch's seconds
        def on_epoch_end(self, epoch, logs=None):
            time.sleep(0.05)

    started = time.time()
    model.fit(x, y, batch_size=16, epochs=4, callbacks=[checkpointer, Between()], verbose=0)
    wall = time.time() - started
    assert 3 * 0.05 <= sum(checkpointer.epoch_seconds) <= wall - 0.05  # the last epoch's 50 ms come after its end


def test_a_checkpoint_that_cannot_be_written_fails_the_fit(tmp_path):
    (tmp_path / "run").write_text("a file where the run's folder should be")
    model, (x, y) = _model(), _data()
    with pytest.raises(OSError, match="run"):  # raised in fit, though a thread writes the checkpoints
        model.fit(x, y, batch_size=16, epochs=3, callbacks=[Checkpointer(f"file://{tmp_path}/run")], verbose=0)
