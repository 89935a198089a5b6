#!/usr/bin/python3
"""Role inference on odd graphs and on Debian's libonnx-testdata.

Usage: check_graphs.py --onnxinit BIN --work DIR

1. Bad graphs (built here with python3-onnx): a cycle, a node input naming
   nothing, a Transpose with a bad perm, a Conv whose weight rank disagrees
   with kernel_shape, a 5,000-node Identity chain, a lattice of diamonds with
   2^40 paths. `inspect` must exit 0 within the time limit, warn on stderr,
   and give the broken weights learnable_other; `init` must refuse the model
   with the dangling input (exit 1) and take the others.
2. pytorch-converted models of libonnx-testdata: every float initializer gets
   a role other than learnable_other, and the fans of conv, dense and
   embedding weights are torch's rule applied to the PyTorch layout of the
   tensor (read from the graph here, independently of onnxinit).
Prints `graphs: N passed, M failed`.
"""
import argparse
import glob
import json
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

failures = []
passed = 0


def check(cond, what):
    global passed
    if cond:
        passed += 1
    else:
        failures.append(what)
        print("FAIL", what)


def run(args, timeout=20):
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        return "timeout", "", ""


def save(graph, path):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, path)


def vi(name):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, None)


def w(name, shape):
    return numpy_helper.from_array(np.ones(shape, np.float32), name)


def bad_graphs(binary, work):
    cases = {}
    # a cycle through layout ops, around a weight that also feeds a MatMul
    cases["cycle"] = helper.make_graph(
        [helper.make_node("Concat", ["W", "c2"], ["c1"], axis=0),
         helper.make_node("Identity", ["c1"], ["c2"]),
         helper.make_node("MatMul", ["c2", "x"], ["y"])],
        "g", [vi("x")], [vi("y")], [w("W", [4, 3])])
    cases["dangling"] = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"]),
         helper.make_node("Add", ["y", "nothing"], ["z"])],
        "g", [vi("x")], [vi("z")], [w("W", [4, 3])])
    cases["bad_perm"] = helper.make_graph(
        [helper.make_node("Transpose", ["W"], ["wt"], perm=[0, 0]),
         helper.make_node("MatMul", ["x", "wt"], ["y"])],
        "g", [vi("x")], [vi("y")], [w("W", [4, 3])])
    cases["conv_rank"] = helper.make_graph(
        [helper.make_node("Conv", ["x", "W"], ["y"], kernel_shape=[3, 3])],
        "g", [vi("x")], [vi("y")], [w("W", [8, 4, 3])])
    chain = [helper.make_node("Identity", ["W" if i == 0 else f"i{i-1}"], [f"i{i}"])
             for i in range(5000)]
    chain.append(helper.make_node("MatMul", ["x", "i4999"], ["y"]))
    cases["long_chain"] = helper.make_graph(chain, "g", [vi("x")], [vi("y")], [w("W", [4, 3])])
    lattice, prev = [], "W"
    for i in range(40):  # each level doubles the paths: a -> (b, c) -> d
        lattice += [helper.make_node("Identity", [prev], [f"a{i}"]),
                    helper.make_node("Identity", [prev], [f"b{i}"]),
                    helper.make_node("Concat", [f"a{i}", f"b{i}"], [f"d{i}"], axis=0)]
        prev = f"d{i}"
    lattice.append(helper.make_node("Add", [prev, "x"], ["y"]))
    cases["diamonds"] = helper.make_graph(lattice, "g", [vi("x")], [vi("y")], [w("W", [2])])

    expect_other = {"bad_perm", "conv_rank"}
    for name, graph in cases.items():
        path = os.path.join(work, name + ".onnx")
        save(graph, path)
        rc, out, err = run([binary, "inspect", "--json", path])
        check(rc == 0, f"{name}: inspect exit {rc} ({err.strip()[:200]})")
        if rc != 0:
            continue
        roles = {t["name"]: t for t in json.loads(out)["tensors"]}
        if name in expect_other:
            check(roles["W"]["role"] == "learnable_other",
                  f"{name}: W role {roles['W']['role']}, expected learnable_other")
            check("warning" in err, f"{name}: no warning on stderr")
        if name == "long_chain":
            check(roles["W"]["role"] == "dense_weight" and roles["W"]["fan_in"] == 4,
                  f"long_chain: W {roles['W']['role']} {roles['W']['fan_in']}")
        rc, out, err = run([binary, "init", path, "-o", path + ".out", "--scheme", "zeros"])
        if name == "dangling":
            check(rc == 1 and err.count("\n") == 1 and "nothing" in err,
                  f"dangling: init exit {rc}, stderr {err!r}")
            check(not os.path.exists(path + ".out"), "dangling: an output was written")
        else:
            check(rc == 0, f"{name}: init exit {rc} ({err.strip()[:200]})")


def torch_fans(shape):
    """torch.nn.init._calculate_fan_in_and_fan_out on a shape."""
    if len(shape) < 2:
        return None
    rf = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * rf, shape[0] * rf


def expected_for(model):
    """Roles and torch fans of float initializers, from the consumers."""
    g = model.graph
    inits = {t.name: list(t.dims) for t in g.initializer if t.data_type == TensorProto.FLOAT}
    exp = {}
    for n in g.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        for i, name in enumerate(n.input):
            if name not in inits:
                continue
            shape = inits[name]
            if n.op_type == "Conv" and i == 1:
                exp[name] = ("conv_weight", torch_fans(shape))
            elif n.op_type == "ConvTranspose" and i == 1:
                exp[name] = ("conv_transpose_weight", torch_fans(shape))
            elif n.op_type == "Gemm" and i == 1:
                layout = shape if attrs.get("transB", 0) else shape[::-1]
                exp[name] = ("dense_weight", torch_fans(layout))
            elif n.op_type == "MatMul" and i == 1 and len(shape) == 2:
                exp[name] = ("dense_weight", torch_fans(shape[::-1]))
            elif n.op_type == "Gather" and i == 0:
                exp[name] = ("embedding", torch_fans(shape))
    return exp


def testdata(binary):
    root = "/usr/share/libonnx-testdata/data/pytorch-converted"
    allowed_other = {"test_PoissonNLLLLoss_no_reduce"}  # a loss input, not a weight
    for path in sorted(glob.glob(root + "/*/model.onnx")):
        name = os.path.basename(os.path.dirname(path))
        rc, out, err = run([binary, "inspect", "--json", "-q", path])
        check(rc == 0, f"{name}: inspect exit {rc}")
        if rc != 0:
            continue
        got = {t["name"]: t for t in json.loads(out)["tensors"]}
        exp = expected_for(onnx.load(path))
        for t in got.values():
            if t["dtype"] == "float32" and name not in allowed_other:
                check(t["role"] != "learnable_other", f"{name}: {t['name']} is learnable_other")
        for tname, (role, fans) in exp.items():
            t = got.get(tname)
            check(t is not None and t["role"] == role and
                  (fans is None or (t["fan_in"], t["fan_out"]) == fans),
                  f"{name}: {tname} expected {role} {fans}, got "
                  f"{t and (t['role'], t['fan_in'], t['fan_out'])}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnxinit", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    bad_graphs(a.onnxinit, a.work)
    testdata(a.onnxinit)
    print(f"graphs: {passed} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
