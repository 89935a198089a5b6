#!/usr/bin/env bash
# Benchmark (not a test): lossless round trip of a large ONNX model, contenders interleaved.
#
#   scripts/bench_roundtrip.sh [--size-mib N] [--rounds R]   (default 512 MiB, 5 rounds; 64 is quick)
#
# On one generated model of about N MiB (8 x MatMul DxD float32 + Add bias + Relu, weights
# as raw_data initializers, fixed numpy seed; scripts/bench/make_big_model.py), R rounds;
# each round runs every contender once, in the same order, each after
# `cat model > /dev/null` (warm page cache; it cannot be dropped reliably), so the ratios
# compare runs made side by side:
#   cp              cp --reflink=never MODEL OUT && sync OUT (the floor: onnxinit fsyncs too)
#   keep            onnxinit init MODEL -o OUT --scheme keep --no-provenance
#   python          scripts/bench/py_roundtrip.py: onnx.load(path); onnx.save(m, out)
#                   (Debian python3-onnx; no fsync)
#   zeros           onnxinit init MODEL -o OUT --scheme zeros --no-provenance
# Printed per contender: min and median wall seconds (GNU time %e), median peak RSS
# (%M), and the ratios (of mins / of medians) to python's and cp's times.
# Checks (outside the timing): keep's output byte-identical to the input; python's output
# loads and passes onnx.checker (scripts/bench/py_check_loads.py).
#
# The model is cached in $BENCH_DIR (default /tmp/onnxinit-bench) as big-<N>MiB.onnx; the
# outputs are removed at the end.
#
# Environment: BENCH_DIR, PYTHON (default /usr/bin/python3, which has python3-onnx),
# ONNXINIT (default build/onnxinit).
set -euo pipefail
. "$(dirname "$0")/bench/stats.sh"

usage() { sed -n '4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

size_mib=512
rounds=5
while [[ $# -gt 0 ]]; do
    case "$1" in
        --size-mib) [[ $# -ge 2 ]] || usage; size_mib="$2"; shift 2 ;;
        --size-mib=*) size_mib="${1#*=}"; shift ;;
        --rounds) [[ $# -ge 2 ]] || usage; rounds="$2"; shift 2 ;;
        -h|--help) usage ;;
        *) echo "bench_roundtrip: unknown argument '$1'" >&2; usage ;;
    esac
done
[[ "$size_mib" =~ ^[1-9][0-9]*$ ]] || { echo "bench_roundtrip: --size-mib needs a positive integer" >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "bench_roundtrip: --rounds needs a positive integer" >&2; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench_dir="${BENCH_DIR:-/tmp/onnxinit-bench}"
python="${PYTHON:-/usr/bin/python3}"
onnxinit="${ONNXINIT:-$root/build/onnxinit}"
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

out="$work/out.onnx"
labels=(cp keep python zeros)
# cmd_of LABEL: the contender's command in cmd
cmd_of() {
    case "$1" in
        cp) cmd=(sh -c 'cp --reflink=never "$1" "$2" && sync "$2"' sh "$model" "$out") ;;
        keep) cmd=("$onnxinit" init "$model" -o "$out" --scheme keep --no-provenance) ;;
        python) cmd=("$python" "$root/scripts/bench/py_roundtrip.py" "$model" "$out") ;;
        zeros) cmd=("$onnxinit" init "$model" -o "$out" --scheme zeros --no-provenance) ;;
    esac
}
declare -A times rss
echo "== $rounds rounds of ${labels[*]} (warm page cache)" >&2
for ((r = 1; r <= rounds; r++)); do
    for l in "${labels[@]}"; do
        rm -f "$out"
        cat "$model" > /dev/null
        cmd_of "$l"
        "$gnu_time" -f '%e %M' -o "$work/time" "${cmd[@]}" > "$work/log" 2>&1 \
            || { cat "$work/log" >&2; die "$l failed (round $r)"; }
        read -r t m < "$work/time"
        times[$l]+="$t "
        rss[$l]+="$m "
        echo "   round $r $l: ${t} s, $((m / 1024)) MiB" >&2
    done
done

# --- checks -----------------------------------------------------------------------------
rm -f "$out"
"$onnxinit" init "$model" -o "$out" --scheme keep --no-provenance
keep_identical=no
cmp -s "$model" "$out" && keep_identical=yes
rm -f "$out"
"$python" "$root/scripts/bench/py_roundtrip.py" "$model" "$out"
py_loads=no
py_info="$("$python" "$root/scripts/bench/py_check_loads.py" "$out" 2>&1)" && py_loads=yes
py_identical=no
cmp -s "$model" "$out" && py_identical=yes
rm -f "$out"

# --- report -----------------------------------------------------------------------------
stat_of() { min_median "$1"; } # LIST: min median
read -r py_min py_med <<< "$(stat_of "${times[python]}")"
read -r cp_min cp_med <<< "$(stat_of "${times[cp]}")"
model_mib=$(awk -v b="$model_bytes" 'BEGIN { printf "%.1f", b / 1048576 }')

echo
echo "onnxinit round-trip benchmark: $model, $(date -u +%F), $(nproc) CPUs"
echo "model: $model_bytes bytes ($model_mib MiB); $rounds rounds, contenders interleaved (each"
echo "round runs all once, same order); warm page cache (cat model > /dev/null before every run)"
echo "onnxinit: $("$onnxinit" --version 2>/dev/null | head -n1 || echo '?'), python: $("$python" -c 'import onnx, sys; print("onnx", onnx.__version__, "on Python", sys.version.split()[0])')"
echo
printf '%-8s %7s %9s %9s %10s  %-15s %-15s\n' contender "min s" "median s" "RSS MiB" "RSS/model" "/ python" "/ cp"
for l in "${labels[@]}"; do
    read -r mn md <<< "$(stat_of "${times[$l]}")"
    read -r _ mr <<< "$(stat_of "${rss[$l]}")"
    awk -v l="$l" -v mn="$mn" -v md="$md" -v m="$mr" -v pn="$py_min" -v pd="$py_med" \
        -v cn="$cp_min" -v cd="$cp_med" -v b="$model_bytes" 'BEGIN {
        printf "%-8s %7.2f %9.2f %9.1f %10.3f  %s %s\n", l, mn, md, m / 1024, m * 1024 / b,
            sprintf("%6.2f / %-6.2f", (pn > 0 ? mn / pn : 0), (pd > 0 ? md / pd : 0)),
            sprintf("%6.2f / %-6.2f", (cn > 0 ? mn / cn : 0), (cd > 0 ? md / cd : 0)) }'
done
echo "(ratios: of mins / of medians; RSS: median peak)"
echo
echo "checks:"
echo "  onnxinit keep output byte-identical to input (cmp): $keep_identical"
echo "  python output loads with onnx + passes checker:     $py_loads ($py_info)"
echo "  python output byte-identical to input (info only):  $py_identical"

status=0
[[ "$keep_identical" == yes ]] || { echo "bench_roundtrip: onnxinit keep output differs from input" >&2; status=1; }
[[ "$py_loads" == yes ]] || { echo "bench_roundtrip: python output does not load" >&2; status=1; }
exit "$status"
