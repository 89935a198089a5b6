#!/usr/bin/python3
"""py_check_orthogonal.py OUT [TOL]: every 2-D float initializer W of OUT (the biases are
skipped) is orthogonal: max |W Wt - I| (or Wt W for a tall W), computed in float64, is at
most TOL (default 1e-5). Prints one line; exit 1 on a failed check."""
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def main():
    tol = float(sys.argv[2]) if len(sys.argv) > 2 else 1e-5
    worst, n, bad = 0.0, 0, []
    for t in onnx.load(sys.argv[1]).graph.initializer:
        if len(t.dims) != 2:
            continue
        w = numpy_helper.to_array(t).astype(np.float64)
        g = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
        err = float(np.abs(g - np.eye(g.shape[0])).max())
        worst, n = max(worst, err), n + 1
        if not err <= tol:
            bad.append(f"{t.name}: max |WWt - I| {err:.3g}")
    if bad or not n:
        print("; ".join(bad) or "no 2-D initializer")
        sys.exit(1)
    print(f"{n} matrices, max |WWt - I| {worst:.3g} <= {tol:g}")


if __name__ == "__main__":
    main()
