"""Deployment artifacts, checked where they cannot run: the wheel (built and installed), the Dockerfiles
(hadolint, and every file they COPY), the compose file, and the Databricks bundle (the databricks-sdk's
JobSettings, and every file and entry point it names).

No Docker engine or Databricks workspace is reachable here; docs/deploying.md says what each check stands for.
"""
import glob
import os
import re
import subprocess
import sys
import sysconfig
import zipfile

import pytest
import yaml
from runtimes import packages, runtimes, snapshots

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKERFILES = sorted(glob.glob(os.path.join(ROOT, "docker", "Dockerfile*")))
BUNDLE = os.path.join(ROOT, "deploy", "databricks")


def test_the_wheel_installs_into_an_environment_with_the_stack_and_runs_without_the_source_tree(wheel, tmp_path):
    assert os.path.basename(wheel) == "horovod_spark_ml-0.1.0-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    assert "horovod_spark_ml/log4j2-local.properties" in names
    assert {"horovod_spark_ml/training/driver/runs.py", "horovod_spark_ml/estimators/mlp.py",
            "horovod_spark_ml/serving/inference.py", "horovod_spark_ml/data/staging.py"} <= set(names)
    assert {"horovod_spark_ml/horovod_build/horovod.sh", "horovod_spark_ml/horovod_build/horovod-0.28.1-"
            "process-set-iface.patch", "horovod_spark_ml/horovod_build/horovod-0.28.1-tf-2.20-headers.patch"} <= set(names)

    # A fresh environment that already holds the stack: this one's packages, on its path as a plain folder
    # (so the editable install of the source tree there is not activated).
    fresh = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True)
    site = subprocess.run([str(fresh / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    with open(os.path.join(site, "stack.pth"), "w") as f:
        f.write(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(fresh / "bin" / "python"), "install", "-q",
                    "--no-deps", wheel], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    shown = subprocess.run([str(fresh / "bin" / "horovod-spark-ml"), "--help"], cwd=tmp_path, env=env,
                           capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert all(command in shown.stdout for command in ("demo", "train", "predict", "pack-env", "build-horovod"))
    where = subprocess.run([str(fresh / "bin" / "python"), "-c",
                            "import horovod_spark_ml.cli, horovod_spark_ml.training.driver.runs; print(horovod_spark_ml.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(site) and not where.startswith(ROOT)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=os.path.basename)
def test_the_dockerfile_passes_hadolint_and_explains_every_rule_it_ignores(dockerfile):
    linted = subprocess.run([os.path.join(os.path.dirname(sys.executable), "hadolint"), "--no-color",
                             "--failure-threshold", "info", dockerfile], capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    lines = open(dockerfile).read().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("# hadolint ignore="):
            assert lines[i - 1].startswith("#") and "ignored" in lines[i - 1] + lines[i - 2], \
                f"{dockerfile}:{i + 1}: say why {line[2:]}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=os.path.basename)
def test_the_dockerfile_copies_files_that_exist_and_installs_with_the_scripts_ci_uses(dockerfile):
    text = open(dockerfile).read()
    copied = [line.split()[1:-1] for line in text.splitlines() if line.startswith("COPY ") and "--from=" not in line]
    assert copied
    for sources in copied:
        for source in sources:
            assert os.path.exists(os.path.join(ROOT, source)), f"{dockerfile} copies {source}, which does not exist"
    # The same two scripts that ./run runs on every fresh machine, CI's included.
    assert "install/requirements.sh /opt/venv/bin/python" in text and "horovod_spark_ml/horovod_build/horovod.sh /opt/venv/bin/python" in text
    run = open(os.path.join(ROOT, "run")).read()
    assert '"$ROOT/install/requirements.sh" "$PY"' in run and '"$ROOT/horovod_spark_ml/horovod_build/horovod.sh" "$PY"' in run
    assert "horovodrun --check-build" in text
    runtime = text.rsplit("\nFROM ", 1)[1]
    assert "build-essential" not in runtime and "cmake" not in runtime  # no build tools in the final stage


def test_the_compose_file_runs_the_demo_on_a_master_and_two_workers_of_the_cpu_image():
    compose = yaml.safe_load(open(os.path.join(ROOT, "docker", "compose.yaml")))
    services = compose["services"]
    assert set(services) == {"master", "worker-1", "worker-2", "demo"}
    for service in services.values():
        assert service["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
        assert os.path.exists(os.path.join(ROOT, "docker", service["build"]["context"], service["build"]["dockerfile"]))
        assert "shared:/shared" in service["volumes"]
    assert "deploy.master.Master" in services["master"]["command"][0]
    assert all("deploy.worker.Worker" in services[w]["command"][0] and "spark://master:7077" in services[w]["command"][0]
               for w in ("worker-1", "worker-2"))
    from horovod_spark_ml.cli import _parser
    args = _parser().parse_args(services["demo"]["command"])
    assert (args.master, args.num_proc, args.store_path) == ("spark://master:7077", 2, "/shared/store")


def _bundle():
    """The bundle's settings, its jobs ({name: (file, job)}) and its volumes, with every variable's default."""
    bundle = yaml.safe_load(open(os.path.join(BUNDLE, "databricks.yml")))
    jobs, volumes = {}, {}
    for pattern in bundle["include"]:
        for path in sorted(glob.glob(os.path.join(BUNDLE, pattern))):
            resources = yaml.safe_load(open(path))["resources"]
            jobs.update({name: (path, job) for name, job in resources.get("jobs", {}).items()})
            volumes.update(resources.get("volumes", {}))
    return bundle, jobs, volumes


def _resolved(text, bundle):
    """``text`` with each ``${var.name}`` replaced by the variable's default (defaults may name variables too)."""
    variables = {name: spec["default"] for name, spec in bundle["variables"].items()}
    while "${var." in text:
        text = re.sub(r"\$\{var\.(\w+)\}", lambda m: variables[m.group(1)], text)
    return text


def test_the_databricks_jobs_round_trip_through_the_sdks_job_settings_unchanged():
    from databricks.sdk.service.jobs import JobSettings
    _, jobs, _ = _bundle()
    for name, (_, job) in jobs.items():
        assert JobSettings.from_dict(job).as_dict() == job, f"{name} has keys the Jobs API does not know"


def test_there_is_one_job_per_databricks_ml_lts_runtime_and_an_init_script_where_it_lacks_horovod():
    _, jobs, _ = _bundle()
    clusters = {name: job["job_clusters"][0]["new_cluster"] for name, (_, job) in jobs.items()}
    assert sorted(cluster["spark_version"] for cluster in clusters.values()) == snapshots() == sorted(runtimes()) == [
        "15.4.x-gpu-ml-scala2.12", "16.4.x-gpu-ml-scala2.12", "17.3.x-gpu-ml-scala2.13", "18.0.x-gpu-ml-scala2.13"]
    for name, cluster in clusters.items():
        ships_horovod = "horovod" in packages(cluster["spark_version"])
        scripts = [script["workspace"]["destination"] for script in cluster.get("init_scripts", [])]
        assert scripts == ([] if ships_horovod else ["${workspace.file_path}/deploy/databricks/init/build-horovod.sh"]), name
        assert name == "train_digits_dbr" + cluster["spark_version"].split(".x")[0].replace(".", "_")
        assert cluster["data_security_mode"] == "SINGLE_USER"  # volumes and workspace files on every node
        assert cluster["spark_conf"]["spark.task.resource.gpu.amount"] == "1"


def test_each_job_runs_the_frameworks_at_versions_the_package_supports():
    """Where a runtime's own version is too old (15.4's Keras 3.2.1), its job installs a supported one, and
    prove-runtimes.sh --demo installs the same (runtimes/runtimes.txt)."""
    from packaging.requirements import Requirement
    from horovod_spark_ml.stack import SUPPORTED, supports
    _, jobs, _ = _bundle()
    listed = runtimes()
    for name, (_, job) in jobs.items():
        runtime = job["job_clusters"][0]["new_cluster"]["spark_version"]
        adds = [library["pypi"]["package"] for library in job["tasks"][0]["libraries"] if "pypi" in library]
        assert adds == listed[runtime].job_adds, name
        installed = {}
        for text in adds:
            (pin,) = Requirement(text).specifier
            assert pin.operator == "==", f"{name} installs {text} unpinned"
            installed[Requirement(text).name] = pin.version
        for module in ("tensorflow", "keras"):
            version = installed.get(module, packages(runtime)[module])
            assert supports(SUPPORTED[module][1], version), f"{name} would run {module} {version}"
        assert set(installed) <= {"keras"}, f"{name} changes more of its runtime than it needs: {installed}"


def test_the_jobs_keep_everything_on_the_volume_the_bundle_creates_and_never_replace_a_saved_pipeline():
    from databricks.sdk.service.catalog import VolumeInfo, VolumeType
    from horovod_spark_ml.cli import _parser
    bundle, jobs, volumes = _bundle()
    (volume,) = volumes.values()
    assert VolumeInfo.from_dict(volume).as_dict() == volume  # keys and volume_type the Unity Catalog API knows
    assert volume["volume_type"] in {t.value for t in VolumeType}
    created = "/Volumes/{catalog_name}/{schema_name}/{name}".format(**volume)
    assert _resolved("${var.volume_path}", bundle) == _resolved(created, bundle) == "/Volumes/main/default/horovod_spark_ml"
    model_dirs = set()
    for name, (_, job) in jobs.items():
        (task,) = job["tasks"]
        args = _parser().parse_args([_resolved(p, bundle) for p in task["python_wheel_task"]["parameters"]])
        assert args.store_path == "/Volumes/main/default/horovod_spark_ml/store", name
        assert args.model_dir.startswith("/Volumes/main/default/horovod_spark_ml/models/"), name
        assert args.if_exists == "error", name
        model_dirs.add(args.model_dir)
    assert len(model_dirs) == len(jobs)  # one pipeline folder per runtime's job


def test_every_file_and_entry_point_the_bundle_names_exists():
    from importlib.metadata import entry_points
    bundle, jobs, _ = _bundle()
    artifact = os.path.normpath(os.path.join(BUNDLE, bundle["artifacts"]["wheel"]["path"]))
    assert os.path.exists(os.path.join(artifact, "setup.py"))
    # Syncing paths outside the bundle makes their common folder the workspace's file_path.
    synced = [os.path.normpath(os.path.join(BUNDLE, p)) for p in bundle["sync"]["paths"]]
    sync_root = os.path.commonpath(synced)
    in_workspace = re.compile(r"^(?:/Workspace)?\$\{workspace\.file_path\}/(.*)$")
    console_scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    for name, (path, job) in jobs.items():
        for task in job["tasks"]:
            wheel_task = task["python_wheel_task"]
            assert wheel_task["package_name"] == "horovod_spark_ml"
            assert console_scripts[wheel_task["entry_point"]] == "horovod_spark_ml.cli:main"
            for library in [library for library in task["libraries"] if "whl" in library]:
                wheels = os.path.normpath(os.path.join(os.path.dirname(path), library["whl"]))
                assert os.path.dirname(wheels) == os.path.join(artifact, "dist") and wheels.endswith(".whl")
        cluster = job["job_clusters"][0]["new_cluster"]
        named = [script["workspace"]["destination"] for script in cluster.get("init_scripts", [])]
        named += [v for v in cluster["spark_env_vars"].values() if "workspace.file_path" in v]
        for reference in named:
            relative = in_workspace.match(reference).group(1)
            assert os.path.exists(os.path.join(sync_root, relative)), f"{name} names {reference}: not synced"
            assert any(os.path.join(sync_root, relative).startswith(s) for s in synced)
        if cluster.get("init_scripts"):
            assert cluster["spark_env_vars"]["HSM_BUILD_DIR"].endswith("/horovod_spark_ml/horovod_build")
            assert cluster["spark_env_vars"]["HSM_GPU"] == "1"  # NCCL or a failed start, never a CPU build


@pytest.mark.parametrize("script", ["deploy/databricks/init/build-horovod.sh", "deploy/databricks/prove-runtimes.sh",
                                    "deploy/databricks/make-cuda12-nvcc.sh", "horovod_spark_ml/horovod_build/horovod.sh"])
def test_the_shell_scripts_parse(script):
    # An apostrophe inside ${VAR:?message} once made the init script unparseable on every node.
    checked = subprocess.run(["bash", "-n", os.path.join(ROOT, script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_the_init_script_leaves_a_python_whose_horovod_is_built_with_tensorflow_alone():
    """On a node whose Horovod fits its TensorFlow (15.4's own, or one built before), it builds nothing."""
    env = dict(os.environ, HSM_PYTHON=sys.executable, HSM_GPU="0", TF_CPP_MIN_LOG_LEVEL="3",
               HSM_BUILD_DIR=os.path.join(ROOT, "horovod_spark_ml", "horovod_build"))
    ran = subprocess.run(["bash", os.path.join(BUNDLE, "init", "build-horovod.sh")], capture_output=True, text=True,
                         env=env, timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert "nothing to build" in ran.stderr, ran.stderr


def test_the_init_script_says_which_setting_is_missing():
    env = {k: v for k, v in os.environ.items() if k != "HSM_BUILD_DIR"}
    ran = subprocess.run(["bash", os.path.join(BUNDLE, "init", "build-horovod.sh")], capture_output=True, text=True,
                         env=env)
    assert ran.returncode != 0 and "HSM_BUILD_DIR" in ran.stderr
