"""The models built for fits are kept for the next fit that would build the very same one."""
import numpy as np
import pytest

from horovod_spark_ml import RBM, Autoencoder, CNNClassifier, MLPClassifier, MLPRegressor
from horovod_spark_ml.data.schema import TrainingInput
from horovod_spark_ml.estimators import built_models
from horovod_spark_ml.estimators.param_map_fits import FitPlan
from horovod_spark_ml.memo import Memo


def _plan(estimator, info):
    return FitPlan(estimator=estimator, num_proc=2, info=info, features=None, roles=None, store=None, rows=None,
                   columns=[], params=estimator._run_params())


@pytest.fixture(autouse=True)
def kept(monkeypatch):
    """Each test keeps its own models, so that the fits of other tests neither see nor lose them."""
    monkeypatch.setattr(built_models, "_kept", Memo(full=built_models._over_bound))


CLASSES = TrainingInput(rows=100, num_features=6, label_kind="class", num_classes=3)
VALUES = TrainingInput(rows=100, num_features=6, label_kind="value")
UNLABELLED = TrainingInput(rows=100, num_features=6)


@pytest.mark.parametrize("estimator, info", [
    (MLPClassifier(hiddenLayers=[8, 4], dropout=0.1, seed=4), CLASSES),
    (MLPRegressor(hiddenLayers=[5], batchNorm=True, seed=4), VALUES),
    (CNNClassifier(architecture="lenet", imageSize=[12, 12], channels=1, seed=4), CLASSES),
    (Autoencoder(encoderLayers=[4, 2], denoising=0.1, seed=4), UNLABELLED),
    (RBM(hiddenUnits=3, seed=4), UNLABELLED),
])
def test_what_a_kept_model_stands_for_is_built_again_the_same(estimator, info):
    """The key names all a model depends on: built twice anew, the models are the same, weights included."""
    plan = _plan(estimator, info)
    first, again = estimator._new_model(plan, None)[0], estimator._new_model(plan, None)[0]
    assert [type(layer) for layer in first.layers] == [type(layer) for layer in again.layers]
    assert [w.shape for w in first.weights] == [w.shape for w in again.weights]
    for a, b in zip(first.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_fit_with_the_same_params_and_widths_gets_the_kept_model(monkeypatch):
    built = []
    monkeypatch.setattr(MLPClassifier, "_new_model", lambda self, plan, dataset: built.append(1) or (object(), b"x"))
    first, fold = MLPClassifier(hiddenLayers=[8], seed=1), MLPClassifier(hiddenLayers=[8], seed=1)
    kept = built_models.built(first._model_key(_plan(first, CLASSES)), lambda: first._new_model(None, None))
    other_rows = TrainingInput(rows=67, num_features=6, label_kind="class", num_classes=3)  # another fold's rows
    assert built_models.built(fold._model_key(_plan(fold, other_rows)), lambda: fold._new_model(None, None)) is kept
    for changed, info in [(MLPClassifier(hiddenLayers=[9], seed=1), CLASSES),
                          (MLPClassifier(hiddenLayers=[8], seed=2), CLASSES),
                          (MLPClassifier(hiddenLayers=[8], seed=1), TrainingInput(100, 7, "class", num_classes=3)),
                          (MLPClassifier(hiddenLayers=[8], seed=1), TrainingInput(100, 6, "class", num_classes=4))]:
        key = changed._model_key(_plan(changed, info))
        assert built_models.built(key, lambda: changed._new_model(None, None)) is not kept
    assert len(built) == 5


class _OwnMLP(MLPClassifier):
    """A user's subclass, which may build its model from more than the params."""


def test_models_that_depend_on_more_than_params_are_built_every_time():
    from horovod_spark_ml import DBNClassifier, KerasEstimator, LSTMClassifier
    for estimator in (KerasEstimator(), DBNClassifier(), LSTMClassifier(), _OwnMLP()):
        assert estimator._model_key(_plan(estimator, CLASSES)) is None
    made = []
    assert built_models.built(None, lambda: made.append(1) or len(made)) == 1
    assert built_models.built(None, lambda: made.append(1) or len(made)) == 2


def test_the_least_recently_used_models_go_first_beyond_the_bytes_kept(monkeypatch):
    monkeypatch.setattr(built_models, "MOST_BYTES", 10)
    for key in "abc":
        built_models.built(key, lambda: (key, b"1234"))
    assert list(built_models._kept) == ["b", "c"]
    built_models.built("b", lambda: pytest.fail("b is kept"))
    built_models.built("d", lambda: ("d", b"1234"))
    assert list(built_models._kept) == ["b", "d"]
    built_models.built("e", lambda: ("e", b"12345678901"))  # more than all that is kept: kept by nothing
    assert list(built_models._kept) == []
