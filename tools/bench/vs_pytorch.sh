#!/usr/bin/env bash
# W1-W3 (BENCHMARKS.md) in win and in PyTorch, interleaved in one invocation on this machine:
# each round runs `win bench` and tools/bench/torch_bench.py at 1 and 2 threads and keeps each
# one's best thread count; the table reports medians over the rounds and their ratio.
# Usage: tools/bench/vs_pytorch.sh [--rounds 3] [--steps 20] [--workloads mlp,resnet,bert]
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x build/bin/win ] || tools/build.sh >/dev/null
exec /usr/bin/python3 tools/bench/vs_pytorch.py "$@"
