#!/usr/bin/env bash
# Quick start, part one: install what is missing, build, and re-initialize
# the bundled example models into demo-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build
mkdir -p demo-out
scheme=${SCHEME:-auto}
for m in models/*.onnx; do
	out=demo-out/$(basename "$m")
	build/onnxinit init "$m" -o "$out" --scheme "$scheme" --seed 0
	echo "re-initialized $m -> $out ($scheme)"
done
echo
echo "The plan for models/cnn.onnx (scheme $scheme):"
build/onnxinit init models/cnn.onnx --dry-run --scheme "$scheme"
