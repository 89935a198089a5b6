#!/usr/bin/python3
"""Write a tree of N small, valid, deterministic ONNX models for bench_batch.sh.

    make_batch_tree.py ROOT --models N [--seed 20240601]

One process writes every model.  Model i (0-based) goes to

    ROOT/set-FF/{mlp,cnn}/model-IIIII.onnx      FF = i mod 10 (fewer sets if N < 10)

and is an MLP when i is even, a CNN when i is odd, its shapes drawn from
numpy.random.default_rng(seed + i) (so every model is reproducible on its own):

  MLP: X[1,d0] -> 3 x (MatMul W (din, dout) + Add b + Relu), last without Relu
       d0, h1, h2 in 80..144, classes in 10..32        3 weights, 3 biases
  CNN: X[1,3,32,32] -> Conv 3x3 (c1,3) + Relu -> Conv 3x3 (c2,c1) + Relu
       -> Conv 3x3 (c3,c2) + Relu -> GlobalAveragePool -> Flatten
       -> MatMul W (c3, classes) + Add b
       c1 in 16..32, c2 in 32..48, c3 in 48..64        4 weights, 4 biases

Weights (and biases) are float32 raw_data initializers, about 50-200 KiB per model.
The tree is written to ROOT.tmp and renamed to ROOT at the end, so ROOT is complete or
absent; ROOT must not exist.
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def init(name, arr):
    return numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), name)


def mlp(rng):
    d0, h1, h2 = (int(v) for v in rng.integers(80, 145, size=3))
    classes = int(rng.integers(10, 33))
    dims = [d0, h1, h2, classes]
    nodes, inits = [], []
    x = "X"
    for k in range(3):
        din, dout = dims[k], dims[k + 1]
        w, b = f"fc{k}.weight", f"fc{k}.bias"
        inits.append(init(w, rng.standard_normal((din, dout)) * 0.05))
        inits.append(init(b, np.zeros(dout)))
        nodes.append(helper.make_node("MatMul", [x, w], [f"mm{k}"]))
        y = f"fc{k}" if k < 2 else "Y"
        nodes.append(helper.make_node("Add", [f"mm{k}", b], [y if k == 2 else f"pre{k}"]))
        if k < 2:
            nodes.append(helper.make_node("Relu", [f"pre{k}"], [y]))
        x = y
    inp = helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, d0])
    out = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, classes])
    return helper.make_graph(nodes, "mlp", [inp], [out], inits)


def cnn(rng):
    c1 = int(rng.integers(16, 33))
    c2 = int(rng.integers(32, 49))
    c3 = int(rng.integers(48, 65))
    classes = int(rng.integers(10, 33))
    chans = [3, c1, c2, c3]
    nodes, inits = [], []
    x = "X"
    for k in range(3):
        cin, cout = chans[k], chans[k + 1]
        w, b = f"conv{k}.weight", f"conv{k}.bias"
        inits.append(init(w, rng.standard_normal((cout, cin, 3, 3)) * 0.05))
        inits.append(init(b, np.zeros(cout)))
        nodes.append(helper.make_node("Conv", [x, w, b], [f"c{k}"],
                                      kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"c{k}"], [f"r{k}"]))
        x = f"r{k}"
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], axis=1))
    inits.append(init("fc.weight", rng.standard_normal((c3, classes)) * 0.05))
    inits.append(init("fc.bias", np.zeros(classes)))
    nodes.append(helper.make_node("MatMul", ["flat", "fc.weight"], ["mm"]))
    nodes.append(helper.make_node("Add", ["mm", "fc.bias"], ["Y"]))
    inp = helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 3, 32, 32])
    out = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, classes])
    return helper.make_graph(nodes, "cnn", [inp], [out], inits)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--models", type=int, required=True)
    ap.add_argument("--seed", type=int, default=20240601)
    a = ap.parse_args()
    if a.models < 1:
        sys.exit("make_batch_tree: --models must be >= 1")
    root = a.root.rstrip("/")
    if os.path.exists(root):
        sys.exit(f"make_batch_tree: {root} exists")
    tmp = root + ".tmp"
    if os.path.exists(tmp):
        import shutil
        shutil.rmtree(tmp)

    sets = min(10, a.models)
    total = 0
    for i in range(a.models):
        rng = np.random.default_rng(a.seed + i)
        kind = "mlp" if i % 2 == 0 else "cnn"
        graph = mlp(rng) if kind == "mlp" else cnn(rng)
        model = helper.make_model(graph, producer_name="onnxinit-bench",
                                  opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 7
        if i < 2:
            onnx.checker.check_model(model)
        d = os.path.join(tmp, f"set-{i % sets:02d}", kind)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, f"model-{i:05d}.onnx")
        data = model.SerializeToString()
        with open(path, "wb") as f:
            f.write(data)
        total += len(data)
    os.rename(tmp, root)
    print(f"wrote {a.models} models, {total} bytes ({total / a.models / 1024:.0f} KiB mean) "
          f"in {sets} sets to {root}")


if __name__ == "__main__":
    main()
