#!/usr/bin/env bash
# Proves, without a Databricks workspace, that the init script builds Horovod on each Databricks ML LTS GPU
# runtime: for each runtime, an environment of that runtime's Python with the TensorFlow, Keras, numpy and
# pyarrow of its package snapshot (every other package it pulls in pinned to the snapshot too), the init
# script's build against it, `horovodrun --check-build` (TensorFlow and Gloo listed) and a 2-rank Gloo
# allreduce with horovod.tensorflow on CPU; with --demo also the package's digits demo (what the bundle's job
# runs) on that runtime's pyspark, pandas and scikit-learn, with what its job adds (runtimes/runtimes.txt).
#   prove-runtimes.sh                    all four: 15.4 16.4 17.3 18
#   prove-runtimes.sh --demo 15.4 18     also the demo (needs Java; about a minute each)
#   prove-runtimes.sh 18                 one
#   prove-runtimes.sh --nccl 18          also NCCL, compile only (see below)
#   prove-runtimes.sh --envs DIR ...     environments in DIR/<runtime> (default: .runtimes/ at the repo root,
#                                        .runtimes-nccl/ with --nccl, or HSM_RUNTIME_ENVS)
# A second run reuses each environment, and the init script skips the build where Horovod is built against the
# installed TensorFlow with the current horovod.sh and patches; a changed snapshot re-pins the environment, and
# a changed TensorFlow, horovod.sh or patch makes the init script rebuild. Prints one line per runtime:
# PASS/FAIL and its seconds (environment, build, checks).
# Measured on 2 cores (2026-12-07, pip's cache warm, other work on the machine at times): all four from nothing
# 13m30s (per runtime: environment 29-42 s, build 111-195 s, checks 14-16 s; 2.2-2.3 GB each); all four
# again, nothing to rebuild, 1m27s; 18 alone from nothing, 3m00s. --demo adds about a minute per runtime.
#
# --nccl: the init script with HSM_GPU=1 on a machine without a GPU (compile only). The environment also gets
# the snapshot's nvidia-nccl-cu12 and nvidia-cuda-runtime-cu12 wheels, as on the runtime: the init script
# links the wheel's NCCL (nccl.h, libnccl.so.2). HSM_NCCL_CUDA_HOME must name a CUDA 12 toolkit with bin/nvcc,
# include/cuda_runtime.h and lib64/libcudart_static.a (no PyPI wheel has nvcc: make-cuda12-nvcc.sh assembles
# one). check-build must then list NCCL too; the allreduce still runs on CPU over Gloo. 16.4, 17.3 and 18:
# 10m11s from nothing (build 152-175 s each, 2.4-2.7 GB each).
#
# Paths, where the defaults do not fit: HSM_RUNTIMES_DIR (the snapshots: *.txt and runtimes.txt),
# HSM_INIT_SCRIPT, HSM_BUILD_DIR (horovod.sh and its patches), HSM_PYTHON_3_11 / HSM_PYTHON_3_12 (the Pythons).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || echo "$HERE")"
say() { echo "[prove] $*" >&2; }
first_dir_with() {  # file, candidate folders...
  local f="$1" d; shift
  for d in "$@"; do if [ -n "$d" ] && [ -e "$d/$f" ]; then (cd "$d" && pwd); return; fi; done
  return 1
}

NCCL=0
DEMO=0
ENVS="${HSM_RUNTIME_ENVS:-}"
runtimes=()
while [ $# -gt 0 ]; do
  case "$1" in
    --nccl) NCCL=1; shift ;;
    --demo) DEMO=1; shift ;;
    --envs) ENVS="$2"; shift 2 ;;
    --envs=*) ENVS="${1#--envs=}"; shift ;;
    -h|--help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) say "unknown option $1"; exit 2 ;;
    *) runtimes+=("$1"); shift ;;
  esac
done
[ ${#runtimes[@]} -gt 0 ] || runtimes=(15.4 16.4 17.3 18)
# NCCL builds in environments of their own: a CPU run there would find Horovod built and skip its build.
[ -n "$ENVS" ] || { if [ "$NCCL" = 1 ]; then ENVS="$ROOT/.runtimes-nccl"; else ENVS="$ROOT/.runtimes"; fi; }

SNAPSHOTS="${HSM_RUNTIMES_DIR:-$(first_dir_with runtimes.txt "$HERE/runtimes")}" ||
  { say "no runtime snapshots found: set HSM_RUNTIMES_DIR"; exit 2; }
INIT="${HSM_INIT_SCRIPT:-$(first_dir_with build-horovod.sh "$HERE/init" "$ROOT/deploy/databricks/init")/build-horovod.sh}"
BUILD="${HSM_BUILD_DIR:-$(first_dir_with horovod.sh "$HERE/horovod_build" "$ROOT/horovod_spark_ml/horovod_build")}" ||
  { say "no horovod_build/horovod.sh found: set HSM_BUILD_DIR"; exit 2; }
[ -f "$INIT" ] || { say "no init script found: set HSM_INIT_SCRIPT"; exit 2; }
mkdir -p "$ENVS"; ENVS="$(cd "$ENVS" && pwd)"
say "snapshots $SNAPSHOTS, init script $INIT, build dir $BUILD, environments in $ENVS"

find_python() {  # X.Y
  local v="$1" var="HSM_PYTHON_${1/./_}" p
  for p in "${!var:-}" "python$v" "$HOME"/.pyenv/versions/"$v".*/bin/python"$v" /usr/local/bin/python"$v" /usr/bin/python"$v"; do
    [ -n "$p" ] || continue
    if command -v "$p" >/dev/null 2>&1 &&
       "$p" -c "import sys; sys.exit(0 if '%d.%d' % sys.version_info[:2] == '$v' else 1)" 2>/dev/null; then
      command -v "$p"; return
    fi
  done
  return 1
}

# The snapshot's version of a package: "name~=1.2.3" and "name==1.2.3" both read as 1.2.3 (the release notes
# list exact versions; the snapshots spell them ~=).
pin() { sed -n "s/^$2[~=]=\([^ ;#]*\).*/\1/Ip" "$1" | head -1; }

prove() {
  local rt="$1" t0=$SECONDS t_env=0 t_build=0 t_check=0 status=FAIL why=""
  local snap; snap="$(ls "$SNAPSHOTS"/databricks-"$rt".x-*ml*.txt "$SNAPSHOTS"/databricks-"$rt".0.x-*ml*.txt 2>/dev/null | head -1)"
  [ -n "$snap" ] || { echo "$rt FAIL no snapshot databricks-$rt.x-*.txt in $SNAPSHOTS"; return 1; }
  local name; name="$(basename "$snap" .txt)"; name="${name#databricks-}"; name="${name%%.x-*}"
  # The runtime's Python, Spark and what its job adds, from runtimes.txt: "18.0.x-gpu-ml-scala2.13  3.12  4.1.0  -".
  local pyver spark adds
  read -r _ pyver spark adds <<<"$(awk -v k="$(basename "$snap" .txt | sed 's/^databricks-//')" '$1 == k' "$SNAPSHOTS/runtimes.txt")"
  [ -n "$pyver" ] || { echo "$rt FAIL no line for $name in $SNAPSHOTS/runtimes.txt"; return 1; }
  local py; py="$(find_python "$pyver")" || { echo "$rt FAIL Python $pyver not found (set HSM_PYTHON_${pyver/./_})"; return 1; }

  # What the environment holds: the packages the build and the checks need, at the snapshot's versions.
  local pkgs=() p v
  for p in tensorflow keras numpy pyarrow cloudpickle psutil pyyaml packaging setuptools wheel; do
    v="$(pin "$snap" "$p")"
    [ -n "$v" ] || { echo "$rt FAIL $p not in $snap"; return 1; }
    pkgs+=("$p==$v")
  done
  if [ "$NCCL" = 1 ]; then
    for p in nvidia-nccl-cu12 nvidia-cuda-runtime-cu12; do
      v="$(pin "$snap" "$p")"; [ -n "$v" ] && pkgs+=("$p==$v")
    done
  fi
  local env="$ENVS/$name" log="$ENVS/$name.log"
  : > "$log"
  say "$name: Python $pyver, ${pkgs[*]} (log: $log)"
  # Every other package pip pulls in is held to the snapshot too (local versions such as 0.28.1+db1 and
  # torch==2.3.1+cu121 are left out: they are not on PyPI).
  local constraints; constraints="$(mktemp)"
  sed -n 's/^\([A-Za-z0-9][A-Za-z0-9._-]*\)[~=]=\([^ ;#+]*\)$/\1==\2/p' "$snap" > "$constraints"
  local stamp; stamp="$( (echo "$py $pyver ${pkgs[*]}"; cat "$constraints") | sha256sum | cut -c1-16)"

  # 1. The environment.
  local t=$SECONDS
  if [ -x "$env/bin/python" ] && ! "$env/bin/python" -c "import sys; sys.exit(0 if '%d.%d' % sys.version_info[:2] == '$pyver' else 1)"; then
    rm -rf "$env"
  fi
  if [ "$(cat "$env/.prove-stamp" 2>/dev/null)" != "$stamp" ]; then
    { [ -x "$env/bin/python" ] || "$py" -m venv "$env"; } &&
    "$env/bin/python" -m pip install -q -c "$constraints" "${pkgs[@]}" >>"$log" 2>&1 &&
    echo "$stamp" > "$env/.prove-stamp" || why="environment (pip install; see $log)"
  fi
  rm -f "$constraints"
  t_env=$((SECONDS - t))

  # 2. The init script's build (it skips where Horovod is already built against this TensorFlow).
  if [ -z "$why" ]; then
    t=$SECONDS
    local gpu=(HSM_GPU=0)
    if [ "$NCCL" = 1 ]; then
      # Kernels for the GPUs Databricks offers (V100, T4, A100, A10, L4, H100) unless said otherwise: all 14
      # that nvcc 12.4 knows take minutes longer on 2 cores.
      gpu=(HSM_GPU=1 HOROVOD_CUDA_HOME="${HSM_NCCL_CUDA_HOME:?--nccl needs HSM_NCCL_CUDA_HOME: a CUDA 12 toolkit with bin/nvcc}"
           HOROVOD_BUILD_CUDA_CC_LIST="${HOROVOD_BUILD_CUDA_CC_LIST:-70,75,80,86,89,90}")
    fi
    env "${gpu[@]}" HSM_PYTHON="$env/bin/python" HSM_BUILD_DIR="$BUILD" bash "$INIT" >>"$log" 2>&1 ||
      why="init script (see $log)"
    t_build=$((SECONDS - t))
  fi

  # 3. check-build and a 2-rank allreduce over Gloo on CPU.
  if [ -z "$why" ]; then
    t=$SECONDS
    local report; report="$("$env/bin/horovodrun" --check-build 2>&1)"; echo "$report" >>"$log"
    local need=(TensorFlow Gloo); [ "$NCCL" = 1 ] && need+=(NCCL)
    for p in "${need[@]}"; do grep -q "\[X\] $p *$" <<<"$report" || why="${why:+$why, }check-build lacks $p"; done
  fi
  if [ -z "$why" ]; then
    local out; out="$(cd "$env" && CUDA_VISIBLE_DEVICES="" TF_CPP_MIN_LOG_LEVEL=3 timeout 300 \
      "$env/bin/horovodrun" -np 2 -H localhost:2 --gloo "$env/bin/python" -c '
import tensorflow as tf
import horovod.tensorflow as hvd
hvd.init()
x = tf.fill([4], float(hvd.rank() + 1))            # rank 0: 1.0, rank 1: 2.0
avg = hvd.allreduce(x, op=hvd.Average).numpy()
tot = hvd.allreduce(x, op=hvd.Sum).numpy()
assert hvd.size() == 2, hvd.size()
assert (avg == 1.5).all() and (tot == 3.0).all(), (avg, tot)
print("ALLREDUCE-OK rank %d of %d: average %s, sum %s" % (hvd.rank(), hvd.size(), avg.tolist(), tot.tolist()))
' 2>&1)"; echo "$out" >>"$log"
    [ "$(grep -c 'ALLREDUCE-OK' <<<"$out")" = 2 ] || why="2-rank allreduce (see $log)"
    t_check=$((SECONDS - t))
  fi
  # 4. The digits demo, as the runtime's job runs it (on local[2] here).
  if [ -z "$why" ] && [ "$DEMO" = 1 ]; then
    t=$SECONDS
    local extra=("pyspark==$spark")
    for p in pandas scikit-learn scipy joblib threadpoolctl; do extra+=("$p==$(pin "$snap" "$p")"); done
    [ "$adds" = - ] || extra+=($adds)
    local model; model="$(mktemp -d)/digits"
    if "$env/bin/python" -m pip install -q "${extra[@]}" >>"$log" 2>&1 &&
       "$env/bin/python" -m pip wheel -q --no-deps --no-build-isolation -w "$(dirname "$model")" "$ROOT" >>"$log" 2>&1 &&
       "$env/bin/python" -m pip install -q --no-deps --force-reinstall "$(dirname "$model")"/*.whl >>"$log" 2>&1; then
      (cd "$(dirname "$model")" && PATH="$env/bin:$PATH" PYSPARK_PYTHON="$env/bin/python" \
        PYSPARK_DRIVER_PYTHON="$env/bin/python" SPARK_LOCAL_IP=127.0.0.1 TF_CPP_MIN_LOG_LEVEL=3 timeout 600 \
        "$env/bin/horovod-spark-ml" demo --epochs 3 --model-dir "$model") >>"$log" 2>&1 &&
        grep -q "reloaded pipeline predicts identically: True" "$log" || why="demo (see $log)"
      # Where this Keras has a known safe_mode bypass, reloading the pipeline must have said so.
      if [ -z "$why" ] && ! "$env/bin/python" -c "import sys, keras; from horovod_spark_ml.stack import \
keras_safe_mode_cves as c; sys.exit(0 if c(keras.__version__) else 1)" 2>/dev/null; then :
      elif [ -z "$why" ] && ! grep -q "UnsafeKerasWarning: loading the Keras model saved at" "$log"; then
        why="the demo did not warn of its Keras' safe_mode CVEs (see $log)"
      fi
    else
      why="demo's packages (pip install; see $log)"
    fi
    rm -rf "$(dirname "$model")"
    t_check=$((t_check + SECONDS - t))
  fi
  [ -z "$why" ] && status=PASS
  local hvd tfv size
  hvd="$("$env/bin/python" -c 'import importlib.metadata as m; print(m.version("horovod"))' 2>/dev/null || echo -)"
  tfv="$("$env/bin/python" -c 'import importlib.metadata as m; print(m.version("tensorflow"))' 2>/dev/null || echo -)"
  size="$(du -sh "$env" 2>/dev/null | cut -f1)"
  printf '%-5s %s  python %s  tensorflow %s  horovod %s  env %ds  build %ds  checks %ds  total %ds  disk %s%s\n' \
    "$rt" "$status" "$pyver" "$tfv" "$hvd" "$t_env" "$t_build" "$t_check" "$((SECONDS - t0))" "$size" "${why:+  FAILED: $why}"
  [ "$status" = PASS ]
}

if [ "$DEMO" = 1 ]; then
  command -v java >/dev/null || { say "--demo needs Java (Spark's JVM): ./run installs it"; exit 2; }
fi
rc=0
for rt in "${runtimes[@]}"; do prove "$rt" || rc=1; done
exit "$rc"
