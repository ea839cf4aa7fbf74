#!/usr/bin/env bash
# Configure and build win (Release unless BUILD_TYPE says otherwise) into build/ (or BUILD_DIR).
# Extra arguments go to CMake's configure step, e.g. tools/build.sh -DWIN_CUDA=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-Release}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "$@" >"$BUILD_DIR/configure.log" 2>&1 || {
  cat "$BUILD_DIR/configure.log"
  echo "build: configure failed (log: $BUILD_DIR/configure.log)" >&2
  exit 1
}
cmake --build "$BUILD_DIR" -j "$JOBS"
echo "build: $BUILD_DIR/bin/win ($BUILD_TYPE)"
