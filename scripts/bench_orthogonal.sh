#!/usr/bin/env bash
# Benchmark (not a test): --scheme orthogonal against torch.nn.init.orthogonal_, interleaved.
#
#   scripts/bench_orthogonal.sh [--sizes "4096 8192"] [--pairs P] [--no-model]   (5 rounds)
#
# Models (cached in $BENCH_DIR, default /tmp/onnxinit-bench; scripts/bench/make_big_model.py):
# for each size D one float32 model with a single MatMul weight D x D (and its bias), and
# unless --no-model the 512 MiB model of 8 dense 4096 x 4096 layers (bench_reinit.sh's).
# Then P rounds; each round runs every contender once, in the same order, each after
# `cat model > /dev/null` (warm page cache). Printed per contender: min and median wall
# seconds, and ratios (min / median) against torch's generation time.
# Contenders, per size D:
#   oi-D        onnxinit init MODEL -o OUT --no-provenance --scheme orthogonal (all cores)
#   zeros-D     the same with --scheme zeros: onnxinit's floor (load, write, fsync), so that
#               oi-D minus zeros-D is its generation time
#   torch-D     scripts/bench/torch_orthogonal.py D: the whole script (python, import torch)
#   torch-D-call  the same run's in-process time of the orthogonal_ call alone, float32, on
#               torch's own BLAS threads: no file read or written
# and on the 8-layer model:
#   oi-8x-t1 oi-8x-t2   onnxinit --scheme orthogonal --threads 1 / --threads 2
#   torch-8x-call       8 calls of torch's orthogonal_ on 4096 x 4096, in-process
# Checks (outside the timing): for the first size, --threads 1, --threads 2 and the default
# give byte-identical files, and the output is orthogonal to 1e-5
# (scripts/bench/py_check_orthogonal.py). Exit 1 if a tool or a check fails.
# Environment: BENCH_DIR, PYTHON (default /usr/bin/python3: python3-onnx, numpy, torch),
# ONNXINIT (default build/onnxinit; copied with its library to the run folder first).
set -euo pipefail
. "$(dirname "$0")/bench/stats.sh"

usage() { sed -n '4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

sizes="4096 8192"
pairs=5
model8=yes
while [[ $# -gt 0 ]]; do
    case "$1" in
        --sizes) [[ $# -ge 2 ]] || usage; sizes="$2"; shift 2 ;;
        --pairs) [[ $# -ge 2 ]] || usage; pairs="$2"; shift 2 ;;
        --no-model) model8=no; shift ;;
        -h|--help) usage ;;
        *) echo "bench_orthogonal: unknown argument '$1'" >&2; usage ;;
    esac
done
[[ "$pairs" =~ ^[1-9][0-9]*$ ]] || { echo "bench_orthogonal: --pairs needs a positive integer" >&2; exit 2; }
for d in $sizes; do
    [[ "$d" =~ ^[1-9][0-9]*$ && $(( d % 512 )) == 0 ]] || { echo "bench_orthogonal: sizes are multiples of 512" >&2; exit 2; }
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench_dir="${BENCH_DIR:-/tmp/onnxinit-bench}"
python="${PYTHON:-/usr/bin/python3}"
onnxinit_src="${ONNXINIT:-$root/build/onnxinit}"
die() { echo "bench_orthogonal: $*" >&2; exit 1; }

"$python" -c 'import onnx, numpy, torch' 2>/dev/null || die "$python cannot import onnx, numpy and torch"
[[ -x "$onnxinit_src" ]] || die "$onnxinit_src missing (build it: scripts/build.sh build)"

mkdir -p "$bench_dir"
model_of() { # D -> a one-layer model of a D x D weight (D*D*4 bytes = D*D/262144 MiB)
    local d=$1 m="$bench_dir/one-$1.onnx"
    if [[ ! -s "$m" ]]; then
        echo "== generating $m (cached for later runs)" >&2
        "$python" "$root/scripts/bench/make_big_model.py" "$m" --size-mib $(( d * d / 262144 )) --layers 1 >&2
    fi
    echo "$m"
}
declare -A model
for d in $sizes; do model[$d]="$(model_of "$d")"; done
if [[ "$model8" == yes ]]; then
    model[8x]="$bench_dir/big-512MiB.onnx"
    if [[ ! -s "${model[8x]}" ]]; then
        echo "== generating ${model[8x]} (cached for later runs)" >&2
        "$python" "$root/scripts/bench/make_big_model.py" "${model[8x]}" --size-mib 512 --layers 8 >&2
    fi
fi

work="$(mktemp -d "$bench_dir/orth.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin"
cp -L "$onnxinit_src" "$work/bin/onnxinit"
[[ -e "$(dirname "$onnxinit_src")/libonnxinit.so.0" ]] && cp -L "$(dirname "$onnxinit_src")/libonnxinit.so.0" "$work/bin/"
onnxinit="$work/bin/onnxinit"

labels=()
for d in $sizes; do labels+=("oi-$d" "zeros-$d" "torch-$d"); done
[[ "$model8" == yes ]] && labels+=(oi-8x-t1 oi-8x-t2 torch-8x)
model_for() { local k="${1##*-}"; case "$1" in *8x*) echo "${model[8x]}" ;; *) echo "${model[$k]}" ;; esac; }
run_cmd() {
    local l="$1" m
    m="$(model_for "$l")"
    local init=("$onnxinit" init "$m" --no-provenance -o "$work/out.onnx")
    case "$l" in
        oi-8x-t1) "${init[@]}" --scheme orthogonal --threads 1 ;;
        oi-8x-t2) "${init[@]}" --scheme orthogonal --threads 2 ;;
        oi-*) "${init[@]}" --scheme orthogonal ;;
        zeros-*) "${init[@]}" --scheme zeros ;;
        torch-8x) "$python" "$root/scripts/bench/torch_orthogonal.py" 4096 --count 8 ;;
        torch-*) "$python" "$root/scripts/bench/torch_orthogonal.py" "${l#torch-}" ;;
    esac
}

load() { cut -d' ' -f1-3 /proc/loadavg; }
load_before="$(load)"
declare -A times
for ((r = 1; r <= pairs; r++)); do
    for l in "${labels[@]}"; do
        rm -f "$work/out.onnx"
        cat "$(model_for "$l")" > /dev/null
        timed_run "$l" "$r"
        if [[ "$l" == torch-* ]]; then
            c=$(awk '$1 == "call" { print $2 }' "$work/log")
            [[ -n "$c" ]] || die "$l printed no call time"
            times[$l-call]+="$c "
            echo "   round $r $l-call: $c s" >&2
        fi
    done
done

stat_of() { min_median "${times[$1]}"; } # LABEL: min median
row() { # LABEL [REF]: min, median, and min/median ratios against REF's
    local mn md rn rd
    read -r mn md <<< "$(stat_of "$1")"
    if [[ -n "${2:-}" ]]; then
        read -r rn rd <<< "$(stat_of "$2")"
        awk -v l="$1" -v mn="$mn" -v md="$md" -v rn="$rn" -v rd="$rd" -v r="$2" \
            'BEGIN { printf "%-16s %8.2f %8.2f   %5.2f / %-5.2f (of %s)\n", l, mn, md, mn / rn, md / rd, r }'
    else
        awk -v l="$1" -v mn="$mn" -v md="$md" 'BEGIN { printf "%-16s %8.2f %8.2f\n", l, mn, md }'
    fi
}
gen_row() { # D: onnxinit's generation time, oi-D minus zeros-D (mins, medians), against torch's call
    local a b c d e f
    read -r a b <<< "$(stat_of "oi-$1")"
    read -r c d <<< "$(stat_of "zeros-$1")"
    read -r e f <<< "$(stat_of "torch-$1-call")"
    awk -v l="oi-$1 - zeros" -v a="$a" -v b="$b" -v c="$c" -v d="$d" -v e="$e" -v f="$f" -v r="torch-$1-call" \
        'BEGIN { printf "%-16s %8.2f %8.2f   %5.2f / %-5.2f (of %s)\n", l, a - c, b - d, (a - c) / e, (b - d) / f, r }'
}

echo
echo "orthogonal: onnxinit against torch.nn.init.orthogonal_ (torch $("$python" -c 'import torch; print(torch.__version__)')), $(date -u +%F), $(nproc) CPUs"
echo "$pairs rounds, contenders interleaved (each round runs all once, same order), warm page cache"
echo "load average before / after: $load_before / $(load) (more than $(nproc): the machine was shared)"
echo "onnxinit: $("$onnxinit" --version 2>/dev/null | head -n1)"
echo
printf '%-16s %8s %8s   %s\n' contender "min s" "median s" "ratio min / median"
for d in $sizes; do
    row "torch-$d-call"
    row "torch-$d" "torch-$d-call"
    row "zeros-$d"
    row "oi-$d" "torch-$d-call"
    gen_row "$d"
done
if [[ "$model8" == yes ]]; then
    row torch-8x-call
    row oi-8x-t1 torch-8x-call
    row oi-8x-t2 torch-8x-call
    row oi-8x-t2 oi-8x-t1
fi
echo "(oi-D includes loading the model and writing and syncing the output; torch-D-call is the"
echo " orthogonal_ call alone; oi-D - zeros-D removes onnxinit's I/O floor from its time)"

echo "checks:"
status=0
d="${sizes%% *}"
m="${model[$d]}"
"$onnxinit" init "$m" --no-provenance --scheme orthogonal -o "$work/a.onnx" 2> "$work/err" || { cat "$work/err" >&2; exit 1; }
for t in 1 2; do
    "$onnxinit" init "$m" --no-provenance --scheme orthogonal -o "$work/t$t.onnx" --threads "$t" 2> "$work/err" || { cat "$work/err" >&2; exit 1; }
    if cmp -s "$work/a.onnx" "$work/t$t.onnx"; then echo "  $d: --threads $t identical to the default"
    else echo "  $d: --threads $t DIFFERS from the default"; status=1; fi
done
"$python" "$root/scripts/bench/py_check_orthogonal.py" "$work/a.onnx" 1e-5 > "$work/chk" 2>&1 \
    && echo "  $d: orthogonal ($(cat "$work/chk"))" || { echo "  $d: orthogonality check FAILED: $(cat "$work/chk")"; status=1; }
exit "$status"
