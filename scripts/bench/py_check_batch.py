#!/usr/bin/python3
"""py_check_batch.py ROOT OUTDIR [--sample K]: spot-check a batch output tree.

For K models spread evenly over the sorted relative paths below ROOT: OUTDIR/REL loads
with onnx and passes onnx.checker; it has the input's initializers (names, types, shapes)
and graph; every float initializer of rank >= 2 has new values (differs from the input)
within the kaiming_uniform bound sqrt(6 / fan_in) (fan_in as in py_batch_reinit.py; the
largest bound any gain <= sqrt(2) gives).  Prints a summary; exit 1 on any failure.
"""
import argparse
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("out")
    ap.add_argument("--sample", type=int, default=20)
    a = ap.parse_args()

    rels = sorted(os.path.relpath(os.path.join(d, f), a.root)
                  for d, _, fs in os.walk(a.root) for f in fs if f.endswith(".onnx"))
    if not rels:
        sys.exit("py_check_batch: no models below " + a.root)
    k = min(a.sample, len(rels))
    picks = sorted({rels[i * len(rels) // k] for i in range(k)})
    errors, weights = [], 0
    for rel in picks:
        try:
            src = onnx.load(os.path.join(a.root, rel))
            path = os.path.join(a.out, rel)
            dst = onnx.load(path)
            onnx.checker.check_model(path)
            if len(src.graph.node) != len(dst.graph.node):
                raise ValueError("node count differs")
            si = {t.name: t for t in src.graph.initializer}
            di = {t.name: t for t in dst.graph.initializer}
            if si.keys() != di.keys():
                raise ValueError("initializer names differ")
            for name, s in si.items():
                d = di[name]
                if s.data_type != d.data_type or list(s.dims) != list(d.dims):
                    raise ValueError(f"{name}: type or shape differs")
                if s.data_type != TensorProto.FLOAT or len(s.dims) < 2:
                    continue
                shape = tuple(s.dims)
                fan_in = shape[0] if len(shape) == 2 else shape[1] * math.prod(shape[2:])
                bound = math.sqrt(6.0 / fan_in) * (1 + 1e-6)
                sv, dv = numpy_helper.to_array(s), numpy_helper.to_array(d)
                if np.array_equal(sv, dv):
                    raise ValueError(f"{name}: not re-initialized")
                if not np.all(np.abs(dv) <= bound):
                    raise ValueError(f"{name}: |w| {np.abs(dv).max():.4g} > bound {bound:.4g}")
                weights += 1
        except Exception as e:  # report every failing model
            errors.append(f"{rel}: {e}")
    for e in errors:
        print("py_check_batch:", e, file=sys.stderr)
    print(f"{len(picks) - len(errors)}/{len(picks)} sampled models ok, {weights} weights checked")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
