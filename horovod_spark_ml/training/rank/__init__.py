"""What runs inside each Horovod rank: its training loop, reading its shard of the staged data, the Keras and
Horovod glue, checkpoints and progress lines. Modules here import only each other and the shared modules of
``training`` and of the package (data layouts, the store, ``.keras`` bytes): never ``driver`` or ``executor``."""
