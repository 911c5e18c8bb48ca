"""What runs on the driver, in the process that calls ``fit``: runs and their locks, the checks before a
launch (executors, task slots), the launch of the ranks through Horovod and the following of their output,
MLflow tracking, and packing this environment for executors that lack it."""
