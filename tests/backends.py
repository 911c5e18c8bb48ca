"""Which streaming reader backends the tests run: pyarrow's always, Petastorm's where it runs.

On the legacy stack (``./run test --stack legacy`` sets ``HSM_STACK=legacy``) Petastorm must run, so its
tests cannot quietly drop out there.
"""
import os

from horovod_spark_ml.errors import InputError
from horovod_spark_ml.training.rank.petastorm_stream import check_petastorm


def petastorm_runs():
    try:
        check_petastorm()
        return True
    except InputError:
        if os.environ.get("HSM_STACK") == "legacy":
            raise
        return False


STREAMING = ["arrow"] + (["petastorm"] if petastorm_runs() else [])
