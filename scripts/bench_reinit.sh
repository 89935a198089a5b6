#!/usr/bin/env bash
# Benchmark (not a test): re-initializing a large ONNX model, contenders interleaved.
#
#   scripts/bench_reinit.sh [--size-mib N] [--layers L] [--pairs P]   (default 512 MiB, 5 rounds)
#
# Generates (cached in $BENCH_DIR, default /tmp/onnxinit-bench) a model of L dense layers
# (MatMul D x D float32 + Add bias + Relu, raw_data initializers; scripts/bench/make_big_model.py).
# Then P rounds; each round runs every contender once, in the same order, each after
# `cat model > /dev/null` (warm page cache): so every contender sees the same machine state
# round by round, and the ratios compare runs made side by side. Printed per contender: min
# and median wall seconds, and the ratios of mins and of medians against the references.
# Contenders:
#   cp                    cp --reflink=never MODEL OUT && sync OUT (the copy floor: onnxinit
#                         fsyncs its output too)
#   floor scalar/vector   build/tests/unit/rng_floor: draw the model's count of uniforms with
#                         the scalar / AVX2 Philox loop on $(nproc) threads, nothing written
#   uniform normal trunc auto   onnxinit init MODEL -o OUT --no-provenance --scheme
#                         kaiming_uniform / kaiming_normal / trunc_normal / auto (the default)
#   py-uniform py-normal  scripts/bench/py_reinit.py (python3-onnx + numpy): onnx.load, every
#                         2-D weight drawn by numpy, onnx.save
#   torch-normal          the same with torch.nn.init.kaiming_normal_ (--lib torch)
#   normal-inmem          normal with --in-memory (the model read into memory, not mapped)
# Checks (outside the timing): --threads 1 and --in-memory outputs byte-identical to the
# default's (uniform and normal); onnxinit's uniform output holds kaiming_uniform weights.
# Environment: BENCH_DIR, PYTHON (default /usr/bin/python3: python3-onnx, numpy, torch),
# ONNXINIT (default build/onnxinit), FLOOR (default build/tests/unit/rng_floor), SKIP_TORCH=1.
set -euo pipefail
. "$(dirname "$0")/bench/stats.sh"

usage() { sed -n '4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

size_mib=512
layers=
pairs=5
while [[ $# -gt 0 ]]; do
    case "$1" in
        --size-mib) [[ $# -ge 2 ]] || usage; size_mib="$2"; shift 2 ;;
        --layers) [[ $# -ge 2 ]] || usage; layers="$2"; shift 2 ;;
        --pairs) [[ $# -ge 2 ]] || usage; pairs="$2"; shift 2 ;;
        -h|--help) usage ;;
        *) echo "bench_reinit: unknown argument '$1'" >&2; usage ;;
    esac
done
[[ "$size_mib" =~ ^[1-9][0-9]*$ ]] || { echo "bench_reinit: --size-mib needs a positive integer" >&2; exit 2; }
[[ "$pairs" =~ ^[1-9][0-9]*$ ]] || { echo "bench_reinit: --pairs needs a positive integer" >&2; exit 2; }
if [[ -z "$layers" ]]; then
    if (( size_mib >= 256 )); then layers=8; else layers=4; fi
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench_dir="${BENCH_DIR:-/tmp/onnxinit-bench}"
python="${PYTHON:-/usr/bin/python3}"
onnxinit="${ONNXINIT:-$root/build/onnxinit}"
floor="${FLOOR:-$root/build/tests/unit/rng_floor}"
die() { echo "bench_reinit: $*" >&2; exit 1; }

"$python" -c 'import onnx, numpy' 2>/dev/null || die "$python cannot import onnx and numpy (apt-get install -y python3-onnx)"
torch=yes
[[ "${SKIP_TORCH:-}" == 1 ]] && torch=no
[[ "$torch" == yes ]] && { "$python" -c 'import torch' 2>/dev/null || torch=no; }
if [[ ! -x "$onnxinit" || ! -x "$floor" ]]; then
    ( cd "$root"; [[ -f build/build.ninja ]] || meson setup build; ninja -C build ) >&2
fi

mkdir -p "$bench_dir"
if [[ "$layers" == 8 ]]; then model="$bench_dir/big-${size_mib}MiB.onnx"; else model="$bench_dir/big-${size_mib}MiB-${layers}L.onnx"; fi
if [[ ! -s "$model" ]]; then
    echo "== generating $model (cached for later runs)" >&2
    "$python" "$root/scripts/bench/make_big_model.py" "$model" --size-mib "$size_mib" --layers "$layers"
fi
numel=$(( ($(stat -c %s "$model") + 3) / 4 ))
work="$(mktemp -d "$bench_dir/run.XXXXXX")"
trap 'rm -rf "$work"' EXIT

init=("$onnxinit" init "$model" --no-provenance -o "$work/out.onnx")
py=("$python" "$root/scripts/bench/py_reinit.py" "$model" "$work/out.onnx")
labels=(cp floor-scalar floor-vector uniform normal trunc auto py-uniform py-normal normal-inmem)
[[ "$torch" == yes ]] && labels+=(torch-normal)
run_cmd() {
    case "$1" in
        cp) cp --reflink=never "$model" "$work/out.onnx" && sync "$work/out.onnx" ;;
        floor-scalar) "$floor" philox-scalar "$numel" "$(nproc)" ;;
        floor-vector) "$floor" philox-vector "$numel" "$(nproc)" ;;
        uniform) "${init[@]}" --scheme kaiming_uniform ;;
        normal) "${init[@]}" --scheme kaiming_normal ;;
        normal-inmem) "${init[@]}" --scheme kaiming_normal --in-memory ;;
        trunc) "${init[@]}" --scheme trunc_normal ;;
        auto) "${init[@]}" --scheme auto ;;
        py-uniform) "${py[@]}" ;;
        py-normal) "${py[@]}" --dist normal ;;
        torch-normal) "${py[@]}" --dist normal --lib torch ;;
    esac
}

declare -A times
for ((r = 1; r <= pairs; r++)); do
    for l in "${labels[@]}"; do
        rm -f "$work/out.onnx"
        cat "$model" > /dev/null
        timed_run "$l" "$r"
    done
done

stat_of() { min_median "${times[$1]}"; } # LABEL: min median
read -r cp_min cp_med <<< "$(stat_of cp)"
read -r fl_min fl_med <<< "$(stat_of floor-scalar)"
read -r pu_min pu_med <<< "$(stat_of py-uniform)"
read -r pn_min pn_med <<< "$(stat_of py-normal)"
read -r un_min un_med <<< "$(stat_of uniform)"

echo
echo "onnxinit re-initialization, $model ($numel float32 values), $(date -u +%F), $(nproc) CPUs"
echo "$pairs rounds, contenders interleaved (each round runs all once, same order), warm page cache"
echo "onnxinit: $("$onnxinit" --version 2>/dev/null | head -n1)"
echo
printf '%-13s %8s %8s  %-16s %-16s %-16s\n' contender "min s" "median s" "/ py same dist" "/ (cp+floor)" "/ uniform"
for l in "${labels[@]}"; do
    read -r mn md <<< "$(stat_of "$l")"
    case "$l" in normal|normal-inmem|trunc|auto|torch-normal) ref_min=$pn_min ref_med=$pn_med ;; *) ref_min=$pu_min ref_med=$pu_med ;; esac
    awk -v l="$l" -v mn="$mn" -v md="$md" -v rn="$ref_min" -v rd="$ref_med" \
        -v cn="$cp_min" -v cd="$cp_med" -v fn="$fl_min" -v fd="$fl_med" -v un="$un_min" -v ud="$un_med" 'BEGIN {
        printf "%-13s %8.2f %8.2f  %6.2f / %-7.2f %6.2f / %-7.2f %6.2f / %-7.2f\n", l, mn, md,
            mn / rn, md / rd, mn / (cn + fn), md / (cd + fd), mn / un, md / ud }'
done
echo "(ratios: min / median; normal, normal-inmem, trunc, auto, torch-normal against py-normal, the rest against py-uniform)"

echo "checks:"
status=0
for s in kaiming_uniform kaiming_normal; do
    "$onnxinit" init "$model" --no-provenance --scheme "$s" -o "$work/a.onnx"
    "$onnxinit" init "$model" --no-provenance --scheme "$s" -o "$work/b.onnx" --threads 1
    "$onnxinit" init "$model" --no-provenance --scheme "$s" -o "$work/c.onnx" --in-memory
    for v in b c; do
        if cmp -s "$work/a.onnx" "$work/$v.onnx"; then echo "  $s: $v identical"; else echo "  $s: $v DIFFERS"; status=1; fi
    done
    if [[ "$s" == kaiming_uniform ]]; then
        "$python" "$root/scripts/bench/py_check_reinit.py" "$model" "$work/a.onnx" > "$work/chk" 2>&1 \
            && echo "  kaiming_uniform weights: ok ($(cat "$work/chk"))" || { echo "  weights check FAILED"; cat "$work/chk"; status=1; }
    fi
    rm -f "$work"/[abc].onnx
done
exit "$status"
