"""A rank's training of one job, or of several trained together: compile, start, fit, store the result.

Each job's model is loaded from its ``.keras`` bytes and compiled as the job
says (alone: with the averaging optimizer of :mod:`.horovod_keras`), then
starts from its checkpoint, if it resumes, and from rank 0's weights. The rank
trains it on its shard (:mod:`.reader`), epochs continuing from where the
checkpoint left off, and averages its metrics with the other ranks; rank 0
reports each epoch and writes the checkpoints and the trained model. Jobs
trained together share one step loop (:mod:`.shared_steps`); an error in one of
them is marked with that job's label, so the driver names its param map.
:mod:`.worker` calls these for each job it is sent, once the rank has
joined Horovod.

Example (in a rank, as :func:`.worker.train` does)::

    >>> train_alone(job, shards, ring)   # rank 0 writes the model and history to job.run_url
    >>> train_in_shared_steps([job_a, job_b], shards, ring)
    True
"""
import contextlib
import math


def train_alone(job, shards, ring):
    """Train ``job`` on its own (with the averaging optimizer); rank 0 writes its result."""
    import horovod.tensorflow as hvd
    import tensorflow as tf
    from .horovod_keras import CountReporter, MetricAverager, average_non_trainable, distributed_optimizer
    from .checkpoints import ResumableEarlyStopping

    rank = ring.rank
    model = _compiled(job, rank, distributed_optimizer)
    ring.joined()
    _start(model, job)
    _say_training(ring.device)
    corrupt = tf.Variable(0, dtype=tf.int64, trainable=False)
    callbacks = [MetricAverager()]
    if job.input_spec is not None and job.input_spec.kind == "encoded":
        callbacks.insert(0, CountReporter(corrupt, "corrupt_images"))
    stopping = None
    if job.early_stopping_patience > 0:
        stopping = ResumableEarlyStopping(job.resume, monitor="val_loss" if job.val_urls else "loss",
                                          patience=job.early_stopping_patience, restore_best_weights=True)
        callbacks.append(stopping)
    checkpointer, reporting = _own_callbacks(job, rank, stopping)
    callbacks += reporting
    _fit(model, job, _read(job, rank, hvd.size(), corrupt), shards.read_ahead(job), callbacks)
    average_non_trainable(model)
    if rank == 0:
        _write_result(job, model, checkpointer)


def train_in_shared_steps(jobs, shards, ring):
    """Train ``jobs`` in one step loop (see :mod:`.shared_steps`); ``False`` (having trained nothing) if their
    models do not fit together."""
    import horovod.tensorflow as hvd
    from .horovod_keras import MetricAverager, average_non_trainable
    from .shared_steps import ForEachMember, SharedSteps, can_share_steps

    rank = ring.rank
    members = []
    for job in jobs:
        with _naming(job):
            members.append(_compiled(job, rank, lambda optimizer: optimizer))
    if not can_share_steps(members):
        return False
    ring.joined()
    for member, job in zip(members, jobs):
        with _naming(job):
            _start(member, job)
    _say_training(ring.device)
    shared = SharedSteps(members, [job.label for job in jobs])
    shared.compile(jit_compile=False)
    own = [_own_callbacks(job, rank, None, together=True) for job in jobs]
    callbacks = [MetricAverager(), ForEachMember(shared, [reporting for _, reporting in own])]
    try:
        _fit(shared, jobs[0], _read(jobs[0], rank, hvd.size(), None), shards.read_ahead(jobs[0]), callbacks)
    except Exception as e:
        if shared.blamed:
            e.hsm_job = shared.blamed
        raise
    for member, job, (checkpointer, _) in zip(members, jobs, own):
        average_non_trainable(member)
        if rank == 0:
            with _naming(job):
                _write_result(job, member, checkpointer)
    return True


@contextlib.contextmanager
def _naming(job):
    """Mark an error raised while handling one of several jobs trained together with that job's label."""
    try:
        yield
    except Exception as e:
        e.hsm_job = job.label
        raise


def _compiled(job, rank, wrap_optimizer):
    """The job's model, loaded and compiled as its rank trains it (seeded as for the job alone)."""
    import keras
    from ...keras_bytes import model_from_bytes
    done = job.resume.epoch if job.resume else 0
    keras.utils.set_random_seed(job.seed + rank + 7919 * done)  # dropout differs per rank (and per resumption)
    model = model_from_bytes(job.model_bytes, modules=job.custom_modules)
    model.compile(optimizer=wrap_optimizer(_optimizer(job.optimizer, job.learning_rate)),
                  loss=_deserialize(job.loss), loss_weights=job.loss_weights,
                  # [] would still expect a target per output; with sample weights, the metrics weigh them too
                  **{"weighted_metrics" if job.weight else "metrics": _deserialize(job.metrics) or None},
                  jit_compile=False)
    return model


def _start(model, job):
    """Give every rank the same starting point: the job's checkpoint if it resumes, then rank 0's weights."""
    from .checkpoints import restore
    from .horovod_keras import broadcast_weights
    if job.resume:
        restore(model, job.resume)  # every rank reads the same checkpoint
    broadcast_weights(model)


def _say_training(device):
    import horovod.tensorflow as hvd
    if hvd.rank() == 0:
        print(f"training on {hvd.size()} ranks, rank 0 on {device}", flush=True)


def _own_callbacks(job, rank, stopping, together=False):
    """A job's checkpointer, and what reports its epochs (TensorBoard, progress) on rank 0; trained together
    with others, its progress lines start with its map (``param map 2 of 4: epoch 3/30 ...``)."""
    import keras
    from .checkpoints import Checkpointer
    from .progress import ProgressPrinter
    checkpointer = Checkpointer(job.run_url, stopping, job.resume, writes=rank == 0 and bool(job.run_url))
    reporting = [checkpointer]
    if rank == 0:
        if job.log_dir:
            reporting.append(keras.callbacks.TensorBoard(job.log_dir, write_graph=False, profile_batch=0))
        reporting.append(ProgressPrinter(checkpointer, job.epochs, job.label.partition(" (")[0] if together else None))
    return checkpointer, reporting


def _read(job, rank, size, corrupt):
    return dict(rank=rank, size=size, batch_size=job.batch_size, inputs=job.inputs, targets=job.targets,
                seed=job.seed + rank, images=job.input_spec, corrupt_counter=corrupt, weight=job.weight,
                backend=job.reader_backend)


def _write_result(job, model, checkpointer):
    """Store the trained model (plain: without the averaging optimizer, whose class exists only here) and history."""
    from ...keras_bytes import model_from_bytes, model_to_bytes
    from ..run_folder import write_result
    plain = model_from_bytes(job.model_bytes, modules=job.custom_modules)
    plain.set_weights(model.get_weights())
    write_result(job.run_url, model_to_bytes(plain), {"epochs": len(checkpointer.epoch_seconds),
                                                      "epoch_seconds": checkpointer.epoch_seconds,
                                                      "history": checkpointer.history})


def _fit(model, job, read, ahead, callbacks):
    """Train epochs after the job's checkpoint (if any) to ``job.epochs``; the data continues from the batch
    the first of them starts at. Undecodable images fail with a message that says which column."""
    import tensorflow as tf
    from .reader import open_dataset
    from ...data.image_decoding import UNDECODABLE, undecodable_message
    resume = job.resume
    first_epoch = job.epochs if resume and resume.state.get("stopped") else resume.epoch if resume else 0
    steps = max(1, math.ceil(job.train_rows / (job.batch_size * read["size"])))
    try:
        with open_dataset(job.train_urls, shuffle=True, ahead=ahead[0], first_batch=first_epoch * steps,
                          **read) as train_data:
            fit = dict(epochs=job.epochs, initial_epoch=first_epoch, steps_per_epoch=steps, callbacks=callbacks,
                       verbose=0)
            build_state(model, train_data.element_spec)
            if not job.val_urls:
                return model.fit(train_data, **fit)
            with open_dataset(job.val_urls, shuffle=False, ahead=ahead[1], **read) as val_data:
                val_steps = max(1, math.ceil(job.val_rows / (job.batch_size * read["size"])))
                return model.fit(train_data, validation_data=val_data, validation_steps=val_steps, **fit)
    except tf.errors.InvalidArgumentError as e:
        if job.input_spec is None or UNDECODABLE not in str(e):
            raise
        raise ValueError(undecodable_message(job.input_spec)) from None


def build_state(model, batch_spec):
    """Create the optimizer's and the metrics' variables before the first step is traced.

    Keras on TensorFlow creates them while tracing the first step, and a
    ``tf.function`` that creates variables is traced a second time: 0.5 s for
    a small MLP, seconds for several models trained together. Keras' own
    ``_symbolic_build`` builds them from the batch's shapes and types.
    """
    from .shared_steps import SharedSteps
    for member in model.members if isinstance(model, SharedSteps) else [model]:
        try:
            member._symbolic_build(data_batch=batch_spec)
        except Exception:
            # Keras rewords a layer's error here ("Unable to automatically build the model"); the first
            # step's trace builds the same state, and raises the layer's own error with its traceback.
            pass


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
