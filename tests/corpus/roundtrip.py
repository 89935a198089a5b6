#!/usr/bin/python3
"""Round-trip a corpus of ONNX models through `onnxinit init` and check the result.

Usage:
  /usr/bin/python3 tests/corpus/roundtrip.py --onnxinit build/onnxinit --out TMPDIR \\
      [--scheme keep|zeros] [-j 2] [-v] MODEL_OR_DIR...

Every *.onnx file given, or found recursively under a directory given, is run through
  onnxinit init MODEL -o OUT --scheme SCHEME --no-provenance
with OUT = TMPDIR/<name of the argument>/<path relative to it> (external data files are
written by onnxinit beside OUT).  Then, with python3-onnx:

--scheme keep   the output must load to a protobuf equal to the input (both with and
                without external data loaded, so the external-data layout is compared too).
--scheme zeros  every floating tensor (FLOAT, FLOAT16, BFLOAT16, DOUBLE) of the
                initializers, sparse initializers and Constant-node value/sparse_value
                attributes, in the main graph and in every subgraph, is either unchanged or
                all zeros with the same dims, dtype and storage (raw / typed / external);
                nothing else may change.  Which tensors must be zeros is taken from
                `onnxinit inspect MODEL --json`: a float tensor whose role is `fixed` must be
                unchanged, any other listed float tensor must be zeros.
Both:           if onnx.checker (plus strict shape inference) accepts the input, it must
                accept the output.  A nonzero exit of onnxinit is a failure, unless the
                input itself cannot be read by onnx.load.

One line per failure (with onnxinit's stderr), the number of outputs that are byte-identical
to their input, and a last line exactly `roundtrip: N passed, M failed`.  Exit status 1 if
M > 0, 2 on usage errors.
"""

import argparse
import json
import os
import subprocess
import sys
from multiprocessing import Pool

import onnx
from onnx import TensorProto

FLOAT_TYPES = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16}
TIMEOUT = 300  # seconds per onnxinit call

OPTS = None  # set in each worker by init_worker


def init_worker(opts):
    global OPTS
    OPTS = opts


# ------------------------------------------------------------------ model walking
def _node_tensors(nodes, where, in_function):
    for node in nodes:
        for a in node.attribute:
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                names = {n for n in (node.output[0] if node.output else "",) if n}
                if a.name == "value" and a.HasField("t"):
                    yield {"t": a.t, "names": names | {a.t.name} - {""}, "where": where,
                           "source": "constant_node", "function": in_function}
                elif a.name == "sparse_value" and a.HasField("sparse_tensor"):
                    v = a.sparse_tensor.values
                    yield {"t": v, "names": names | {v.name} - {""}, "where": where,
                           "source": "constant_node", "function": in_function}
            sub = (node.name or node.op_type) + "." + a.name
            if a.HasField("g"):
                yield from _graph_tensors(a.g, where + "/" + sub, in_function)
            for i, g in enumerate(a.graphs):
                yield from _graph_tensors(g, "%s/%s[%d]" % (where, sub, i), in_function)


def _graph_tensors(graph, where, in_function=False):
    for t in graph.initializer:
        yield {"t": t, "names": {t.name}, "where": where, "source": "initializer",
               "function": in_function}
    for s in graph.sparse_initializer:
        yield {"t": s.values, "names": {s.values.name}, "where": where,
               "source": "sparse_initializer", "function": in_function}
    yield from _node_tensors(graph.node, where, in_function)


def model_tensors(model):
    """Every TensorProto that may hold weights, in a fixed traversal order."""
    yield from _graph_tensors(model.graph, "main")
    for f in model.functions:
        yield from _node_tensors(f.node, "function:" + f.domain + ":" + f.name, True)


def is_external(t):
    return t.data_location == TensorProto.EXTERNAL


def tensor_is_zero(t):
    if t.HasField("raw_data"):
        return not any(t.raw_data)
    if t.data_type in (TensorProto.FLOAT16, TensorProto.BFLOAT16):
        return all(v == 0 for v in t.int32_data)
    if t.data_type == TensorProto.FLOAT:
        return all(v == 0 for v in t.float_data)
    if t.data_type == TensorProto.DOUBLE:
        return all(v == 0 for v in t.double_data)
    return False


def zero_tensor(t):
    """Zero the contents in place, keeping dims, dtype and storage kind."""
    if t.HasField("raw_data"):
        t.raw_data = bytes(len(t.raw_data))
    elif t.data_type in (TensorProto.FLOAT16, TensorProto.BFLOAT16):
        t.int32_data[:] = [0] * len(t.int32_data)
    elif t.data_type == TensorProto.FLOAT:
        t.float_data[:] = [0.0] * len(t.float_data)
    elif t.data_type == TensorProto.DOUBLE:
        t.double_data[:] = [0.0] * len(t.double_data)


def tensor_is_one(t):
    import numpy as np
    from onnx import numpy_helper
    try:
        return bool(np.all(numpy_helper.to_array(t) == 1))
    except Exception:  # noqa: BLE001 - external data not loaded
        return False


def one_tensor(t):
    """Set the contents to ones in place, keeping dims, dtype and storage kind."""
    import numpy as np
    n = int(np.prod(t.dims)) if len(t.dims) else 1
    np_type = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64,
               TensorProto.FLOAT16: np.float16}
    if t.HasField("raw_data"):
        if t.data_type == TensorProto.BFLOAT16:
            t.raw_data = np.full(n, 0x3F80, np.uint16).tobytes()
        else:
            t.raw_data = np.ones(n, np_type[t.data_type]).tobytes()
    elif t.data_type == TensorProto.FLOAT16:
        t.int32_data[:] = [0x3C00] * len(t.int32_data)
    elif t.data_type == TensorProto.BFLOAT16:
        t.int32_data[:] = [0x3F80] * len(t.int32_data)
    elif t.data_type == TensorProto.FLOAT:
        t.float_data[:] = [1.0] * len(t.float_data)
    elif t.data_type == TensorProto.DOUBLE:
        t.double_data[:] = [1.0] * len(t.double_data)


def has_external(model):
    return any(is_external(x["t"]) for x in model_tensors(model))


# ------------------------------------------------------------------ checks
def checker_ok(path):
    """onnx.checker on the file plus strict shape inference on the proto.

    Never onnx.checker.check_model(path, full_check=True): onnx 1.12 then writes the
    inferred model over `path`.
    """
    try:
        onnx.checker.check_model(path)
        onnx.shape_inference.infer_shapes(onnx.load(path, load_external_data=False),
                                          check_type=True, strict_mode=True)
        return True, ""
    except Exception as e:  # noqa: BLE001 - any checker complaint counts
        return False, one_line(str(e))


def one_line(s, limit=600):
    s = " | ".join(x.strip() for x in s.strip().splitlines() if x.strip())
    return s if len(s) <= limit else s[:limit] + "..."


def load_pair(path):
    """(proto without external data loaded, proto with it loaded or None)."""
    bare = onnx.load(path, load_external_data=False)
    full = onnx.load(path, load_external_data=True) if has_external(bare) else None
    return bare, full


def first_difference(a, b):
    """A short hint of where two protos differ."""
    for field in ("ir_version", "opset_import", "producer_name", "producer_version", "domain",
                  "model_version", "doc_string", "metadata_props", "training_info",
                  "functions"):
        if getattr(a, field) != getattr(b, field):
            return "model." + field
    ga, gb = a.graph, b.graph
    for field in ("name", "doc_string", "input", "output", "value_info",
                  "quantization_annotation"):
        if getattr(ga, field) != getattr(gb, field):
            return "graph." + field
    ta, tb = list(model_tensors(a)), list(model_tensors(b))
    if len(ta) != len(tb):
        return "number of tensors %d != %d" % (len(ta), len(tb))
    for x, y in zip(ta, tb):
        if x["t"] != y["t"]:
            t, u = x["t"], y["t"]
            what = []
            if t.data_type != u.data_type:
                what.append("dtype %d->%d" % (t.data_type, u.data_type))
            if list(t.dims) != list(u.dims):
                what.append("dims %s->%s" % (list(t.dims), list(u.dims)))
            if t.HasField("raw_data") != u.HasField("raw_data") or is_external(t) != is_external(u):
                what.append("storage changed")
            if t.external_data != u.external_data:
                what.append("external_data %s->%s" % (
                    [(e.key, e.value) for e in t.external_data],
                    [(e.key, e.value) for e in u.external_data]))
            return "tensor %s in %s%s" % (sorted(x["names"]), x["where"],
                                          (": " + ", ".join(what)) if what else ": contents")
    if ga.node != gb.node:
        return "graph.node"
    return "unknown field (unknown-field or ordering difference)"


def inspect_roles(model_path):
    """name -> set of roles, from `onnxinit inspect --json`."""
    r = subprocess.run([OPTS.onnxinit, "inspect", model_path, "--json"], capture_output=True,
                       timeout=TIMEOUT)
    if r.returncode != 0:
        raise RuntimeError("inspect exit %d: %s" % (r.returncode,
                                                    one_line(r.stderr.decode(errors="replace"))))
    doc = json.loads(r.stdout)
    roles = {}
    for t in doc.get("tensors", []):
        roles.setdefault(t.get("name"), set()).add(t.get("role"))
    return roles


def check_zeros(inp_bare, inp_full, out_bare, out_full, roles):
    """Returns a list of problems (empty when fine)."""
    problems = []
    ref_in = inp_full if inp_full is not None else inp_bare
    ref_out = out_full if out_full is not None else out_bare
    tin, tout = list(model_tensors(ref_in)), list(model_tensors(ref_out))
    if len(tin) != len(tout):
        return ["number of weight tensors changed: %d -> %d" % (len(tin), len(tout))]
    bare_in = list(model_tensors(inp_bare))
    zeroed, oned = [], []
    for i, (x, y) in enumerate(zip(tin, tout)):
        t, u = x["t"], y["t"]
        if t.data_type not in FLOAT_TYPES:
            continue
        was_zero = tensor_is_zero(t)
        now_zero = u.data_type == t.data_type and tensor_is_zero(u)
        if now_zero and not was_zero:
            zeroed.append(i)
        r = set()
        for n in x["names"]:
            r |= roles.get(n, set())
        if r == {"norm_var"} and not x["function"]:
            # running variances are state, not learnable: a default scheme
            # leaves them to the auto profile, which resets them to 1
            if not (u.data_type == t.data_type and tensor_is_one(u)):
                problems.append("norm_var %s is not ones" % "/".join(sorted(x["names"])))
            oned.append(i)
            continue
        if was_zero or x["function"]:
            continue  # nothing observable / not listed by inspect
        label = "%s %s" % (x["where"], "/".join(sorted(x["names"])))
        if not r:
            problems.append("float tensor %s is not listed by inspect" % label)
        elif r == {"fixed"} and now_zero:
            problems.append("fixed tensor %s was zeroed" % label)
        elif "fixed" not in r and not now_zero:
            problems.append("float tensor %s (role %s) is not zeros" % (label, "/".join(sorted(r))))
    # expected = input with exactly the zeroed tensors zeroed, same storage
    exp_full = None
    if inp_full is not None:
        exp_full = onnx.ModelProto()
        exp_full.CopyFrom(inp_full)
        et = list(model_tensors(exp_full))
        for i in zeroed:
            zero_tensor(et[i]["t"])
        for i in oned:
            one_tensor(et[i]["t"])
    exp_bare = onnx.ModelProto()
    exp_bare.CopyFrom(inp_bare)
    et = list(model_tensors(exp_bare))
    if len(et) != len(bare_in):
        problems.append("internal: traversal mismatch")
        return problems
    for i in zeroed:
        if not is_external(et[i]["t"]):
            zero_tensor(et[i]["t"])
    for i in oned:
        if not is_external(et[i]["t"]):
            one_tensor(et[i]["t"])
    if exp_bare != out_bare:
        problems.append("output differs from the zeroed input at " + first_difference(exp_bare, out_bare))
    if exp_full is not None and (out_full is None or exp_full != out_full):
        problems.append("output (external data loaded) differs from the zeroed input at " +
                        (first_difference(exp_full, out_full) if out_full is not None
                         else "external data (output has none)"))
    return problems


# ------------------------------------------------------------------ one model
def run_one(job):
    model, out, label = job
    res = {"label": label, "ok": False, "identical": False, "msg": "", "note": ""}
    os.makedirs(os.path.dirname(out), exist_ok=True)
    if os.path.exists(out):
        os.unlink(out)
    cmd = [OPTS.onnxinit, "init", model, "-o", out, "--scheme", OPTS.scheme, "--no-provenance"]
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT)
        rc, err = r.returncode, r.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        rc, err = None, "timed out after %ds" % TIMEOUT
    except OSError as e:
        rc, err = None, str(e)

    try:
        inp_bare, inp_full = load_pair(model)
    except Exception as e:  # noqa: BLE001
        # onnx itself cannot read the input: refusing it is right, accepting it is not checkable
        res["ok"] = True
        res["note"] = "input unreadable by onnx.load (%s); onnxinit exit %s" % (one_line(str(e), 200), rc)
        return res

    if rc != 0:
        res["msg"] = "onnxinit exit %s: %s" % (rc, one_line(err) or "(no stderr)")
        return res
    if not os.path.isfile(out):
        res["msg"] = "onnxinit exit 0 but wrote no output"
        return res

    with open(model, "rb") as f1, open(out, "rb") as f2:
        res["identical"] = f1.read() == f2.read()

    try:
        out_bare, out_full = load_pair(out)
    except Exception as e:  # noqa: BLE001
        res["msg"] = "output unreadable by onnx.load: " + one_line(str(e))
        return res

    problems = []
    if OPTS.scheme == "keep":
        if inp_bare != out_bare:
            problems.append("output != input at " + first_difference(inp_bare, out_bare))
        if inp_full is not None and inp_full != out_full:
            problems.append("output != input with external data loaded" +
                            (" at " + first_difference(inp_full, out_full) if out_full is not None else ""))
    else:
        try:
            roles = inspect_roles(model)
        except Exception as e:  # noqa: BLE001
            problems.append("onnxinit inspect: " + one_line(str(e)))
            roles = {}
        problems += check_zeros(inp_bare, inp_full, out_bare, out_full, roles)

    in_ok, _ = checker_ok(model)
    if in_ok:
        out_ok, why = checker_ok(out)
        if not out_ok:
            problems.append("onnx.checker accepts the input but not the output: " + why)

    if problems:
        res["msg"] = "; ".join(problems[:5]) + (" (+%d more)" % (len(problems) - 5) if len(problems) > 5 else "")
        if err.strip():
            res["msg"] += " | stderr: " + one_line(err)
    else:
        res["ok"] = True
    return res


# ------------------------------------------------------------------ driver
def collect(paths, outdir):
    jobs, used = [], set()
    for p in paths:
        p = os.path.normpath(p)
        base = os.path.basename(os.path.abspath(p)) or "root"
        top, k = base, 1
        while top in used:
            k += 1
            top = "%s.%d" % (base, k)
        used.add(top)
        if os.path.isdir(p):
            found = []
            for root, dirs, files in os.walk(p):
                dirs.sort()
                found += [os.path.join(root, f) for f in sorted(files) if f.endswith(".onnx")]
            for f in found:
                rel = os.path.relpath(f, p)
                jobs.append((f, os.path.join(outdir, top, rel), os.path.join(p, rel)))
        elif os.path.isfile(p):
            jobs.append((p, os.path.join(outdir, top), p))
        else:
            print("roundtrip: %s: no such file or directory" % p, file=sys.stderr)
            sys.exit(2)
    return jobs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--onnxinit", required=True, help="path to the onnxinit binary")
    ap.add_argument("--out", required=True, help="directory for the outputs")
    ap.add_argument("--scheme", default="keep", choices=["keep", "zeros"])
    ap.add_argument("-j", "--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per model")
    ap.add_argument("paths", nargs="+", metavar="MODEL_OR_DIR")
    opts = ap.parse_args()
    opts.onnxinit = os.path.abspath(opts.onnxinit)
    if not os.access(opts.onnxinit, os.X_OK):
        print("roundtrip: %s: not an executable" % opts.onnxinit, file=sys.stderr)
        return 2
    os.makedirs(opts.out, exist_ok=True)
    jobs = collect(opts.paths, os.path.abspath(opts.out))

    passed = failed = identical = 0
    with Pool(max(1, opts.jobs), initializer=init_worker, initargs=(opts,)) as pool:
        for res in pool.imap(run_one, jobs, chunksize=4):
            identical += res["identical"]
            if res["ok"]:
                passed += 1
                if res["note"]:
                    print("note %s: %s" % (res["label"], res["note"]))
                elif opts.verbose:
                    print("ok   %s%s" % (res["label"], " (byte-identical)" if res["identical"] else ""))
            else:
                failed += 1
                print("FAIL %s: %s" % (res["label"], res["msg"]))
            sys.stdout.flush()
    print("byte-identical outputs: %d of %d" % (identical, len(jobs)))
    print("roundtrip: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
