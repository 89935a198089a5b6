#!/usr/bin/env bash
# Benchmark (not a test): lossless round trip of a large ONNX model.
#
#   scripts/bench_roundtrip.sh [--size-mib N]      (default 512; 64 is quick)
#
# Compares, on one generated model of about N MiB (8 x MatMul DxD float32 +
# Add bias + Relu, weights as raw_data initializers, fixed numpy seed):
#   onnxinit keep   build/onnxinit init big.onnx -o out --scheme keep  --no-provenance
#   python load+save  onnx.load(path); onnx.save(m, out)  (Debian python3-onnx)
#   onnxinit zeros  build/onnxinit init big.onnx -o out --scheme zeros --no-provenance
# Each is run 3 times; the median wall time and median peak RSS are printed
# (GNU time %e and %M).  The page cache cannot be dropped reliably, so every
# run is preceded by `cat big.onnx > /dev/null`: all tools see a warm cache.
#
# The model is cached in $BENCH_DIR (default /tmp/onnxinit-bench) as
# big-<N>MiB.onnx; the outputs are removed at the end.
#
# Environment: BENCH_DIR, PYTHON (default /usr/bin/python3, which has
# python3-onnx), ONNXINIT (default build/onnxinit), RUNS (default 3).
set -euo pipefail

usage() { sed -n '3,4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

size_mib=512
while [[ $# -gt 0 ]]; do
    case "$1" in
        --size-mib) [[ $# -ge 2 ]] || usage; size_mib="$2"; shift 2 ;;
        --size-mib=*) size_mib="${1#*=}"; shift ;;
        -h|--help) usage ;;
        *) echo "bench_roundtrip: unknown argument '$1'" >&2; usage ;;
    esac
done
[[ "$size_mib" =~ ^[1-9][0-9]*$ ]] || { echo "bench_roundtrip: --size-mib needs a positive integer" >&2; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench_dir="${BENCH_DIR:-/tmp/onnxinit-bench}"
python="${PYTHON:-/usr/bin/python3}"
onnxinit="${ONNXINIT:-$root/build/onnxinit}"
runs="${RUNS:-3}"
gnu_time=/usr/bin/time

die() { echo "bench_roundtrip: $*" >&2; exit 1; }

[[ -x "$gnu_time" ]] || die "GNU time not found at $gnu_time (apt-get install -y time)"
"$python" -c 'import onnx, numpy' 2>/dev/null || die "$python cannot import onnx and numpy (apt-get install -y python3-onnx)"

if [[ ! -x "$onnxinit" ]]; then
    echo "== building onnxinit" >&2
    ( cd "$root"
      [[ -f build/build.ninja ]] || meson setup build
      ninja -C build ) >&2
    [[ -x "$onnxinit" ]] || die "build did not produce $onnxinit"
fi

mkdir -p "$bench_dir"
model="$bench_dir/big-${size_mib}MiB.onnx"
if [[ ! -s "$model" ]]; then
    echo "== generating $model (cached for later runs)" >&2
    "$python" "$root/scripts/bench/make_big_model.py" "$model" --size-mib "$size_mib"
else
    echo "== using cached $model" >&2
fi
model_bytes=$(stat -c %s "$model")

work="$(mktemp -d "$bench_dir/run.XXXXXX")"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

# run_tool LABEL OUT CMD...: RUNS timed runs, each after a warm-up read;
# stores "median_seconds median_rss_kib" in results[LABEL].
declare -A results
run_tool() {
    local label="$1" out="$2"; shift 2
    local i times=() rss=()
    for ((i = 1; i <= runs; i++)); do
        rm -f "$out"
        cat "$model" > /dev/null
        "$gnu_time" -f '%e %M' -o "$work/time" "$@" > "$work/log" 2>&1 \
            || { cat "$work/log" >&2; die "$label failed (run $i)"; }
        read -r t m < "$work/time"
        times+=("$t"); rss+=("$m")
        echo "   $label run $i: ${t} s, $((m / 1024)) MiB" >&2
    done
    results[$label]="$(printf '%s\n' "${times[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p") \
$(printf '%s\n' "${rss[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p")"
}

echo "== timing ($runs runs each, warm page cache)" >&2
run_tool "onnxinit keep" "$work/keep.onnx" \
    "$onnxinit" init "$model" -o "$work/keep.onnx" --scheme keep --no-provenance
keep_identical=no
cmp -s "$model" "$work/keep.onnx" && keep_identical=yes

run_tool "python load+save" "$work/py.onnx" \
    "$python" "$root/scripts/bench/py_roundtrip.py" "$model" "$work/py.onnx"
py_loads=no
py_info="$("$python" "$root/scripts/bench/py_check_loads.py" "$work/py.onnx" 2>&1)" && py_loads=yes
py_identical=no
cmp -s "$model" "$work/py.onnx" && py_identical=yes
rm -f "$work/py.onnx"   # free disk before the next tool

run_tool "onnxinit zeros" "$work/zeros.onnx" \
    "$onnxinit" init "$model" -o "$work/zeros.onnx" --scheme zeros --no-provenance

read -r py_t py_m <<< "${results[python load+save]}"
model_mib=$(awk -v b="$model_bytes" 'BEGIN { printf "%.1f", b / 1048576 }')

echo
echo "onnxinit round-trip benchmark: $model"
echo "model: $model_bytes bytes ($model_mib MiB); $runs runs each, median shown;"
echo "warm page cache (cat model > /dev/null before every run; cache not dropped)"
echo "onnxinit: $("$onnxinit" --version 2>/dev/null | head -n1 || echo '?'), python: $("$python" -c 'import onnx, sys; print("onnx", onnx.__version__, "on Python", sys.version.split()[0])')"
echo
printf '%-18s %9s %10s %10s %9s %9s\n' tool "wall s" "RSS MiB" "RSS/model" "t/python" "RSS/py"
printf '%-18s %9s %10s %10s %9s %9s\n' ------------------ --------- ---------- ---------- --------- ---------
for label in "onnxinit keep" "python load+save" "onnxinit zeros"; do
    read -r t m <<< "${results[$label]}"
    awk -v l="$label" -v t="$t" -v m="$m" -v pt="$py_t" -v pm="$py_m" -v b="$model_bytes" 'BEGIN {
        printf "%-18s %9.2f %10.1f %10.3f %9s %9s\n", l, t, m / 1024, m * 1024 / b,
            (pt > 0 ? sprintf("%.3f", t / pt) : "n/a"), sprintf("%.3f", m / pm) }'
done
echo
echo "checks:"
echo "  onnxinit keep output byte-identical to input (cmp): $keep_identical"
echo "  python output loads with onnx + passes checker:     $py_loads ($py_info)"
echo "  python output byte-identical to input (info only):  $py_identical"

status=0
[[ "$keep_identical" == yes ]] || { echo "bench_roundtrip: onnxinit keep output differs from input" >&2; status=1; }
[[ "$py_loads" == yes ]] || { echo "bench_roundtrip: python output does not load" >&2; status=1; }
exit "$status"
