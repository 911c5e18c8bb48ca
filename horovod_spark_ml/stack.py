"""The frameworks this package runs on, checked on first use with an error that says what to install.

pip installs only numpy, pyarrow, pandas and packaging with this package: every supported
Databricks ML runtime ships them at versions it supports, so installing the wheel there changes
nothing the runtime has. The frameworks belong to the environment instead. A Databricks runtime
brings its own Spark, which is not a pip package there, and its own TensorFlow and Keras; and
Horovod must be built against the TensorFlow that is installed. So pyspark and TensorFlow are
extras (``pip install 'horovod-spark-ml[spark,tensorflow]'`` on a bare machine), Horovod is built
by the package's own script (``horovod-spark-ml build-horovod``). :func:`check_stack` runs before
the first estimator, model or command loads the frameworks (:data:`FRAMEWORKS`), and Horovod is
checked when a fit starts, so that a saved model transforms where Horovod is not installed.

Example::

    >>> check_stack(FRAMEWORKS)     # passes, or raises StackError naming each missing or unsupported one
    >>> stack_problems(("horovod",))
    ['horovod is not installed in /usr/bin/python3. Build it against the installed TensorFlow: ...']
"""
import importlib
import importlib.metadata
import importlib.util
import os
import sys

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from .quiet_tensorflow import import_quietly

BUILD_HOROVOD = ("Build it against the installed TensorFlow: horovod-spark-ml build-horovod "
                 "(add --gpu for NCCL GPU operations; needs a C++ compiler, cmake and patch)")

# module -> (its distributions, the versions supported, how to install it)
SUPPORTED = {
    "pyspark": (("pyspark",), ">=3.5,<5",
                "pip install 'horovod-spark-ml[spark]', or run on a Spark 3.5 or 4.x cluster whose Python has it"),
    "tensorflow": (("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly"), ">=2.16,<2.22",
                   "pip install 'horovod-spark-ml[tensorflow]'"),
    "keras": (("keras",), ">=3.5,<4", "pip install 'horovod-spark-ml[tensorflow]'"),
    "horovod": (("horovod",), "==0.28.1", BUILD_HOROVOD),
}
FRAMEWORKS = ("pyspark", "tensorflow", "keras")  # what the stages and their Models load
# Keras versions whose safe_mode a crafted .keras file or model JSON can bypass, and the first that is fixed.
KERAS_SAFE_MODE_CVES = (("CVE-2025-1550", "3.9"), ("CVE-2025-9906", "3.11"), ("CVE-2026-1462", "3.14"))
_passed = set()  # the modules checked, and found supported, in this process
_warned = []  # what the one UnsafeKerasWarning of this process was about


class StackError(ImportError):
    """A framework this package needs is missing, or at a version it does not support."""


class UnsafeKerasWarning(UserWarning):
    """The installed Keras loads models with a ``safe_mode`` that a crafted file can bypass (see
    :func:`warn_if_keras_unsafe`)."""


def installed_version(module):
    """The version of ``module`` installed here, or ``None`` where it is not importable.

    The version comes from the distribution's metadata, without importing it; a module that has no
    metadata (a Databricks runtime's Spark is on the path, not pip-installed) is imported to ask it.
    """
    if importlib.util.find_spec(module) is None:
        return None
    for distribution in SUPPORTED[module][0]:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return getattr(importlib.import_module(module), "__version__", "unknown")


def stack_problems(modules):
    """One sentence per missing or unsupported module of ``modules``, saying what to install and how."""
    problems = []
    for module in modules:
        _, supported, how = SUPPORTED[module]
        found = installed_version(module)
        if found is None:
            problems.append(f"{module} is not installed in {sys.executable}. {how}")
        elif not supports(supported, found):
            problems.append(f"{module} {found} is installed; horovod-spark-ml supports {module}{supported}. {how}")
    if "horovod" in modules and not problems:
        problems += horovod_build_problems()
    return problems


def check_stack(modules):
    """Raise :class:`StackError` listing every problem :func:`stack_problems` finds in ``modules``.

    A module that passed is not checked again in this process.
    """
    modules = [module for module in modules if module not in _passed]
    problems = stack_problems(modules)
    if problems:
        raise StackError("horovod-spark-ml cannot run here:\n- " + "\n- ".join(problems))
    _passed.update(modules)


def supports(supported, found):
    """Whether version ``found`` is in the ``supported`` range (a specifier such as ">=3.5,<4")."""
    try:
        return Version(found) in SpecifierSet(supported)  # a local build, 0.28.1+db1, is 0.28.1
    except InvalidVersion:
        return True  # a version no one can compare (a source build's "unknown"): let it run


def horovod_build_problems():
    """What the installed Horovod's build lacks for this package: its TensorFlow extension, loading with the
    installed TensorFlow, and Gloo, which the ranks are launched with (imports TensorFlow)."""
    found = installed_version("horovod")
    if not _horovod_has_tensorflow():
        return [f"Horovod {found} was built without TensorFlow. {BUILD_HOROVOD}"]
    try:
        hvd = import_quietly("horovod.tensorflow")
    except Exception as e:  # noqa: BLE001 -- built against another TensorFlow: an undefined symbol, most often
        return [f"Horovod {found}'s TensorFlow extension does not load with TensorFlow "
                f"{installed_version('tensorflow')} ({type(e).__name__}: {e}). {BUILD_HOROVOD}"]
    if not hvd.gloo_built():
        return [f"Horovod {found} was built without Gloo, which horovod-spark-ml launches its ranks over. "
                f"{BUILD_HOROVOD}"]
    return []


def _horovod_has_tensorflow():
    """Whether Horovod's TensorFlow extension was built, found without importing TensorFlow."""
    package = importlib.util.find_spec("horovod").submodule_search_locations[0]
    folder = os.path.join(package, "tensorflow")
    return os.path.isdir(folder) and any(name.startswith("mpi_lib") for name in os.listdir(folder))


def keras_safe_mode_cves(version):
    """The CVEs of :data:`KERAS_SAFE_MODE_CVES` that Keras ``version`` has, as ``[(cve, fixed in), ...]``.

    >>> keras_safe_mode_cves("3.12.0")
    [('CVE-2026-1462', '3.14')]
    """
    try:
        found = Version(version)
    except InvalidVersion:
        return []
    return [(cve, fixed) for cve, fixed in KERAS_SAFE_MODE_CVES if found < Version(fixed)]


def warn_if_keras_unsafe(what):
    """Warn (:class:`UnsafeKerasWarning`) that loading ``what`` (a saved model, a ``modelJson``) trusts its
    source, where the installed Keras has a known ``safe_mode`` bypass; once per process.

    A model file or JSON is code in effect under such a Keras: load only what
    came from storage you trust, or upgrade Keras. The package warns rather
    than refuses, since every Databricks ML runtime up to 18 ships a Keras
    older than the first one fixed.
    """
    if _warned:
        return
    found = installed_version("keras")
    cves = keras_safe_mode_cves(found) if found else []
    if cves:
        import warnings
        _warned.append(what)
        listed = "; ".join(f"{cve}, fixed in {fixed}" for cve, fixed in cves)
        warnings.warn(f"loading {what} with Keras {found}, whose safe_mode a crafted .keras file or model JSON can "
                      f"bypass ({listed}): load only models from storage you trust, or pip install "
                      f"'keras>={cves[-1][1]}'", UnsafeKerasWarning, stacklevel=3)
