#!/usr/bin/env bash
# Benchmark (not a test): re-initializing a large ONNX model.
#
#   scripts/bench_reinit.sh [--size-mib N] [--layers L]   (default 512 MiB; 64 is quick)
#
# Generates (cached in $BENCH_DIR, default /tmp/onnxinit-bench) a model of L dense layers
# (MatMul D x D float32 + Add bias + Relu, raw_data initializers, fixed numpy seed;
# scripts/bench/make_big_model.py).  L defaults to 8 (512 MiB: D = 4096), 4 below 256 MiB
# (64 MiB: D = 2048).  Then RUNS (default 3) timed runs each, median wall time and peak RSS
# (GNU time %e %M), of:
#   (a) build/onnxinit init big.onnx -o out.onnx --scheme kaiming_uniform --no-provenance
#       (streaming, default threads)
#   (b) the same with --threads 1
#   (c) the same with --in-memory
#   (d) scripts/bench/py_reinit.py: python3-onnx + numpy, onnx.load, every 2-D float weight
#       drawn from numpy uniform(+-sqrt(6/fan_in)) (kaiming_uniform, a=0, fan_in = rows),
#       biases left alone, onnx.save
# The page cache cannot be dropped reliably, so every run is preceded by
# `cat big.onnx > /dev/null`: all runs see a warm cache.
# Checks: (a), (b), (c) outputs byte-identical (cmp; values depend only on seed and element
# index); (a) and (d) outputs load, pass onnx.checker and hold kaiming_uniform weights.
# Goals (printed, not enforced): (a) >= 8x faster than (d); (a) peak RSS <= 0.25 x model size.
# Exit 1 if a tool fails or a check fails.
#
# Environment: BENCH_DIR, PYTHON (default /usr/bin/python3, which has python3-onnx),
# ONNXINIT (default build/onnxinit), RUNS (default 3).
set -euo pipefail

usage() { sed -n '4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

size_mib=512
layers=
while [[ $# -gt 0 ]]; do
    case "$1" in
        --size-mib) [[ $# -ge 2 ]] || usage; size_mib="$2"; shift 2 ;;
        --size-mib=*) size_mib="${1#*=}"; shift ;;
        --layers) [[ $# -ge 2 ]] || usage; layers="$2"; shift 2 ;;
        --layers=*) layers="${1#*=}"; shift ;;
        -h|--help) usage ;;
        *) echo "bench_reinit: unknown argument '$1'" >&2; usage ;;
    esac
done
[[ "$size_mib" =~ ^[1-9][0-9]*$ ]] || { echo "bench_reinit: --size-mib needs a positive integer" >&2; exit 2; }
if [[ -z "$layers" ]]; then
    if (( size_mib >= 256 )); then layers=8; else layers=4; fi
fi
[[ "$layers" =~ ^[1-9][0-9]*$ ]] || { echo "bench_reinit: --layers needs a positive integer" >&2; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench_dir="${BENCH_DIR:-/tmp/onnxinit-bench}"
python="${PYTHON:-/usr/bin/python3}"
onnxinit="${ONNXINIT:-$root/build/onnxinit}"
runs="${RUNS:-3}"
gnu_time=/usr/bin/time

die() { echo "bench_reinit: $*" >&2; exit 1; }

if [[ ! -x "$gnu_time" ]]; then
    echo "== installing GNU time (apt-get install -y time)" >&2
    { apt-get install -y time || { apt-get update && apt-get install -y time; }; } >&2 \
        || die "GNU time not found at $gnu_time and could not be installed"
fi
"$python" -c 'import onnx, numpy' 2>/dev/null || die "$python cannot import onnx and numpy (apt-get install -y python3-onnx)"

if [[ ! -x "$onnxinit" ]]; then
    echo "== building onnxinit" >&2
    ( cd "$root"
      [[ -f build/build.ninja ]] || meson setup build
      ninja -C build ) >&2
    [[ -x "$onnxinit" ]] || die "build did not produce $onnxinit"
fi

mkdir -p "$bench_dir"
# 8 layers: the same file (same generator, same seed) as bench_roundtrip.sh's cache
if [[ "$layers" == 8 ]]; then
    model="$bench_dir/big-${size_mib}MiB.onnx"
else
    model="$bench_dir/big-${size_mib}MiB-${layers}L.onnx"
fi
if [[ ! -s "$model" ]]; then
    echo "== generating $model (cached for later runs)" >&2
    "$python" "$root/scripts/bench/make_big_model.py" "$model" --size-mib "$size_mib" --layers "$layers"
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
    local i t m times=() rss=()
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

init=("$onnxinit" init "$model" --scheme kaiming_uniform --no-provenance)
la="(a) onnxinit"
lb="(b) --threads 1"
lc="(c) --in-memory"
ld="(d) python"

echo "== timing ($runs runs each, warm page cache: cat model > /dev/null before every run)" >&2
run_tool "$la" "$work/a.onnx" "${init[@]}" -o "$work/a.onnx"
a_info="$("$python" "$root/scripts/bench/py_check_reinit.py" "$model" "$work/a.onnx" 2>&1)" \
    && a_ok=yes || a_ok=no

run_tool "$lb" "$work/b.onnx" "${init[@]}" -o "$work/b.onnx" --threads 1
b_same=no
cmp -s "$work/a.onnx" "$work/b.onnx" && b_same=yes
rm -f "$work/b.onnx"

run_tool "$lc" "$work/c.onnx" "${init[@]}" -o "$work/c.onnx" --in-memory
c_same=no
cmp -s "$work/a.onnx" "$work/c.onnx" && c_same=yes
rm -f "$work/c.onnx" "$work/a.onnx"

run_tool "$ld" "$work/d.onnx" "$python" "$root/scripts/bench/py_reinit.py" "$model" "$work/d.onnx"
d_info="$("$python" "$root/scripts/bench/py_check_reinit.py" "$model" "$work/d.onnx" 2>&1)" \
    && d_ok=yes || d_ok=no
rm -f "$work/d.onnx"

read -r py_t py_m <<< "${results[$ld]}"
read -r a_t a_m <<< "${results[$la]}"
model_mib=$(awk -v b="$model_bytes" 'BEGIN { printf "%.1f", b / 1048576 }')

echo
echo "onnxinit re-initialization benchmark: $model"
echo "model: $model_bytes bytes ($model_mib MiB), $layers x MatMul+Add+Relu; $runs runs each, median shown;"
echo "warm page cache (cat model > /dev/null before every run; cache not dropped); $(nproc) CPUs"
echo "onnxinit: $("$onnxinit" --version 2>/dev/null | head -n1 || echo '?'), python: $("$python" -c 'import onnx, numpy, sys; print("onnx", onnx.__version__, "numpy", numpy.__version__, "on Python", sys.version.split()[0])')"
echo "command (a): ${init[*]} -o OUT   (b): + --threads 1   (c): + --in-memory"
echo "command (d): $python scripts/bench/py_reinit.py MODEL OUT"
echo
printf '%-18s %9s %12s %10s %16s\n' tool "wall s" "peak RSS MiB" "RSS/model" "speed-up vs py"
printf '%-18s %9s %12s %10s %16s\n' ------------------ --------- ------------ ---------- ----------------
for label in "$la" "$lb" "$lc" "$ld"; do
    read -r t m <<< "${results[$label]}"
    awk -v l="$label" -v t="$t" -v m="$m" -v pt="$py_t" -v b="$model_bytes" 'BEGIN {
        printf "%-18s %9.2f %12.1f %10.3f %16s\n", l, t, m / 1024, m * 1024 / b,
            (t > 0 ? sprintf("%.1fx", pt / t) : "inf") }'
done
echo
echo "checks:"
echo "  (b) output byte-identical to (a) (cmp):          $b_same"
echo "  (c) output byte-identical to (a) (cmp):          $c_same"
echo "  (a) output loads, kaiming_uniform weights:       $a_ok ($a_info)"
echo "  (d) output loads, kaiming_uniform weights:       $d_ok ($d_info)"
echo "  (onnxinit also re-initializes the biases, with their layer's fans; (d) leaves them)"
echo "goals:"
awk -v at="$a_t" -v pt="$py_t" 'BEGIN { s = (at > 0 ? pt / at : 1e9);
    printf "  (a) >= 8x faster than python:                   %s (%.1fx)\n", (s >= 8 ? "met" : "NOT MET"), s }'
awk -v am="$a_m" -v b="$model_bytes" 'BEGIN { r = am * 1024 / b;
    printf "  (a) peak RSS <= 0.25 x model size:              %s (%.3f x)\n", (r <= 0.25 ? "met" : "NOT MET"), r }'

status=0
[[ "$b_same" == yes ]] || { echo "bench_reinit: --threads 1 output differs from the default's" >&2; status=1; }
[[ "$c_same" == yes ]] || { echo "bench_reinit: --in-memory output differs from the streaming one" >&2; status=1; }
[[ "$a_ok" == yes ]] || { echo "bench_reinit: onnxinit output fails its check" >&2; status=1; }
[[ "$d_ok" == yes ]] || { echo "bench_reinit: python output fails its check" >&2; status=1; }
exit "$status"
