"""What runs on the cluster: launching Horovod on the executors, and each rank's training.

``executor_check`` asks the executors before launch; ``launcher`` and
``horovod_spark_patches`` start and follow the ranks; ``worker`` is a rank's
training loop, with ``reader``, ``devices``, ``horovod_keras``, ``together``
(several param maps in one step loop) and ``progress``; ``environment_pack``
packs this environment for executors that lack it. Nothing here imports
TensorFlow until a rank needs it.
"""
