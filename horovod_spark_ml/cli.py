"""The ``horovod-spark-ml`` command: ``demo``, ``train`` and ``predict``.

Example::

    $ horovod-spark-ml demo                       # digits, 2 Horovod ranks on local Spark
    $ horovod-spark-ml train data.csv --label-col species --model-dir model/
    $ horovod-spark-ml predict model/ data.csv predictions.parquet
    $ horovod-spark-ml pack-env -o env.tar.gz     # for --archives env.tar.gz#environment
    $ horovod-spark-ml build-horovod              # Horovod 0.28.1 against this Python's TensorFlow
    $ horovod-spark-ml train data.csv --label-col species --model-dir hdfs:///models/m --master yarn
    $ spark-submit --master spark://10.0.0.1:7077 "$(horovod-spark-ml --script)" train data.csv ...

Without ``--master`` it trains on ``local[N]``, or, under ``spark-submit``, on
the master it was submitted to. Absolute imports: ``spark-submit`` runs this
file as a script.
"""
import argparse
import os
import subprocess
import sys
import time

TRAINING = ("pyspark", "tensorflow", "keras", "horovod")  # what a command that fits needs (see stack.py)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--script"]:  # for spark-submit, which takes a .py file
        print(os.path.abspath(__file__))
        return 0
    args = _parser().parse_args(argv)
    from horovod_spark_ml.stack import StackError, check_stack
    try:
        check_stack(args.needs)
    except StackError as e:
        sys.exit(str(e))
    if "keras" in args.needs:
        from horovod_spark_ml.quiet_tensorflow import import_tensorflow
        import_tensorflow()  # before the commands' modules load Keras, so its CUDA start-up lines are dropped
    return args.run(args)


def _parser():
    parser = argparse.ArgumentParser(prog="horovod-spark-ml", description=__doc__.splitlines()[0])
    parser.add_argument("--script", action="store_true",
                        help="print the path of this command's .py file, to give spark-submit, and exit")
    commands = parser.add_subparsers(required=True, metavar="command")

    demo = commands.add_parser("demo", help="train MLPClassifier on scikit-learn's digits and save the pipeline")
    demo.add_argument("--epochs", type=int, default=30)
    demo.add_argument("--num-proc", type=int, default=2)
    demo.add_argument("--model-dir", default="horovod-spark-ml-demo-model",
                      help="where the fitted pipeline is saved (must not exist; see --overwrite)")
    _add_overwrite(demo)
    demo.add_argument("--master", help="Spark master URL (default: local[N], or spark-submit's master)")
    demo.add_argument("--store-path", help="staging and checkpoints: storage every executor can write "
                      "(default: a local temp folder, enough for local[N])")
    demo.set_defaults(run=_demo, needs=TRAINING)

    train = commands.add_parser("train", help="fit an MLP pipeline on a Parquet or CSV file and save it")
    train.add_argument("input", help="a .parquet or .csv file or folder (CSV with a header row)")
    train.add_argument("--label-col", required=True)
    train.add_argument("--features-cols", help="comma-separated numeric columns (default: all but the label)")
    train.add_argument("--task", choices=["classification", "regression"], default="classification")
    train.add_argument("--hidden-layers", default="64,32")
    train.add_argument("--model-json", metavar="FILE", help="train this network (Keras' model.to_json() output) "
                       "instead of an MLP of --hidden-layers")
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--learning-rate", type=float, default=0.001)
    train.add_argument("--num-proc", type=int, default=2)
    train.add_argument("--model-dir", required=True)
    _add_overwrite(train)
    train.add_argument("--master", help="Spark master URL (default: local[N], or spark-submit's master)")
    train.add_argument("--store-path", help="staging and checkpoints: storage every executor can write")
    train.add_argument("--run-id", help="name the run; the run id of one that did not finish resumes it")
    train.add_argument("--max-retries", type=int, help="relaunches after a lost rank or executor (default 2)")
    train.add_argument("--log-dir", help="write TensorBoard event files here")
    train.add_argument("--mlflow", action="store_true", help="log params, metrics and the model to MLflow")
    train.set_defaults(run=_train, needs=TRAINING)

    pack = commands.add_parser("pack-env", help="pack this environment for spark.archives (executors that do "
                               "not share it)")
    pack.add_argument("-o", "--output", default="environment.tar.gz", help="a .tar.gz or .tgz file")
    pack.add_argument("--compress-level", type=int, default=4, help="0 (store: quick, large) to 9")
    pack.set_defaults(run=_pack_env, needs=())

    predict = commands.add_parser("predict", help="apply a saved pipeline to a Parquet or CSV file")
    predict.add_argument("model_dir")
    predict.add_argument("input")
    predict.add_argument("output", help="where predictions go (.csv or Parquet)")
    predict.add_argument("--overwrite", action="store_true")
    predict.add_argument("--master", help="Spark master URL (default: local[N], or spark-submit's master)")
    predict.set_defaults(run=_predict, needs=TRAINING[:3])

    build = commands.add_parser("build-horovod", help="build Horovod 0.28.1 from source against this Python's "
                                "TensorFlow, with Gloo (needs a C++ compiler, cmake and patch)")
    build.add_argument("--gpu", action="store_true", help="also NCCL GPU operations (needs the CUDA toolkit and "
                       "NCCL headers; HOROVOD_CUDA_HOME and HOROVOD_NCCL_HOME say where)")
    build.set_defaults(run=_build_horovod, needs=("tensorflow",))
    return parser


def _add_overwrite(command):
    """``--overwrite``, or ``--if-exists=error|overwrite``, which a job's fixed parameters can take from a variable."""
    choice = command.add_mutually_exclusive_group()
    choice.add_argument("--overwrite", action="store_const", const="overwrite", dest="if_exists", default="error",
                        help="replace --model-dir if it exists")
    choice.add_argument("--if-exists", choices=["error", "overwrite"], default="error",
                        help="what to do when --model-dir exists (default: error, before anything is trained)")


def _demo(args):
    from pyspark.ml import PipelineModel
    from horovod_spark_ml.demo import digits_frame, digits_pipeline
    from horovod_spark_ml.session import get_spark

    spark = get_spark(args.master, cores=max(2, args.num_proc))
    _refuse_existing(spark, args.model_dir, args.if_exists)
    train, test = digits_frame(spark).randomSplit([0.8, 0.2], seed=7)
    print(f"digits: {train.count()} training rows, {test.count()} test rows, 64 pixel columns")
    started = time.time()
    model = digits_pipeline(epochs=args.epochs, num_proc=args.num_proc,
                            **_set_only(storePath=args.store_path)).fit(train)
    print(f"fit: {time.time() - started:.1f} s on {args.num_proc} Horovod ranks")
    accuracy = _accuracy(model.transform(test))
    print(f"test accuracy: {accuracy:.4f}")
    _save(model, args.model_dir, args.if_exists)
    reloaded = PipelineModel.load(args.model_dir)
    same = _same_predictions(model, reloaded, test)
    print(f"saved to {args.model_dir}; reloaded pipeline predicts identically: {same}")
    model.transform(test).select("digit", "predictedDigit", "probability").show(5, truncate=60)
    return 0 if same else 1


def _train(args):
    from horovod_spark_ml.demo import mlp_pipeline
    from horovod_spark_ml.session import get_spark

    spark = get_spark(args.master, cores=max(2, args.num_proc))
    _refuse_existing(spark, args.model_dir, args.if_exists)
    df = _read(spark, args.input)
    features = args.features_cols.split(",") if args.features_cols else [c for c in df.columns
                                                                        if c != args.label_col]
    model_json = _read_text(args.model_json) if args.model_json else None
    pipeline = mlp_pipeline(df, features, args.label_col, args.task, model_json=model_json, epochs=args.epochs,
                            hiddenLayers=[int(n) for n in args.hidden_layers.split(",")],
                            batchSize=args.batch_size, learningRate=args.learning_rate, numProc=args.num_proc,
                            **_set_only(storePath=args.store_path, runId=args.run_id, maxRetries=args.max_retries,
                                        logDir=args.log_dir, mlflowLogging=args.mlflow or None))
    model = pipeline.fit(df)
    _save(model, args.model_dir, args.if_exists)
    print(f"saved the fitted pipeline to {args.model_dir}")
    return 0


def _read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _set_only(**params):
    return {name: value for name, value in params.items() if value is not None}


def _predict(args):
    from pyspark.ml import PipelineModel
    from pyspark.ml.functions import vector_to_array
    from pyspark.ml.linalg import VectorUDT
    from pyspark.sql import functions as F
    from horovod_spark_ml.session import get_spark

    spark = get_spark(args.master)
    predictions = PipelineModel.load(args.model_dir).transform(_read(spark, args.input))
    mode = "overwrite" if args.overwrite else "error"
    if args.output.endswith(".csv"):
        for field in predictions.schema:
            if isinstance(field.dataType, VectorUDT):  # CSV has no vector type: write "0.1 0.9"
                text = F.concat_ws(" ", vector_to_array(F.col(field.name)).cast("array<string>"))
                predictions = predictions.withColumn(field.name, text)
        predictions.write.mode(mode).option("header", True).csv(args.output)
    else:
        predictions.write.mode(mode).parquet(args.output)
    print(f"wrote predictions to {args.output}")
    return 0


def _pack_env(args):
    from horovod_spark_ml.training.driver.environment_pack import pack_environment
    pack_environment(args.output, compress_level=args.compress_level)
    print(f"packed {sys.prefix} to {args.output}; ship it with\n"
          f"  --archives {args.output}#environment --conf spark.pyspark.python=./environment/bin/python")
    return 0


def _build_horovod(args):
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "horovod_build", "horovod.sh")
    env = {**os.environ, "HSM_GPU": "1" if args.gpu else "0"}
    return subprocess.run(["bash", script, sys.executable], env=env).returncode


def _read(spark, path):
    if path.rstrip("/").endswith(".csv"):
        return spark.read.option("header", True).option("inferSchema", True).csv(path)
    return spark.read.parquet(path)


def _refuse_existing(spark, path, if_exists):
    """Exit before training if ``--model-dir`` exists (a path or any URL Spark can write) and may not be replaced."""
    from horovod_spark_ml.persistence import path_exists
    if if_exists != "overwrite" and path_exists(spark.sparkContext, path):
        sys.exit(f"{path} exists; pass --overwrite to replace it or choose another --model-dir")


def _save(model, path, if_exists):
    """Save the fitted pipeline; Spark's writer itself refuses a folder made since :func:`_refuse_existing`."""
    writer = model.write()
    (writer.overwrite() if if_exists == "overwrite" else writer).save(path)


def _accuracy(predictions):
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator
    return MulticlassClassificationEvaluator(metricName="accuracy").evaluate(predictions)


def _same_predictions(model, reloaded, df):
    first = [r.prediction for r in model.transform(df).select("prediction").collect()]
    second = [r.prediction for r in reloaded.transform(df).select("prediction").collect()]
    return first == second


if __name__ == "__main__":
    sys.exit(main())
