#!/bin/bash
# The data-driven passes' answer to bad input: data that does not fit the
# model (both shapes named), a .npy with a bad header or cut short, NaN/Inf
# (the first index named), an empty file, two inputs and one .npy, unknown
# passes and parameters, options without their partner; each exits 1 (bad
# data) or 2 (bad usage) with one line on stderr and writes nothing. A dead
# layer is a warning, not an error. And the good paths around them: random
# data with --input-shape, an .npz (stored and deflated) feeding two inputs.
#
#   ONNXINIT=build/onnxinit SRCDIR=. bash tests/eval/bad_input.sh
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRCDIR=${SRCDIR:-$(cd "$HERE/../.." && pwd)}
PY=${PYTHON:-/usr/bin/python3}
D=$SRCDIR/models/data
S=$(mktemp -d "${TMPDIR:-/tmp}/onnxinit-eval.XXXXXX") || exit 2
trap 'rm -rf "$S"' EXIT
. "$HERE/../lib/expect.sh"

MLP=$D/digits_mlp.onnx
CNN=$D/fashion_cnn.onnx
DIG=$D/digits_512.npy

# ---- files made for the cases
"$PY" - "$S" "$DIG" <<'EOF' || exit 2
import sys, numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
s, dig = sys.argv[1], sys.argv[2]
raw = open(dig, "rb").read()
open(f"{s}/cut.npy", "wb").write(raw[: len(raw) - 100])
open(f"{s}/empty.npy", "wb").write(b"")
open(f"{s}/badhdr.npy", "wb").write(b"\x93NUMPY\x01\x00\x10\x00{'descr': 'zz'}  \n" + b"\0" * 64)
open(f"{s}/notnpy.npy", "wb").write(b"hello, world\n")
a = np.load(dig).astype(np.float32) / 16
a[3, 5] = np.nan
np.save(f"{s}/nan.npy", a)
a[3, 5] = 0
a[7, 60] = np.inf
np.save(f"{s}/inf.npy", a)
np.save(f"{s}/fortran.npy", np.asfortranarray(np.load(dig).astype(np.float64) / 16))
np.save(f"{s}/complex.npy", np.zeros((4, 64), np.complex64))
# two inputs: y = Gemm(a) + Gemm(b)
def gemm(i, o):
    return [helper.make_node("Gemm", [i, f"w{i}", f"b{i}"], [o], name=f"fc_{i}", transB=1)]
rng = np.random.default_rng(0)
g = helper.make_graph(gemm("a", "ha") + gemm("b", "hb") + [helper.make_node("Add", ["ha", "hb"], ["y"])],
    "two", [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 64]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 8])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
    [numpy_helper.from_array(rng.normal(0, 0.1, (4, 64)).astype(np.float32), "wa"),
     numpy_helper.from_array(np.zeros(4, np.float32), "ba"),
     numpy_helper.from_array(rng.normal(0, 0.1, (4, 8)).astype(np.float32), "wb"),
     numpy_helper.from_array(np.zeros(4, np.float32), "bb")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]); m.ir_version = 8
onnx.save(m, f"{s}/two.onnx")
np.savez(f"{s}/two.npz", a=np.ones((10, 64), np.float32), b=np.ones((10, 8), np.uint8))
np.savez_compressed(f"{s}/twoz.npz", a=rng.normal(size=(10, 64)).astype(np.float32),
                    b=rng.normal(size=(10, 8)).astype(np.float16))
np.savez(f"{s}/wrongname.npz", a=np.ones((10, 64), np.float32), c=np.ones((10, 8)))
# dynamic dims beyond the batch: x [N, C, 8] -> Conv1d
g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1])],
    "dyn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "L"])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    [numpy_helper.from_array(rng.normal(0, 0.1, (4, 3, 3)).astype(np.float32), "w")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]); m.ir_version = 8
onnx.save(m, f"{s}/dyn.onnx")
# a dead layer: Relu of x - 100 is 0 everywhere, so fc2's output is its bias
g = helper.make_graph([
    helper.make_node("Gemm", ["x", "w1", "b1"], ["h1"], name="fc1", transB=1),
    helper.make_node("Relu", ["h1"], ["r1"], name="relu1"),
    helper.make_node("Gemm", ["r1", "w2", "b2"], ["y"], name="fc2", transB=1)],
    "dead", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
    [numpy_helper.from_array(np.zeros((8, 64), np.float32), "w1"),
     numpy_helper.from_array(np.full(8, -100, np.float32), "b1"),
     numpy_helper.from_array(rng.normal(0, 0.1, (4, 8)).astype(np.float32), "w2"),
     numpy_helper.from_array(np.zeros(4, np.float32), "b2")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]); m.ir_version = 8
onnx.save(m, f"{s}/dead.onnx")
# an op the evaluator does not know, after one layer
g = helper.make_graph([
    helper.make_node("Gemm", ["x", "w1", "b1"], ["h1"], name="fc1", transB=1),
    helper.make_node("Hardmax", ["h1"], ["m"], name="odd"),
    helper.make_node("Gemm", ["m", "w2", "b2"], ["y"], name="fc2", transB=1)],
    "odd", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
    [numpy_helper.from_array(rng.normal(0, 0.1, (8, 64)).astype(np.float32), "w1"),
     numpy_helper.from_array(np.zeros(8, np.float32), "b1"),
     numpy_helper.from_array(rng.normal(0, 0.1, (4, 8)).astype(np.float32), "w2"),
     numpy_helper.from_array(np.zeros(4, np.float32), "b2")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]); m.ir_version = 8
onnx.save(m, f"{s}/odd.onnx")
m.graph.node[0].op_type = "Hardmax"
del m.graph.node[0].attribute[:]
onnx.save(m, f"{s}/odd_first.onnx")
EOF

L=(--pretrain lsuv)
# ---- bad data: exit 1
expect "shape: digits into a CNN names both shapes" 1 'data of shape \[512,64\] does not fit input .x. of shape \[N,1,28,28\]' \
	init "$CNN" -o "$S/o.onnx" "${L[@]}" --data "$DIG"
expect "shape: stats too" 1 'shape \[512,64\].*input .x. of shape \[N,1,28,28\]' stats "$CNN" --data "$DIG"
expect "npy: bad header" 1 'badhdr.npy: (bad .npy header|dtype)' init "$MLP" -o "$S/o.onnx" "${L[@]}" --data "$S/badhdr.npy"
expect "npy: truncated data" 1 'cut.npy: truncated' init "$MLP" -o "$S/o.onnx" "${L[@]}" --data "$S/cut.npy"
expect "npy: not a .npy" 1 'notnpy.npy: not a .npy or .npz file' init "$MLP" -o "$S/o.onnx" "${L[@]}" --data "$S/notnpy.npy"
expect "npy: empty file" 1 'empty.npy: empty file' init "$MLP" -o "$S/o.onnx" "${L[@]}" --data "$S/empty.npy"
expect "npy: NaN, with its index" 1 'nan.npy: NaN at index \[3, 5\]' init "$MLP" -o "$S/o.onnx" "${L[@]}" --data "$S/nan.npy"
expect "npy: Inf, with its index" 1 'inf.npy: Inf at index \[7, 60\]' stats "$MLP" --data "$S/inf.npy"
expect "npy: a complex dtype" 1 "dtype '<c8'" stats "$MLP" --data "$S/complex.npy"
expect "npy: no such file" 1 'nosuch.npy: No such file' init "$MLP" -o "$S/o.onnx" "${L[@]}" --data "$S/nosuch.npy"
expect "two inputs and a single .npy" 1 'the model has 2 inputs \(a, b\) and a .npy' \
	init "$S/two.onnx" -o "$S/o.onnx" "${L[@]}" --data "$DIG"
expect "npz: no array named after an input" 1 "no array is named after the model's input 'b'" \
	init "$S/two.onnx" -o "$S/o.onnx" "${L[@]}" --data "$S/wrongname.npz"
expect "random data: dynamic dims need --input-shape" 1 "input 'x' of shape \[N,3,L\] has dynamic dims" \
	init "$S/dyn.onnx" -o "$S/o.onnx" "${L[@]}" --data normal
expect "no layer reached" 1 'no layer can be reached: .*Hardmax' \
	init "$S/odd_first.onnx" -o "$S/o.onnx" -q "${L[@]}" --data "$DIG"
# ---- bad usage: exit 2
expect "unknown pass" 2 "unknown pretrain pass 'lsuw'" init "$MLP" -o "$S/o.onnx" --pretrain lsuw --data "$DIG"
expect "unknown parameter" 2 "lsuv: unknown parameter 'tolerance'" \
	init "$MLP" -o "$S/o.onnx" --pretrain 'lsuv(tolerance=0.1)' --data "$DIG"
expect "bad parameter value" 2 'lsuv: tol must be a number > 0' \
	init "$MLP" -o "$S/o.onnx" --pretrain 'lsuv(tol=-1)' --data "$DIG"
expect "bad ortho" 2 'ortho must be true or false' \
	init "$MLP" -o "$S/o.onnx" --pretrain 'lsuv(ortho=maybe)' --data "$DIG"
expect "--pretrain without --data" 2 '--pretrain needs --data' init "$MLP" -o "$S/o.onnx" --pretrain lsuv
expect "--data without --pretrain" 2 'are for --pretrain' init "$MLP" -o "$S/o.onnx" --data "$DIG"
expect "--batch 0" 2 '--batch takes a count' init "$MLP" -o "$S/o.onnx" "${L[@]}" --data "$DIG" --batch 0
expect "--data-scale nonsense" 2 '--data-scale takes a number' init "$MLP" -o "$S/o.onnx" "${L[@]}" --data "$DIG" --data-scale x
expect "--input-shape malformed" 2 "input shape 'x=3,,4'" init "$MLP" -o "$S/o.onnx" "${L[@]}" --data normal --input-shape x=3,,4
expect "--input-shape of no input" 2 "input shape for 'z': the model has no such input" \
	init "$MLP" -o "$S/o.onnx" "${L[@]}" --data normal --input-shape z=3,64
expect "stats without --data" 2 '--data DATA is needed' stats "$MLP"
expect "batch: --pretrain without --data" 2 '--pretrain needs --data' batch "$MLP" -o "$S/outdir" --pretrain lsuv

# ---- the good paths around them
run init "$S/dyn.onnx" -o "$S/dyn_out.onnx" "${L[@]}" --data normal --input-shape x=4,3,10
if [ "$rc" -eq 0 ] && [ -s "$S/dyn_out.onnx" ]; then ok "random data with --input-shape"; else not_ok "random data with --input-shape" "exit $rc: $(head -c 300 "$S/err")"; fi
for z in two twoz; do
	run init "$S/two.onnx" -o "$S/${z}_out.onnx" "${L[@]}" --data "$S/$z.npz" --json
	if [ "$rc" -eq 0 ] && grep -qE '"status": ?"done"' "$S/out"; then ok "npz ($z) feeds two inputs"
	else not_ok "npz ($z) feeds two inputs" "exit $rc: $(head -c 300 "$S/err")"; fi
done
layers() { "$PY" -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["layers"]))' "$1"; }
run stats "$MLP" --data "$S/fortran.npy" --json
layers "$S/out" >"$S/fortran.json"
run stats "$MLP" --data "$DIG" --data-scale 0.0625 --json
layers "$S/out" >"$S/c.json"
if [ "$rc" -eq 0 ] && cmp -s "$S/c.json" "$S/fortran.json"; then ok "a Fortran-order .npy reads as its C-order twin"
else not_ok "a Fortran-order .npy reads as its C-order twin" "the stats differ"; fi
run init "$S/dead.onnx" -o "$S/dead_out.onnx" --scheme keep "${L[@]}" --data "$DIG" --json
if [ "$rc" -eq 0 ] && grep -q "layer 'fc2' (Gemm): its output has variance 0 on the batch (a dead layer)" "$S/err" \
	&& grep -qE '"status": ?"dead"' "$S/out"; then ok "a dead layer: a warning, its weight left"
else not_ok "a dead layer: a warning, its weight left" "exit $rc: $(head -c 300 "$S/err")"; fi
run init "$S/odd.onnx" -o "$S/odd_out.onnx" "${L[@]}" --data "$DIG" --json
if [ "$rc" -eq 0 ] && grep -q "op 'Hardmax' (node 'odd') is not supported by the evaluator" "$S/err" \
	&& [ "$(grep -c 'not supported' "$S/err")" -eq 1 ]; then ok "an unknown op: one warning, the layers before it done"
else not_ok "an unknown op: one warning, the layers before it done" "exit $rc: $(head -c 300 "$S/err")"; fi

mkdir -p "$S/tree/a"
cp "$MLP" "$S/tree/"
cp "$MLP" "$S/tree/a/m2.onnx"
run batch "$S/tree" -o "$S/tree_out" "${L[@]}" --data "$DIG" --data-scale 0.0625 -j 2 --manifest "$S/m.jsonl"
if [ "$rc" -eq 0 ] && [ "$(grep -c '"status":"ok"' "$S/m.jsonl")" -eq 2 ] \
	&& [ "$(grep -c 'lsuv on digits_512.npy: 9 layers, 9 within tolerance' "$S/err")" -eq 2 ]; then
	ok "batch: --pretrain on every model"
else not_ok "batch: --pretrain on every model" "exit $rc: $(head -c 300 "$S/err")"; fi

echo "eval-cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
