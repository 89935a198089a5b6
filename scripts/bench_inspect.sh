#!/usr/bin/env bash
# Benchmark (not a test): `onnxinit inspect --json` on a generated 1,000-node model (250
# MatMul+Add+Relu+Identity layers; scripts/bench/make_chain_model.py), contenders
# interleaved.
#
#   scripts/bench_inspect.sh [--nodes N] [--rounds R]   (default 1000 nodes, 21 rounds)
#
# Each round runs every contender once, in the same order:
#   chain     onnxinit inspect --json -q on the N-node model (process start included)
#   one       the same on a 4-node model: the fixed cost of a run
#   python    /usr/bin/python3 -c 'onnx.load(N-node model)': python3-onnx reading it
#             (process start and import included), for scale
# Printed: min and median milliseconds per contender, ratios (of mins / of medians) to
# python's, and the analysis of the N-node model: chain minus one (goal: well under 100 ms).
# Environment: ONNXINIT (default build/onnxinit), PYTHON (default /usr/bin/python3).
set -euo pipefail
. "$(dirname "$0")/bench/stats.sh"
cd "$(dirname "$0")/.."
nodes=1000
rounds=21
while [[ $# -gt 0 ]]; do
    case "$1" in
        --nodes) [[ $# -ge 2 ]] || exit 2; nodes="$2"; shift 2 ;;
        --rounds) [[ $# -ge 2 ]] || exit 2; rounds="$2"; shift 2 ;;
        *) sed -n '6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
[[ "$nodes" =~ ^[1-9][0-9]*$ && "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "bench_inspect: --nodes and --rounds take positive integers" >&2; exit 2; }
onnxinit=${ONNXINIT:-build/onnxinit}
python=${PYTHON:-/usr/bin/python3}
[ -x "$onnxinit" ] || { meson setup build >/dev/null && ninja -C build >/dev/null; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" scripts/bench/make_chain_model.py "$work/chain.onnx" "$nodes" >/dev/null
"$python" scripts/bench/make_chain_model.py "$work/one.onnx" 4 >/dev/null
"$onnxinit" inspect --json -q "$work/chain.onnx" >/dev/null || { echo "bench_inspect: inspect failed" >&2; exit 1; }

labels=(chain one python)
run_cmd() {
    case "$1" in
        chain) "$onnxinit" inspect --json -q "$work/chain.onnx" ;;
        one) "$onnxinit" inspect --json -q "$work/one.onnx" ;;
        python) "$python" -c 'import onnx, sys; onnx.load(sys.argv[1])' "$work/chain.onnx" ;;
    esac
}
declare -A times
for ((r = 1; r <= rounds; r++)); do
    for l in "${labels[@]}"; do
        s=$(date +%s%N)
        run_cmd "$l" >/dev/null || { echo "bench_inspect: $l failed" >&2; exit 1; }
        e=$(date +%s%N)
        times[$l]+="$(( (e - s) / 1000 )) "
    done
done
# stat_of LIST (microseconds): min median, in ms
stat_of() {
    min_median "$1" | awk '{ printf "%.2f %.2f", $1 / 1000, $2 / 1000 }'
}
read -r py_min py_med <<< "$(stat_of "${times[python]}")"
echo "inspect --json, $rounds rounds, contenders interleaved, $(date -u +%F), $(nproc) CPUs"
printf '%-8s %8s %9s  %s\n' contender "min ms" "median ms" "/ python (min / median)"
for l in "${labels[@]}"; do
    read -r mn md <<< "$(stat_of "${times[$l]}")"
    awk -v l="$l" -v mn="$mn" -v md="$md" -v pn="$py_min" -v pd="$py_med" 'BEGIN {
        printf "%-8s %8.2f %9.2f  %.2f / %.2f\n", l, mn, md, mn / pn, md / pd }'
done
read -r c_min c_med <<< "$(stat_of "${times[chain]}")"
read -r o_min o_med <<< "$(stat_of "${times[one]}")"
awk -v cn="$c_min" -v cd="$c_med" -v on="$o_min" -v od="$o_med" -v n="$nodes" 'BEGIN {
    printf "analysis of the %d-node model (chain - one): %.2f ms (mins), %.2f ms (medians); goal: well under 100 ms\n",
        n, cn - on, cd - od }'
