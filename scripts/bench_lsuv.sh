#!/usr/bin/env bash
# LSUV against PyTorch's, and the forward pass against ONNX Runtime's (not a test).
#   scripts/bench_lsuv.sh [BUILD_DIR] [PAIRS]
# Needs a build with the tests (eval_bench), /usr/bin/python3 with python3-torch,
# python3-torchvision and python3-onnx, node and tests/ort's onnxruntime-node
# (scripts/setup.sh --test). Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
pairs=${2:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
exec /usr/bin/python3 scripts/bench/bench_lsuv.py --onnxinit "$build/onnxinit" \
	--eval-bench "$build/tests/eval/eval_bench" --work "$work" --pairs "$pairs" --threads 1,2
