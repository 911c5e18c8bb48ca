"""The classifiers and regressors are pyspark's own prediction stages: isinstance, one-row predictions equal to
transform's, and thresholds as Spark's classifiers apply them."""
import numpy as np
import pytest
from pyspark.ml.classification import ProbabilisticClassificationModel, ProbabilisticClassifier
from pyspark.ml.regression import RegressionModel, Regressor

import horovod_spark_ml as hsm
from horovod_spark_ml import InputError


@pytest.mark.parametrize("estimator, model, kind", [
    ("MLPClassifier", "MLPClassificationModel", "classifier"), ("CNNClassifier", "CNNClassificationModel", "classifier"),
    ("LSTMClassifier", "LSTMClassificationModel", "classifier"), ("DBNClassifier", "DBNClassificationModel", "classifier"),
    ("MLPRegressor", "MLPRegressionModel", "regressor"), ("LSTMRegressor", "LSTMRegressionModel", "regressor"),
    ("DBNRegressor", "DBNRegressionModel", "regressor")])
def test_each_classifier_and_regressor_is_pysparks_own_kind_of_stage(estimator, model, kind):
    bases = (ProbabilisticClassifier, ProbabilisticClassificationModel) if kind == "classifier" else (
        Regressor, RegressionModel)
    assert issubclass(getattr(hsm, estimator), bases[0]) and issubclass(getattr(hsm, model), bases[1])
    if kind == "classifier":
        assert getattr(hsm, estimator)(thresholds=[1.0, 2.0]).getThresholds() == [1.0, 2.0]


@pytest.mark.parametrize("name", ["KerasModel", "AutoencoderModel", "RBMModel"])
def test_the_models_that_predict_no_single_label_are_not(name):
    assert not issubclass(getattr(hsm, name), (ProbabilisticClassificationModel, RegressionModel))


@pytest.fixture(scope="module")
def classifier(blobs, store):
    return hsm.MLPClassifier(hiddenLayers=[8], epochs=3, numProc=1, storePath=store, verbose=0).fit(blobs)


def test_one_row_predictions_equal_what_transform_gives(classifier, blobs):
    rows = classifier.transform(blobs.limit(5)).collect()
    assert (classifier.numFeatures, classifier.numClasses) == (4, 3)
    for row in rows:
        assert np.allclose(classifier.predictRaw(row.features).toArray(), row.rawPrediction.toArray(), atol=1e-5)
        assert np.allclose(classifier.predictProbability(row.features).toArray(), row.probability.toArray(),
                           atol=1e-5)
        assert classifier.predict(row.features) == row.prediction
        assert classifier.predict(list(row.features.toArray())) == row.prediction  # an array as featuresCol holds


def test_thresholds_pick_the_largest_probability_over_its_threshold_as_spark_does(classifier, blobs):
    thresholds = [0.9, 0.05, 0.9]
    rows = classifier.copy().setThresholds(thresholds).transform(blobs).collect()
    expected = [float(np.argmax(r.probability.toArray() / thresholds)) for r in rows]
    assert [r.prediction for r in rows] == expected
    assert expected.count(1.0) > sum(r.label == 1.0 for r in rows)  # class 1 now wins more often
    model = classifier.copy().setThresholds(thresholds)
    assert [model.predict(r.features) for r in rows[:20]] == expected[:20]
    winner = classifier.copy().setThresholds([1.0, 0.0, 1.0])  # a threshold of 0 wins outright
    assert {r.prediction for r in winner.transform(blobs).collect()} == {1.0}


@pytest.mark.parametrize("thresholds", [[1.0, 1.0], [1.0, -1.0, 1.0], [0.0, 0.0, 1.0]])
def test_thresholds_that_do_not_fit_the_classes_are_named(classifier, blobs, thresholds):
    with pytest.raises(InputError, match=r"thresholds .* one value per class \(3\)"):
        classifier.copy().setThresholds(thresholds).transform(blobs)


def test_a_regressors_one_row_prediction_equals_transforms(blobs, store):
    model = hsm.MLPRegressor(hiddenLayers=[8], epochs=2, numProc=1, storePath=store, verbose=0).fit(blobs)
    for row in model.transform(blobs.limit(3)).collect():
        assert model.predict(row.features) == pytest.approx(row.prediction, abs=1e-5)
    assert model.numFeatures == 4


def test_a_value_the_model_cannot_read_is_named(classifier):
    with pytest.raises(InputError, match=r"featuresCol 'features': \[1.0, 2.0\] is not an input this model can read"):
        classifier.predict([1.0, 2.0])  # 2 features, where the model reads 4


def test_thresholds_that_do_not_fit_the_classes_stop_a_fit_before_it_stages(blobs, tmp_path):
    store = tmp_path / "store"
    with pytest.raises(InputError, match=r"thresholds \[1.0, 1.0\] must have one value per class \(3\)"):
        hsm.MLPClassifier(thresholds=[1.0, 1.0], numProc=1, storePath=str(store), verbose=0).fit(blobs)
    assert not any(store.rglob("*.parquet"))
