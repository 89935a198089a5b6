#!/usr/bin/env bash
# Benchmark (not a test): `onnxinit batch` over a tree of many small models.
#
#   scripts/bench_batch.sh [--models N]   (default 1000)
#
# Generates (cached in $BENCH_DIR, default /tmp/onnxinit-bench/batch-N, as BENCH_DIR/tree)
# N small models in one Python process (scripts/bench/make_batch_tree.py): 10 folders
# set-00..set-09, each with mlp/ and cnn/ below it; MLPs (3 MatMul weights) and CNNs
# (3 Conv + 1 MatMul weights) with biases, shapes varied per model from a fixed numpy
# seed, ~80-170 KB each.  Then RUNS (default 3) timed runs each, median wall time, of:
#   (a) onnxinit batch TREE -o OUT -j 1 --scheme kaiming_uniform --no-provenance -q
#   (b) the same with -j 2
#   (c) scripts/bench/py_batch_reinit.py TREE OUT: one python3-onnx + numpy process,
#       onnx.load / kaiming_uniform every float initializer of rank >= 2 / onnx.save,
#       fan_in from the rank alone (see that script)
#   (d) (b) with --manifest FILE (the file outside OUT)
# Before every run OUT is removed and the tree is read (cat > /dev/null): warm page cache.
# onnxinit is copied (with libonnxinit.so.0, RUNPATH $ORIGIN) to the run directory first,
# so a concurrent rebuild of build/ cannot change it between runs.
# Checks: (a), (b), (d) outputs byte-identical (diff -r); (a) and (c) output trees hold the
# same relative paths as the input; (d)'s manifest has N lines, all "ok"; a sample of (a)'s
# and (c)'s outputs load, pass onnx.checker and hold new weights within sqrt(6/fan_in)
# (scripts/bench/py_check_batch.py).  Outputs are removed at exit; the tree is kept.
# Exit 1 if a tool or a check fails.
#
# Environment: BENCH_DIR, PYTHON (default /usr/bin/python3, which has python3-onnx),
# ONNXINIT (default build/onnxinit; not rebuilt: waits up to WAIT_BUILD s, default 300,
# for it to appear), RUNS (default 3), SAMPLE (models load-checked, default 20).
set -euo pipefail

usage() { sed -n '4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

models=1000
while [[ $# -gt 0 ]]; do
    case "$1" in
        --models) [[ $# -ge 2 ]] || usage; models="$2"; shift 2 ;;
        --models=*) models="${1#*=}"; shift ;;
        -h|--help) usage ;;
        *) echo "bench_batch: unknown argument '$1'" >&2; usage ;;
    esac
done
[[ "$models" =~ ^[1-9][0-9]*$ ]] || { echo "bench_batch: --models needs a positive integer" >&2; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench_dir="${BENCH_DIR:-/tmp/onnxinit-bench/batch-$models}"
python="${PYTHON:-/usr/bin/python3}"
onnxinit_src="${ONNXINIT:-$root/build/onnxinit}"
runs="${RUNS:-3}"
sample="${SAMPLE:-20}"
wait_build="${WAIT_BUILD:-300}"
gnu_time=/usr/bin/time

die() { echo "bench_batch: $*" >&2; exit 1; }
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "RUNS needs a positive integer"

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

# --- a private copy of onnxinit ---------------------------------------------------------
waited=0
until [[ -x "$onnxinit_src" ]]; do
    (( waited < wait_build )) || die "$onnxinit_src missing (build it: scripts/build.sh build)"
    (( waited == 0 )) && echo "== waiting for $onnxinit_src (a build may be running)" >&2
    sleep 5; waited=$((waited + 5))
done
mkdir "$work/bin"
cp -L "$onnxinit_src" "$work/bin/onnxinit"
src_dir="$(dirname "$onnxinit_src")"
[[ -e "$src_dir/libonnxinit.so.0" ]] && cp -L "$src_dir/libonnxinit.so.0" "$work/bin/"
onnxinit="$work/bin/onnxinit"
version="$("$onnxinit" --version 2>&1 | head -n1)" || die "$onnxinit does not run: $version"

# --- timing -----------------------------------------------------------------------------
warm() { find "$tree" -type f -name '*.onnx' -exec cat {} + > /dev/null; }

# run_tool LABEL OUT CMD...: RUNS timed runs into a fresh OUT, each after warm();
# stores "median_seconds median_rss_kib" in results[LABEL]; the last run's OUT is kept.
declare -A results
run_tool() {
    local label="$1" out="$2"; shift 2
    local i t0 t1 t m times=() rss=()
    for ((i = 1; i <= runs; i++)); do
        rm -rf "$out" "$work/manifest.jsonl"
        warm
        t0=$(date +%s%N)
        "$gnu_time" -f '%M' -o "$work/time" "$@" > "$work/log" 2>&1 \
            || { cat "$work/log" >&2; die "$label failed (run $i)"; }
        t1=$(date +%s%N)
        t=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
        m=$(tail -n1 "$work/time")
        times+=("$t"); rss+=("$m")
        echo "   $label run $i: ${t} s, $((m / 1024)) MiB" >&2
    done
    results[$label]="$(printf '%s\n' "${times[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p") \
$(printf '%s\n' "${rss[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p")"
}

# same_paths DIR: DIR holds exactly the input's relative file paths
same_paths() {
    diff <(cd "$tree" && find . -type f | sort) <(cd "$1" && find . -type f | sort) > /dev/null
}

batch=("$onnxinit" batch "$tree" --scheme kaiming_uniform --no-provenance -q)
la="(a) batch -j 1"
lb="(b) batch -j 2"
lc="(c) python loop"
ld="(d) -j 2 --manifest"
le="(e) -j 2 --no-fsync"

echo "== timing ($runs runs each; OUT removed and tree read before every run)" >&2
run_tool "$la" "$work/a" "${batch[@]}" -o "$work/a" -j 1
a_mirror=no; same_paths "$work/a" && a_mirror=yes
a_info="$("$python" "$root/scripts/bench/py_check_batch.py" "$tree" "$work/a" --sample "$sample" 2>&1)" \
    && a_ok=yes || a_ok=no

run_tool "$lb" "$work/b" "${batch[@]}" -o "$work/b" -j 2
b_same=no; diff -r "$work/a" "$work/b" > /dev/null && b_same=yes
rm -rf "$work/b"

run_tool "$ld" "$work/d" "${batch[@]}" -o "$work/d" -j 2 --manifest "$work/manifest.jsonl"
d_same=no; diff -r "$work/a" "$work/d" > /dev/null && d_same=yes
m_info="$("$python" - "$work/manifest.jsonl" "$models" <<'EOF' 2>&1
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = sum(r.get("status") == "ok" for r in rows)
print(f"{len(rows)} lines, {ok} ok")
sys.exit(0 if len(rows) == ok == int(sys.argv[2]) else 1)
EOF
)" && m_ok=yes || m_ok=no
rm -rf "$work/d" "$work/manifest.jsonl"

# (e) like python's loop, without fsync (outputs still complete or absent,
# except after a power failure)
run_tool "$le" "$work/e" "${batch[@]}" -o "$work/e" -j 2 --no-fsync
e_same=no; diff -r "$work/a" "$work/e" > /dev/null && e_same=yes
rm -rf "$work/e"

run_tool "$lc" "$work/c" "$python" "$root/scripts/bench/py_batch_reinit.py" "$tree" "$work/c"
c_mirror=no; same_paths "$work/c" && c_mirror=yes
c_info="$("$python" "$root/scripts/bench/py_check_batch.py" "$tree" "$work/c" --sample "$sample" 2>&1)" \
    && c_ok=yes || c_ok=no
rm -rf "$work/a" "$work/c"

# --- report -----------------------------------------------------------------------------
read -r py_t _ <<< "${results[$lc]}"
read -r b_t _ <<< "${results[$lb]}"
read -r d_t _ <<< "${results[$ld]}"

echo
echo "onnxinit batch benchmark: $tree"
awk -v n="$models" -v b="$tree_bytes" 'BEGIN {
    printf "tree: %d models (MLP/CNN, 3-4 weights each), %.1f MB (mean %.0f KB), %d folders x {mlp,cnn}\n",
        n, b / 1e6, b / n / 1e3, (n < 10 ? n : 10) }'
echo "$runs runs each, median wall time; warm page cache (tree read before every run); $(nproc) CPUs"
echo "onnxinit: $version; python: $("$python" -c 'import onnx, numpy, sys; print("onnx", onnx.__version__, "numpy", numpy.__version__, "on Python", sys.version.split()[0])')"
echo "(a): onnxinit batch TREE -o OUT -j 1 --scheme kaiming_uniform --no-provenance -q"
echo "(b): -j 2   (d): -j 2 --manifest FILE   (e): -j 2 --no-fsync   (c): $python scripts/bench/py_batch_reinit.py TREE OUT"
echo
printf '%-20s %8s %10s %8s %13s %12s\n' tool "wall s" "models/s" "MB/s" "peak RSS MiB" "vs python"
printf '%-20s %8s %10s %8s %13s %12s\n' -------------------- -------- ---------- -------- ------------- ------------
for label in "$la" "$lb" "$ld" "$le" "$lc"; do
    read -r t m <<< "${results[$label]}"
    awk -v l="$label" -v t="$t" -v m="$m" -v pt="$py_t" -v n="$models" -v b="$tree_bytes" 'BEGIN {
        if (t <= 0) t = 0.001
        printf "%-20s %8.3f %10.1f %8.1f %13.1f %12s\n", l, t, n / t, b / 1e6 / t, m / 1024,
            sprintf("%.1fx", pt / t) }'
done
awk -v b="$b_t" -v d="$d_t" 'BEGIN { if (b <= 0) b = 0.001
    printf "manifest cost ((d) vs (b)): %+.3f s (%+.1f%%)\n", d - b, (d - b) / b * 100 }'
echo
echo "checks:"
echo "  (b) -j 2 output byte-identical to (a) -j 1 (diff -r):  $b_same"
echo "  (d) --manifest output byte-identical to (a) (diff -r): $d_same"
echo "  (e) --no-fsync output byte-identical to (a) (diff -r): $e_same"
echo "  (d) manifest, one ok line per model:                   $m_ok ($m_info)"
echo "  (a) output tree mirrors the input (relative paths):    $a_mirror"
echo "  (c) output tree mirrors the input (relative paths):    $c_mirror"
echo "  (a) sample loads, checker, new weights in bound:       $a_ok ($a_info)"
echo "  (c) sample loads, checker, new weights in bound:       $c_ok ($c_info)"
echo "  (onnxinit also re-initializes the biases, with their layer's fans; (c) leaves them)"

status=0
for v in b_same d_same m_ok a_mirror c_mirror a_ok c_ok; do
    [[ "${!v}" == yes ]] || { echo "bench_batch: check $v failed" >&2; status=1; }
done
exit "$status"
