"""Train a scaled AlexNet on a folder of PNG files, on 2 Horovod ranks, and use it for embeddings.

The images are scikit-learn's bundled handwritten digits (1,797 of them, no
download): this script writes them as 32x32 grayscale PNG files into one
sub-folder per class (zero/, one/, ...), then reads the folder with
``read_images``. The files stay compressed through staging; each rank decodes
its own share.

    ./run python examples/cnn_digit_images.py [--epochs 15] [--size 32] [--folder /tmp/digit_images]
"""
import argparse
import tempfile
import time

from pyspark.ml import Pipeline
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.feature import IndexToString, StringIndexer

from horovod_spark_ml import CNNClassifier, read_images
from horovod_spark_ml.demo import write_digit_images
from horovod_spark_ml.session import get_spark


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--size", type=int, default=32, help="image height and width, in pixels")
    parser.add_argument("--folder", default=f"{tempfile.gettempdir()}/horovod_spark_ml_digit_images")
    parser.add_argument("--num-proc", type=int, default=2)
    args = parser.parse_args()

    written = write_digit_images(args.folder, size=args.size)
    print(f"{written} PNG files under {args.folder}")
    spark = get_spark(cores=args.num_proc, app_name="cnn-digit-images")
    train, test = read_images(spark, args.folder, labelFrom="parentDir").randomSplit([0.8, 0.2], seed=7)

    cnn = CNNClassifier(architecture="alexnet", imageSize=[args.size, args.size], channels=1, epochs=args.epochs,
                        batchSize=32, learningRate=0.002, numProc=args.num_proc, featuresCol="image",
                        labelCol="label")
    pipeline = Pipeline(stages=[StringIndexer(inputCol="className", outputCol="label"), cnn,
                                IndexToString(inputCol="prediction", outputCol="predictedClass")])
    started = time.time()
    model = pipeline.fit(train)
    print(f"fit: {time.time() - started:.1f} s on {args.num_proc} Horovod ranks")

    predictions = model.transform(test).cache()
    accuracy = MulticlassClassificationEvaluator(metricName="accuracy").evaluate(predictions)
    print(f"test accuracy: {accuracy:.4f} on {predictions.count()} images")
    predictions.select("path", "className", "predictedClass").show(5, truncate=60)

    embeddings = model.stages[1].copy().setOutputLayer("fc7").transform(test)
    print(f"fc7 embeddings: {len(embeddings.first().embedding)} values per image")
    spark.stop()


if __name__ == "__main__":
    main()
