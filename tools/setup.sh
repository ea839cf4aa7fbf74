#!/usr/bin/env bash
# Idempotent install of every Debian package win needs to build, test and run.
# Runs `apt-get update` only when something is missing, so a second call costs a dpkg query.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  libopenmpi-dev openmpi-bin
  libhdf5-dev hdf5-tools
  libtomlplusplus-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libdnnl-dev ocl-icd-opencl-dev  # dnnl-config.cmake requires OpenCL headers
  libopenblas0-pthread  # PyTorch (the benchmark peer) at its best: without it Debian falls back to reference BLAS
  libjpeg62-turbo-dev libpng-dev zlib1g-dev
  python3-h5py python3-numpy python3-matplotlib python3-torch
  dataset-fashion-mnist
  clang-format
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# npm ships inside nodesource's nodejs on these machines; Debian's npm package would conflict with it.
if ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
