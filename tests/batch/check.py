#!/usr/bin/python3
"""Helpers for tests/batch/run.sh (python3-onnx + numpy).

  check.py gen PATH KB            a Gemm model of about KB KiB (float32 weights)
  check.py valid PATH...          every *.onnx below PATH (or PATH itself) loads
                                  (external data included) and passes onnx.checker
  check.py differ IN OUT REL...   the float tensors of OUT/REL differ from IN/REL
  check.py same-weights A B       the float tensors of A and B are equal
  check.py expect FILE NAME=V... [FILE NAME=V...]...
                                  every element of tensor NAME equals V
                                  (V = 'rand': not all equal)
  check.py manifest FILE SEED OUTDIR [REL=STATUS...] [--partial|--any]
                                  one JSON object per line with every key; sha256
                                  of the output; seed as documented; statuses as
                                  given (--partial: only 'ok' lines allowed, no
                                  expectations on the set; --any: any statuses)
  check.py dryjson FILE SEED N ROOT [--seeds]
                                  N lines, each one JSON object with model and
                                  tensors (--seeds: and seed as documented, the
                                  model's path taken below ROOT)
  check.py order LOG OUTDIR        in an strace log (-f -y, file writes, syncs,
                                  renames), the durability order of the saves
                                  below OUTDIR: no model renamed into place
                                  before every file written before it is synced
                                  (syncfs, or fsync/fdatasync of that file) after
                                  its last write; every folder that received a
                                  file by a rename fsynced after the last one
Prints what is wrong on stdout (one line each) and exits 1, or exits 0 silently.
"""
import hashlib
import json
import os
import sys

M64 = (1 << 64) - 1


def fnv1a64(s):
    h = 0xCBF29CE484222325
    for b in s.encode():
        h ^= b
        h = (h * 0x100000001B3) & M64
    return h


def mix64(z):
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def model_seed(seed, rel):
    return mix64((seed ^ fnv1a64(rel)) & M64)


def onnx_mods():
    import numpy as np
    import onnx
    from onnx import numpy_helper
    return np, onnx, numpy_helper


def gen(path, kb):
    np, onnx, nh = onnx_mods()
    from onnx import helper, TensorProto
    rows = max(1, kb * 1024 // 4 // 256)
    rng = np.random.default_rng(kb)
    w = nh.from_array(rng.standard_normal((rows, 256)).astype(np.float32), "fc.weight")
    b = nh.from_array(np.full((rows,), 0.5, np.float32), "fc.bias")
    g = helper.make_graph(
        [helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["y"], transB=1)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, rows])], [w, b])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    with open(path, "wb") as f:
        f.write(m.SerializeToString())


def model_files(paths):
    for p in paths:
        if os.path.isdir(p):
            for d, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    if f.endswith(".onnx") and not f.startswith("."):
                        yield os.path.join(d, f)
        else:
            yield p


def valid(paths):
    np, onnx, nh = onnx_mods()
    bad = []
    n = 0
    for p in model_files(paths):
        n += 1
        try:
            m = onnx.load(p)  # loads external data too
            onnx.checker.check_model(m)
        except Exception as e:  # noqa: BLE001
            bad.append("%s: %s" % (p, str(e).splitlines()[0] if str(e) else type(e).__name__))
    return bad


def float_tensors(m):
    """name -> numpy array of every float tensor (initializers, Constant values, subgraphs)."""
    np, onnx, nh = onnx_mods()
    from onnx import AttributeProto, TensorProto
    floats = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16}
    out = {}

    def tensor(t, where):
        if t.data_type in floats:
            if t.data_type == TensorProto.BFLOAT16:
                a = np.frombuffer(t.raw_data, np.uint16) if t.raw_data else np.array(t.int32_data)
            else:
                a = nh.to_array(t)
            out[where + "/" + t.name] = np.array(a, dtype=np.float64)

    def graph(g, where):
        for t in g.initializer:
            tensor(t, where)
        for n in g.node:
            for a in n.attribute:
                if a.type == AttributeProto.TENSOR:
                    tensor(a.t, where + "/" + n.name)
                elif a.type == AttributeProto.GRAPH:
                    graph(a.g, where + "/" + n.name + "." + a.name)
                elif a.type == AttributeProto.GRAPHS:
                    for i, sg in enumerate(a.graphs):
                        graph(sg, "%s/%s.%s%d" % (where, n.name, a.name, i))

    graph(m.graph, "main")
    return out


def load(p):
    np, onnx, nh = onnx_mods()
    return onnx.load(p)


def differ(inroot, outroot, rels):
    np, onnx, nh = onnx_mods()
    bad = []
    for r in rels:
        try:
            a = float_tensors(load(os.path.join(inroot, r)))
            b = float_tensors(load(os.path.join(outroot, r)))
        except Exception as e:  # noqa: BLE001
            bad.append("%s: cannot load: %s" % (r, e))
            continue
        if set(a) != set(b):
            bad.append("%s: other tensors in the output" % r)
        elif not any(a[k].shape != b[k].shape or not np.array_equal(a[k], b[k]) for k in a):
            bad.append("%s: no weight changed" % r)
    return bad


def same_weights(pa, pb):
    np, onnx, nh = onnx_mods()
    a, b = float_tensors(load(pa)), float_tensors(load(pb))
    if set(a) != set(b):
        return ["other tensor names"]
    diff = [k for k in a if not np.array_equal(a[k], b[k])]
    return ["weights differ: %s" % ", ".join(diff)] if diff else []


def expect(args):
    np, onnx, nh = onnx_mods()
    bad = []
    path, ts = None, {}
    for p in args:
        if "=" not in p:
            path = p
            ts = {k.split("/")[-1]: v for k, v in float_tensors(load(path)).items()}
            continue
        name, want = p.split("=", 1)
        if name not in ts:
            bad.append("%s: no tensor %s" % (path, name))
            continue
        a = ts[name].ravel()
        if want == "rand":
            if a.size > 1 and np.all(a == a[0]):
                bad.append("%s: %s is all %g, not random" % (os.path.basename(path), name, a[0]))
        elif not np.all(a == float(want)):
            vals = np.unique(a)
            bad.append("%s: %s is %s, not all %s" % (
                os.path.basename(path), name,
                ",".join("%g" % v for v in vals[:3]) + (",..." if vals.size > 3 else ""), want))
    return bad


KEYS = {"input", "output", "status", "error", "tensors", "seed", "sha256", "seconds"}


def sha256(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for blk in iter(lambda: f.read(1 << 20), b""):
            h.update(blk)
    return h.hexdigest()


def manifest(path, seed, outdir, exp, partial, anyset):
    bad = []
    seen = {}
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        bad.append("the last line is not terminated")
    lines = data.decode("utf-8", "replace").splitlines()
    for i, line in enumerate(lines, 1):
        try:
            o = json.loads(line)
        except ValueError as e:
            bad.append("line %d: not JSON (%s): %.80s" % (i, e, line))
            continue
        if not isinstance(o, dict):
            bad.append("line %d: not an object" % i)
            continue
        if set(o) != KEYS:
            bad.append("line %d: keys %s" % (i, sorted(o)))
            continue
        out = o["output"]
        rel = os.path.relpath(out, outdir) if isinstance(out, str) else None
        if rel in seen:
            bad.append("%s: listed twice" % rel)
        st = o["status"]
        seen[rel] = st
        if st not in ("ok", "failed", "skipped"):
            bad.append("%s: status %r" % (rel, st))
        if not isinstance(o["input"], str) or not os.path.isfile(o["input"]) and st != "failed":
            bad.append("%s: input %r" % (rel, o["input"]))
        if not isinstance(o["seed"], str) or not o["seed"].isdigit():
            bad.append("%s: seed %r is not a decimal string" % (rel, o["seed"]))
        elif int(o["seed"]) != model_seed(seed, rel):
            bad.append("%s: seed %s, expected %d" % (rel, o["seed"], model_seed(seed, rel)))
        if not isinstance(o["seconds"], (int, float)) or o["seconds"] < 0:
            bad.append("%s: seconds %r" % (rel, o["seconds"]))
        if not isinstance(o["tensors"], int) or o["tensors"] < 0:
            bad.append("%s: tensors %r" % (rel, o["tensors"]))
        if st == "ok":
            if o["error"] is not None:
                bad.append("%s: ok with error %r" % (rel, o["error"]))
            if not o["tensors"]:
                bad.append("%s: ok with 0 tensors" % rel)
            if not os.path.isfile(out):
                bad.append("%s: ok but no output" % rel)
            elif o["sha256"] != sha256(out):
                bad.append("%s: sha256 %s, the file's %s" % (rel, o["sha256"], sha256(out)))
        else:
            if not isinstance(o["error"], str) or not o["error"]:
                bad.append("%s: %s without an error message" % (rel, st))
            if partial and not (st == "failed" and "interrupted" in (o["error"] or "")):
                # the one save a signal stopped is recorded as failed: interrupted
                bad.append("%s: status %s in an interrupted run" % (rel, st))
    if not partial and not anyset:
        for r, want in exp.items():
            if r not in seen:
                bad.append("%s: not in the manifest" % r)
            elif seen[r] != want:
                bad.append("%s: status %s, expected %s" % (r, seen[r], want))
        for r in seen:
            if r not in exp:
                bad.append("%s: in the manifest, not expected" % r)
    return bad


def dryjson(path, seed, n, root, seeds):
    bad = []
    with open(path) as f:
        lines = f.read().splitlines()
    if len(lines) != n:
        bad.append("%d lines, expected %d" % (len(lines), n))
    for i, line in enumerate(lines, 1):
        try:
            o = json.loads(line)
        except ValueError as e:
            bad.append("line %d: not JSON (%s): %.60s" % (i, e, line))
            continue
        if not isinstance(o, dict) or "model" not in o or "tensors" not in o:
            bad.append("line %d: not a plan object" % i)
            continue
        if seeds:
            rel = o["model"]
            if rel.startswith(root + "/"):
                rel = rel[len(root) + 1:]
            want = model_seed(seed, rel)
            got = o["seed"]
            if str(got) != str(want):
                bad.append("%s: seed %s, expected %d" % (rel, got, want))
    return bad


WRITES = {"write": 0, "pwrite64": 0, "writev": 0, "pwritev": 0, "pwritev2": 0,
          "ftruncate": 0, "fallocate": 0, "copy_file_range": 2, "sendfile": 0, "splice": 2}
RENAMES = {"rename": (0, 1), "renameat": (1, 3), "renameat2": (1, 3)}


def strace_calls(path):
    """The calls of an strace -f -y log, in order: [name, args, start, end, ret,
    tid]; start and end number the lines where the call began and returned."""
    import re
    calls, open_calls = [], {}
    for i, line in enumerate(open(path, errors="replace")):
        m = re.match(r"^(\d+)\s+(.*)$", line.rstrip("\n"))
        if not m:
            continue
        pid, rest = m.groups()
        r = re.match(r"^<\.\.\. (\w+) resumed>(.*)$", rest)
        if r:
            c = open_calls.pop(pid, None)
            if c:
                c[1] += r.group(2)
                c[3] = i
                c[4] = rest.rsplit("= ", 1)[-1] if "= " in rest else "?"
            continue
        r = re.match(r"^(\w+)\((.*)$", rest)
        if not r:
            continue
        c = [r.group(1), r.group(2), i, i, rest.rsplit("= ", 1)[-1] if "= " in rest else "?", pid]
        calls.append(c)
        if rest.endswith("<unfinished ...>"):
            open_calls[pid] = c
    return calls


def split_args(args):
    """Top-level arguments of a call's text (strings and <paths> kept whole)."""
    out, cur, depth, q, esc = [], "", 0, False, False
    for ch in args:
        if q:
            cur += ch
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                q = False
            continue
        if ch == '"':
            q = True
        elif ch in "<[{(":
            depth += 1
        elif ch in ">]})":
            if depth == 0:
                break
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    out.append(cur.strip())
    return out


def fd_path(arg):
    return arg[arg.index("<") + 1:arg.rindex(">")] if "<" in arg and ">" in arg else None


def order(log, outdir):
    outdir = os.path.abspath(outdir) + "/"
    bad = []
    calls = strace_calls(log)
    # (thread, path) -> line of its last write's return: a save writes and
    # renames on one thread, other threads' saves are other models
    last_write = {}
    renamed_dirs = {}  # dir -> line of its last rename
    for name, args, start, end, ret, tid in calls:
        a = split_args(args)
        if ret.startswith("-1") or ret == "?":
            continue
        if name in WRITES and len(a) > WRITES[name]:
            p = fd_path(a[WRITES[name]])
            if p and p.startswith(outdir):
                last_write[(tid, p)] = end
        elif name in ("syncfs",):
            for p in list(last_write):
                if last_write[p] < start:
                    del last_write[p]
        elif name in ("fsync", "fdatasync"):
            p = fd_path(a[0])
            for k in [k for k in last_write if k[1] == p and last_write[k] < start]:
                del last_write[k]
            if p in renamed_dirs and renamed_dirs[p] < start:
                del renamed_dirs[p]
        elif name in RENAMES:
            f, t = (a[k].strip('"') for k in RENAMES[name])
            t = os.path.abspath(t)
            if not t.startswith(outdir):
                continue
            renamed_dirs[os.path.dirname(t)] = end
            mine = sorted(k[1] for k in last_write if k[0] == tid)
            if t.endswith(".onnx") and mine:
                bad.append("%s renamed into place before %s was synced"
                           % (t[len(outdir):], mine[0][len(outdir):]))
    for d in sorted(renamed_dirs):
        bad.append("folder %s not fsynced after its last rename" % (d[len(outdir):] or "."))
    if not any(c[0] in RENAMES for c in calls):
        bad.append("no rename in the log")
    return bad[:5]


def main(argv):
    cmd = argv[1]
    if cmd == "gen":
        gen(argv[2], int(argv[3]))
        return 0
    if cmd == "valid":
        bad = valid(argv[2:])
    elif cmd == "differ":
        bad = differ(argv[2], argv[3], argv[4:])
    elif cmd == "same-weights":
        bad = same_weights(argv[2], argv[3])
    elif cmd == "expect":
        bad = expect(argv[2:])
    elif cmd == "manifest":
        rest = [a for a in argv[5:] if not a.startswith("--")]
        exp = dict(a.split("=", 1) for a in rest)
        bad = manifest(argv[2], int(argv[3]), argv[4], exp, "--partial" in argv[5:],
                       "--any" in argv[5:])
    elif cmd == "dryjson":
        bad = dryjson(argv[2], int(argv[3]), int(argv[4]), argv[5], "--seeds" in argv[6:])
    elif cmd == "order":
        bad = order(argv[2], argv[3])
    elif cmd == "seed":
        for r in argv[3:]:
            print(model_seed(int(argv[2]), r))
        return 0
    else:
        print("check.py: unknown command " + cmd)
        return 2
    for b in bad:
        print(b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
