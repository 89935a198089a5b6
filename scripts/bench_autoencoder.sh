#!/usr/bin/env bash
# The autoencoder pass against a PyTorch reference of the same pass (not a test):
# sigmoid MLP 784-256-256-256-10, N unlabeled Fashion-MNIST images, 5 epochs,
# Adam 1e-3, batch 64, noise 0.2; 1 thread each, then 2; interleaved pairs,
# min/median seconds, ratio, peak RSS.
#   scripts/bench_autoencoder.sh [BUILD_DIR] [PAIRS] [SAMPLES]
# Needs /usr/bin/python3 with python3-torch and python3-onnx, and Fashion-MNIST
# (scripts/setup.sh installs dataset-fashion-mnist). Run it on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
pairs=${2:-3}
samples=${3:-20000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
exec /usr/bin/python3 scripts/bench/bench_autoencoder.py --onnxinit "$build/onnxinit" \
	--work "$work" --pairs "$pairs" --samples "$samples" --threads 1,2
