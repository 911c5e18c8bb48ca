#!/bin/bash
# Databricks cluster init script for ML runtimes without Horovod (16.x and later): builds Horovod 0.28.1
# with NCCL and Gloo against the runtime's TensorFlow, on every node, before libraries are installed.
# It runs horovod_spark_ml/horovod_build/horovod.sh, the build script of ./run and the Docker images, which the bundle syncs to
# the workspace; the job passes its folder in HSM_BUILD_DIR. About 5 minutes per node.
set -euo pipefail
: "${HSM_BUILD_DIR:?the cluster's spark_env_vars must set HSM_BUILD_DIR (see resources/train_digits.yml)}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends build-essential cmake patch
export HOROVOD_CUDA_HOME=/usr/local/cuda HOROVOD_NCCL_HOME=/usr
HSM_GPU=1 bash "$HSM_BUILD_DIR/horovod.sh" /databricks/python/bin/python
/databricks/python/bin/horovodrun --check-build
