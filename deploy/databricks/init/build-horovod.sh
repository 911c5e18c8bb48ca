#!/bin/bash
# Databricks cluster init script for ML runtimes without Horovod (16.4, 17.3, 18 LTS ML): builds Horovod 0.28.1
# with Gloo, and on GPU nodes with NCCL, against the runtime's TensorFlow, on every node, before libraries are
# installed. It runs horovod_spark_ml/horovod_build/horovod.sh, the build script of ./run, the Docker images and
# `horovod-spark-ml build-horovod`, which the bundle syncs to the workspace; the job passes its folder in
# HSM_BUILD_DIR. About 5 minutes per node.
#
# What it does, in order:
#   1. Finds the runtime's Python (HSM_PYTHON, default /databricks/python/bin/python).
#   2. Exits 0 at once where that Python already imports a Horovod that is built with TensorFlow (15.4 LTS ML
#      ships one), built against the TensorFlow installed now, and, on a GPU node, with NCCL.
#   3. Installs the build tools that are missing (g++, make, cmake, patch).
#   4. On a GPU node (HSM_GPU=auto: nvidia-smi lists a GPU; 1 forces it, 0 builds for CPU): the CUDA compiler
#      and headers of the node's CUDA version, and the NCCL headers of the node's installed NCCL:
#        CUDA version: $HOROVOD_CUDA_HOME/bin/nvcc, /usr/local/cuda/version.json, the cuda-cudart-X-Y package,
#                      the runtime Python's nvidia-cuda-runtime-cu12 wheel, TensorFlow's build info (first found).
#        nvcc + cuda_runtime.h: NVIDIA's apt packages cuda-nvcc-X-Y and cuda-cudart-dev-X-Y, unless that
#                      toolkit is already there. No PyPI wheel carries nvcc: nvidia-cuda-nvcc-cu12 holds only
#                      ptxas and libnvvm, so NVIDIA's apt repository is the one source (enabled for this
#                      install only where the image carries it disabled, else added with its cuda-keyring).
#        NCCL:         a nccl.h already there; else libnccl-dev pinned to the installed libnccl2's exact
#                      version; else the headers and library of the runtime Python's nvidia-nccl-cu12 wheel
#                      (the NCCL that TensorFlow and PyTorch load there), linked shared with an rpath.
#   5. Builds Horovod with horovod.sh (HSM_GPU=1 for NCCL), which fails unless the build has TensorFlow and
#      Gloo, and on a GPU node NCCL.
#
# Overrides (all optional but HSM_BUILD_DIR): HSM_PYTHON, HSM_GPU (auto|0|1), HOROVOD_CUDA_HOME,
# HOROVOD_NCCL_HOME / HOROVOD_NCCL_INCLUDE / HOROVOD_NCCL_LIB, HOROVOD_BUILD_CUDA_CC_LIST (default: the compute
# capabilities of this node's GPUs, or all nvcc knows where nvidia-smi lists none).
set -euo pipefail

say() { echo "[build-horovod] $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# (No apostrophe inside ${VAR:?message}: bash reads it as an opening quote, and the script does not parse.)
: "${HSM_BUILD_DIR:?must be set, by the cluster spark_env_vars (see resources/train_digits.yml)}"
[ -f "$HSM_BUILD_DIR/horovod.sh" ] || die "no horovod.sh in HSM_BUILD_DIR=$HSM_BUILD_DIR"
PY="${HSM_PYTHON:-/databricks/python/bin/python}"
[ -x "$PY" ] || die "the runtime's Python $PY is not there (set HSM_PYTHON)"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

# --- what the node has -------------------------------------------------------------------------------------
GPU="${HSM_GPU:-auto}"
if [ "$GPU" = auto ]; then
  GPU=0
  if { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; } ||
     [ -e /dev/nvidia0 ] || [ -n "$(ls -A /proc/driver/nvidia/gpus 2>/dev/null)" ]; then GPU=1; fi
fi
case "$GPU" in 0|1) ;; *) die "HSM_GPU must be auto, 0 or 1 (is '$GPU')" ;; esac

TF_VERSION="$("$PY" -c 'import tensorflow as tf; print(tf.__version__)' 2>/dev/null)" ||
  die "$PY does not import tensorflow: this script builds Horovod against the runtime's TensorFlow (an ML runtime)"
say "python $PY ($("$PY" -c 'import platform; print(platform.python_version())')), TensorFlow $TF_VERSION, GPU build: $GPU"

# Horovod's state in that Python: "<version> <tf extension 0|1> <nccl version code, 0 without>".
horovod_state() {
  "$PY" - <<'EOF' 2>/dev/null || echo "none 0 0"
import importlib.metadata as md
try:
    version = md.version("horovod")
except md.PackageNotFoundError:
    print("none 0 0"); raise SystemExit
from horovod.common.util import extension_available
tf_ok = extension_available("tensorflow")
nccl = 0
if tf_ok:
    import horovod.tensorflow as hvd
    nccl = hvd.nccl_built()
print(version, int(bool(tf_ok)), int(nccl))
EOF
}
# The local version part names what this script built against and with which build script and patches
# (0.28.1+tf2.17.0.h1a2b3c4d, 0.28.1+tf2.17.0.cuda12.4.h1a2b3c4d): another TensorFlow, or another horovod.sh
# or patch set, means a rebuild. A Horovod built elsewhere (15.4's 0.28.1+db1) has no such tag.
BUILD_HASH="$(cat "$HSM_BUILD_DIR"/horovod.sh "$HSM_BUILD_DIR"/horovod-*.patch | sha256sum | cut -c1-8)"
read -r HVD_VERSION HVD_TF HVD_NCCL <<<"$(horovod_state | tail -1)"
built_tf="" built_hash=""
if [[ "$HVD_VERSION" =~ \+tf([0-9.]*[0-9])(\.cuda[0-9.]*[0-9])?(\.h([0-9a-f]+))?$ ]]; then
  built_tf="${BASH_REMATCH[1]}" built_hash="${BASH_REMATCH[4]}"
fi
if [ "$HVD_VERSION" != none ] && [ "$HVD_TF" = 1 ] &&
   { [[ "$HVD_VERSION" != *+tf* ]] || { [ "$built_tf" = "$TF_VERSION" ] && [ "$built_hash" = "$BUILD_HASH" ]; }; } &&
   { [ "$GPU" = 0 ] || [ "$HVD_NCCL" != 0 ]; }; then
  say "horovod $HVD_VERSION is already built with TensorFlow$([ "$HVD_NCCL" != 0 ] && echo " and NCCL ($HVD_NCCL)") in $PY: nothing to build"
  exit 0
fi
if [ "$HVD_VERSION" = none ]; then
  say "no horovod in $PY: building it"
else
  say "horovod $HVD_VERSION (TensorFlow extension: $HVD_TF, NCCL: $HVD_NCCL) does not fit TF $TF_VERSION, build script h$BUILD_HASH, GPU=$GPU: rebuilding"
fi

# --- apt -----------------------------------------------------------------------------------------------------
APT_UPDATED=0
apt_install() {  # packages (name or name=version); installs none that are already at that version
  command -v apt-get >/dev/null || die "no apt-get: install $* yourself"
  if [ "$APT_UPDATED" = 0 ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
apt_has() { [ -n "$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -v '(none)')" ]; }

# NVIDIA's CUDA repository, for this script's installs only. Databricks' GPU images come from nvidia/cuda
# images with that repository's list renamed to *.disabled "to prevent accidental upgrades": re-enable it
# here, install, and disable it again on exit.
NV_LIST=""
nvidia_repo_on() {
  [ -z "$NV_LIST" ] || return 0
  NV_LIST=/etc/apt/sources.list.d/hsm-build-horovod-cuda.list
  trap '$SUDO rm -f "$NV_LIST"; $SUDO apt-get update -qq >/dev/null 2>&1 || true' EXIT
  local old
  old="$(grep -ls 'developer.download.nvidia.com/compute/cuda/repos' /etc/apt/sources.list.d/*.disabled 2>/dev/null | head -1 || true)"
  if [ -n "$old" ]; then
    say "enabling NVIDIA's CUDA repository from $old for this build"
    $SUDO cp "$old" "$NV_LIST"
  else
    # shellcheck disable=SC1091
    local distro arch; distro="$(. /etc/os-release; echo "$ID${VERSION_ID//./}")"
    case "$(uname -m)" in x86_64) arch=x86_64 ;; aarch64) arch=sbsa ;; *) die "no CUDA repository for $(uname -m)" ;; esac
    local url="https://developer.download.nvidia.com/compute/cuda/repos/$distro/$arch"
    say "adding NVIDIA's CUDA repository $url for this build"
    local tmp; tmp="$(mktemp -d)"
    if ! dpkg -s cuda-keyring >/dev/null 2>&1; then
      { curl -fsSL -o "$tmp/cuda-keyring.deb" "$url/cuda-keyring_1.1-1_all.deb" ||
        wget -q -O "$tmp/cuda-keyring.deb" "$url/cuda-keyring_1.1-1_all.deb"; } ||
        die "cannot reach NVIDIA's CUDA repository ($url): it is the only source of nvcc 12 (no PyPI wheel has it)"
      $SUDO dpkg -i "$tmp/cuda-keyring.deb" >/dev/null
    fi
    echo "deb [signed-by=/usr/share/keyrings/cuda-archive-keyring.gpg] $url/ /" | $SUDO tee "$NV_LIST" >/dev/null
  fi
  APT_UPDATED=0
}
apt_install_nvidia() {  # packages from NVIDIA's repository
  if [ "$APT_UPDATED" = 0 ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
  local p; for p in "$@"; do apt_has "${p%%=*}" || { nvidia_repo_on; break; }; done
  apt_install "$@"
}

# --- build tools -------------------------------------------------------------------------------------------
missing=()
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v patch >/dev/null || missing+=(patch)
cmake_ok() { command -v cmake >/dev/null && printf '3.13\n%s\n' "$(cmake --version | sed -n '1s/[^0-9]*\([0-9.]*\).*/\1/p')" | sort -VC; }
cmake_ok || missing+=(cmake)
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; else say "build tools: g++, make, cmake, patch are there"; fi

# --- CUDA and NCCL (GPU nodes) -----------------------------------------------------------------------------
build_env=()
if [ "$GPU" = 1 ]; then
  nvcc_version() { "$1" --version 2>/dev/null | sed -n 's/.*release \([0-9]*\.[0-9]*\).*/\1/p'; }
  pip_version() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null; }
  CUDA_HOME="${HOROVOD_CUDA_HOME:-/usr/local/cuda}"
  cuda_ver=""; cuda_from=""
  if [ -x "$CUDA_HOME/bin/nvcc" ]; then cuda_ver="$(nvcc_version "$CUDA_HOME/bin/nvcc")"; cuda_from="$CUDA_HOME/bin/nvcc"; fi
  if [ -z "$cuda_ver" ] && [ -f /usr/local/cuda/version.json ]; then
    cuda_ver="$("$PY" -c 'import json; print(".".join(json.load(open("/usr/local/cuda/version.json"))["cuda"]["version"].split(".")[:2]))' 2>/dev/null || true)"
    cuda_from=/usr/local/cuda/version.json
  fi
  if [ -z "$cuda_ver" ]; then
    cuda_ver="$(dpkg-query -W -f='${Package}\n' 'cuda-cudart-[0-9]*' 2>/dev/null | sed -n 's/^cuda-cudart-\([0-9]*\)-\([0-9]*\)$/\1.\2/p' | sort -V | tail -1 || true)"
    cuda_from="the cuda-cudart package"
  fi
  if [ -z "$cuda_ver" ]; then
    cuda_ver="$(pip_version nvidia-cuda-runtime-cu12 | cut -d. -f1,2 || true)"; cuda_from="$PY's nvidia-cuda-runtime-cu12"
  fi
  if [ -z "$cuda_ver" ]; then
    cuda_ver="$("$PY" -c 'import tensorflow as tf; print(".".join(tf.sysconfig.get_build_info()["cuda_version"].split(".")[:2]))' 2>/dev/null || true)"
    cuda_from="TensorFlow's build info"
  fi
  [ -n "$cuda_ver" ] || die "cannot tell this node's CUDA version (no nvcc, /usr/local/cuda/version.json, cuda-cudart package, nvidia-cuda-runtime-cu12 or TensorFlow build info)"
  say "CUDA $cuda_ver (from $cuda_from)"
  tf_cuda="$("$PY" -c 'import tensorflow as tf; print(tf.sysconfig.get_build_info().get("cuda_version", ""))' 2>/dev/null || true)"
  if [ -n "$tf_cuda" ] && [ "${tf_cuda%%.*}" != "${cuda_ver%%.*}" ]; then
    die "TensorFlow $TF_VERSION is built for CUDA $tf_cuda but the node's CUDA is $cuda_ver: Horovod's CUDA major must be TensorFlow's"
  fi

  # nvcc and the runtime headers of that version.
  if [ ! -x "$CUDA_HOME/bin/nvcc" ] || [ "$(nvcc_version "$CUDA_HOME/bin/nvcc")" != "$cuda_ver" ]; then
    if [ -x "/usr/local/cuda-$cuda_ver/bin/nvcc" ]; then
      CUDA_HOME="/usr/local/cuda-$cuda_ver"
    else
      apt_install_nvidia "cuda-nvcc-${cuda_ver/./-}" "cuda-cudart-dev-${cuda_ver/./-}"
      CUDA_HOME="/usr/local/cuda-$cuda_ver"
    fi
  fi
  if [ ! -f "$CUDA_HOME/include/cuda_runtime.h" ]; then
    apt_install_nvidia "cuda-cudart-dev-${cuda_ver/./-}"
  fi
  [ -x "$CUDA_HOME/bin/nvcc" ] && [ -f "$CUDA_HOME/include/cuda_runtime.h" ] ||
    die "no nvcc and cuda_runtime.h of CUDA $cuda_ver under $CUDA_HOME"
  say "nvcc $(nvcc_version "$CUDA_HOME/bin/nvcc") in $CUDA_HOME"
  build_env+=(HOROVOD_CUDA_HOME="$CUDA_HOME" PATH="$CUDA_HOME/bin:$PATH")

  # NCCL: the headers of the NCCL the node runs.
  nccl_deb="$(dpkg-query -W -f='${Status} ${Version}\n' libnccl2 2>/dev/null | sed -n 's/^install ok installed //p' || true)"
  nccl_pip="$(pip_version nvidia-nccl-cu12 || true)"
  nccl_header=""
  for d in "${HOROVOD_NCCL_INCLUDE:-}" "${HOROVOD_NCCL_HOME:+$HOROVOD_NCCL_HOME/include}" /usr/include "$CUDA_HOME/include"; do
    if [ -n "$d" ] && [ -f "$d/nccl.h" ]; then nccl_header="$d/nccl.h"; break; fi
  done
  if [ -z "$nccl_header" ] && [ -n "$nccl_deb" ]; then
    # libnccl-dev of exactly the installed libnccl2's version: apt then leaves libnccl2 as it is.
    if (apt_install_nvidia "libnccl-dev=$nccl_deb") && [ -f /usr/include/nccl.h ]; then
      nccl_header=/usr/include/nccl.h
    elif [ -n "$nccl_pip" ]; then
      say "no libnccl-dev $nccl_deb to be had: using the nvidia-nccl-cu12 wheel's headers instead"
    else
      die "no libnccl-dev $nccl_deb (the installed libnccl2's version) in NVIDIA's repository"
    fi
  fi
  if [ -n "$nccl_header" ]; then
    say "NCCL headers: $nccl_header (libnccl2 package: ${nccl_deb:-none}; nvidia-nccl-cu12 wheel: ${nccl_pip:-none})"
    header_ver="$(sed -n 's/^#define NCCL_\(MAJOR\|MINOR\|PATCH\) *\([0-9]*\).*/\2/p' "$nccl_header" | head -3 | paste -sd. || true)"
    if [ -n "$nccl_deb" ] && [ "$header_ver" != "${nccl_deb%%-*}" ]; then
      say "WARNING: $nccl_header is NCCL $header_ver but libnccl2 is $nccl_deb"
    fi
  elif [ -n "$nccl_pip" ]; then
    # The wheel has include/nccl.h and lib/libnccl.so.2 but no libnccl.so to link with: link it from a
    # folder of our own, and put the wheel's lib folder in the rpath so that the extension finds it.
    nccl_root="$("$PY" -c 'import os, nvidia.nccl as n; print(os.path.dirname(n.__file__) if getattr(n, "__file__", None) else list(n.__path__)[0])')"
    link_dir="$(mktemp -d)"
    ln -s "$nccl_root/lib/libnccl.so.2" "$link_dir/libnccl.so"
    say "NCCL: the nvidia-nccl-cu12 $nccl_pip wheel in $nccl_root (no libnccl2 package on this node)"
    build_env+=(HOROVOD_NCCL_INCLUDE="$nccl_root/include" HOROVOD_NCCL_LIB="$link_dir" HOROVOD_NCCL_LINK=SHARED
              LDFLAGS="${LDFLAGS:-} -Wl,-rpath,$nccl_root/lib")
  else
    cuda_tag="+cuda$cuda_ver"
    say "no NCCL on this node: installing NVIDIA's libnccl2 and libnccl-dev for CUDA $cuda_ver"
    nvidia_repo_on; $SUDO apt-get update -qq; APT_UPDATED=1
    v="$(apt-cache madison libnccl-dev | awk -v t="$cuda_tag" 'index($3, t) {print $3; exit}')"
    [ -n "$v" ] || die "NVIDIA's repository has no libnccl-dev for CUDA $cuda_ver"
    apt_install "libnccl2=$v" "libnccl-dev=$v"
  fi

  # Kernels for this node's GPUs only (all nodes of a cluster build for themselves).
  if [ -z "${HOROVOD_BUILD_CUDA_CC_LIST:-}" ] && command -v nvidia-smi >/dev/null 2>&1; then
    cc="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | tr -d ' .' | sort -un | paste -sd, || true)"
    if [ -n "$cc" ]; then build_env+=(HOROVOD_BUILD_CUDA_CC_LIST="$cc"); say "CUDA kernels for compute capabilities $cc"; fi
  fi
  build_env+=(HOROVOD_LOCAL_VERSION="tf$TF_VERSION.cuda$cuda_ver.h$BUILD_HASH")
else
  build_env+=(HOROVOD_LOCAL_VERSION="tf$TF_VERSION.h$BUILD_HASH")
fi

# --- build (horovod.sh checks what the build has) ----------------------------------------------------------
start=$SECONDS
env ${build_env[@]+"${build_env[@]}"} HSM_GPU="$GPU" bash "$HSM_BUILD_DIR/horovod.sh" "$PY"
say "built horovod $("$PY" -c 'import importlib.metadata as m; print(m.version("horovod"))') in $((SECONDS - start)) s"
