"""Which device a Horovod rank trains on: its own GPU, or its share of the CPU cores.

Where Spark schedules GPUs (``spark.task.resource.gpu.amount``), each task is
given GPU addresses, and the rank makes only those visible to TensorFlow,
before TensorFlow loads. Otherwise a rank takes the GPU of its local rank.
Call :func:`configure_devices` before TensorFlow runs any op.

Example::

    >>> show_only_spark_gpus()        # in a rank whose Spark task was given GPU 1
    ['1']
    >>> configure_devices(local_rank=0, local_size=2, spark_gpus=['1'])
    '/physical_device:GPU:0'
    >>> configure_devices(local_rank=0, local_size=2)   # on a 2-core machine without GPU
    'CPU, 1 threads'
"""
import os


def show_only_spark_gpus():
    """Make only the GPUs that Spark gave this rank's task visible (``CUDA_VISIBLE_DEVICES``); their addresses."""
    from horovod.spark.task.task_info import get_available_devices
    addresses = [str(a) for a in get_available_devices()]
    if addresses:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(addresses)
    return addresses


def configure_devices(local_rank, local_size, spark_gpus=()):
    """Pin this rank to one GPU (the first Spark gave it, else its local rank's) or fit its CPU threads."""
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        gpu = gpus[0 if spark_gpus else local_rank % len(gpus)]
        tf.config.set_visible_devices(gpu, "GPU")
        tf.config.experimental.set_memory_growth(gpu, True)
        return gpu.name
    # Ranks on one host share its cores; without a limit each TensorFlow runtime
    # would start one thread per core and they would all fight over them.
    threads = max(1, len(os.sched_getaffinity(0)) // local_size)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    return f"CPU, {threads} threads"
