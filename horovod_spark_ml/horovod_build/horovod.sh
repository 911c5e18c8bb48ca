#!/usr/bin/env bash
# Build Horovod 0.28.1 from source into the Python environment of $1 (default: python3), against the
# TensorFlow installed there, with Gloo and without MPI, and with the patches beside this script; then
# checks that the build has what was asked for.
#   horovod-spark-ml build-horovod [--gpu]                       # the installed package runs this script
#   bash horovod_spark_ml/horovod_build/horovod.sh /path/to/venv/bin/python
#   HSM_GPU=1 bash .../horovod.sh /opt/venv/bin/python   # also NCCL GPU operations (needs CUDA, NCCL headers)
# ./run calls it, and so do the Docker images and the Databricks init script, so a green CI run proves
# their build step. Horovod's own run-time dependencies are installed only where missing: a
# runtime's versions (Databricks') stay as they are.
#
# Why a patch: Horovod 0.28.1 (its last release) sets up each process set's gloo device on the
# address of the host's name instead of the global context's interface. Where the host name
# resolves to 127.0.0.1 (Debian's /etc/hosts, containers), ranks on different hosts then fail with
# "gloo::IoException ... connect [127.0.0.1]:PORT". See horovod-0.28.1-process-set-iface.patch.
set -euo pipefail
PY="${1:-python3}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VERSION=0.28.1
SHA256=92a43f5a94c43907a56805bad15f19700c62ffc83b7ca483f9e104e229f67ef0  # horovod-0.28.1.tar.gz on PyPI
for tool in patch cmake g++; do
  command -v "$tool" >/dev/null || { echo "horovod.sh: needs '$tool' (apt-get install patch cmake g++)" >&2; exit 1; }
done
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "horovod==$VERSION --hash=sha256:$SHA256" > "$WORK/horovod.txt"
# Without HOROVOD_LOCAL_VERSION (the init script sets it for the build): setup.py appends it to the version, and
# pip then drops the sdist as "inconsistent version" (No matching distribution found for horovod==0.28.1).
env -u HOROVOD_LOCAL_VERSION "$PY" -m pip download -q --no-deps --no-binary :all: --no-build-isolation \
  -d "$WORK" -r "$WORK/horovod.txt"
tar -xzf "$WORK/horovod-$VERSION.tar.gz" -C "$WORK"
for p in "$HERE"/horovod-$VERSION-*.patch; do
  patch -s -p1 -d "$WORK/horovod-$VERSION" < "$p"
done
gpu=()
if [ "${HSM_GPU:-0}" = 1 ]; then
  gpu=(HOROVOD_GPU_OPERATIONS=NCCL)
fi
# --no-cache-dir: pip would otherwise reuse a wheel built against another TensorFlow.
env "${gpu[@]}" HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 \
HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 MAKEFLAGS="-j$(nproc)" \
  "$PY" -m pip install -q --no-build-isolation --no-cache-dir --force-reinstall --no-deps "$WORK/horovod-$VERSION"
# What horovod imports at run time (distutils comes from setuptools on Python 3.12); pip leaves installed ones alone.
"$PY" -m pip install -q cloudpickle psutil pyyaml packaging setuptools
# TensorFlow's start-up lines (absl, oneDNN) only where the check fails.
TF_CPP_MIN_LOG_LEVEL=3 "$PY" - "${HSM_GPU:-0}" >"$WORK/check.out" 2>"$WORK/check.err" <<'EOF' ||
import sys

import horovod
import horovod.tensorflow as hvd

gpu = sys.argv[1] == "1"
wanted = {"TensorFlow": True, "Gloo": hvd.gloo_built(), **({"NCCL": hvd.nccl_built()} if gpu else {})}
missing = [name for name, built in wanted.items() if not built]
if missing:
    sys.exit(f"horovod.sh: Horovod {horovod.__version__} was built without {', '.join(missing)}: see the build log above")
print(f"horovod.sh: Horovod {horovod.__version__} built with {', '.join(wanted)}")
EOF
  { cat "$WORK/check.out" "$WORK/check.err" >&2; exit 1; }
cat "$WORK/check.out"
