#!/usr/bin/env bash
# Install a pinned stack (requirements.txt at its constraints' versions) into the Python environment
# of $1, everything but Horovod, whose build imports TensorFlow (install/horovod.sh, run next).
#   install/requirements.sh /path/to/venv/bin/python              # the default stack (constraints.txt)
#   install/requirements.sh /path/to/venv/bin/python legacy       # Spark 3.5 (constraints-legacy.txt), with Petastorm
#   HSM_GPU=1 install/requirements.sh /opt/venv/bin/python        # TensorFlow with its CUDA libraries
# ./run calls it on every machine it sets up (CI's included), and the Docker images call it too, so a
# green CI run proves the images' install step.
set -euo pipefail
PY="${1:-python3}"
STACK="${2:-default}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "$STACK" in
  default) constraints="$ROOT/constraints.txt"; extra=() ;;
  # Petastorm 0.13.1 (readerBackend="petastorm") runs only on this stack: pyarrow 14, numpy < 2.
  legacy)  constraints="$ROOT/constraints-legacy.txt"; extra=(petastorm) ;;
  *) echo "install/requirements.sh: unknown stack '$STACK' (default or legacy)" >&2; exit 2 ;;
esac
"$PY" -m pip install -q --upgrade "pip<26"
if [ "${HSM_GPU:-0}" = 1 ]; then
  extra+=("tensorflow[and-cuda]")  # the CUDA and cuDNN wheels this TensorFlow was built against
fi
"$PY" -m pip install -q -c "$constraints" -r "$ROOT/requirements.txt" ${extra[@]+"${extra[@]}"}
