"""Installing the wheel where users run it: on every Databricks ML LTS runtime pip changes nothing the runtime
ships, and on a bare machine the extras give the set the tests run on.

Each runtime is an environment of its Python whose site-packages holds a stub (a ``.dist-info`` with the name
and version) of every package in its list (``deploy/databricks/runtimes/``); pip's dry run of the wheel into
it reports what pip would install. The stubs have no requirements of their own: pip follows a runtime
package's requirements only where it would install or change something, which is what the tests forbid.
"""
import json
import os
import subprocess
import sys
import warnings
import zipfile

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from horovod_spark_ml import stack
from runtimes import packages, runtimes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNTIMES = runtimes()


def _python(version):
    """An interpreter of ``version`` (3.11, 3.12): the one ./run also looks for."""
    candidates = [f"/root/.pyenv/versions/{name}/bin/python{version}"
                  for name in sorted(os.listdir("/root/.pyenv/versions")) if name.startswith(version + ".")] \
        if os.path.isdir("/root/.pyenv/versions") else []
    candidates += [f"/usr/local/bin/python{version}", f"/usr/bin/python{version}"]
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(f"no Python {version} here: the runtime's install check needs one (see ./run's find_python)")


def _environment(tmp_path, python, shipped):
    env = tmp_path / "env"
    subprocess.run([python, "-m", "venv", "--without-pip", str(env)], check=True)
    site = subprocess.run([str(env / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    for name, version in shipped.items():
        info = os.path.join(site, f"{name.replace('-', '_')}-{version}.dist-info")
        os.makedirs(info)
        with open(os.path.join(info, "METADATA"), "w") as f:
            f.write(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        with open(os.path.join(info, "INSTALLER"), "w") as f:
            f.write("databricks\n")
    return env / "bin" / "python"


def _dry_run(python, requirement, *options):
    """What pip would install for ``requirement`` into ``python``'s environment: {name: version}."""
    report = os.path.join(os.path.dirname(os.path.dirname(python)), "report.json")
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--dry-run", "-q",
                           "--report", report, *options, requirement], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with open(report) as f:
        return {canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
                for item in json.load(f)["install"]}


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
def test_installing_the_wheel_on_a_databricks_runtime_changes_and_adds_nothing_it_ships(wheel, tmp_path, runtime):
    shipped = packages(runtime)
    assert "pyspark" not in shipped and {"numpy", "pyarrow", "pandas", "packaging"} <= set(shipped)
    python = _environment(tmp_path, _python(RUNTIMES[runtime].python), shipped)
    installed = _dry_run(python, wheel)
    changed = {name: f"{shipped.get(name, 'not shipped')} -> {version}" for name, version in installed.items()
               if name != "horovod-spark-ml"}
    assert changed == {}, f"on {runtime}, pip would change or add {changed}"
    assert set(installed) == {"horovod-spark-ml"}


def test_the_extras_give_a_bare_machine_the_frameworks_at_the_versions_the_tests_ran_with(wheel, tmp_path):
    env = tmp_path / "bare"
    subprocess.run([_python("3.12"), "-m", "venv", "--without-pip", str(env)], check=True)
    installed = _dry_run(env / "bin" / "python", f"{wheel}[spark,tensorflow]",
                         "-c", os.path.join(ROOT, "constraints.txt"))
    pinned = dict(line.strip().split("==") for line in open(os.path.join(ROOT, "constraints.txt"))
                  if "==" in line and not line.startswith("#"))
    for module in ("pyspark", "tensorflow", "keras", "numpy", "pyarrow", "pandas"):
        assert installed[module] == pinned[module], module


def _requirements(wheel):
    """The wheel's Requires-Dist lines."""
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        lines = archive.read(metadata).decode().splitlines()
    return [line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:")]


def test_the_extras_and_the_stack_check_support_the_same_versions(wheel):
    """setup.py's extras and horovod_spark_ml/stack.py name one range per framework."""
    extras = {}
    for text in _requirements(wheel):
        requirement = Requirement(text)
        if requirement.marker and "extra" in str(requirement.marker) and requirement.name in stack.SUPPORTED:
            extras[requirement.name] = str(requirement.specifier)
    for module in ("pyspark", "tensorflow", "keras"):
        assert set(extras[module].split(",")) == set(stack.SUPPORTED[module][1].split(",")), module
    assert "horovod" not in extras  # built against the installed TensorFlow, never pulled from the index


def test_the_wheel_needs_only_what_every_runtime_ships(wheel):
    needed = [Requirement(text) for text in _requirements(wheel) if "extra" not in text]
    assert sorted(r.name for r in needed) == ["numpy", "packaging", "pandas", "pyarrow"]
    for runtime in RUNTIMES:
        shipped = packages(runtime)
        for requirement in needed:
            assert requirement.specifier.contains(shipped[requirement.name]), (runtime, str(requirement))


def test_a_missing_or_unsupported_framework_is_named_with_how_to_install_it(monkeypatch):
    monkeypatch.setitem(stack.SUPPORTED, "horovod", (("horovod",), ">=9.0", stack.BUILD_HOROVOD))
    monkeypatch.setitem(stack.SUPPORTED, "no_such_framework", (("no-such-framework",), ">=1", "pip install it"))
    monkeypatch.setattr(stack, "_passed", set())  # this process's fits passed the real check already
    problems = stack.stack_problems(("pyspark", "tensorflow", "keras", "horovod", "no_such_framework"))
    assert problems[0].startswith(f"horovod {stack.installed_version('horovod')} is installed; "
                                  "horovod-spark-ml supports horovod>=9.0. Build it against the installed "
                                  "TensorFlow: horovod-spark-ml build-horovod")
    assert problems[1] == f"no_such_framework is not installed in {sys.executable}. pip install it"
    assert len(problems) == 2
    with pytest.raises(stack.StackError, match="cannot run here:\n- horovod .*\n- no_such_framework"):
        stack.check_stack(("horovod", "no_such_framework"))


def test_the_installed_horovod_build_loads_with_tensorflow_and_has_gloo_and_a_build_without_is_named(monkeypatch):
    import horovod.tensorflow as hvd
    assert stack.horovod_build_problems() == []
    monkeypatch.setattr(hvd, "gloo_built", lambda: False)  # a Horovod built for MPI only: none here to install
    assert stack.horovod_build_problems() == [
        f"Horovod {stack.installed_version('horovod')} was built without Gloo, which horovod-spark-ml launches its "
        f"ranks over. {stack.BUILD_HOROVOD}"]


@pytest.mark.parametrize("keras_version, cves", [
    ("3.5.0", ["CVE-2025-1550", "CVE-2025-9906", "CVE-2026-1462"]),  # Databricks 15.4's job and 17.3
    ("3.9.0", ["CVE-2025-9906", "CVE-2026-1462"]), ("3.12.0", ["CVE-2026-1462"]), ("3.14.0", []),
    ("3.15.1", []),
])
def test_a_keras_with_a_known_safe_mode_bypass_warns_once_when_a_model_is_loaded(monkeypatch, keras_version, cves):
    assert [cve for cve, _ in stack.keras_safe_mode_cves(keras_version)] == cves
    monkeypatch.setattr(stack, "_warned", [])
    monkeypatch.setattr(stack, "installed_version", lambda module: keras_version)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stack.warn_if_keras_unsafe("a modelJson")
        stack.warn_if_keras_unsafe("a modelJson")
    assert [str(w.message).split(":")[0] for w in caught] == (
        [f"loading a modelJson with Keras {keras_version}, whose safe_mode a crafted .keras file or model JSON "
         f"can bypass ({'; '.join(f'{c}, fixed in {f}' for c, f in stack.keras_safe_mode_cves(keras_version))})"]
        if cves else [])
    assert all(w.category is stack.UnsafeKerasWarning for w in caught)


def test_a_local_build_of_a_supported_version_is_supported():
    assert stack.supports("==0.28.1", "0.28.1+db1")  # Databricks 15.4's own Horovod build
    assert not stack.supports("==0.28.1", "0.28.0")
    assert stack.supports(">=3.5,<4", "3.5.0") and not stack.supports(">=3.5,<4", "3.2.1")
