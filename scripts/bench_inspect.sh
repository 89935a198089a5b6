#!/usr/bin/env bash
# Benchmark (not a test): `onnxinit inspect --json` on a generated 1,000-node
# model (250 MatMul+Add+Relu+Identity layers): the time of one inspect,
# process start included, and of the analysis alone (inspect minus a run on a
# one-node model), medians of RUNS runs.
#   scripts/bench_inspect.sh [--nodes N]
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=1000
[ "${1:-}" = "--nodes" ] && nodes=$2
runs=${RUNS:-21}
onnxinit=${ONNXINIT:-build/onnxinit}
[ -x "$onnxinit" ] || { meson setup build >/dev/null && ninja -C build >/dev/null; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 scripts/bench/make_chain_model.py "$work/chain.onnx" "$nodes" >/dev/null
/usr/bin/python3 scripts/bench/make_chain_model.py "$work/one.onnx" 4 >/dev/null

median_ms() { # FILE: the median of RUNS inspect runs, in ms
	local t=()
	for ((i = 0; i < runs; i++)); do
		local s e
		s=$(date +%s%N)
		"$onnxinit" inspect --json -q "$1" >/dev/null
		e=$(date +%s%N)
		t+=($(( (e - s) / 1000 )))
	done
	printf '%s\n' "${t[@]}" | sort -n | awk -v n="$runs" 'NR == int((n + 1) / 2) { printf "%.2f", $1 / 1000 }'
}
big=$(median_ms "$work/chain.onnx")
small=$(median_ms "$work/one.onnx")
echo "inspect --json, median of $runs runs ($(nproc) CPUs):"
echo "  $nodes-node model: $big ms (process start and JSON output included)"
echo "  4-node model:      $small ms (the fixed cost of a run)"
awk -v b="$big" -v s="$small" 'BEGIN { printf "  analysis of the %s-node model: about %.2f ms; goal: well under 100 ms\n", "'"$nodes"'", b - s }'
