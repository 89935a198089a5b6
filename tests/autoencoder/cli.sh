#!/bin/bash
# --pretrain autoencoder through the CLI: each trained layer's reconstruction
# error goes down (digits, Fashion-MNIST), the same bytes for the same seed,
# a kept weight untouched, provenance; bad input exits 1 or 2 with one line
# and writes nothing.
#
#   ONNXINIT=build/onnxinit SRCDIR=. bash tests/autoencoder/cli.sh
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRCDIR=${SRCDIR:-$(cd "$HERE/../.." && pwd)}
PY=${PYTHON:-/usr/bin/python3}
D=$SRCDIR/models/data
MLP=$D/digits_mlp.onnx DIG=$D/digits_512.npy CNN=$D/fashion_cnn.onnx FM=$D/fashion_mnist_256.npy
S=$(mktemp -d "${TMPDIR:-/tmp}/onnxinit-ae.XXXXXX") || exit 2
trap 'rm -rf "$S"' EXIT
RUN_TIMEOUT=300
. "$HERE/../lib/expect.sh"
# every trained layer: after < before, finite; at least n trained
losses_down() {
	"$PY" - "$1" "$2" <<'PYEOF'
import json, math, sys
j = json.load(open(sys.argv[1]))
done = [l for l in j["pretrain"]["layers"] if l["status"] == "done"]
bad = [l["node"] for l in done if not (math.isfinite(l["loss_after"]) and l["loss_after"] < l["loss_before"])]
sys.exit(1 if bad or len(done) < int(sys.argv[2]) else 0)
PYEOF
}
AE='autoencoder(epochs=3,lr=0.001,batch=32,noise=0.2)'

run init "$MLP" -o "$S/a.onnx" --seed 3 --pretrain "$AE" --data "$DIG" --data-scale 0.0625 --json
if [ "$rc" -eq 0 ] && losses_down "$S/out" 8; then ok "digits: every layer's error goes down"
else not_ok "digits: every layer's error goes down" "exit $rc $(head -c 300 "$S/err")"; fi
run init "$MLP" -o "$S/b.onnx" --seed 3 --pretrain "$AE" --data "$DIG" --data-scale 0.0625
if [ "$rc" -eq 0 ] && cmp -s "$S/a.onnx" "$S/b.onnx"; then ok "same seed, same bytes"
else not_ok "same seed, same bytes" "exit $rc"; fi
run init "$MLP" -o "$S/c.onnx" --seed 4 --pretrain "$AE" --data "$DIG" --data-scale 0.0625
if [ "$rc" -eq 0 ] && ! cmp -s "$S/a.onnx" "$S/c.onnx"; then ok "another seed, other bytes"
else not_ok "another seed, other bytes" "exit $rc"; fi
run init "$CNN" -o "$S/cnn.onnx" --pretrain 'autoencoder(epochs=2,batch=32,samples=64)' \
	--data "$FM" --data-scale 0.00392156862745098 --json
if [ "$rc" -eq 0 ] && losses_down "$S/out" 6; then ok "Fashion-MNIST CNN: every conv layer's error goes down"
else not_ok "Fashion-MNIST CNN: every conv layer's error goes down" "exit $rc $(head -c 300 "$S/err")"; fi
# a kept weight: skipped, its bytes the model's; provenance names the pass and data
run init "$MLP" -o "$S/k.onnx" --scheme keep --rule 'fc1.weight=keep' --pretrain "$AE" \
	--data "$DIG" --data-scale 0.0625 --json
if [ "$rc" -eq 0 ] && "$PY" - "$S/out" "$MLP" "$S/k.onnx" <<'PYEOF'
import json, sys, onnx
from onnx import numpy_helper
j = json.load(open(sys.argv[1]))
st = {l["node"]: l["status"] for l in j["pretrain"]["layers"]}
a = {t.name: numpy_helper.to_array(t) for t in onnx.load(sys.argv[2]).graph.initializer}
b = {t.name: numpy_helper.to_array(t) for t in onnx.load(sys.argv[3]).graph.initializer}
m = onnx.load(sys.argv[3])
prov = json.loads([p.value for p in m.metadata_props if p.key == "onnxinit"][0])["pretrain"]
assert st["fc1"] == "kept" and st["head"] == "output", st
assert (a["fc1.weight"] == b["fc1.weight"]).all()
assert (a["head.weight"] == b["head.weight"]).all()
assert not (a["fc2.weight"] == b["fc2.weight"]).all()
assert prov["pass"] == "autoencoder" and prov["data"] == "digits_512.npy" and len(prov["sha256"]) == 64, prov
assert prov["params"]["optimizer"] == "adam" and prov["params"]["epochs"] == 3, prov
PYEOF
then ok "a kept weight and the classifier untouched; provenance"; else not_ok "a kept weight and the classifier untouched; provenance" "exit $rc"; fi

# ---- bad input
"$PY" - "$MLP" "$S" <<'PYEOF'
import sys, onnx
m = onnx.load(sys.argv[1]); m.graph.node[0].op_type = "Hardmax"
onnx.save(m, sys.argv[2] + "/odd_first.onnx")
PYEOF
expect "data smaller than one batch" 1 'fewer than one batch of 1000' \
	init "$MLP" -o "$S/o.onnx" --pretrain 'autoencoder(batch=1000)' --data "$DIG"
expect "no layer reached" 1 'no layer can be reached: .*Hardmax' \
	init "$S/odd_first.onnx" -o "$S/o.onnx" -q --pretrain autoencoder --data "$DIG"
expect "NaN in training names layer and epoch" 1 "layer 'fc[0-9]' \(Gemm\): the reconstruction error became (nan|inf|-nan) in epoch [0-9]" \
	init "$MLP" -o "$S/o.onnx" --pretrain 'autoencoder(lr=1e30,optimizer=sgd,batch=32)' --data "$DIG"
expect "lr 0" 2 'lr must be a number > 0' init "$MLP" -o "$S/o.onnx" --pretrain 'autoencoder(lr=0)' --data "$DIG"
expect "noise 1" 2 'noise must be a number in \[0, 1\)' init "$MLP" -o "$S/o.onnx" --pretrain 'autoencoder(noise=1)' --data "$DIG"
expect "noise < 0" 2 'noise must be a number in \[0, 1\)' init "$MLP" -o "$S/o.onnx" --pretrain 'autoencoder(noise=-0.1)' --data "$DIG"
expect "unknown optimizer" 2 'optimizer must be adam or sgd' init "$MLP" -o "$S/o.onnx" --pretrain 'autoencoder(optimizer=rmsprop)' --data "$DIG"
expect "unknown parameter" 2 "autoencoder: unknown parameter 'momentum'" init "$MLP" -o "$S/o.onnx" --pretrain 'autoencoder(momentum=0.9)' --data "$DIG"
expect "bad epochs" 2 'epochs must be an integer' init "$MLP" -o "$S/o.onnx" --pretrain 'autoencoder(epochs=0)' --data "$DIG"

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
