#!/usr/bin/env bash
# The incumbent's own environment, apart from ours: Horovod's KerasEstimator needs Keras 2 (TensorFlow 2.15)
# and pyarrow < 11 (see constraints.txt). Creates bench/incumbent/.venv once (about 5 minutes, most of it
# the Horovod build); later calls return at once. Prints the environment's python.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
PY="$VENV/bin/python"
stamp="$(cat "$HERE/constraints.txt" "$HERE/requirements.txt" | sha256sum | cut -c1-16)"
if [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "[bench] setting up the incumbent's environment in $VENV" >&2
  rm -rf "$VENV"
  # Python 3.11: TensorFlow 2.15 has no wheels for 3.12, the default stack's Python
  base=""
  for p in "${HSM_INCUMBENT_PYTHON:-}" python3.11 "$HOME"/.pyenv/versions/3.11.*/bin/python3.11 /usr/bin/python3.11; do
    if [ -n "$p" ] && command -v "$p" >/dev/null 2>&1 &&
       "$p" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
      base="$p"; break
    fi
  done
  [ -n "$base" ] || { echo "[bench] the incumbent needs Python 3.11 (set HSM_INCUMBENT_PYTHON)" >&2; exit 1; }
  "$base" -m venv "$VENV"
  "$PY" -m pip install -q --upgrade "pip<26"
  "$PY" -m pip install -q -c "$HERE/constraints.txt" -r "$HERE/requirements.txt" >&2
  HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 \
  HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 MAKEFLAGS="-j$(nproc)" \
    "$PY" -m pip install -q --no-build-isolation --no-cache-dir --no-deps --no-binary horovod horovod==0.28.1 >&2
  echo "$stamp" > "$VENV/.stamp"
fi
echo "$PY"
