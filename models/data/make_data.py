"""Sample data and two demo models for the data-driven passes (stats, --pretrain).

    /usr/bin/python3 models/data/make_data.py          # rewrites the files in models/data/
    /usr/bin/python3 models/data/make_data.py OUTDIR   # or writes them elsewhere

Data, from Debian packages (scripts/setup.sh --test installs them):
  fashion_mnist_256.npy  the first 256 test images of Fashion-MNIST (dataset-fashion-mnist,
                         /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz, IDX),
                         uint8, shape (256, 1, 28, 28): N, C, H, W as a Conv reads them
  digits_512.npy         the first 512 rows of scikit-learn's digits (python3-sklearn,
                         sklearn/datasets/data/digits.csv.gz), uint8 in 0..16, shape (512, 64)
Models (python3-onnx and numpy only, fixed seeds, byte-identical on every run; opset 17):
  digits_mlp.onnx        a deep tanh MLP: 8 x (Gemm 64->64 + Tanh), Gemm 64->10; input x [N, 64]
  fashion_cnn.onnx       a plain CNN: 6 x (Conv 3x3 + Relu) 1->16->16->32(s2)->32->64(s2)->64,
                         GlobalAveragePool, Flatten, Gemm 64->10; input x [N, 1, 28, 28]
Their weights are small N(0, 0.05^2) values, so that the signal fades with depth: what
`onnxinit stats` shows and `--pretrain lsuv` repairs.
"""
import gzip
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FASHION = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
DIGITS = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"


def fashion(n):
    with gzip.open(FASHION, "rb") as f:
        head = f.read(16)
        magic, count, rows, cols = np.frombuffer(head, dtype=">u4")
        assert magic == 2051 and rows == 28 and cols == 28, "not an IDX image file"
        data = np.frombuffer(f.read(n * 28 * 28), dtype=np.uint8)
    return data.reshape(n, 1, 28, 28)


def digits(n):
    rows = np.loadtxt(DIGITS, delimiter=",", max_rows=n)
    return rows[:, :64].astype(np.uint8)


def save_model(path, nodes, inits, x_shape, y_shape):
    g = helper.make_graph(nodes, os.path.basename(path)[:-5],
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)],
                          [numpy_helper.from_array(a.astype(np.float32), k) for k, a in inits])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)],
                          producer_name="onnxinit models/data/make_data.py")
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)


def mlp(path, rng):
    nodes, inits, x = [], [], "x"
    for i in range(8):
        inits += [(f"fc{i}.weight", rng.normal(0, 0.05, (64, 64))), (f"fc{i}.bias", np.zeros(64))]
        nodes += [helper.make_node("Gemm", [x, f"fc{i}.weight", f"fc{i}.bias"], [f"h{i}"],
                                   name=f"fc{i}", transB=1),
                  helper.make_node("Tanh", [f"h{i}"], [f"a{i}"], name=f"tanh{i}")]
        x = f"a{i}"
    inits += [("head.weight", rng.normal(0, 0.05, (10, 64))), ("head.bias", np.zeros(10))]
    nodes.append(helper.make_node("Gemm", [x, "head.weight", "head.bias"], ["y"], name="head",
                                  transB=1))
    save_model(path, nodes, inits, ["N", 64], ["N", 10])


def cnn(path, rng):
    nodes, inits, x = [], [], "x"
    plan = [(1, 16, 1), (16, 16, 1), (16, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1)]
    for i, (ci, co, s) in enumerate(plan):
        inits += [(f"conv{i}.weight", rng.normal(0, 0.05, (co, ci, 3, 3))),
                  (f"conv{i}.bias", np.zeros(co))]
        nodes += [helper.make_node("Conv", [x, f"conv{i}.weight", f"conv{i}.bias"], [f"c{i}"],
                                   name=f"conv{i}", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                   strides=[s, s]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"], name=f"relu{i}")]
        x = f"r{i}"
    inits += [("head.weight", rng.normal(0, 0.05, (10, 64))), ("head.bias", np.zeros(10))]
    nodes += [helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"),
              helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
              helper.make_node("Gemm", ["flat", "head.weight", "head.bias"], ["y"], name="head",
                               transB=1)]
    save_model(path, nodes, inits, ["N", 1, 28, 28], ["N", 10])


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "fashion_mnist_256.npy"), fashion(256))
    np.save(os.path.join(out, "digits_512.npy"), digits(512))
    mlp(os.path.join(out, "digits_mlp.onnx"), np.random.default_rng(1))
    cnn(os.path.join(out, "fashion_cnn.onnx"), np.random.default_rng(2))


if __name__ == "__main__":
    main()
