"""What every Horovod rank runs: for each job in turn, load the model, train on its shard, store the result.

The driver sends a list of :class:`TrainingJob` (plain data and the model as
``.keras`` bytes): one for a fit, one per param map for ``fitMultiple``. Each
rank starts reading its shard of the staged data, then imports TensorFlow
meanwhile, joins Horovod and pins its device, once. Then for each job it
compiles the model with an averaging optimizer, starts from rank 0's weights,
trains on its shard and averages its metrics with the others; rank 0 prints
progress and writes the trained model and history to the job's run folder
(:mod:`.runs` reads them back). Jobs that train on the same staged data read it
once. TensorFlow is imported only in the rank's functions, so that the read
can start first. A failure is reported to the driver as one marked line on
stderr, so ``fit`` can raise with the failing rank's own traceback.

Example (what the launcher does)::

    >>> horovod.spark.run(train, args=([job_a, job_b],), num_proc=2)
    >>> read_json(f"{job_b.run_url}/result.json")["history"]["loss"]
    [0.81, 0.35, ...]
"""
import atexit
import gc
import json
import math
import os
import sys
import traceback
from dataclasses import dataclass

ERROR_MARKER = "HSM-ERROR "
RANK_MARKER = "HSM-RANK "
JOB_MARKER = "HSM-JOB "


@dataclass
class TrainingJob:
    """Everything a rank needs to train, as plain data."""
    model_bytes: bytes
    loss: object
    metrics: list
    optimizer: object
    learning_rate: float
    batch_size: int
    epochs: int
    early_stopping_patience: int
    seed: int
    train_urls: list
    train_rows: int
    inputs: list   # layout.Field for each model input, from the staged columns
    targets: list  # layout.Field for each model output's target
    val_urls: list = None
    val_rows: int = 0
    custom_modules: list = ()
    loss_weights: object = None  # a dict by output name, for multi-output models
    input_spec: object = None  # an image_decoding.ImageSpec for image columns; None for numeric features
    run_url: str = None  # the run's folder, where rank 0 writes a checkpoint after every epoch
    resume: object = None  # the checkpoints.Checkpoint to start from, or None for a fresh start
    log_dir: str = ""  # where rank 0 writes TensorBoard event files ("" for none)
    weight: str = None  # the staged column of per-row sample weights (weightCol), or None
    label: str = None  # which of several jobs in one launch this is, e.g. "param map 2 of 4 (learningRate=0.01)"


def train(jobs):
    """Run one rank's training of each job in turn; rank 0 writes each job's result to its run folder."""
    skip_collection_at_exit()
    try:
        spark_gpus = announce()
        shards = _Shards()
        shards.read_ahead(jobs[0])
        device = _join(spark_gpus)
        for job in jobs:
            if job.label and os.environ.get("HOROVOD_RANK", "0") == "0":
                print(JOB_MARKER + job.label, flush=True)
            _train(job, shards, device)
    except BaseException:
        import horovod.tensorflow as hvd
        rank = hvd.rank() if hvd.is_initialized() else -1
        print(ERROR_MARKER + json.dumps({"rank": rank, "error": traceback.format_exc()}), file=sys.stderr,
              flush=True)
        raise


def skip_collection_at_exit():
    """Let the rank's process end at once rather than about 1 s after its result is sent.

    At exit Python's finalization collects TensorFlow's ~350k objects several
    times over; objects frozen first are skipped. Exit handlers all still run,
    and the garbage they make is still collected.
    """
    atexit.register(gc.freeze)


def announce():
    """Show only this rank's Spark GPUs, and tell the driver where the rank runs; return the GPUs' addresses.

    Before TensorFlow loads, so that a rank that dies while loading it is
    still named by host and pid in the driver's error.
    """
    import socket
    from .devices import show_only_spark_gpus
    from .horovod_spark_patches import address_towards
    gpus = show_only_spark_gpus()
    driver = os.environ.get("HOROVOD_GLOO_RENDEZVOUS_ADDR")
    host = socket.gethostname() + (f" ({address_towards(driver)})" if driver else "")
    where = {"rank": int(os.environ.get("HOROVOD_RANK", 0)), "size": int(os.environ.get("HOROVOD_SIZE", 1)),
             "host": host, "pid": os.getpid(), "python": sys.executable, "gpus": gpus,
             "visible_gpus": os.environ.get("CUDA_VISIBLE_DEVICES")}
    print(RANK_MARKER + json.dumps(where), flush=True)
    return gpus


class _Shards:
    """The rank's shards of the current job's staged data, read once for all the jobs that train on them."""

    def __init__(self):
        self.key, self.ahead = None, (None, None)

    def read_ahead(self, job):
        """Start reading the job's shards that are read whole (unless the last job read the same), and return
        their futures, ``(train, validation)``.

        Each takes seconds: 4 s to import TensorFlow, 1-2 s to read 100k x 784 rows, so the first job's read
        starts before the import. Horovod's gloo launcher gives the rank in the environment before
        ``hvd.init()``; under another launcher the shards are read when opened.
        """
        from .reader import read_ahead
        key = (job.train_urls, job.val_urls, job.inputs, job.targets, job.input_spec, job.weight)
        if key == self.key or "HOROVOD_RANK" not in os.environ:
            return self.ahead
        read = dict(rank=int(os.environ["HOROVOD_RANK"]), size=int(os.environ["HOROVOD_SIZE"]), inputs=job.inputs,
                    targets=job.targets, images=job.input_spec, weight=job.weight)
        self.key = key
        self.ahead = tuple(read_ahead(urls, **read) if urls else None for urls in (job.train_urls, job.val_urls))
        return self.ahead


def _join(spark_gpus):
    """Join Horovod and pin this rank's device; return the device's description."""
    import horovod.tensorflow as hvd
    hvd.init()
    from .devices import configure_devices
    return configure_devices(hvd.local_rank(), hvd.local_size(), spark_gpus)


def _train(job, shards, device):
    import horovod.tensorflow as hvd
    import keras
    import tensorflow as tf
    from .horovod_keras import (CountReporter, MetricAverager, average_non_trainable, broadcast_weights,
                                distributed_optimizer)
    from ..data.image_decoding import UNDECODABLE, undecodable_message
    from ..keras_bytes import model_from_bytes, model_to_bytes
    from .checkpoints import Checkpointer, ResumableEarlyStopping, restore, write_result
    from .progress import ProgressPrinter

    rank, size = hvd.rank(), hvd.size()
    resume = job.resume
    done = resume.epoch if resume else 0
    keras.utils.set_random_seed(job.seed + rank + 7919 * done)  # dropout differs per rank (and per resumption)
    model = model_from_bytes(job.model_bytes, modules=job.custom_modules)
    model.compile(optimizer=distributed_optimizer(_optimizer(job.optimizer, job.learning_rate)),
                  loss=_deserialize(job.loss), loss_weights=job.loss_weights,
                  # [] would still expect a target per output; with sample weights, the metrics weigh them too
                  **{"weighted_metrics" if job.weight else "metrics": _deserialize(job.metrics) or None},
                  jit_compile=False)
    if resume:
        restore(model, resume)  # every rank reads the same checkpoint
    broadcast_weights(model)
    if rank == 0:
        print(f"training on {size} ranks, rank 0 on {device}", flush=True)

    corrupt = tf.Variable(0, dtype=tf.int64, trainable=False)
    steps = max(1, math.ceil(job.train_rows / (job.batch_size * size)))
    read = dict(rank=rank, size=size, batch_size=job.batch_size, inputs=job.inputs, targets=job.targets,
                seed=job.seed + rank, images=job.input_spec, corrupt_counter=corrupt, weight=job.weight)
    callbacks = [MetricAverager()]
    if job.input_spec is not None and job.input_spec.kind == "encoded":
        callbacks.insert(0, CountReporter(corrupt, "corrupt_images"))
    stopping = None
    if job.early_stopping_patience > 0:
        stopping = ResumableEarlyStopping(resume, monitor="val_loss" if job.val_urls else "loss",
                                          patience=job.early_stopping_patience, restore_best_weights=True)
        callbacks.append(stopping)
    checkpointer = Checkpointer(job.run_url, stopping, resume, writes=rank == 0 and bool(job.run_url))
    callbacks.append(checkpointer)
    if rank == 0:
        if job.log_dir:
            callbacks.append(keras.callbacks.TensorBoard(job.log_dir, write_graph=False, profile_batch=0))
        callbacks.append(ProgressPrinter(job.epochs))
    first_epoch = job.epochs if resume and resume.state.get("stopped") else done
    try:
        _fit(model, job, read, shards.read_ahead(job), steps, callbacks, first_epoch)
    except tf.errors.InvalidArgumentError as e:
        if job.input_spec is None or UNDECODABLE not in str(e):
            raise
        raise ValueError(undecodable_message(job.input_spec)) from None
    average_non_trainable(model)
    if rank == 0:
        # The result holds the plain model, without the averaging optimizer, whose class exists only here.
        plain = model_from_bytes(job.model_bytes, modules=job.custom_modules)
        plain.set_weights(model.get_weights())
        write_result(job.run_url, model_to_bytes(plain),
                     {"epoch_seconds": checkpointer.epoch_seconds, "history": checkpointer.history})


def _fit(model, job, read, ahead, steps, callbacks, first_epoch):
    """Train epochs ``first_epoch + 1 .. job.epochs``; the data continues from the batch the first one starts at."""
    from .reader import open_dataset
    with open_dataset(job.train_urls, shuffle=True, ahead=ahead[0], first_batch=first_epoch * steps,
                      **read) as train_data:
        fit = dict(epochs=job.epochs, initial_epoch=first_epoch, steps_per_epoch=steps, callbacks=callbacks,
                   verbose=0)
        if not job.val_urls:
            return model.fit(train_data, **fit)
        with open_dataset(job.val_urls, shuffle=False, ahead=ahead[1], **read) as val_data:
            val_steps = max(1, math.ceil(job.val_rows / (job.batch_size * read["size"])))
            return model.fit(train_data, validation_data=val_data, validation_steps=val_steps, **fit)


def _deserialize(config):
    """Keras objects from their JSON configs; dicts by output name and lists are deserialized item by item."""
    import keras
    if isinstance(config, dict) and "class_name" in config:
        return keras.saving.deserialize_keras_object(config)
    if isinstance(config, dict):
        return {name: _deserialize(value) for name, value in config.items()}
    if isinstance(config, list):
        return [_deserialize(value) for value in config]
    return config


def _optimizer(config, learning_rate):
    import keras
    if isinstance(config, dict):
        return keras.optimizers.deserialize(config)
    return keras.optimizers.get({"class_name": config, "config": {"learning_rate": learning_rate}})
