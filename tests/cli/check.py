#!/usr/bin/python3
"""Checks of the CLI tests that need a JSON parser or python3-onnx.

Usage: /usr/bin/python3 tests/cli/check.py CHECK ARGS...
  inspect-json JSON_FILE MODEL_PATH      `inspect --json` output: its keys and their types
  plan-json JSON_FILE MODEL_PATH         `init --dry-run --json` output
  provenance MODEL VERSION SEED SCHEME   metadata_props has key onnxinit with that JSON
  no-provenance MODEL                    metadata_props has no key onnxinit
  valid MODEL                            onnx.load (external data too) + checker
  zeroed MODEL                           valid, and every float initializer is all zeros
Exit 0 when the check holds; otherwise one line on stdout says why, exit 1.
"""

import json
import sys

SOURCES = {"initializer", "constant_node", "sparse_initializer", "attribute"}
STORAGES = {"raw", "typed", "external"}
ACTIONS = {"reinit", "copy", "keep"}
TENSOR_KEYS = ("name", "graph", "source", "dtype", "shape", "storage", "role", "op", "node",
               "fan_in", "fan_out", "activation", "gain")


class Fail(Exception):
    pass


def need(cond, why):
    if not cond:
        raise Fail(why)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_json(path, model, plan):
    with open(path) as f:
        text = f.read()
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise Fail("stdout is not JSON: %s" % e)
    need(isinstance(doc, dict), "top level is not an object")
    for k in ("model", "ir_version", "opset", "tensors"):
        need(k in doc, "no key '%s'" % k)
    need(doc["model"] == model, "model is %r, not %r" % (doc["model"], model))
    need(is_int(doc["ir_version"]), "ir_version is not an integer")
    need(isinstance(doc["opset"], dict) and doc["opset"], "opset is not a non-empty object")
    need(all(is_int(v) for v in doc["opset"].values()), "opset versions are not integers")
    need(isinstance(doc["tensors"], list) and doc["tensors"], "tensors is not a non-empty list")
    for t in doc["tensors"]:
        need(isinstance(t, dict), "a tensor is not an object")
        keys = TENSOR_KEYS + (("scheme", "std", "bound", "action") if plan else ())
        for k in keys:
            need(k in t, "tensor %r has no key '%s'" % (t.get("name"), k))
        name = t["name"]
        need(isinstance(name, str), "a tensor name is not a string")
        need(isinstance(t["graph"], str) and
             (t["graph"] == "main" or t["graph"].startswith(("main/", "function:",
                                                            "training_info["))),
             "tensor %r: graph %r" % (name, t["graph"]))
        need(t["source"] in SOURCES, "tensor %r: source %r" % (name, t["source"]))
        need(t["storage"] in STORAGES, "tensor %r: storage %r" % (name, t["storage"]))
        need(isinstance(t["dtype"], str) and t["dtype"] != "unknown",
             "tensor %r: dtype %r" % (name, t["dtype"]))
        need(isinstance(t["shape"], list) and all(is_int(d) and d >= 0 for d in t["shape"]),
             "tensor %r: shape %r" % (name, t["shape"]))
        for k in ("fan_in", "fan_out"):
            need(t[k] is None or (is_int(t[k]) and t[k] >= 0), "tensor %r: %s %r" % (name, k, t[k]))
        for k in ("role", "op", "node", "activation"):
            need(t[k] is None or isinstance(t[k], str), "tensor %r: %s %r" % (name, k, t[k]))
        need(t["gain"] is None or isinstance(t["gain"], (int, float)),
             "tensor %r: gain %r" % (name, t["gain"]))
        if plan:
            need(t["action"] in ACTIONS, "tensor %r: action %r" % (name, t["action"]))
            need(isinstance(t["scheme"], str), "tensor %r: scheme %r" % (name, t["scheme"]))
            for k in ("std", "bound"):
                need(t[k] is None or isinstance(t[k], (int, float)),
                     "tensor %r: %s %r" % (name, k, t[k]))


def load(path, external=True):
    import onnx
    try:
        return onnx.load(path, load_external_data=external)
    except Exception as e:  # noqa: BLE001 - any failure to load is the finding
        raise Fail("python3-onnx cannot load %s: %s" % (path, e))


def weights(graph):
    """Initializers and Constant node values, in every subgraph."""
    yield from graph.initializer
    for node in graph.node:
        for a in node.attribute:
            if node.op_type == "Constant" and a.HasField("t"):
                yield a.t
            if a.HasField("g"):
                yield from weights(a.g)
            for g in a.graphs:
                yield from weights(g)


def provenance_of(path):
    m = load(path, external=False)
    return [p.value for p in m.metadata_props if p.key == "onnxinit"]


def main():
    check, args = sys.argv[1], sys.argv[2:]
    if check in ("inspect-json", "plan-json"):
        check_json(args[0], args[1], check == "plan-json")
    elif check == "provenance":
        path, version, seed, scheme = args
        vals = provenance_of(path)
        need(len(vals) == 1, "%d metadata_props entries with key onnxinit" % len(vals))
        try:
            p = json.loads(vals[0])
        except ValueError as e:
            raise Fail("provenance is not JSON: %s" % e)
        need(isinstance(p, dict), "provenance is not an object")
        need(p.get("version") == version, "version %r, not %r" % (p.get("version"), version))
        need(str(p.get("seed")) == seed, "seed %r, not %s" % (p.get("seed"), seed))
        need(p.get("scheme") == scheme, "scheme %r, not %r" % (p.get("scheme"), scheme))
    elif check == "no-provenance":
        need(not provenance_of(args[0]), "has a metadata_props entry onnxinit")
    elif check in ("valid", "zeroed"):
        import onnx
        from onnx import numpy_helper
        m = load(args[0])
        try:
            onnx.checker.check_model(m)
        except Exception as e:  # noqa: BLE001
            raise Fail("onnx.checker: %s" % str(e).splitlines()[0])
        if check == "zeroed":
            floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE,
                      onnx.TensorProto.BFLOAT16}
            # tensors the graph makes `fixed` (scalars, shapes, bounds) are never touched
            import json as _json
            import os as _os
            import subprocess as _sp
            fixed, ones = set(), set()
            if _os.environ.get("ONNXINIT"):
                out = _sp.run([_os.environ["ONNXINIT"], "inspect", "--json", "-q", args[0]],
                              capture_output=True, text=True, check=True).stdout
                listed = _json.loads(out)["tensors"]
                fixed = {t["name"] for t in listed if t["role"] == "fixed"}
                # running variances are state: a default scheme resets them to 1
                ones = {t["name"] for t in listed if t["role"] == "norm_var"}
            n = 0
            for t in weights(m.graph):
                if t.data_type in floats and t.name in ones:
                    need(bool((numpy_helper.to_array(t) == 1).all()),
                         "norm_var %r is not all ones" % t.name)
                    continue
                if t.data_type in floats and t.name not in fixed:
                    n += 1
                    need(not numpy_helper.to_array(t).astype("float64").any(),
                         "tensor %r is not all zeros" % t.name)
            need(n > 0, "no float tensor to check")
    else:
        raise Fail("unknown check %r" % check)


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        print(str(e).replace("\n", " "))
        sys.exit(1)
