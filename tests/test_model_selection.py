"""copy() and CrossValidator with a ParamGridBuilder, as for any Spark ML estimator."""
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

from horovod_spark_ml import MLPClassificationModel, MLPClassifier


def test_copy_with_extra_params_leaves_the_original_alone():
    mlp = MLPClassifier(hiddenLayers=[8], epochs=3)
    copied = mlp.copy({mlp.epochs: 7})
    assert copied.getEpochs() == 7 and mlp.getEpochs() == 3
    assert copied.uid == mlp.uid and copied.getHiddenLayers() == [8]


def test_cross_validator_picks_among_a_param_grid(blobs, store):
    mlp = MLPClassifier(epochs=4, batchSize=16, learningRate=0.01, numProc=2, storePath=store, verbose=0)
    grid = ParamGridBuilder().addGrid(mlp.hiddenLayers, [[4], [16]]).build()
    cv = CrossValidator(estimator=mlp, estimatorParamMaps=grid, numFolds=2, seed=3,
                        evaluator=MulticlassClassificationEvaluator(metricName="accuracy"))
    fitted = cv.fit(blobs)
    assert len(fitted.avgMetrics) == 2 and max(fitted.avgMetrics) > 0.8
    assert isinstance(fitted.bestModel, MLPClassificationModel)
    assert fitted.bestModel.getHiddenLayers() in ([4], [16])
