"""Spark ML conventions: pyspark's shared params, sample weights, a validation column, a network as JSON text."""
import json

import keras
import numpy as np
import pytest
from pyspark.ml.evaluation import RegressionEvaluator
from pyspark.ml.param import shared
from pyspark.ml.tuning import ParamGridBuilder, TrainValidationSplit
from pyspark.sql import functions as F

from horovod_spark_ml import (Autoencoder, CNNClassifier, DBNClassifier, InputError, KerasEstimator, LSTMClassifier,
                              LSTMRegressor, MLPClassifier, MLPRegressor)
from horovod_spark_ml.cli import main


@pytest.mark.parametrize("estimator", [MLPClassifier, MLPRegressor, CNNClassifier, LSTMClassifier, LSTMRegressor,
                                       DBNClassifier, KerasEstimator], ids=lambda c: c.__name__)
def test_supervised_estimators_are_pysparks_has_label_col_and_friends(estimator):
    stage = estimator()
    for mixin in (shared.HasFeaturesCol, shared.HasLabelCol, shared.HasPredictionCol, shared.HasSeed,
                  shared.HasWeightCol, shared.HasValidationIndicatorCol):
        assert isinstance(stage, mixin), mixin.__name__
    assert stage.getLabelCol() == "label" and stage.getSeed() == 42
    assert stage.setLabelCol("y").getLabelCol() == "y"  # the setter pyspark leaves to each class


def test_classifiers_and_the_autoencoder_carry_their_output_params_as_pysparks():
    assert isinstance(MLPClassifier(), (shared.HasProbabilityCol, shared.HasRawPredictionCol))
    assert isinstance(Autoencoder(), shared.HasOutputCol) and Autoencoder().getOutputCol() == "code"


def _mlp(store, **params):
    settings = dict(hiddenLayers=[8], epochs=4, batchSize=16, learningRate=0.02, numProc=2, seed=5, storePath=store,
                    verbose=0)
    return MLPClassifier(**{**settings, **params})


def _probabilities(model, df):
    return np.array([r.probability.toArray() for r in model.transform(df).select("probability").collect()])


def test_equal_weights_train_the_same_model_as_no_weights(blobs, store):
    unweighted = _mlp(store).fit(blobs)
    weighted = _mlp(store, weightCol="w").fit(blobs.withColumn("w", F.lit(1.0)))
    np.testing.assert_allclose(weighted.history["loss"], unweighted.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(_probabilities(weighted, blobs), _probabilities(unweighted, blobs), atol=1e-5)


def test_a_class_with_zero_weight_is_never_predicted(blobs, store):
    weighted = blobs.withColumn("w", F.when(F.col("label") == 2, 0.0).otherwise(1.0))
    model = _mlp(store, weightCol="w", epochs=8).fit(weighted)
    predicted = {r.prediction for r in model.transform(blobs).select("prediction").collect()}
    assert predicted == {0.0, 1.0}


@pytest.mark.parametrize("weights, problem", [
    (lambda: F.when(F.col("label") == 1, None).otherwise(1.0), "has 100 null values"),
    (lambda: F.when(F.col("label") == 1, -1.0).otherwise(1.0), "has 100 negative values"),
    (lambda: F.lit("heavy"), "has type string"),
    (lambda: F.when(F.col("label") == 1, 1e39).otherwise(1.0), r"has 100 infinite \(or beyond float32's 3.4e38\)"),
])
def test_bad_weights_are_refused_on_the_driver_naming_the_column(blobs, store, weights, problem):
    with pytest.raises(InputError, match=f"weightCol 'w' {problem}"):
        _mlp(store, weightCol="w").fit(blobs.withColumn("w", weights()))


def test_validation_rows_are_those_the_indicator_marks(blobs, store):
    # Class 2 only in validation: the model never trains on it, so it gets every validation row wrong.
    flagged = blobs.withColumn("isVal", F.col("label") == 2)
    model = _mlp(store, validationIndicatorCol="isVal", earlyStoppingPatience=10).fit(flagged)
    assert len(model.history["val_loss"]) == 4
    assert model.history["val_accuracy"] == [0.0] * 4 and model.history["accuracy"][-1] > 0.9


@pytest.mark.parametrize("params, column, problem", [
    ({"validationIndicatorCol": "isVal", "validationSplit": 0.2}, lambda: F.col("label") == 2,
     "validationIndicatorCol=isVal is invalid: it must be unset while validationSplit=0.2 is set"),
    ({"validationIndicatorCol": "isVal"}, lambda: F.col("label"), "validationIndicatorCol 'isVal' has type double"),
    ({"validationIndicatorCol": "isVal"}, lambda: F.when(F.col("label") == 2, True), "has 200 null values"),
    ({"validationIndicatorCol": "isVal"}, lambda: F.lit(False), "marks 0 validation rows, fewer than numProc=2"),
])
def test_a_bad_validation_indicator_is_refused_on_the_driver(blobs, store, params, column, problem):
    with pytest.raises(InputError, match=problem):
        _mlp(store, **params).fit(blobs.withColumn("isVal", column()))


def _net_json(hidden):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(hidden, activation="relu"),
                             keras.layers.Dense(1)]).to_json()


def test_a_network_given_as_json_trains_and_serves_as_a_param_grid(blobs, store):
    regression = blobs.withColumn("target", F.col("label") * 2.0)
    estimator = KerasEstimator(loss="mse", labelCol="target", epochs=6, batchSize=16, learningRate=0.02, numProc=2,
                               storePath=store, verbose=0)
    grid = ParamGridBuilder().addGrid(estimator.modelJson, [_net_json(2), _net_json(16)]).build()
    search = TrainValidationSplit(estimator=estimator, estimatorParamMaps=grid, seed=3, trainRatio=0.75,
                                  evaluator=RegressionEvaluator(labelCol="target", metricName="rmse")).fit(regression)
    assert len(search.validationMetrics) == 2 and all(np.isfinite(search.validationMetrics))
    best = search.bestModel
    assert json.loads(best.getModelJson())["class_name"] == "Sequential"
    assert best.getKerasModel().layers[0].units in (2, 16)


@pytest.mark.parametrize("text, problem", [
    ("{not json", "modelJson is not valid JSON"),
    ('{"layers": []}', "modelJson is JSON but not a Keras model"),
    (json.dumps({"class_name": "NoSuchLayerAnywhere", "config": {}}), "modelJson could not be turned into a Keras "
                                                                       "model"),
])
def test_bad_model_json_is_a_clear_driver_side_error(blobs, store, text, problem):
    with pytest.raises(InputError, match=problem):
        KerasEstimator(modelJson=text, loss="mse", storePath=store).fit(blobs)


def test_model_and_model_json_together_are_refused(blobs, store):
    net = keras.models.model_from_json(_net_json(2))
    with pytest.raises(InputError, match="either as a Keras model .* or as Keras JSON .* not both"):
        KerasEstimator(model=net, modelJson=_net_json(2), loss="mse", storePath=store).fit(blobs)


def test_the_command_line_trains_a_network_from_a_json_file(spark, tmp_path):
    from flowers import write_flowers_csv
    csv = write_flowers_csv(tmp_path / "flowers.csv")
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(16, activation="relu"),
                            keras.layers.Dense(3, activation="softmax")])
    (tmp_path / "net.json").write_text(net.to_json())
    model_dir, out = str(tmp_path / "model"), str(tmp_path / "predictions.parquet")
    assert main(["train", str(csv), "--label-col", "species", "--model-dir", model_dir, "--model-json",
                 str(tmp_path / "net.json"), "--epochs", "15", "--batch-size", "16", "--learning-rate", "0.01"]) == 0
    assert main(["predict", model_dir, str(csv), out]) == 0
    rows = spark.read.parquet(out).select("species_index", "prediction").collect()
    assert np.mean([int(np.argmax(r.prediction)) == r.species_index for r in rows]) > 0.9
