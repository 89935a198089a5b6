#!/usr/bin/env bash
# Benchmark (not a test): `onnxinit batch` over a tree of many small models, contenders
# interleaved.
#
#   scripts/bench_batch.sh [--models N] [--rounds R]   (default 1000 models, 5 rounds)
#
# Generates (cached in $BENCH_DIR, default /tmp/onnxinit-bench/batch-N, as BENCH_DIR/tree)
# N small models in one Python process (scripts/bench/make_batch_tree.py): 10 folders
# set-00..set-09, each with mlp/ and cnn/ below it; MLPs (3 MatMul weights) and CNNs
# (3 Conv + 1 MatMul weights) with biases, shapes varied per model from a fixed numpy
# seed, ~80-170 KB each.  Then R rounds; each round runs every contender once, in the same
# order, each into a fresh OUT after the tree is read (cat > /dev/null: warm page cache), so
# the ratios compare runs made side by side.  Printed per contender: min and median wall
# seconds, models/s, median peak RSS, and the ratios (of mins / of medians) to python's.
# Contenders:
#   j1 j2              onnxinit batch TREE -o OUT -j 1 / -j 2 --scheme kaiming_uniform
#                      --no-provenance -q (every output durable at exit: synced in groups)
#   j1-nofsync j2-nofsync   the same with --no-fsync
#   python             scripts/bench/py_batch_reinit.py TREE OUT: one python3-onnx + numpy
#                      process, onnx.load / kaiming_uniform every float initializer of rank
#                      >= 2 / onnx.save, fan_in from the rank alone (no fsync)
#   base-j1 base-j2    with BASELINE=PATH: another onnxinit build (e.g. the one before a
#                      change), as j1 / j2
# onnxinit is copied (with libonnxinit.so.0, RUNPATH $ORIGIN) to the run directory first,
# so a concurrent rebuild of build/ cannot change it between runs.
# Checks (outside the timing): every onnxinit output tree byte-identical to j1's (diff -r,
# last round); j1's and python's trees hold the input's relative paths; a --manifest run
# has N lines, all "ok"; a sample of j1's and python's outputs load, pass onnx.checker and
# hold new weights within sqrt(6/fan_in) (scripts/bench/py_check_batch.py).  Outputs are
# removed at exit; the tree is kept.  Exit 1 if a tool or a check fails.
#
# Environment: BENCH_DIR, PYTHON (default /usr/bin/python3, which has python3-onnx),
# ONNXINIT (default build/onnxinit; not rebuilt: waits up to WAIT_BUILD s, default 300,
# for it to appear), BASELINE (optional), SAMPLE (models load-checked, default 20).
set -euo pipefail
. "$(dirname "$0")/bench/stats.sh"

usage() { sed -n '4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

models=1000
rounds=5
while [[ $# -gt 0 ]]; do
    case "$1" in
        --models) [[ $# -ge 2 ]] || usage; models="$2"; shift 2 ;;
        --models=*) models="${1#*=}"; shift ;;
        --rounds) [[ $# -ge 2 ]] || usage; rounds="$2"; shift 2 ;;
        -h|--help) usage ;;
        *) echo "bench_batch: unknown argument '$1'" >&2; usage ;;
    esac
done
[[ "$models" =~ ^[1-9][0-9]*$ ]] || { echo "bench_batch: --models needs a positive integer" >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "bench_batch: --rounds needs a positive integer" >&2; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench_dir="${BENCH_DIR:-/tmp/onnxinit-bench/batch-$models}"
python="${PYTHON:-/usr/bin/python3}"
onnxinit_src="${ONNXINIT:-$root/build/onnxinit}"
sample="${SAMPLE:-20}"
wait_build="${WAIT_BUILD:-300}"
gnu_time=/usr/bin/time

die() { echo "bench_batch: $*" >&2; exit 1; }

if [[ ! -x "$gnu_time" ]]; then
    echo "== installing GNU time (apt-get install -y time)" >&2
    { apt-get install -y time || { apt-get update && apt-get install -y time; }; } >&2 \
        || die "GNU time not found at $gnu_time and could not be installed"
fi
"$python" -c 'import onnx, numpy' 2>/dev/null \
    || die "$python cannot import onnx and numpy (apt-get install -y python3-onnx)"

# --- the tree (cached; make_batch_tree.py writes TREE.tmp and renames it) ---------------
mkdir -p "$bench_dir"
tree="$bench_dir/tree"
if [[ ! -d "$tree" ]]; then
    echo "== generating $models models in $tree (cached for later runs)" >&2
    "$python" "$root/scripts/bench/make_batch_tree.py" "$tree" --models "$models" >&2
else
    echo "== using cached $tree" >&2
fi
n_found=$(find "$tree" -type f -name '*.onnx' | wc -l)
[[ "$n_found" == "$models" ]] || die "$tree holds $n_found models, not $models (remove it to regenerate)"
tree_bytes=$(find "$tree" -type f -name '*.onnx' -printf '%s\n' | awk '{ s += $1 } END { print s }')

work="$(mktemp -d "$bench_dir/run.XXXXXX")"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

# --- private copies of onnxinit ---------------------------------------------------------
waited=0
until [[ -x "$onnxinit_src" ]]; do
    (( waited < wait_build )) || die "$onnxinit_src missing (build it: scripts/build.sh build)"
    (( waited == 0 )) && echo "== waiting for $onnxinit_src (a build may be running)" >&2
    sleep 5; waited=$((waited + 5))
done
# private_copy SRC DIR: SRC (and the library beside it) copied into DIR; prints the copy
private_copy() {
    mkdir "$2"
    cp -L "$1" "$2/onnxinit"
    if [[ -e "$(dirname "$1")/libonnxinit.so.0" ]]; then cp -L "$(dirname "$1")/libonnxinit.so.0" "$2/"; fi
    echo "$2/onnxinit"
}
onnxinit="$(private_copy "$onnxinit_src" "$work/bin")"
version="$("$onnxinit" --version 2>&1 | head -n1)" || die "$onnxinit does not run: $version"
baseline=
if [[ -n "${BASELINE:-}" ]]; then
    [[ -x "$BASELINE" ]] || die "BASELINE=$BASELINE is not a program"
    baseline="$(private_copy "$BASELINE" "$work/base")"
fi

# --- timing, interleaved ----------------------------------------------------------------
warm() { find "$tree" -type f -name '*.onnx' -exec cat {} + > /dev/null; }
batch_args=(batch "$tree" --scheme kaiming_uniform --no-provenance -q)
labels=(j1 j2 j1-nofsync j2-nofsync python)
if [[ -n "$baseline" ]]; then labels+=(base-j1 base-j2); fi
# cmd_of LABEL OUT: the contender's command in cmd
cmd_of() {
    case "$1" in
        j1) cmd=("$onnxinit" "${batch_args[@]}" -o "$2" -j 1) ;;
        j2) cmd=("$onnxinit" "${batch_args[@]}" -o "$2" -j 2) ;;
        j1-nofsync) cmd=("$onnxinit" "${batch_args[@]}" -o "$2" -j 1 --no-fsync) ;;
        j2-nofsync) cmd=("$onnxinit" "${batch_args[@]}" -o "$2" -j 2 --no-fsync) ;;
        python) cmd=("$python" "$root/scripts/bench/py_batch_reinit.py" "$tree" "$2") ;;
        base-j1) cmd=("$baseline" "${batch_args[@]}" -o "$2" -j 1) ;;
        base-j2) cmd=("$baseline" "${batch_args[@]}" -o "$2" -j 2) ;;
    esac
}
declare -A times rss
echo "== $rounds rounds of ${labels[*]} (OUT removed and tree read before every run)" >&2
for ((r = 1; r <= rounds; r++)); do
    for l in "${labels[@]}"; do
        out="$work/out-$l"
        rm -rf "$out"
        warm
        cmd_of "$l" "$out"
        t0=$(date +%s%N)
        "$gnu_time" -f '%M' -o "$work/time" "${cmd[@]}" > "$work/log" 2>&1 \
            || { cat "$work/log" >&2; die "$l failed (round $r)"; }
        t1=$(date +%s%N)
        t=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
        times[$l]+="$t "
        rss[$l]+="$(tail -n1 "$work/time") "
        echo "   round $r $l: $t s" >&2
    done
    # the trees of the last round stay for the checks
    if (( r < rounds )); then rm -rf "$work"/out-*; fi
done

stat_of() { min_median "$1"; } # LIST: min median

# --- checks -----------------------------------------------------------------------------
same_paths() {
    diff <(cd "$tree" && find . -type f | sort) <(cd "$1" && find . -type f | sort) > /dev/null
}
declare -A same
for l in "${labels[@]}"; do
    [[ "$l" == python || "$l" == j1 ]] && continue
    same[$l]=no; diff -r "$work/out-j1" "$work/out-$l" > /dev/null && same[$l]=yes
done
a_mirror=no; same_paths "$work/out-j1" && a_mirror=yes
c_mirror=no; same_paths "$work/out-python" && c_mirror=yes
a_info="$("$python" "$root/scripts/bench/py_check_batch.py" "$tree" "$work/out-j1" --sample "$sample" 2>&1)" \
    && a_ok=yes || a_ok=no
c_info="$("$python" "$root/scripts/bench/py_check_batch.py" "$tree" "$work/out-python" --sample "$sample" 2>&1)" \
    && c_ok=yes || c_ok=no
rm -rf "$work"/out-*
"$onnxinit" "${batch_args[@]}" -o "$work/out-m" -j 2 --manifest "$work/manifest.jsonl"
m_info="$("$python" - "$work/manifest.jsonl" "$models" <<'PY' 2>&1
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = sum(r.get("status") == "ok" for r in rows)
print(f"{len(rows)} lines, {ok} ok")
sys.exit(0 if len(rows) == ok == int(sys.argv[2]) else 1)
PY
)" && m_ok=yes || m_ok=no
rm -rf "$work/out-m" "$work/manifest.jsonl"

# --- report -----------------------------------------------------------------------------
read -r py_min py_med <<< "$(stat_of "${times[python]}")"
echo
echo "onnxinit batch benchmark: $tree, $(date -u +%F)"
awk -v n="$models" -v b="$tree_bytes" 'BEGIN {
    printf "tree: %d models (MLP/CNN, 3-4 weights each), %.1f MB (mean %.0f KB), %d folders x {mlp,cnn}\n",
        n, b / 1e6, b / n / 1e3, (n < 10 ? n : 10) }'
echo "$rounds rounds, contenders interleaved (each round runs all once, same order); warm page cache; $(nproc) CPUs"
echo "onnxinit: $version; python: $("$python" -c 'import onnx, numpy, sys; print("onnx", onnx.__version__, "numpy", numpy.__version__, "on Python", sys.version.split()[0])')"
if [[ -n "$baseline" ]]; then echo "baseline (base-*): $BASELINE"; fi
echo
printf '%-12s %8s %9s %10s %13s  %s\n' contender "min s" "median s" "models/s" "RSS MiB" "/ python (min / median)"
for l in "${labels[@]}"; do
    read -r mn md <<< "$(stat_of "${times[$l]}")"
    read -r _ mr <<< "$(stat_of "${rss[$l]}")"
    awk -v l="$l" -v mn="$mn" -v md="$md" -v mr="$mr" -v pn="$py_min" -v pd="$py_med" -v n="$models" 'BEGIN {
        if (md <= 0) md = 0.001
        printf "%-12s %8.3f %9.3f %10.1f %13.1f  %.2f / %.2f\n", l, mn, md, n / md, mr / 1024, mn / pn, md / pd }'
done
echo "(models/s from the median; RSS: median peak; ratio below 1: faster than python, which does not fsync)"
echo
echo "checks:"
for l in "${!same[@]}"; do
    printf '  %-11s output byte-identical to j1 (diff -r):  %s\n' "$l" "${same[$l]}"
done
echo "  manifest (-j 2), one ok line per model:            $m_ok ($m_info)"
echo "  j1 output tree mirrors the input (relative paths): $a_mirror"
echo "  python output tree mirrors the input:              $c_mirror"
echo "  j1 sample loads, checker, new weights in bound:    $a_ok ($a_info)"
echo "  python sample loads, checker, new weights in bound: $c_ok ($c_info)"
echo "  (onnxinit also re-initializes the biases, with their layer's fans; python leaves them)"

status=0
for v in m_ok a_mirror c_mirror a_ok c_ok; do
    [[ "${!v}" == yes ]] || { echo "bench_batch: check $v failed" >&2; status=1; }
done
for l in "${!same[@]}"; do
    [[ "${same[$l]}" == yes ]] || { echo "bench_batch: $l output differs from j1's" >&2; status=1; }
done
exit "$status"
