"""Find injected outliers among scikit-learn's handwritten digits with an Autoencoder's reconstruction error.

No download: the 1,797 digits ship inside scikit-learn. The example adds 50
outliers (random pixel noise, and digits with a block of pixels inverted),
trains a denoising Autoencoder on 2 Horovod ranks without any label, and
reports how well ``anomalyScore`` ranks the outliers first, as ROC AUC from
Spark's BinaryClassificationEvaluator.

    ./run python examples/autoencoder_anomalies.py [--epochs 30]
"""
import argparse
import time

import numpy as np
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.linalg import Vectors

from horovod_spark_ml import Autoencoder
from horovod_spark_ml.session import get_spark


def digits_with_outliers(spark, outliers=50, seed=0):
    """'pixels' (a Vector in [0, 1]) and 'isOutlier' (1.0 for the injected rows)."""
    from sklearn.datasets import load_digits
    rng = np.random.default_rng(seed)
    normal = load_digits().data / 16
    noise = rng.uniform(0, 1, size=(outliers // 2, 64))
    damaged = normal[rng.choice(len(normal), outliers - outliers // 2)].copy()
    damaged[:, 16:40] = 1 - damaged[:, 16:40]  # three rows of pixels inverted
    rows = [(Vectors.dense(x), 0.0) for x in normal] + [(Vectors.dense(x), 1.0) for x in [*noise, *damaged]]
    return spark.createDataFrame(rows, ["pixels", "isOutlier"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--num-proc", type=int, default=2)
    args = parser.parse_args()

    spark = get_spark(cores=args.num_proc, app_name="autoencoder-anomalies")
    data = digits_with_outliers(spark).cache()
    autoencoder = Autoencoder(encoderLayers=[32, 8], denoising=0.05, featuresCol="pixels", outputCol="code",
                              reconstructionErrorCol="anomalyScore", epochs=args.epochs, batchSize=32,
                              learningRate=0.003, numProc=args.num_proc)
    started = time.time()
    model = autoencoder.fit(data)  # no label: the outliers are in the training data, unmarked
    print(f"fit: {time.time() - started:.1f} s on {args.num_proc} Horovod ranks")
    scored = model.transform(data)
    auc = BinaryClassificationEvaluator(rawPredictionCol="anomalyScore", labelCol="isOutlier").evaluate(scored)
    print(f"ROC AUC of anomalyScore for the {data.filter('isOutlier = 1').count()} injected outliers: {auc:.4f}")
    scored.orderBy(scored.anomalyScore.desc()).select("isOutlier", "anomalyScore").show(10)
    spark.stop()


if __name__ == "__main__":
    main()
