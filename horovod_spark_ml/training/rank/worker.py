"""What every Horovod rank runs: for each job in turn, load the model, train on its shard, store the result.

The driver sends a list of :class:`..messages.TrainingJob` (plain data and the model as
``.keras`` bytes): one for a fit, one per param map for ``fitMultiple``. Each
rank starts reading its shard of the staged data, then imports TensorFlow
meanwhile, pins its device and starts joining Horovod, once. Then for each job
(:mod:`.job_fit`) it compiles the model with an averaging optimizer (the first
while the rank joins), starts from rank 0's weights, trains on its shard and
averages its metrics with the others; rank 0 prints progress and writes the
trained model and history to the job's run folder (:mod:`..driver.runs` reads them
back). Jobs that
train on the same staged data read it once; those that would see the same
batches train in one step loop (:mod:`.shared_steps`). TensorFlow is imported only
in the rank's functions, so that the read can start first. A failure is
reported to the driver as one marked line on stderr, so ``fit`` can raise with
the failing rank's own traceback.

Example (what the launcher does)::

    >>> horovod.spark.run(train, args=([job_a, job_b],), num_proc=2)
    >>> read_json(f"{job_b.run_url}/result.json")["history"]["loss"]
    [0.81, 0.35, ...]
"""
import atexit
import gc
import json
import os
import sys
import traceback

from ..messages import ERROR_MARKER, JOB_MARKER, RANK_MARKER
from ..network import address_towards
from .job_fit import build_state, train_alone, train_in_shared_steps

warmed_up = False  # whether this rank did its first TensorFlow work before its command came (:func:`warm_up`)
_LEAVE_SECONDS = 30  # the most a failing rank waits for its join to finish (the others' launch ends it sooner)


def warm_up(local_size, wanted=lambda: False):
    """Do a rank's first TensorFlow, Keras and tf.data work, on a tiny model and dataset, pinned as one of
    ``local_size`` ranks on this host. A spare rank (:mod:`..executor.rank_server`) does it before its command comes; a
    rank forked when its command comes does it on its job's model instead (0.1-0.2 s of its start).

    The model comes first (0.09 s here, saving a rank 0.05 s), then the
    dataset (0.06 s, saving 0.02 s), unless the rank is ``wanted()`` by then.
    """
    global warmed_up
    import tempfile
    import keras
    import pyarrow as pa
    import pyarrow.parquet as pq
    from ...data.layout import Field
    from ...keras_bytes import model_from_bytes, model_to_bytes
    from .devices import configure_devices
    from .reader import open_dataset
    configure_devices(0, local_size)
    model = model_from_bytes(model_to_bytes(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    warmed_up = True
    if wanted():
        return
    with tempfile.TemporaryDirectory() as folder:
        pq.write_table(pa.table({"x": [[0.0] * 4] * 8, "y": [0] * 8}), f"{folder}/part.parquet")
        with open_dataset([f"file://{folder}/part.parquet"], rank=0, size=1, batch_size=4, inputs=[Field("x", (4,))],
                          targets=[Field("y", ())], shuffle=True, seed=0) as data:
            build_state(model, data.element_spec)  # a batch read as well would warm nothing more a rank uses


def train(jobs):
    """Run one rank's training of each job in turn (those that can, together); rank 0 writes each job's result
    to its run folder."""
    skip_collection_at_exit()
    training = None  # what is training, for the error: a job's label, or a group's
    ring = None
    try:
        spark_gpus = announce()
        shards = _Shards()
        shards.read_ahead(jobs[0])
        ring = _Ring(spark_gpus)
        from .shared_steps import groups
        leader = ring.rank == 0
        for group in groups(jobs):
            training = _label(group)
            if training and leader:
                print(JOB_MARKER + training, flush=True)
            if len(group) == 1 or not train_in_shared_steps(group, shards, ring):
                for job in group:
                    if len(group) > 1 and leader:
                        print(JOB_MARKER + job.label, flush=True)
                    training = job.label
                    train_alone(job, shards, ring)
    except BaseException as e:
        import horovod.tensorflow as hvd
        rank = hvd.rank() if hvd.is_initialized() else int(os.environ.get("HOROVOD_RANK", -1))
        failure = {"rank": rank, "job": getattr(e, "hsm_job", None) or training, "error": traceback.format_exc()}
        print(ERROR_MARKER + json.dumps(failure), file=sys.stderr, flush=True)
        if ring is not None:
            ring.leave()
        raise


def _label(group):
    """How progress and errors name a group of jobs: the job's own label, or theirs, trained together."""
    labels = [job.label for job in group]
    if len(labels) == 1:
        return labels[0]
    return f"{labels[0]} together with " + (f"{', '.join(labels[1:-1])} and " if len(labels) > 2 else "") + labels[-1]


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


class _Ring:
    """This rank's place in the Horovod job: its device pinned at once, its joining (``hvd.init``) under way.

    Joining waits for every rank and connects gloo (about 0.1 s). Under
    Horovod's gloo launcher, which gives each rank its place in the
    environment, it runs in a thread while the rank loads and compiles its
    first model, and :meth:`joined` waits for it; under another launcher the
    rank joins here.
    """

    def __init__(self, spark_gpus):
        import threading
        import horovod.tensorflow as hvd
        from .devices import configure_devices
        place = [os.environ.get(name) for name in ("HOROVOD_RANK", "HOROVOD_LOCAL_RANK", "HOROVOD_LOCAL_SIZE")]
        self._error, self._joining = None, None
        if None in place:
            hvd.init()
            place = [hvd.rank(), hvd.local_rank(), hvd.local_size()]
        self.rank = int(place[0])
        self.device = configure_devices(int(place[1]), int(place[2]), spark_gpus)
        if not hvd.is_initialized():
            self._joining = threading.Thread(target=self._join, name="hvd.init", daemon=True)
            self._joining.start()

    def _join(self):
        import horovod.tensorflow as hvd
        try:
            hvd.init()
        except BaseException as e:
            self._error = e

    def leave(self):
        """Before a failing rank ends (its error reported): let its join finish first, for at most
        :data:`_LEAVE_SECONDS`. The other ranks then lose a peer that had joined, and say so, as when ranks
        joined before loading their models; a peer gone in mid-rendezvous would fail their joins instead,
        with errors that read like causes of their own."""
        if self._joining is not None:
            self._joining.join(_LEAVE_SECONDS)

    def joined(self):
        """Wait until this rank has joined Horovod; raise why it could not."""
        if self._joining is not None:
            self._joining.join()
            self._joining = None
        if self._error is not None:
            raise self._error
