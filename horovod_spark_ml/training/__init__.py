"""Training on the cluster, one folder per process the code runs in.

- ``driver/``: in the process that calls ``fit``: runs (``runs``, ``run_lock``,
  ``run_cleanup``), the checks before a launch (``executor_check``,
  ``task_slots``), the launch (``horovod_launch``, ``rank_client``) and its
  output (``launcher``), ``tracking`` and ``environment_pack``.
- ``executor/``: in the executors' Python workers: ``executor_probe``, each
  rank's Spark task (``rank_task``) and process (``rank_process``), the
  rank's command (``warm_ranks``) and the ``rank_server`` that forks ranks.
- ``rank/``: in each Horovod rank: ``worker`` (its loop), ``job_fit``,
  ``shared_steps`` (several param maps' models in one step loop), ``reader`` with
  ``arrow_stream`` and ``petastorm_stream``, ``horovod_keras``,
  ``checkpoints``, ``devices`` and ``progress``.

Shared by the driver's and the executors' side: ``messages``, ``run_folder``,
``network`` and ``horovod_services``. Nothing here imports TensorFlow until a
rank needs it.
"""
