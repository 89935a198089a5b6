#!/usr/bin/python3
"""py_reinit.py IN OUT [--seed N]: the Python baseline for bench_reinit.sh.

The obvious way with python3-onnx + numpy: onnx.load the model, give every 2-D float
initializer (a MatMul weight (K, N): fan_in = K, its rows) new values from
kaiming_uniform with torch's defaults (a=0, mode=fan_in, nonlinearity=leaky_relu, so
gain = sqrt(2) and bound = sqrt(3) * gain / sqrt(fan_in) = sqrt(6 / fan_in)), drawn with
numpy's uniform; leave every other tensor (the biases) as it is; onnx.save.
"""
import argparse
import math

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    rng = np.random.default_rng(a.seed)
    m = onnx.load(a.inp)
    n = 0
    for t in m.graph.initializer:
        if t.data_type != TensorProto.FLOAT or len(t.dims) != 2:
            continue
        fan_in = t.dims[0]
        bound = math.sqrt(6.0 / fan_in)
        w = rng.uniform(-bound, bound, size=tuple(t.dims)).astype(np.float32)
        t.CopyFrom(numpy_helper.from_array(w, t.name))
        n += 1
    onnx.save(m, a.out)
    print(f"re-initialized {n} weights")


if __name__ == "__main__":
    main()
