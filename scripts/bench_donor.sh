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
#       hashed)
#   (n) the same with --no-provenance (no digest)
#   (f) the same with --no-provenance --no-fsync: what the Python script does (no digest,
#       no durability)
#   (b) scripts/bench/py_donor.py: python3-onnx + numpy, replace by name, onnx.save
#       (no fsync: onnxinit is not given that advantage)
# and prints min and median wall time and peak RSS (GNU time %e %M) of each,
# the ratios, and checks that the outputs hold the donor's values (the
# initializers of (a) and (b) compared). Before every run: `sync` (so that no
# contender pays for writing back the previous one's output) and the inputs
# read (warm page cache). Goals (printed, not enforced): (a) >= 8x faster than
# (b); (a) peak RSS <= 0.25 x the model.
set -euo pipefail
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
t_a=(); r_a=(); t_n=(); r_n=(); t_f=(); r_f=(); t_b=(); r_b=()
prep() { sync; cat "$model" "$donor" > /dev/null; }
for ((i = 0; i < RUNS; i++)); do
    prep
    /usr/bin/time -f '%e %M' -o "$dir/t" "$BIN" init "$model" -o "$dir/out_a.onnx" \
        --from "$donor" -q
    read -r t r < "$dir/t"; t_a+=("$t"); r_a+=("$r")
    prep
    /usr/bin/time -f '%e %M' -o "$dir/t" "$BIN" init "$model" -o "$dir/out_n.onnx" \
        --from "$donor" --no-provenance -q
    read -r t r < "$dir/t"; t_n+=("$t"); r_n+=("$r")
    prep
    /usr/bin/time -f '%e %M' -o "$dir/t" "$BIN" init "$model" -o "$dir/out_f.onnx" \
        --from "$donor" --no-provenance --no-fsync -q
    read -r t r < "$dir/t"; t_f+=("$t"); r_f+=("$r")
    prep
    /usr/bin/time -f '%e %M' -o "$dir/t" "$PY" scripts/bench/py_donor.py "$model" "$donor" \
        "$dir/out_b.onnx"
    read -r t r < "$dir/t"; t_b+=("$t"); r_b+=("$r")
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
med() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'; }
mn() { printf '%s\n' "$@" | sort -g | head -1; }
stats() { printf 'min %s median %s' "$(mn "$@")" "$(med "$@")"; }
echo "model $size_mib MiB, $RUNS interleaved rounds ($(date -u +%F))"
echo "(a) onnxinit --from            : time $(stats "${t_a[@]}") s; peak RSS $(stats "${r_a[@]}") KiB"
echo "(n) onnxinit --no-provenance   : time $(stats "${t_n[@]}") s; peak RSS $(stats "${r_n[@]}") KiB"
echo "(f) ... and --no-fsync         : time $(stats "${t_f[@]}") s; peak RSS $(stats "${r_f[@]}") KiB"
echo "(b) python onnx+numpy          : time $(stats "${t_b[@]}") s; peak RSS $(stats "${r_b[@]}") KiB"
awk -v a="$(med "${t_a[@]}")" -v n="$(med "${t_n[@]}")" -v b="$(med "${t_b[@]}")" \
    -v am="$(mn "${t_a[@]}")" -v nm="$(mn "${t_n[@]}")" -v bm="$(mn "${t_b[@]}")" \
    -v f="$(med "${t_f[@]}")" -v fm="$(mn "${t_f[@]}")" \
    -v r="$(med "${r_a[@]}")" -v s="$size_mib" 'BEGIN {
    d = 0.01
    printf "speed-up of (a) over (b): median %.1fx, min %.1fx (goal >= 8x)\n", b / (a > d ? a : d), bm / (am > d ? am : d)
    printf "speed-up of (n) over (b): median %.1fx, min %.1fx\n", b / (n > d ? n : d), bm / (nm > d ? nm : d)
    printf "speed-up of (f) over (b): median %.1fx, min %.1fx (the same work as the script)\n", b / (f > d ? f : d), bm / (fm > d ? fm : d)
    printf "(a) peak RSS / model %.3f (goal <= 0.25)\n", r / (s * 1024) }'
