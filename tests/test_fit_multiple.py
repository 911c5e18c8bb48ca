"""fitMultiple: every param map of one call in one Horovod launch, each model equal to fitting its map alone."""
import re

import keras
import numpy as np
import pytest
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.sql import functions as F
from pyspark.ml.tuning import CrossValidator, TrainValidationSplit

from failing_layer import DieOnRank, FailOnRank
from horovod_spark_ml import InputError, KerasEstimator, MLPClassifier, TrainingError



@pytest.fixture
def accuracy(spark):
    return MulticlassClassificationEvaluator(metricName="accuracy")


def _mlp(store, **params):
    return MLPClassifier(hiddenLayers=[8], epochs=3, batchSize=16, numProc=2, storePath=store, **params)


def _same_fit(model, alone):
    """Equal training: the same loss at every epoch and the same predictions."""
    np.testing.assert_allclose(model.history["loss"], alone.history["loss"], rtol=1e-6)
    for a, b in zip(model.getKerasModel().get_weights(), alone.getKerasModel().get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_cross_validator_trains_each_fold_in_one_launch_and_equals_fitting_each_map_alone(blobs, store, capsys,
                                                                                           accuracy):
    mlp = _mlp(store)
    grid = [{mlp.learningRate: 0.01, mlp.hiddenLayers: [8]}, {mlp.learningRate: 0.03, mlp.hiddenLayers: [4]}]
    cv = CrossValidator(estimator=mlp, estimatorParamMaps=grid, evaluator=accuracy, numFolds=2, seed=3,
                        parallelism=3, collectSubModels=True)
    fitted = cv.fit(blobs)
    output = capsys.readouterr().out
    assert output.count("rank 0 of 2:") == 2 + 1  # one launch per fold (not per fold and map), then the best map
    # the maps see the same batches, so each fold trains them in one step loop
    assert output.count("\nparam map 1 of 2 (learningRate=0.01, hiddenLayers=[8]) together with "
                        "param map 2 of 2 (learningRate=0.03, hiddenLayers=[4])\n") == 2
    # each epoch's lines in map order, whole (rank 0 prints them from its one checkpoint-writing thread)
    lines = re.findall(r"^param map (\d) of 2: epoch (\d)/3  \w+ [\d.]+  \w+ [\d.]+  \([\d.]+ s\)$", output, re.M)
    assert lines == [(m, e) for e in "123" for m in "12"] * 2
    assert "resuming" not in output and "exited with code" not in output

    metrics = np.zeros((2, len(grid)))
    for fold, (train, validation) in enumerate(cv._kFold(blobs)):
        for j, param_map in enumerate(grid):
            alone = mlp.fit(train, param_map)
            _same_fit(fitted.subModels[fold][j], alone)
            assert fitted.subModels[fold][j].getHiddenLayers() == alone.getHiddenLayers()
            # the same params and widths: every fold's fit, and this one, started from the model built first
            assert alone._fitted_from is fitted.subModels[fold][j]._fitted_from is fitted.subModels[0][j]._fitted_from
            metrics[fold, j] = accuracy.evaluate(alone.transform(validation))
    np.testing.assert_allclose(fitted.avgMetrics, metrics.mean(axis=0), atol=1e-9)
    assert fitted.bestModel.getLearningRate() == grid[int(np.argmax(metrics.mean(axis=0)))][mlp.learningRate]


def test_train_validation_split_groups_maps_by_num_proc(blobs, store, capsys, accuracy):
    mlp = _mlp(store)
    grid = [{mlp.learningRate: 0.01}, {mlp.numProc: 1}, {mlp.learningRate: 0.03}]
    tvs = TrainValidationSplit(estimator=mlp, estimatorParamMaps=grid, evaluator=accuracy, trainRatio=0.7, seed=5,
                               parallelism=4, collectSubModels=True)
    fitted = tvs.fit(blobs)
    output = capsys.readouterr().out
    assert re.findall(r"rank 0 of (\d+):", output)[:2] == ["2", "1"]  # maps 1 and 3, then 2 (then the best map)
    assert len(re.findall(r"rank 0 of (\d+):", output)) == 3

    split = blobs.select("*", F.rand(5).alias("r"))  # as TrainValidationSplit splits
    train, validation = split.filter(split.r < 0.7), split.filter(split.r >= 0.7)
    for j, param_map in enumerate(grid):
        alone = mlp.fit(train, param_map)
        _same_fit(fitted.subModels[j], alone)
        assert fitted.validationMetrics[j] == pytest.approx(accuracy.evaluate(alone.transform(validation)), abs=1e-9)


def test_fit_with_a_list_of_param_maps_returns_a_model_per_map_in_order(blobs, store):
    mlp = _mlp(store, verbose=0)
    models = mlp.fit(blobs, [{mlp.epochs: 2}, {mlp.epochs: 1}, {}])
    assert [len(m.history["loss"]) for m in models] == [2, 1, 3]
    assert len({m.getRunId() for m in models}) == 3


def test_a_bad_param_map_is_named_before_anything_is_staged(blobs, store):
    mlp = _mlp(store, verbose=0)
    with pytest.raises(InputError, match=r"^param map 2 of 2 \(batchSize=0\): batchSize=0 is invalid"):
        next(mlp.fitMultiple(blobs, [{mlp.batchSize: 8}, {mlp.batchSize: 0}]))


def _net(*middle):
    return keras.Sequential([keras.Input((4,)), *middle, keras.layers.Dense(3)])


def _keras_estimator(store, **params):
    return KerasEstimator(model=_net(), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          epochs=4, batchSize=16, numProc=2, storePath=store, **params)


def test_a_map_that_fails_in_a_rank_is_named_and_every_caller_gets_the_error(blobs, store):
    estimator = _keras_estimator(store, verbose=0)
    models = estimator.fitMultiple(blobs, [{}, {estimator.model: _net(FailOnRank(1))}])
    with pytest.raises(TrainingError) as error:
        next(models)
    assert str(error.value).startswith("param map 2 of 2 (model=")
    assert "FailOnRank: deliberate failure in rank 1" in str(error.value)
    with pytest.raises(TrainingError):
        next(models)  # not trained again


def test_a_map_that_fails_in_a_rank_is_named_when_maps_train_together(blobs, store, capsys):
    estimator = _keras_estimator(store, verbose=1)
    models = estimator.fitMultiple(blobs, [{estimator.model: _net(FailOnRank(7))},  # 2 ranks: never fails
                                           {estimator.model: _net(FailOnRank(1))}])
    with pytest.raises(TrainingError) as error:
        next(models)
    assert re.search(r"^param map 1 of 2 \(.*\) together with param map 2 of 2 \(.*\)$", capsys.readouterr().out,
                     re.M)
    assert str(error.value).startswith("param map 2 of 2 (model=")
    assert "FailOnRank: deliberate failure in rank 1" in str(error.value)


def test_a_lost_rank_resumes_every_map_trained_together_from_its_checkpoint(blobs, store, tmp_path, capsys):
    estimator = _keras_estimator(store, maxRetries=1)
    steady = _net(DieOnRank(1, "kill", step=10 ** 9))  # the same layers as the dying one, so that they train together
    dying = _net(DieOnRank(1, "kill", step=40, once=str(tmp_path / "died")))
    models = dict(estimator.fitMultiple(blobs, [{estimator.model: steady}, {estimator.model: dying}]))
    output = capsys.readouterr().out
    assert len(re.findall(r"^param map 1 of 2 \(.*\) together with param map 2 of 2 \(.*\)$", output, re.M)) == 2
    assert re.search(r"during param map 1 of 2 \(.*\) together with param map 2 of 2 \(.*\); resuming from epoch "
                     r"\d of 4", output)
    assert [len(models[i].history["loss"]) for i in (0, 1)] == [4, 4]
    _same_fit(models[0], estimator.fit(blobs, {estimator.model: steady}))


def test_a_lost_rank_resumes_the_map_it_was_on_and_not_the_maps_before(blobs, store, tmp_path, capsys):
    estimator = _keras_estimator(store, maxRetries=1)
    dying = _net(DieOnRank(1, "kill", step=40, once=str(tmp_path / "died")))
    # map 2's custom layer keeps the maps apart: they train in turn
    models = dict(estimator.fitMultiple(blobs, [{}, {estimator.model: dying}]))
    output = capsys.readouterr().out
    assert "during param map 2 of 2 (model=" in output and "resuming from epoch " in output
    assert output.count("param map 1 of 2") == 1  # trained once: the relaunch starts at map 2
    assert [len(models[i].history["loss"]) for i in (0, 1)] == [4, 4]
    _same_fit(models[0], estimator.fit(blobs))


def test_param_maps_cannot_share_a_run_id(blobs, store):
    mlp = _mlp(store, verbose=0, runId="one-run")
    with pytest.raises(InputError, match=r"runId 'one-run' is set for param map 1 of 2 \(epochs=1\) and param map 2"):
        mlp.fit(blobs, [{mlp.epochs: 1}, {mlp.epochs: 2}])
