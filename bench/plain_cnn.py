"""The GPU baseline: plain Keras AlexNet on in-memory NumPy images, in its own process. Prints one JSON object.

    python -m bench.plain_cnn --rows 512 --size 227 --batch 128 --epochs 4 --threads 2
"""
import argparse
import json
import statistics

from bench.plain_keras import fit_and_predict_seconds, start_tensorflow


def main():
    parser = argparse.ArgumentParser()
    for name in ("rows", "size", "batch", "epochs", "threads"):
        parser.add_argument(f"--{name}", type=int, required=True)
    args = parser.parse_args()
    tf = start_tensorflow(args.threads)
    import keras

    from bench.data import synthetic_images
    from horovod_spark_ml.estimators.architectures import build_alexnet

    x, y = synthetic_images(args.rows, size=args.size)
    x = (x / 255).reshape(-1, args.size, args.size, 3)  # as CNNClassifier's default pixelScale does
    keras.utils.set_random_seed(1)
    model = build_alexnet(10, (args.size, args.size, 3))
    model.compile(optimizer=keras.optimizers.Adam(0.001),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False)
    times, predict_times = fit_and_predict_seconds(model, x, y, x, args.batch, args.epochs)
    print(json.dumps({"device": _device(tf), "epoch_seconds": times,
                      "samples_per_s": args.rows / statistics.median(times[1:]),
                      "predict_seconds": predict_times,
                      "predict_rows_per_s": args.rows / statistics.median(predict_times)}))


def _device(tf):
    gpus = tf.config.list_physical_devices("GPU")
    return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else "CPU"


if __name__ == "__main__":
    main()
