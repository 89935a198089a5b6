#!/usr/bin/python3
"""py_batch_reinit.py ROOT OUTDIR [--seed N]: the Python baseline for bench_batch.sh.

The obvious loop with python3-onnx + numpy, in one process: for every *.onnx below ROOT
(os.walk, sorted), onnx.load it, give every float32 initializer of rank >= 2 new values
from kaiming_uniform with torch's defaults (a=0, mode=fan_in, leaky_relu gain sqrt(2), so
bound = sqrt(6 / fan_in)), drawn with numpy's uniform, and onnx.save it to the same
relative path below OUTDIR.  Kept simple: the fan is read from the rank alone,
  rank >= 3: a Conv weight (M, C/g, k...):   fan_in = shape[1] * prod(shape[2:])
  rank 2:    a MatMul weight (in, out):      fan_in = shape[0]
(right for bench_batch.sh's models; no graph analysis, no Gemm transB).  Biases and other
rank-0/1 tensors are left as they are.  One numpy Generator (seed N) for the whole run.
"""
import argparse
import math
import os

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    rng = np.random.default_rng(a.seed)
    models = tensors = 0
    for d, dirs, files in os.walk(a.root):
        dirs.sort()
        rel = os.path.relpath(d, a.root)
        for name in sorted(files):
            if not name.endswith(".onnx"):
                continue
            m = onnx.load(os.path.join(d, name))
            for t in m.graph.initializer:
                if t.data_type != TensorProto.FLOAT or len(t.dims) < 2:
                    continue
                shape = tuple(t.dims)
                fan_in = shape[0] if len(shape) == 2 else shape[1] * math.prod(shape[2:])
                bound = math.sqrt(6.0 / fan_in)
                w = rng.uniform(-bound, bound, size=shape).astype(np.float32)
                t.CopyFrom(numpy_helper.from_array(w, t.name))
                tensors += 1
            od = os.path.normpath(os.path.join(a.out, rel))
            os.makedirs(od, exist_ok=True)
            onnx.save(m, os.path.join(od, name))
            models += 1
    print(f"re-initialized {tensors} weights in {models} models")


if __name__ == "__main__":
    main()
