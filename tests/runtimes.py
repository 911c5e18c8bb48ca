"""The Databricks ML LTS runtimes the package is checked against, as deploy/databricks/runtimes/ lists them.

Example::

    >>> runtimes()["15.4.x-gpu-ml-scala2.12"]
    Runtime(python='3.11', spark='3.5.0', job_adds=['keras==3.5.0'])
    >>> packages("15.4.x-gpu-ml-scala2.12")["keras"]
    '3.2.1'
"""
import glob
import os
import re
from typing import NamedTuple

from packaging.utils import canonicalize_name

FOLDER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "deploy", "databricks", "runtimes")


class Runtime(NamedTuple):
    python: str
    spark: str
    job_adds: list  # what its job installs beside the wheel


def runtimes():
    """{spark_version key: Runtime} from runtimes.txt."""
    rows = [line.split() for line in open(os.path.join(FOLDER, "runtimes.txt")) if line.strip() and not line.startswith("#")]
    return {key: Runtime(python, spark, [] if adds == "-" else adds.split(",")) for key, python, spark, adds in rows}


def snapshots():
    """The spark_version keys that have a package list."""
    return sorted(os.path.basename(path)[len("databricks-"):-len(".txt")]
                  for path in glob.glob(os.path.join(FOLDER, "databricks-*.txt")))


def packages(runtime):
    """{canonical package name: version} of what ``runtime`` ships ("name~=1.2.3" reads as 1.2.3)."""
    shipped = {}
    for line in open(os.path.join(FOLDER, f"databricks-{runtime}.txt")):
        match = re.match(r"^([A-Za-z0-9._-]+)(?:~=|==)(\S+)$", line.strip())
        if match:
            shipped[canonicalize_name(match.group(1))] = match.group(2)
    return shipped
