#!/usr/bin/env bash
# The test command (README, .ci/run): install what is missing, build, run every CTest test
# (unit, CLI, MPI at 1/2/4 ranks) and print the summary. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh "$@"
BUILD_DIR=${BUILD_DIR:-build}
cd "$BUILD_DIR"
# Two cores: run two tests at a time; MPI tests oversubscribe on purpose.
ctest --output-on-failure -j "${CTEST_JOBS:-2}" --timeout 600
