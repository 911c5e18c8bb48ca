"""Classify noisy sine waves of varying length by frequency band with an LSTM, on 2 Horovod ranks.

The example makes its own data: 2,000 waves of 20 to 120 steps, each with
three features per step (the wave, its square, and a noisy copy), in four
frequency bands. Spark pads the sequences and the network masks the padding.

    ./run python examples/lstm_sine_waves.py [--epochs 15] [--rows 2000] [--cell lstm]
"""
import argparse
import time

import numpy as np
from pyspark.ml.evaluation import MulticlassClassificationEvaluator

from horovod_spark_ml import LSTMClassifier
from horovod_spark_ml.session import get_spark

BANDS = (0.05, 0.1, 0.2, 0.4)  # radians per step


def sine_waves(spark, rows, seed=0):
    """A DataFrame of ``sequence`` (array<array<double>>) and ``label`` (the frequency band, 0..3)."""
    rng = np.random.default_rng(seed)
    data = []
    for i in range(rows):
        band = i % len(BANDS)
        steps = int(rng.integers(20, 121))
        frequency = BANDS[band] * rng.uniform(0.85, 1.15)
        wave = np.sin(frequency * np.arange(steps) + rng.uniform(0, 2 * np.pi)) + 0.2 * rng.normal(size=steps)
        noisy = wave + 0.5 * rng.normal(size=steps)
        data.append(([[float(w), float(w * w), float(n)] for w, n in zip(wave, noisy)], float(band)))
    return spark.createDataFrame(data, "sequence array<array<double>>, label double")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn"])
    parser.add_argument("--num-proc", type=int, default=2)
    args = parser.parse_args()

    spark = get_spark(cores=args.num_proc, app_name="lstm-sine-waves")
    train, test = sine_waves(spark, args.rows).randomSplit([0.8, 0.2], seed=7)
    classifier = LSTMClassifier(units=[32], cell=args.cell, epochs=args.epochs, batchSize=64, learningRate=0.005,
                                numProc=args.num_proc, featuresCol="sequence", labelCol="label")
    started = time.time()
    model = classifier.fit(train)
    print(f"fit: {time.time() - started:.1f} s on {args.num_proc} Horovod ranks")
    accuracy = MulticlassClassificationEvaluator(metricName="accuracy").evaluate(model.transform(test))
    print(f"test accuracy: {accuracy:.4f} ({len(BANDS)} frequency bands, chance {1 / len(BANDS):.2f})")
    spark.stop()


if __name__ == "__main__":
    main()
