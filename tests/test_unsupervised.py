"""Autoencoder, RBM and DBN end to end on 2 Horovod ranks, on scikit-learn's digits scaled to [0, 1]."""
import sys

import cloudpickle
import horovod.spark
import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.evaluation import BinaryClassificationEvaluator, MulticlassClassificationEvaluator
from pyspark.ml.feature import StringIndexer
from pyspark.ml.functions import array_to_vector
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
from pyspark.sql import functions as F

from horovod_spark_ml import RBM, Autoencoder, DBNClassificationModel, DBNClassifier, InputError, RBMModel

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the ranks cannot import test modules by name


@pytest.fixture(scope="module")
def pixels(digits):
    """The digits as 'pixels' (a Vector of 64 values in [0, 1]) and the string 'digit'."""
    def scaled(df):
        return df.select(array_to_vector(F.array(*[F.col(f"p{i}") / 16 for i in range(64)])).alias("pixels"),
                         "digit")
    return scaled(digits[0]).cache(), scaled(digits[1]).cache()


def common(store, **params):
    settings = dict(featuresCol="pixels", batchSize=32, numProc=2, storePath=store, verbose=0)
    return {**settings, **params}


def test_autoencoder_scores_injected_outliers_highest(spark, pixels, store):
    """Trained on digits, it reconstructs held-out digits well and injected noise and inverted digits badly."""
    from pyspark.ml.functions import vector_to_array
    rng = np.random.default_rng(0)
    noise = spark.createDataFrame([(v,) for v in rng.uniform(0, 1, size=(20, 64)).tolist()], ["values"])
    inverted = pixels[0].limit(20).select(F.transform(vector_to_array("pixels"), lambda v: 1 - v).alias("values"))
    outliers = noise.union(inverted).select(array_to_vector("values").alias("pixels"), F.lit(1.0).alias("outlier"))
    scored_rows = pixels[1].select("pixels", F.lit(0.0).alias("outlier")).union(outliers)
    model = Autoencoder(**common(store, encoderLayers=[32, 8], denoising=0.05, epochs=20, learningRate=0.003,
                                 reconstructionErrorCol="anomalyScore", reconstructionCol="reconstruction")
                        ).fit(pixels[0])
    scored = model.transform(scored_rows)
    row = scored.first()
    assert len(row.code) == 8 and len(row.reconstruction) == 64
    auc = BinaryClassificationEvaluator(rawPredictionCol="anomalyScore", labelCol="outlier").evaluate(scored)
    assert auc >= 0.95


def test_tied_sparse_autoencoder_reduces_features_for_a_classifier_in_cross_validation(pixels, store, tmp_path):
    autoencoder = Autoencoder(**common(store, encoderLayers=[32], tiedWeights=True, sparsity=1e-5, epochs=10,
                                       learningRate=0.003))
    regression = LogisticRegression(featuresCol="code", maxIter=50)
    pipeline = Pipeline(stages=[StringIndexer(inputCol="digit", outputCol="label"), autoencoder, regression])
    grid = ParamGridBuilder().addGrid(regression.regParam, [0.0, 0.01]).build()
    cv = CrossValidator(estimator=pipeline, estimatorParamMaps=grid, numFolds=2, seed=3,
                        evaluator=MulticlassClassificationEvaluator(metricName="accuracy"))
    fitted = cv.fit(pixels[0]).bestModel
    evaluator = MulticlassClassificationEvaluator(metricName="accuracy")
    assert evaluator.evaluate(fitted.transform(pixels[1])) >= 0.85
    fitted.save(str(tmp_path / "pipeline"))
    reloaded = PipelineModel.load(str(tmp_path / "pipeline"))
    assert evaluator.evaluate(reloaded.transform(pixels[1])) == evaluator.evaluate(fitted.transform(pixels[1]))


@pytest.fixture(scope="module")
def rbm(pixels, store):
    return RBM(**common(store, hiddenUnits=32, epochs=6, learningRate=0.1, batchSize=16)).fit(pixels[0])


def test_rbm_reconstruction_error_goes_down_and_hidden_features_come_out(rbm, pixels, tmp_path):
    errors = rbm.history["reconstruction_error"]
    assert len(errors) == 6 and errors[-1] < 0.85 * errors[0]
    hidden = [r.hidden for r in rbm.transform(pixels[1]).select("hidden").collect()]
    assert len(hidden[0]) == 32 and all(0.0 <= v <= 1.0 for h in hidden for v in h)
    rbm.save(str(tmp_path / "rbm"))
    reloaded = [r.hidden for r in RBMModel.load(str(tmp_path / "rbm")).transform(pixels[1]).select("hidden").collect()]
    assert np.allclose(hidden, reloaded)


def _rbm_on_rank_specific_data():
    import horovod.tensorflow as hvd
    hvd.init()
    import keras
    from horovod_spark_ml.training.rank.horovod_keras import broadcast_weights, distributed_optimizer
    from horovod_spark_ml.estimators.rbm import RestrictedBoltzmannMachine
    rng = np.random.default_rng(hvd.rank())
    data = (rng.uniform(size=(128, 16)) < 0.2 + 0.5 * hvd.rank()).astype("float32")  # each rank its own data
    model = RestrictedBoltzmannMachine(16, 8, seed=10 + hvd.rank())
    model.compile(optimizer=distributed_optimizer(keras.optimizers.SGD(0.1)), jit_compile=False)
    broadcast_weights(model)
    model.fit(data, batch_size=32, epochs=2, verbose=0)
    return [w for w in model.get_weights() if w.dtype == np.float32]


def test_rbm_cd_updates_are_averaged_so_ranks_end_with_identical_weights(spark):
    weights0, weights1 = horovod.spark.run(_rbm_on_rank_specific_data, num_proc=2, verbose=0)
    assert len(weights0) == 3
    assert all(np.array_equal(a, b) for a, b in zip(weights0, weights1))


def test_stacked_network_starts_from_the_pretrained_rbm_weights(rbm):
    from horovod_spark_ml.estimators.dbn import stack_rbms
    machine = rbm.getKerasModel()
    network = stack_rbms([machine], 10)
    kernel, bias = network.get_layer("dense_1").get_weights()
    assert np.array_equal(kernel, machine.kernel.numpy()) and np.array_equal(bias, machine.hidden_bias.numpy())
    x = np.random.default_rng(0).uniform(size=(5, 64)).astype("float32")
    hidden = network.get_layer("activation_1").output
    import keras
    assert np.allclose(keras.Model(network.inputs, hidden).predict(x, verbose=0), machine.predict(x, verbose=0),
                       atol=1e-6)


def test_dbn_pretrains_each_layer_then_fine_tunes_a_classifier(pixels, store, tmp_path):
    dbn = DBNClassifier(**common(store, hiddenLayers=[64, 32], pretrainEpochs=4, pretrainLearningRate=0.1,
                                 epochs=15, learningRate=0.005))
    model = Pipeline(stages=[StringIndexer(inputCol="digit", outputCol="label"), dbn]).fit(pixels[0])
    dbn_model = model.stages[-1]
    assert [len(h["reconstruction_error"]) for h in dbn_model.pretrainingHistory] == [4, 4]
    assert all(h["reconstruction_error"][-1] < h["reconstruction_error"][0] for h in dbn_model.pretrainingHistory)
    evaluator = MulticlassClassificationEvaluator(metricName="accuracy")
    assert evaluator.evaluate(model.transform(pixels[1])) >= 0.9
    model.save(str(tmp_path / "dbn"))
    reloaded = PipelineModel.load(str(tmp_path / "dbn"))
    assert isinstance(reloaded.stages[-1], DBNClassificationModel)
    assert reloaded.stages[-1].pretrainingHistory == dbn_model.pretrainingHistory


@pytest.mark.parametrize("estimator, params, message", [
    (Autoencoder, {"encoderLayers": []}, r"encoderLayers=\[\] is invalid: it must be a non-empty list"),
    (Autoencoder, {"denoising": -0.1}, r"denoising=-0.1 is invalid: it must be 0 \(off\) or positive"),
    (Autoencoder, {"sparsity": -1.0}, r"sparsity=-1.0 is invalid: it must be 0 \(off\) or positive"),
    (RBM, {"hiddenUnits": 0}, "hiddenUnits=0 is invalid: it must be at least 1"),
    (RBM, {"visibleType": "poisson"}, "visibleType=poisson is invalid: it must be 'binary' or 'gaussian'"),
    (RBM, {"cdSteps": 0}, "cdSteps=0 is invalid: it must be at least 1"),
    (DBNClassifier, {"hiddenLayers": []}, r"hiddenLayers=\[\] is invalid: it must be a non-empty list"),
    (DBNClassifier, {"pretrainEpochs": -1}, r"pretrainEpochs=-1 is invalid: it must be 0 \(no pretraining\)"),
    (DBNClassifier, {"pretrainLearningRate": 0.0}, "pretrainLearningRate=0.0 is invalid: it must be positive"),
    (DBNClassifier, {"visibleType": "poisson"}, "visibleType=poisson is invalid"),
])
def test_invalid_unsupervised_params_are_named(pixels, store, estimator, params, message):
    with pytest.raises(InputError, match=message):
        estimator(**common(store, **params)).fit(pixels[0])
