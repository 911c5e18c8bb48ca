"""Import TensorFlow without its start-up errors on machines without a GPU.

TensorFlow's pip wheel registers its CUDA plugins as it loads and, on a CPU
machine, writes "Unable to register cuDNN factory" and the like straight to
file descriptor 2, before ``TF_CPP_MIN_LOG_LEVEL`` applies; Horovod's
TensorFlow extension does too as it loads. The first import of either in a
process runs with descriptor 2 captured; lines that match :data:`NOISE` are
dropped, and every other line is written to stderr afterwards.

A Python worker that serves many models (a model search evaluates one per
param map and fold) would also warn that ``predict`` "triggered tf.function
retracing" from its sixth model on: each model traces its own function once,
as it must, so :func:`quiet_retracing_warnings` drops that warning.

Example::

    >>> tf = import_tensorflow()      # the driver, a Python worker: no cuDNN/cuBLAS lines
"""
import importlib
import os
import re
import sys
import tempfile

NOISE = re.compile(r"All log messages before absl::InitializeLog|Unable to register cu(DNN|FFT|BLAS) factory|"
                   r"computation placer already registered|TF-TRT Warning|oneDNN custom operations|"
                   r"Could not find cuda drivers|failed call to cuInit|cuda_executor\.cc.*NUMA node")


class _NotRetracing:
    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


def quiet_retracing_warnings():
    """Drop TensorFlow's warning that a new model's first ``predict`` retraced (see the module's docstring)."""
    import logging
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _NotRetracing) for f in logger.filters):
        logger.addFilter(_NotRetracing())


def import_tensorflow():
    """TensorFlow, imported with its CUDA start-up noise filtered out of stderr."""
    return import_quietly("tensorflow")


def import_quietly(name):
    """Module ``name`` (TensorFlow, or one that loads it: Horovod's extension), imported as
    :func:`import_tensorflow` imports TensorFlow."""
    if name in sys.modules:
        return sys.modules[name]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            return importlib.import_module(name)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                if not NOISE.search(line):
                    sys.stderr.write(line)
