#!/usr/bin/env bash
# The main-job command (README): install what is missing, build, put the datasets in place
# (tools/fetch_data.sh), then `win run DECK [args...]`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
  echo "usage: tools/run.sh DECK.toml [win run options...]" >&2
  exit 2
fi
# Checked before the set-up, build and data fetch, which take minutes.
if [ ! -f "$1" ]; then
  echo "tools/run.sh: no deck file '$1'" >&2
  exit 2
fi
tools/setup.sh
tools/build.sh
tools/fetch_data.sh all
exec "${BUILD_DIR:-build}/bin/win" run "$@"
