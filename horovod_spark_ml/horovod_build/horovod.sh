#!/usr/bin/env bash
# Build Horovod 0.28.1 from source into the Python environment of $1 (default: python3), against the
# TensorFlow installed there, with Gloo and without MPI, and with the patches beside this script.
#   install/horovod.sh /path/to/venv/bin/python
#   HSM_GPU=1 install/horovod.sh /opt/venv/bin/python     # also NCCL GPU operations (needs CUDA, NCCL headers)
# ./run calls it, and so do the Docker images, so a green CI run proves the images' build step.
#
# Why a patch: Horovod 0.28.1 (its last release) sets up each process set's gloo device on the
# address of the host's name instead of the global context's interface. Where the host name
# resolves to 127.0.0.1 (Debian's /etc/hosts, containers), ranks on different hosts then fail with
# "gloo::IoException ... connect [127.0.0.1]:PORT". See horovod-0.28.1-process-set-iface.patch.
set -euo pipefail
PY="${1:-python3}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VERSION=0.28.1
command -v patch >/dev/null || { echo "install/horovod.sh: needs 'patch' (apt-get install patch)" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

"$PY" -m pip download -q --no-deps --no-binary :all: --no-build-isolation -d "$WORK" "horovod==$VERSION"
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
