#!/usr/bin/env bash
# Install the pinned stack (requirements.txt at constraints.txt's versions) into the Python environment
# of $1, everything but Horovod, whose build imports TensorFlow (install/horovod.sh, run next).
#   install/requirements.sh /path/to/venv/bin/python             # CPU
#   HSM_GPU=1 install/requirements.sh /opt/venv/bin/python       # TensorFlow with its CUDA libraries
# ./run calls it on every machine it sets up (CI's included), and the Docker images call it too, so a
# green CI run proves the images' install step.
set -euo pipefail
PY="${1:-python3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$PY" -m pip install -q --upgrade "pip<26"
extra=()
if [ "${HSM_GPU:-0}" = 1 ]; then
  extra=("tensorflow[and-cuda]")  # the CUDA and cuDNN wheels this TensorFlow was built against
fi
"$PY" -m pip install -q -c "$ROOT/constraints.txt" -r "$ROOT/requirements.txt" "${extra[@]}"
