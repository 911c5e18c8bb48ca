#!/usr/bin/env bash
# Assembles a CUDA 12.4 toolkit (bin/nvcc, include/, lib64/libcudart_static.a, nvvm/) in DEST for
# prove-runtimes.sh --nccl, on a machine that reaches PyPI and Debian but not NVIDIA's repository:
#   make-cuda12-nvcc.sh DEST            (then HSM_NCCL_CUDA_HOME=DEST prove-runtimes.sh --nccl 18)
# No PyPI wheel has nvcc: nvidia-cuda-nvcc-cu12 (every 12.x) holds only ptxas, libnvvm, libdevice and the crt/
# headers. Debian 13's non-free nvidia-cuda-toolkit 12.4.131 has nvcc, cicc, cudafe++, fatbinary and nvlink;
# its .deb is unpacked here (not installed), and the headers and static runtime come from NVIDIA's 12.4 wheels.
# A Databricks node needs none of this: the init script installs cuda-nvcc-12-X from NVIDIA's repository.
set -euo pipefail
DEST="${1:?usage: make-cuda12-nvcc.sh DEST}"
PY="${HSM_PYTHON_FOR_PIP:-python3}"
DEB_VERSION=12.4.131~12.4.1-2            # Debian 13 (trixie) non-free: nvidia-cuda-toolkit
NVCC_WHEEL=12.4.131 RUNTIME_WHEEL=12.4.127 CCCL_WHEEL=12.4.127.post1  # 12.4.127 itself is yanked ("Broken release")
# libcudart_static.a, which Horovod's CMake links (CMAKE_CUDA_RUNTIME_LIBRARY Static): of the 12.x runtime wheels
# only 12.9.79 carries it (Debian has it only in nvidia-cuda-dev, a 930 MB download). A newer static runtime
# with 12.4 code is CUDA's ordinary minor-version compatibility; 12.9.79 is also runtime 18's own.
STATIC_WHEEL=12.9.79
if [ -f "$DEST/.complete" ] && "$DEST/bin/nvcc" --version | grep -q 'release 12.4'; then
  echo "make-cuda12-nvcc.sh: $DEST has nvcc 12.4 already"; exit 0
fi
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/x"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie non-free" \
  > "$work/apt/sources.list"
apt_opts=(-o Dir::Etc::SourceList="$work/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o Dir::State::Lists="$work/apt/lists" -o Dir::Cache="$work/apt/cache" -o Dir::State::status=/dev/null
          -o APT::Sandbox::User=root)
apt-get "${apt_opts[@]}" update -qq
(cd "$work" && apt-get "${apt_opts[@]}" download -qq "nvidia-cuda-toolkit=$DEB_VERSION")
dpkg -x "$work"/nvidia-cuda-toolkit_*.deb "$work/x"
"$PY" -m pip download -q --no-deps -d "$work/whl" "nvidia-cuda-nvcc-cu12==$NVCC_WHEEL" \
  "nvidia-cuda-runtime-cu12==$RUNTIME_WHEEL" "nvidia-cuda-cccl-cu12==$CCCL_WHEEL"
"$PY" -m pip download -q --no-deps -d "$work/whl-static" "nvidia-cuda-runtime-cu12==$STATIC_WHEEL"
for w in "$work"/whl/*.whl; do "$PY" -m zipfile -e "$w" "$work/whl/x"; done
"$PY" -m zipfile -e "$work"/whl-static/*.whl "$work/whl-static/x"
n="$work/whl/x/nvidia"

rm -rf "$DEST"; mkdir -p "$DEST"/{bin,include,lib64,nvvm/bin,nvvm/lib64,nvvm/libdevice}
for b in nvcc cudafe++ fatbinary nvlink ptxas bin2c nvprune cuobjdump; do
  src="$work/x/usr/lib/nvidia-cuda-toolkit/bin/$b"; [ -f "$src" ] && [ ! -L "$src" ] || src="$work/x/usr/bin/$b"
  cp "$src" "$DEST/bin/$b"
done
file "$DEST/bin/nvcc" | grep -q ELF || { echo "make-cuda12-nvcc.sh: $DEST/bin/nvcc is not the binary" >&2; exit 1; }
cp -r "$work/x/usr/lib/nvidia-cuda-toolkit/bin/crt" "$DEST/bin/crt"
cp "$work/x/usr/lib/nvidia-cuda-toolkit/bin/cicc" "$DEST/nvvm/bin/cicc"
cp "$work/x/usr/lib/nvidia-cuda-toolkit/libdevice/libdevice.10.bc" "$DEST/nvvm/libdevice/"
cp "$n/cuda_nvcc/nvvm/lib64/libnvvm.so" "$DEST/nvvm/lib64/"
cp -r "$n/cuda_runtime/include/." "$n/cuda_nvcc/include/." "$n/cuda_cccl/include/." "$DEST/include/"
rm -f "$DEST"/include/__init__.py
# Not its libcudadevrt.a: nvlink 12.4 refuses device code of 12.9 ("newer than toolkit (129 vs 124)"). nvcc
# still passes -lcudadevrt when it links an executable (CMake's compiler check does): an empty archive stands
# in. Only relocatable device code (-rdc, dynamic parallelism) needs the real one; Horovod uses neither.
cp "$work"/whl-static/x/nvidia/cuda_runtime/lib/{libcudart_static.a,libculibos.a} "$DEST/lib64/"
ar rc "$DEST/lib64/libcudadevrt.a"
cp "$n/cuda_runtime/lib/libcudart.so.12" "$DEST/lib64/"
ln -s libcudart.so.12 "$DEST/lib64/libcudart.so"
# NVIDIA's own bin/nvcc.profile (Debian's points at /usr/lib/nvidia-cuda-toolkit).
cat > "$DEST/bin/nvcc.profile" <<'EOF'

TOP              = $(_HERE_)/..

NVVMIR_LIBRARY_DIR = $(TOP)/nvvm/libdevice

LD_LIBRARY_PATH += $(TOP)/lib:
PATH            += $(TOP)/nvvm/bin:$(_HERE_):

INCLUDES        +=  "-I$(TOP)/include" $(_SPACE_)

LIBRARIES        =+ $(_SPACE_) "-L$(TOP)/lib64/stubs" "-L$(TOP)/lib64"

CUDAFE_FLAGS    +=
PTXAS_FLAGS     +=
EOF
printf '{"cuda": {"name": "CUDA SDK", "version": "12.4.1"}}\n' > "$DEST/version.json"

# It compiles a kernel to sm_80 code and links it with the static runtime (nothing runs: no GPU needed).
cat > "$work/t.cu" <<'EOF'
#include <cuda_fp16.h>
#include <cstdio>
__global__ void scale(__half* x, float f, int n) { int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) x[i] = __float2half(__half2float(x[i]) * f); }
int main() { __half* p = nullptr; scale<<<1, 32>>>(p, 2.f, 0); std::printf("%d\n", (int)cudaGetLastError()); }
EOF
"$DEST/bin/nvcc" -gencode arch=compute_80,code=sm_80 -o "$work/t" "$work/t.cu"
"$DEST/bin/cuobjdump" --list-elf "$work/t" | grep -q sm_80
touch "$DEST/.complete"
echo "make-cuda12-nvcc.sh: $("$DEST/bin/nvcc" --version | tail -2 | head -1) in $DEST ($(du -sh "$DEST" | cut -f1))"
