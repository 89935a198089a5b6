#!/usr/bin/env bash
# ONNX Runtime loads and runs models/ as shipped and as re-initialized.
set -u
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -d "$here/node_modules/onnxruntime-node" ]; then
	echo "ort: onnxruntime-node is not installed: run scripts/setup.sh --test" >&2
	echo "ort: 0 passed, 1 failed"
	exit 1
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
models=("$SRCDIR"/models/*.onnx)
for scheme in keep zeros; do
	mkdir -p "$out/$scheme"
	for m in "${models[@]}"; do
		"$ONNXINIT" init "$m" -o "$out/$scheme/$(basename "$m")" --scheme "$scheme" || {
			echo "ort: onnxinit failed on $m" >&2
			exit 1
		}
	done
done
exec node "$here/run_models.js" "${models[@]}" "$out"/keep/*.onnx "$out"/zeros/*.onnx
