"""The driver's first imports of TensorFlow and of Horovod's extension print none of their start-up noise.

Each case runs in a fresh Python, without ``TF_CPP_MIN_LOG_LEVEL``, as ``horovod-spark-ml demo`` or a
user's notebook starts. The stack check that the command and a fit make imports Horovod's TensorFlow
extension, which loads TensorFlow, before anything else has.
"""
import os
import subprocess
import sys

import pytest

from horovod_spark_ml.quiet_tensorflow import NOISE

CASES = {
    "the command's stack check first": "from horovod_spark_ml.cli import TRAINING\n"
                                       "from horovod_spark_ml.stack import check_stack\n"
                                       "check_stack(TRAINING)\n"
                                       "import tensorflow\n",
    "estimator first": "from horovod_spark_ml import MLPClassifier\n"
                       "from horovod_spark_ml.stack import check_stack\n"
                       "check_stack(('horovod',))\n",
}


@pytest.mark.parametrize("case", CASES)
def test_first_imports_print_no_start_up_noise(case):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", CASES[case] + "print('imported')"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"
    assert [line for line in done.stderr.splitlines() if NOISE.search(line)] == []
