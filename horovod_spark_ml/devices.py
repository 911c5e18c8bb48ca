"""Which device a Horovod rank trains on: its own GPU, or its share of the CPU cores.

Call before TensorFlow runs any op in the rank's process.

Example::

    >>> configure_devices(local_rank=0, local_size=2)   # on a 2-core machine without GPU
    'CPU, 1 threads'
"""
import os


def configure_devices(local_rank, local_size):
    """Pin this rank to one GPU (Spark's task GPU if assigned, else its local rank) or fit its CPU threads."""
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        gpu = gpus[_gpu_index(local_rank, len(gpus))]
        tf.config.set_visible_devices(gpu, "GPU")
        tf.config.experimental.set_memory_growth(gpu, True)
        return gpu.name
    # Ranks on one host share its cores; without a limit each TensorFlow runtime
    # would start one thread per core and they would all fight over them.
    threads = max(1, len(os.sched_getaffinity(0)) // local_size)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    return f"CPU, {threads} threads"


def _gpu_index(local_rank, count):
    from horovod.spark.task.task_info import get_available_devices
    assigned = get_available_devices()  # Spark's GPU resources for this task, e.g. ['1']
    if assigned and assigned[0].isdigit() and int(assigned[0]) < count:
        return int(assigned[0])
    return local_rank % count
