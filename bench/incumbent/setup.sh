#!/usr/bin/env bash
# The incumbent's own environment, apart from ours: Horovod's KerasEstimator needs Keras 2 (TensorFlow 2.15)
# and pyarrow < 11 (see constraints.txt). Creates bench/incumbent/.venv once (about 5 minutes, most of it
# the Horovod build); later calls return at once. Prints the environment's python.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="$HERE/.venv"
PY="$VENV/bin/python"
stamp="$(cat "$HERE/constraints.txt" "$HERE/requirements.txt" | sha256sum | cut -c1-16)"
if [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "[bench] setting up the incumbent's environment in $VENV" >&2
  rm -rf "$VENV"
  # our Python: the bench's (HSM_BENCH_PYTHON), else the repository's venv
  "$("${HSM_BENCH_PYTHON:-$ROOT/.venv/bin/python}" -c 'import sys; print(sys._base_executable)')" -m venv "$VENV"
  "$PY" -m pip install -q --upgrade "pip<26"
  "$PY" -m pip install -q -c "$HERE/constraints.txt" -r "$HERE/requirements.txt" >&2
  HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 \
  HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 MAKEFLAGS="-j$(nproc)" \
    "$PY" -m pip install -q --no-build-isolation --no-cache-dir --no-deps --no-binary horovod horovod==0.28.1 >&2
  echo "$stamp" > "$VENV/.stamp"
fi
echo "$PY"
