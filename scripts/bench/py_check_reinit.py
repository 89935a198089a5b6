#!/usr/bin/python3
"""py_check_reinit.py ORIG OUT: check that OUT is ORIG with its 2-D float weights re-initialized
by kaiming_uniform (a=0, fan_in = rows): loads and passes onnx.checker, same initializer names
and shapes, every weight changed, max|w| <= sqrt(6 / fan_in), sample std within 2% of
bound / sqrt(3).  Prints one line; exit 1 on a failed check."""
import math
import sys

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper


def main():
    orig_path, out_path = sys.argv[1], sys.argv[2]
    onnx.checker.check_model(out_path)           # path form: C++ loads and checks it
    orig = {t.name: t for t in onnx.load(orig_path).graph.initializer}
    out = onnx.load(out_path)
    bad, n = [], 0
    for t in out.graph.initializer:
        o = orig.get(t.name)
        if o is None or list(o.dims) != list(t.dims):
            bad.append(f"{t.name}: not in the input with the same shape")
            continue
        if t.data_type != TensorProto.FLOAT or len(t.dims) != 2:
            continue
        n += 1
        w = numpy_helper.to_array(t)
        bound = math.sqrt(6.0 / t.dims[0])
        if np.array_equal(w, numpy_helper.to_array(o)):
            bad.append(f"{t.name}: unchanged")
        if float(np.abs(w).max()) > bound * (1 + 1e-6):
            bad.append(f"{t.name}: max|w| {float(np.abs(w).max()):.6g} > bound {bound:.6g}")
        std = float(w.astype(np.float64).std())
        if abs(std / (bound / math.sqrt(3.0)) - 1) > 0.02:
            bad.append(f"{t.name}: std {std:.6g}, kaiming_uniform wants {bound / math.sqrt(3):.6g}")
    if bad or n == 0:
        print("; ".join(bad) or "no 2-D float weight found")
        return 1
    print(f"loads, checker ok, {n} weights within +-sqrt(6/fan_in) with std of U(+-bound)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
