#!/usr/bin/python3
"""py_reinit.py IN OUT [--seed N] [--dist uniform|normal|trunc_normal] [--lib numpy|torch]:
the Python baseline for bench_reinit.sh.

The obvious way with python3-onnx + numpy: onnx.load the model, give every 2-D float
initializer (a MatMul weight (K, N): fan_in = K, its rows) new values from
kaiming_uniform with torch's defaults (a=0, mode=fan_in, nonlinearity=leaky_relu, so
gain = sqrt(2) and bound = sqrt(3) * gain / sqrt(fan_in) = sqrt(6 / fan_in)), drawn with
numpy's uniform (or with --dist kaiming_normal's N(0, 2 / fan_in), or trunc_normal_'s
N(0, 0.02) cut at +-2 as timm uses it; --lib torch draws them with torch.nn.init's own
functions, fan_in = cols as torch sees the tensor); leave every other tensor (the biases) as it is; onnx.save.
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
    ap.add_argument("--dist", choices=["uniform", "normal", "trunc_normal"], default="uniform")
    ap.add_argument("--lib", choices=["numpy", "torch"], default="numpy")
    a = ap.parse_args()
    if a.lib == "torch":
        import torch
        torch.manual_seed(a.seed)

    rng = np.random.default_rng(a.seed)
    m = onnx.load(a.inp)
    n = 0
    for t in m.graph.initializer:
        if t.data_type != TensorProto.FLOAT or len(t.dims) != 2:
            continue
        fan_in = t.dims[0]
        if a.lib == "torch":
            x = torch.empty(tuple(t.dims))
            if a.dist == "uniform":
                torch.nn.init.kaiming_uniform_(x, nonlinearity="relu")
            elif a.dist == "normal":
                torch.nn.init.kaiming_normal_(x, nonlinearity="relu")
            else:
                torch.nn.init.trunc_normal_(x, std=0.02, a=-2.0, b=2.0)
            w = x.numpy()
        elif a.dist == "uniform":
            bound = math.sqrt(6.0 / fan_in)
            w = rng.uniform(-bound, bound, size=tuple(t.dims)).astype(np.float32)
        elif a.dist == "normal":
            w = (rng.standard_normal(size=tuple(t.dims)) * math.sqrt(2.0 / fan_in)).astype(np.float32)
        else:
            w = rng.standard_normal(size=tuple(t.dims)) * 0.02
            bad = np.abs(w) > 2.0
            while bad.any():  # resample outside the cut (never at std 0.02, but exact)
                w[bad] = rng.standard_normal(size=int(bad.sum())) * 0.02
                bad = np.abs(w) > 2.0
            w = w.astype(np.float32)
        t.CopyFrom(numpy_helper.from_array(w, t.name))
        n += 1
    onnx.save(m, a.out)
    print(f"re-initialized {n} weights")


if __name__ == "__main__":
    main()
