#!/usr/bin/env bash
# Benchmark (not a test): values from a safetensors donor into a large model.
#
#   scripts/bench_donor.sh [--size-mib N]   (default 512; 64 is quick)
#
# Makes (cached in $BENCH_DIR, default /tmp/onnxinit-bench) the model of
# scripts/bench/make_big_model.py and a safetensors donor with the same names
# and shapes (scripts/bench/make_donor.py), then RUNS (default 5) interleaved
# rounds of
#   (a) build/onnxinit init big.onnx -o out.onnx --from donor.safetensors (the default: the
#       output is fsynced, the provenance carries the donor's sha256, so the whole donor is
#       hashed, on a second thread while the output is written)
#   (n) the same with --no-provenance (no digest)
#   (f) the same with --no-provenance --no-fsync: what the Python script does (no digest,
#       no durability)
#   (b) scripts/bench/py_donor.py: python3-onnx + numpy, replace by name, onnx.save
#       (no fsync: onnxinit is not given that advantage)
# each writing a new output (the previous one removed before the round), and
#   (o) (a) and (p) (b) again, each over the output it wrote the round before:
#       replacing a 512 MiB file makes the file system free the old one's
#       blocks (and ext4 flush the new one at the rename or close), a cost
#       both pay that has nothing to do with the donor
# and prints min and median wall time and peak RSS (GNU time %e %M) of each,
# the ratios, and checks that the outputs hold the donor's values (the
# initializers of (a) and (b) compared). Before every run: `sync` (so that no
# contender pays for writing back or freeing the previous one's output) and
# the inputs read (warm page cache). Goals (printed, not enforced): >= 8x
# faster than (b); (a) peak RSS <= 0.25 x the model.
set -euo pipefail
. "$(dirname "$0")/bench/stats.sh"
size_mib=512
while [[ $# -gt 0 ]]; do
    case "$1" in
        --size-mib) size_mib="$2"; shift 2 ;;
        *) sed -n '4p' "$0" >&2; exit 2 ;;
    esac
done
PY=${PYTHON:-/usr/bin/python3}
BIN=${ONNXINIT:-build/onnxinit}
RUNS=${RUNS:-5}
dir=${BENCH_DIR:-/tmp/onnxinit-bench}
mkdir -p "$dir"
model="$dir/big-$size_mib.onnx"
donor="$dir/donor-$size_mib.safetensors"
layers=8; [[ $size_mib -lt 256 ]] && layers=4
[[ -f $model ]] || "$PY" scripts/bench/make_big_model.py "$model" --size-mib "$size_mib" --layers "$layers"
[[ -f $donor ]] || "$PY" scripts/bench/make_donor.py "$model" "$donor"
t_a=(); r_a=(); t_n=(); r_n=(); t_f=(); r_f=(); t_b=(); r_b=(); t_o=(); r_o=(); t_p=(); r_p=()
# prep OUTPUT: remove it (unless "keep"), let the file system settle, warm the inputs
prep() {
    [[ ${2:-} == keep ]] || rm -f "$1"
    sync; sleep 1; cat "$model" "$donor" > /dev/null
}
# timed TIMES RSSES CMD...: run CMD under GNU time, append to the named arrays
timed() {
    local -n tt=$1 rr=$2; shift 2
    /usr/bin/time -f '%e %M' -o "$dir/t" "$@"
    read -r t r < "$dir/t"; tt+=("$t"); rr+=("$r")
}
oi=("$BIN" init "$model" --from "$donor" -q)
py=("$PY" scripts/bench/py_donor.py "$model" "$donor")
"${oi[@]}" -o "$dir/out_o.onnx"; "${py[@]}" "$dir/out_p.onnx" # what (o) and (p) replace
for ((i = 0; i < RUNS; i++)); do
    prep "$dir/out_a.onnx"; timed t_a r_a "${oi[@]}" -o "$dir/out_a.onnx"
    prep "$dir/out_n.onnx"; timed t_n r_n "${oi[@]}" -o "$dir/out_n.onnx" --no-provenance
    prep "$dir/out_f.onnx"; timed t_f r_f "${oi[@]}" -o "$dir/out_f.onnx" --no-provenance \
        --no-fsync
    prep "$dir/out_b.onnx"; timed t_b r_b "${py[@]}" "$dir/out_b.onnx"
    prep "$dir/out_o.onnx" keep; timed t_o r_o "${oi[@]}" -o "$dir/out_o.onnx"
    prep "$dir/out_p.onnx" keep; timed t_p r_p "${py[@]}" "$dir/out_p.onnx"
done
"$PY" - "$dir/out_a.onnx" "$dir/out_b.onnx" <<'PYEOF'
import sys, onnx
from onnx import numpy_helper
a, b = (onnx.load(p) for p in sys.argv[1:3])
ia = {t.name: numpy_helper.to_array(t) for t in a.graph.initializer}
ib = {t.name: numpy_helper.to_array(t) for t in b.graph.initializer}
bad = [k for k in ib if not (ia[k] == ib[k]).all()]
print('outputs agree' if not bad else 'OUTPUTS DIFFER: %s' % bad[:5])
sys.exit(1 if bad else 0)
PYEOF
mn() { min_median "$@" | cut -d' ' -f1; }
med() { min_median "$@" | cut -d' ' -f2; }
stats() { printf 'min %s median %s' "$(mn "$@")" "$(med "$@")"; }
echo "model $size_mib MiB, $RUNS interleaved rounds ($(date -u +%F))"
echo "new output:"
echo "(a) onnxinit --from            : time $(stats "${t_a[@]}") s; peak RSS $(stats "${r_a[@]}") KiB"
echo "(n) onnxinit --no-provenance   : time $(stats "${t_n[@]}") s; peak RSS $(stats "${r_n[@]}") KiB"
echo "(f) ... and --no-fsync         : time $(stats "${t_f[@]}") s; peak RSS $(stats "${r_f[@]}") KiB"
echo "(b) python onnx+numpy          : time $(stats "${t_b[@]}") s; peak RSS $(stats "${r_b[@]}") KiB"
echo "over the previous output:"
echo "(o) onnxinit --from            : time $(stats "${t_o[@]}") s; peak RSS $(stats "${r_o[@]}") KiB"
echo "(p) python onnx+numpy          : time $(stats "${t_p[@]}") s; peak RSS $(stats "${r_p[@]}") KiB"
# ratio NAME X Y: how many times faster X is than Y (median, min)
ratio() {
    local -n x=$2 y=$3
    awk -v a="$(med "${x[@]}")" -v b="$(med "${y[@]}")" -v am="$(mn "${x[@]}")" \
        -v bm="$(mn "${y[@]}")" -v name="$1" 'BEGIN { d = 0.01
        printf "%s: median %.1fx, min %.1fx\n", name, b / (a > d ? a : d), bm / (am > d ? am : d) }'
}
ratio "speed-up of (a) over (b) (goal >= 8x)" t_a t_b
ratio "speed-up of (n) over (b)" t_n t_b
ratio "speed-up of (f) over (b) (the same work as the script)" t_f t_b
ratio "speed-up of (o) over (p) (both replacing their output)" t_o t_p
awk -v r="$(med "${r_a[@]}")" -v s="$size_mib" \
    'BEGIN { printf "(a) peak RSS / model %.3f (goal <= 0.25)\n", r / (s * 1024) }'
