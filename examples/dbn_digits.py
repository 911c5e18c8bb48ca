"""Features from an RBM, and a DBN classifier pretrained layer by layer, on scikit-learn's digits (no download).

1. An RBM (64 binary hidden units, CD-1) learns features without labels; a
   LogisticRegression on its hidden probabilities classifies the digits.
2. A DBNClassifier pretrains two RBM layers greedily (each on the hidden
   activations of the one below), stacks them into a network and fine-tunes it.

Everything trains on 2 Horovod ranks.

    ./run python examples/dbn_digits.py [--pretrain-epochs 10] [--epochs 30]
"""
import argparse
import time

from pyspark.ml import Pipeline
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.feature import StringIndexer
from pyspark.ml.functions import array_to_vector
from pyspark.sql import functions as F

from horovod_spark_ml import RBM, DBNClassifier
from horovod_spark_ml.demo import digits_frame
from horovod_spark_ml.session import get_spark


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrain-epochs", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--num-proc", type=int, default=2)
    args = parser.parse_args()

    spark = get_spark(cores=args.num_proc, app_name="dbn-digits")
    digits = digits_frame(spark).select(
        array_to_vector(F.array(*[F.col(f"p{i}") / 16 for i in range(64)])).alias("pixels"), "digit")
    train, test = [df.cache() for df in digits.randomSplit([0.8, 0.2], seed=7)]
    accuracy = MulticlassClassificationEvaluator(metricName="accuracy")
    index = StringIndexer(inputCol="digit", outputCol="label")

    started = time.time()
    rbm = RBM(hiddenUnits=64, visibleType="binary", cdSteps=1, featuresCol="pixels", outputCol="hidden",
              epochs=args.pretrain_epochs, learningRate=0.1, numProc=args.num_proc, verbose=0)
    features = Pipeline(stages=[index, rbm, LogisticRegression(featuresCol="hidden", maxIter=200)]).fit(train)
    errors = features.stages[1].history["reconstruction_error"]
    print(f"RBM reconstruction error by epoch: {', '.join(f'{e:.4f}' for e in errors)}")
    print(f"RBM features + LogisticRegression: test accuracy {accuracy.evaluate(features.transform(test)):.4f} "
          f"({time.time() - started:.1f} s)")

    started = time.time()
    dbn = DBNClassifier(hiddenLayers=[128, 64], pretrainEpochs=args.pretrain_epochs, pretrainLearningRate=0.1,
                        epochs=args.epochs, learningRate=0.005, featuresCol="pixels", numProc=args.num_proc,
                        verbose=0)
    model = Pipeline(stages=[index, dbn]).fit(train)
    for i, history in enumerate(model.stages[-1].pretrainingHistory, start=1):
        errors = history["reconstruction_error"]
        print(f"DBN layer {i} pretraining: reconstruction error {errors[0]:.4f} -> {errors[-1]:.4f}")
    print(f"DBN: test accuracy {accuracy.evaluate(model.transform(test)):.4f} ({time.time() - started:.1f} s)")
    spark.stop()


if __name__ == "__main__":
    main()
