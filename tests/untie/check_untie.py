#!/usr/bin/python3
"""Untying: initializers an exporter merged get one copy per group of readers.

usage: check_untie.py --onnxinit BIN --work DIR [--node NODE] [--only CASE,...] [-v]

Builds the models in DIR: two PyTorch exports where the exporter merged equal initializers
(unet_tiny_bn_preserved: a UNet whose fresh BatchNorm weights serve as running_var too,
exported keeping its BatchNorm nodes; transformer_op17: nn.TransformerEncoder at opset 17,
whose zero attention out_proj.bias serves as the LayerNorms' biases), and small hand-made ones
(python3-onnx) for the cases without Identity nodes, in subgraphs, with external data, name
collisions and what must not be untied.  Then runs `onnxinit init` on them and checks, with
python3-onnx, what every reader reads (through Identity nodes), onnx.checker, the dry-run
JSON, the provenance, the warnings, and with --node (ONNX Runtime from tests/ort) that the
outputs run, and that an untie whose new values equal the old ones computes exactly what the
input did.

One line per case (ok / FAIL with why), then exactly `untie: N passed, M failed`; exit 1 if
M > 0.
"""
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cases  # noqa: E402 - the shared case runner
from cases import case, check, init, oi, plan, provenance, work  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


# ------------------------------------------------------------------------------ running
def ort(*models, tol=None):
    if not cases.ARGS.node:
        return
    args = [cases.ARGS.node, os.path.join(HERE, "ort_run.js"), *models]
    if tol is not None:
        args.append(str(tol))
    p = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError("ONNX Runtime: " + (p.stdout + p.stderr).strip())


def same_bytes(a, b):
    with open(a, "rb") as f, open(b, "rb") as g:
        return f.read() == g.read()


# ------------------------------------------------------------------------------ reading
def load(path):
    m = onnx.load(path)  # external data is loaded from beside path
    onnx.checker.check_model(m, full_check=True)
    return m


def graphs(g, path="main"):
    yield path, g
    for n in g.node:
        for a in n.attribute:
            if a.HasField("g"):
                yield from graphs(a.g, "%s/%s.%s" % (path, n.name or n.op_type, a.name))
            for i, sg in enumerate(a.graphs):
                yield from graphs(sg, "%s/%s.%s[%d]" % (path, n.name or n.op_type, a.name, i))


def reads(model):
    """{(node name, input index): (initializer name, values)} for every node input that is an
    initializer, directly or through Identity nodes, in any graph (outer scopes included)."""
    out = {}

    def walk(g, inits, prod):
        inits = dict(inits)
        inits.update({t.name: numpy_helper.to_array(t).astype(np.float64) for t in g.initializer})
        prod = dict(prod)
        prod.update({o: n for n in g.node for o in n.output})
        for n in g.node:
            for k, x in enumerate(n.input):
                while x not in inits and x in prod and prod[x].op_type == "Identity":
                    x = prod[x].input[0]
                if x in inits:
                    out[(n.name, k)] = (x, inits[x])
            for a in n.attribute:
                for sg in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                    walk(sg, inits, prod)

    walk(model.graph, {}, {})
    return out


def tensor(report, name):
    hits = [t for t in report["tensors"] if t["name"] == name]
    if len(hits) != 1:
        raise AssertionError("the plan lists %d tensors named %r" % (len(hits), name))
    return hits[0]


def untied(report):
    return [t for t in report["tensors"] if "untied_from" in t]


def check_uniform(v, bound, what):
    check(np.all(np.abs(v) <= bound * (1 + 1e-6)), "%s: values past ±%g: %s", what, bound, v)
    check(np.unique(v).size > 1, "%s: not random: %s", what, v)


# ------------------------------------------------------------------------------ models
def export_torch():
    import torch
    import torch.nn as nn
    torch.manual_seed(0)

    class UNetTiny(nn.Module):
        def __init__(self):
            super().__init__()

            def blk(i, o):
                return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU())
            self.d1, self.d2, self.u1 = blk(3, 8), blk(8, 16), blk(16, 8)
            self.pool = nn.MaxPool2d(2)
            self.up = nn.ConvTranspose2d(16, 8, 2, stride=2)
            self.out = nn.Conv2d(8, 2, 1)

        def forward(self, x):
            a = self.d1(x)
            b = self.d2(self.pool(a))
            return self.out(self.u1(torch.cat([self.up(b), a], 1)))

    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(UNetTiny().eval(), (torch.randn(1, 3, 16, 16),),
                          work("unet_tiny_bn_preserved.onnx"), opset_version=14,
                          input_names=["input"], training=torch.onnx.TrainingMode.PRESERVE,
                          do_constant_folding=False)
        layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32)
        enc = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).eval()
        torch.onnx.export(enc, (torch.randn(5, 2, 16),), work("transformer_op17.onnx"),
                          opset_version=17, input_names=["src"])


def make_tensor(name, dtype, dims, values, typed=False):
    v = np.broadcast_to(np.asarray(values, dtype=np.float64), dims).ravel()
    if dtype == TP.BFLOAT16:
        bits = (np.asarray(v, np.float32).view(np.uint32) >> 16).astype(np.uint16)
        t = helper.make_tensor(name, dtype, dims, bits.tobytes(), raw=True)
    else:
        np_t = {TP.FLOAT: np.float32, TP.FLOAT16: np.float16, TP.DOUBLE: np.float64}[dtype]
        if typed:
            t = helper.make_tensor(name, dtype, dims, v.astype(np_t).tolist())
        else:
            t = helper.make_tensor(name, dtype, dims, v.astype(np_t).tobytes(), raw=True)
    return t


def save(graph, path, opset=14, ir=8):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)
    return path


def conv_bn_graph(b_values=0.25, typed=False, conv_out="C", via=None, b_is_input=False,
                  b_constant_node=False):
    """X -> Conv(W, B) -> BatchNormalization(S, B, M, V) -> Y: B [4] is both the Conv's bias
    and the BatchNorm's bias.  via: 'Identity' or 'Reshape' between B and both readers."""
    rng = np.random.default_rng(1)
    inits = [make_tensor("W", TP.FLOAT, [4, 3, 3, 3], rng.uniform(-0.2, 0.2, (4, 3, 3, 3))),
             make_tensor("S", TP.FLOAT, [4], 1.0), make_tensor("M", TP.FLOAT, [4], 0.0),
             make_tensor("V", TP.FLOAT, [4], 1.0)]
    nodes = []
    b = make_tensor("B", TP.FLOAT, [4], b_values, typed=typed)
    if b_constant_node:
        nodes.append(helper.make_node("Constant", [], ["B"], value=b, name="const_B"))
    else:
        inits.append(b)
    src = "B"
    if via == "Identity":
        nodes.append(helper.make_node("Identity", ["B"], ["B_id"], name="id_B"))
        src = "B_id"
    elif via == "Reshape":
        inits.append(helper.make_tensor("shape", TP.INT64, [1], [4]))
        nodes.append(helper.make_node("Reshape", ["B", "shape"], ["B_r"], name="reshape_B"))
        src = "B_r"
    nodes += [helper.make_node("Conv", ["X", "W", src], [conv_out], pads=[1, 1, 1, 1],
                               name="conv"),
              helper.make_node("BatchNormalization", [conv_out, "S", src, "M", "V"], ["Y"],
                               name="bn")]
    ins = [helper.make_tensor_value_info("X", TP.FLOAT, [1, 3, 5, 5])]
    if b_is_input:
        ins.append(helper.make_tensor_value_info("B", TP.FLOAT, [4]))
    return helper.make_graph(nodes, "conv_bn", ins,
                             [helper.make_tensor_value_info("Y", TP.FLOAT, [1, 4, 5, 5])],
                             initializer=inits)


def gemm_ln_graph(dtype):
    """X -> Gemm(W, B) -> LayerNormalization(S, B) -> Y, B [4] zeros shared, of dtype."""
    rng = np.random.default_rng(2)
    g = helper.make_graph(
        [helper.make_node("Gemm", ["X", "W", "B"], ["H"], name="gemm"),
         helper.make_node("LayerNormalization", ["H", "S", "B"], ["Y"], name="ln")],
        "gemm_ln", [helper.make_tensor_value_info("X", dtype, [2, 4])],
        [helper.make_tensor_value_info("Y", dtype, [2, 4])],
        initializer=[make_tensor("W", dtype, [4, 4], rng.uniform(-0.5, 0.5, (4, 4))),
                     make_tensor("B", dtype, [4], 0.0), make_tensor("S", dtype, [4], 1.0)])
    return g


def if_graph(outer):
    """If(cond): then = conv_bn on X (its B shared); else = a 1x1 Conv of X computed in the
    main graph.  outer: B lives in the main graph and the then-branch reads it from there."""
    then = conv_bn_graph()
    then.name = "then"
    del then.input[:]
    del then.output[:]
    then.output.append(helper.make_tensor_value_info("Y", TP.FLOAT, [1, 4, 5, 5]))
    main_inits = [make_tensor("P", TP.FLOAT, [4, 3, 1, 1], 0.5)]
    if outer:
        b = [t for t in then.initializer if t.name == "B"][0]
        main_inits.append(b)
        then.initializer.remove(b)
    els = helper.make_graph([helper.make_node("Identity", ["X4"], ["Y_else"])], "else", [],
                            [helper.make_tensor_value_info("Y_else", TP.FLOAT, [1, 4, 5, 5])])
    return helper.make_graph(
        [helper.make_node("Conv", ["X", "P"], ["X4"], name="proj"),
         helper.make_node("If", ["cond"], ["Y"], then_branch=then, else_branch=els,
                          name="if")],
        "main", [helper.make_tensor_value_info("cond", TP.BOOL, []),
                 helper.make_tensor_value_info("X", TP.FLOAT, [1, 3, 5, 5])],
        [helper.make_tensor_value_info("Y", TP.FLOAT, [1, 4, 5, 5])],
        initializer=main_inits)


def make_models():
    os.makedirs(cases.ARGS.work, exist_ok=True)
    export_torch()
    save(conv_bn_graph(), work("conv_bn.onnx"))
    save(conv_bn_graph(typed=True), work("conv_bn_typed.onnx"))
    save(conv_bn_graph(conv_out="B.untied.1"), work("conv_bn_collision.onnx"))
    save(conv_bn_graph(via="Identity"), work("conv_bn_identity.onnx"))
    save(conv_bn_graph(via="Reshape"), work("conv_bn_reshape.onnx"))
    save(conv_bn_graph(b_is_input=True), work("conv_bn_input.onnx"))
    save(conv_bn_graph(b_constant_node=True), work("conv_bn_constant.onnx"))
    save(conv_bn_graph(b_values=[0.1, 0.2, 0.3, 0.4]), work("conv_bn_varied.onnx"))
    for dt, nm in ((TP.FLOAT, "float32"), (TP.FLOAT16, "float16"), (TP.BFLOAT16, "bfloat16"),
                   (TP.DOUBLE, "float64")):
        save(gemm_ln_graph(dt), work("gemm_ln_%s.onnx" % nm), opset=17)
    save(if_graph(False), work("if_inner.onnx"))
    save(if_graph(True), work("if_outer.onnx"))
    ext = os.path.join(cases.ARGS.work, "ext")
    os.makedirs(ext, exist_ok=True)
    m = helper.make_model(conv_bn_graph(), opset_imports=[helper.make_opsetid("", 14)])
    m.ir_version = 8
    onnx.save(m, os.path.join(ext, "conv_bn_ext.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="conv_bn_ext.data", size_threshold=0)
    # readers that agree: two Conv biases of the same fans
    rng = np.random.default_rng(3)
    g = helper.make_graph(
        [helper.make_node("Conv", ["X", "W1", "B"], ["C1"], pads=[1, 1, 1, 1], name="c1"),
         helper.make_node("Conv", ["X", "W2", "B"], ["C2"], pads=[1, 1, 1, 1], name="c2"),
         helper.make_node("Add", ["C1", "C2"], ["Y"], name="add")],
        "agree", [helper.make_tensor_value_info("X", TP.FLOAT, [1, 3, 5, 5])],
        [helper.make_tensor_value_info("Y", TP.FLOAT, [1, 4, 5, 5])],
        initializer=[make_tensor("W1", TP.FLOAT, [4, 3, 3, 3], rng.uniform(-1, 1, (4, 3, 3, 3))),
                     make_tensor("W2", TP.FLOAT, [4, 3, 3, 3], rng.uniform(-1, 1, (4, 3, 3, 3))),
                     make_tensor("B", TP.FLOAT, [4], 0.0)])
    save(g, work("agree.onnx"))


# ------------------------------------------------------------------------------ cases
T = "layers.0.self_attn.out_proj.bias"


@case
def transformer_torch():
    """The LayerNorm biases stay zeros on the original; both attention out_proj biases read
    a new uniform(±1/√16) tensor; plan, JSON, warning and provenance say so."""
    src = work("transformer_op17.onnx")
    rep, err = plan(src, "--scheme", "torch")
    u = untied(rep)
    check(len(u) == 1, "want one untied tensor, got %s", [t["name"] for t in u])
    t = u[0]
    want = {"name": T + ".untied.1", "untied_from": T, "role": "bias", "op": "Gemm",
            "fan_in": 16, "fan_out": 16, "consumers": 2, "action": "reinit", "graph": "main",
            "source": "initializer", "storage": "raw", "dtype": "float32", "shape": [16],
            "scheme": "uniform(low=-0.25,high=0.25)", "bytes": 64}
    for k, v in want.items():
        check(t.get(k) == v, "untied tensor: %s is %r, want %r", k, t.get(k), v)
    o = tensor(rep, T)
    check(o["role"] == "norm_bias" and o["scheme"] == "zeros", "original: %s %s", o["role"],
          o["scheme"])
    check(rep["tensors"][-1]["name"] == T + ".untied.1", "the new tensor is not listed last")
    check("untied: '%s.untied.1' for bias by Gemm" % T in err, "warning: %s", err)
    check("the first is used" not in err, "the old warning is still there: %s", err)
    out = work("transformer_torch.onnx")
    init(src, out, "--scheme", "torch")
    m = load(out)
    r = reads(m)
    ln = [(k, v) for k, v in r.items() if k[1] == 2 and "LayerNormalization" in k[0]]
    gemm = [(k, v) for k, v in r.items() if k[1] == 2 and "Gemm" in k[0]]
    check(len(ln) == 4 and len(gemm) == 2, "readers: %d LayerNorm, %d Gemm", len(ln), len(gemm))
    for k, (name, v) in ln:
        check(name == T and np.all(v == 0), "%s bias: %s %s", k[0], name, v)
    for k, (name, v) in gemm:
        check(name == T + ".untied.1", "%s reads %s", k[0], name)
        check_uniform(v, 0.25, k[0])
    check(provenance(m)["untied"] == {T: [T + ".untied.1"]}, "provenance %s", provenance(m))
    ort(out)


@case
def transformer_no_untie():
    """--no-untie: today's behaviour: the first reader (a LayerNorm's norm_bias... here the
    plan's first) decides for all, the warning says so, no tensor is added."""
    src = work("transformer_op17.onnx")
    rep, err = plan(src, "--scheme", "torch", "--no-untie")
    check(not untied(rep), "untied tensors with --no-untie")
    check("tensor '%s' is read as norm_bias by LayerNormalization" % T in err and
          "the first is used" in err, "warning: %s", err)
    out = work("transformer_no_untie.onnx")
    init(src, out, "--scheme", "torch", "--no-untie")
    m, s = load(out), onnx.load(src)
    check([n.SerializeToString() for n in m.graph.node] ==
          [n.SerializeToString() for n in s.graph.node], "the nodes changed")
    check([t.name for t in m.graph.initializer] == [t.name for t in s.graph.initializer],
          "the initializers changed")
    check("untied" not in provenance(m), "provenance: %s", provenance(m))


@case
def transformer_name_rule():
    """A name rule covers every reader group: the same values, nothing untied."""
    rep, _ = plan(work("transformer_op17.onnx"), "--scheme", "torch", "--rule", T + "=zeros")
    check(not untied(rep), "untied: %s", [t["name"] for t in untied(rep)])


@case
def transformer_keep_values():
    """An untie whose new tensor holds the old values computes what the input did."""
    src, out = work("transformer_op17.onnx"), work("transformer_keep.onnx")
    init(src, out, "--scheme", "keep", "--rule", "role:bias=constant(value=0)", "--rule",
         "name:layers.0.linear*=keep")
    m = load(out)
    check(any(n == T + ".untied.1" for n, _ in reads(m).values()), "nothing untied")
    ort(src, out, tol=0)


@case
def unet_torch_agree():
    """Under torch a BatchNorm's scale and running_var both get ones: nothing changes, the
    output is the --no-untie output byte for byte."""
    src = work("unet_tiny_bn_preserved.onnx")
    rep, _ = plan(src, "--scheme", "torch")
    check(not untied(rep), "untied: %s", [t["name"] for t in untied(rep)])
    a, b = work("unet_torch.onnx"), work("unet_torch_nountie.onnx")
    init(src, a, "--scheme", "torch")
    init(src, b, "--scheme", "torch", "--no-untie")
    check(same_bytes(a, b), "the outputs differ")


@case
def unet_rule():
    """role:norm_scale=constant(value=0.5): every BatchNorm scale reads 0.5, every
    running_var ones, each merged weight split in two."""
    src, out = work("unet_tiny_bn_preserved.onnx"), work("unet_half.onnx")
    opts = ("--scheme", "torch", "--rule", "role:norm_scale=constant(value=0.5)")
    rep, err = plan(src, *opts)
    names = sorted(t["name"] for t in untied(rep))
    check(names == ["d1.1.weight.untied.1", "d2.1.weight.untied.1"], "untied: %s", names)
    for t in untied(rep):
        check(t["role"] == "norm_scale" and t["op"] == "BatchNormalization" and
              t["scheme"] == "constant(value=0.5)" and t["fan_in"] is None,
              "plan of %s: %s", t["name"], t)
        check(tensor(rep, t["untied_from"])["scheme"] == "ones", "original of %s", t["name"])
    init(src, out, *opts)
    m = load(out)
    bn = [(k, v) for k, v in reads(m).items() if "BatchNormalization" in k[0]]
    check(len(bn) == 12, "%d BatchNorm inputs", len(bn))
    for (node, k), (name, v) in bn:
        want = {1: 0.5, 2: 0.0, 3: 0.0, 4: 1.0}[k]
        check(np.all(v == want), "%s input %d (%s): %s", node, k, name, v)
        check((k == 1) == name.endswith(".untied.1"), "%s input %d reads %s", node, k, name)
    check(sorted(provenance(m)["untied"]) == ["d1.1.weight", "d2.1.weight"], "provenance")
    ort(out)
    # --no-untie: the first reader (running_var) decides, as before
    rep, err = plan(src, *opts, "--no-untie")
    check(not untied(rep) and "the first is used" in err, "--no-untie: %s", err)


@case
def unet_keep_values():
    """Scale rewritten to its own value (1): an untie, and exactly the input's outputs."""
    src, out = work("unet_tiny_bn_preserved.onnx"), work("unet_keep.onnx")
    init(src, out, "--scheme", "keep", "--rule", "role:norm_scale=constant(value=1)")
    m = load(out)
    bn = [v for k, v in reads(m).items() if "BatchNormalization" in k[0] and k[1] == 1]
    check(len(bn) == 3 and all(n.endswith(".untied.1") for n, _ in bn), "not untied: %s",
          [n for n, _ in bn])
    ort(src, out, tol=0)


def conv_bn_expect(out, b_name="B.untied.1", conv=None):
    m = load(out)
    r = reads(m)
    name, v = r[("conv", 2)]
    check(name == "B", "the Conv reads %s", name)
    if conv is None:
        check_uniform(v, 1 / math.sqrt(27), "Conv bias")
    name, v = r[("bn", 2)]
    check(name == b_name and np.all(v == 0), "the BatchNorm reads %s: %s", name, v)
    return m


@case
def conv_bn_direct():
    """No Identity: one initializer read directly by a Conv bias and a BatchNorm bias."""
    src, out = work("conv_bn.onnx"), work("conv_bn_torch.onnx")
    init(src, out, "--scheme", "torch")
    conv_bn_expect(out)
    ort(out)
    # both random: the new tensor's stream is its own name's, not a rescaled copy of B's
    alt = work("conv_bn_two.onnx")
    init(src, alt, "--scheme", "torch", "--rule", "role:norm_bias=uniform(low=-0.1,high=0.1)")
    r = reads(load(alt))
    conv, bn = r[("conv", 2)][1] * math.sqrt(27), r[("bn", 2)][1] / 0.1
    check(r[("bn", 2)][0] == "B.untied.1", "the BatchNorm reads %s", r[("bn", 2)][0])
    check_uniform(bn, 1.0, "BatchNorm bias")
    check(not np.allclose(conv, bn, atol=1e-6), "the two tensors share one random stream")
    # the same bytes streamed, in memory, and on other thread counts
    for opt in (("--in-memory",), ("--threads", "3")):
        alt = work("conv_bn_alt.onnx")
        init(src, alt, "--scheme", "torch", *opt)
        check(same_bytes(out, alt), "%s changes the bytes", opt)


@case
def conv_bn_keep_copy():
    """A group whose plan keeps the values gets a copy of them (raw, typed, external)."""
    for src in (work("conv_bn.onnx"), work("conv_bn_typed.onnx"),
                os.path.join(cases.ARGS.work, "ext", "conv_bn_ext.onnx")):
        out = work("copy_" + os.path.basename(src))
        init(src, out, "--scheme", "torch", "--rule", "role:norm_bias=keep")
        r = reads(load(out))
        check(r[("bn", 2)][0] == "B.untied.1" and np.all(r[("bn", 2)][1] == 0.25),
              "%s: the BatchNorm reads %s", src, r[("bn", 2)])
        check_uniform(r[("conv", 2)][1], 1 / math.sqrt(27), "Conv bias")


@case
def dtypes():
    """float32, float16, bfloat16, float64: the new tensor has the original's dtype."""
    for nm in ("float32", "float16", "bfloat16", "float64"):
        src, out = work("gemm_ln_%s.onnx" % nm), work("gemm_ln_%s_torch.onnx" % nm)
        init(src, out, "--scheme", "torch")
        m = load(out)
        r = reads(m)
        check(r[("gemm", 2)][0] == "B", "%s: Gemm reads %s", nm, r[("gemm", 2)][0])
        check_uniform(r[("gemm", 2)][1], 0.5, nm + " Gemm bias")
        check(r[("ln", 2)][0] == "B.untied.1" and np.all(r[("ln", 2)][1] == 0),
              "%s: LayerNorm reads %s", nm, r[("ln", 2)])
        new = [t for t in m.graph.initializer if t.name == "B.untied.1"][0]
        old = [t for t in m.graph.initializer if t.name == "B"][0]
        check(new.data_type == old.data_type and list(new.dims) == [4], "%s: %s", nm, new)
    ort(work("gemm_ln_float32_torch.onnx"))


@case
def name_collision():
    """B.untied.1 is taken (a node output): the new tensor is B.untied.2."""
    out = work("collision_torch.onnx")
    init(work("conv_bn_collision.onnx"), out, "--scheme", "torch")
    conv_bn_expect(out, "B.untied.2")
    ort(out)


@case
def through_identity():
    """Both readers reach B through one Identity: the BatchNorm reads the new tensor."""
    out = work("identity_torch.onnx")
    init(work("conv_bn_identity.onnx"), out, "--scheme", "torch")
    m = conv_bn_expect(out)
    ident = [n for n in m.graph.node if n.op_type == "Identity"][0]
    check(list(ident.input) == ["B"], "the Identity reads %s", list(ident.input))
    ort(out)


@case
def shared_reshape():
    """Both readers reach B through one Reshape: no copy can be given, the warning says."""
    src = work("conv_bn_reshape.onnx")
    rep, err = plan(src, "--scheme", "torch")
    check(not untied(rep), "untied")
    check("read it through node 'reshape_B' (Reshape), which other readers share" in err,
          "warning: %s", err)
    a, b = work("reshape_torch.onnx"), work("reshape_nountie.onnx")
    init(src, a, "--scheme", "torch")
    init(src, b, "--scheme", "torch", "--no-untie")
    check(same_bytes(a, b), "the output is not the --no-untie one")


@case
def subgraph():
    """B in an If branch (inner), or in the main graph read from the branch (outer)."""
    for kind in ("inner", "outer"):
        src, out = work("if_%s.onnx" % kind), work("if_%s_torch.onnx" % kind)
        rep, _ = plan(src, "--scheme", "torch")
        u = untied(rep)
        check(len(u) == 1 and u[0]["name"] == "B.untied.1", "%s: %s", kind, u)
        check(u[0]["graph"] == ("main/if.then_branch" if kind == "inner" else "main"),
              "%s: graph %s", kind, u[0]["graph"])
        init(src, out, "--scheme", "torch")
        m = load(out)
        conv_bn_expect(out)
        branch = [a.g for a in m.graph.node[1].attribute if a.name == "then_branch"][0]
        home = branch if kind == "inner" else m.graph
        check(any(t.name == "B.untied.1" for t in home.initializer), "%s: not in its graph", kind)
        ort(out)


@case
def external_data():
    """An external-data original: the new tensor is inline raw data, the rest stays
    external."""
    src = os.path.join(cases.ARGS.work, "ext", "conv_bn_ext.onnx")
    outdir = os.path.join(cases.ARGS.work, "ext_out")
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    out = os.path.join(outdir, "conv_bn_ext.onnx")
    init(src, out, "--scheme", "torch")
    raw = onnx.load(out, load_external_data=False)
    new = [t for t in raw.graph.initializer if t.name == "B.untied.1"][0]
    check(new.data_location != TP.EXTERNAL and len(new.raw_data) == 16, "new tensor %s", new)
    check(all(t.data_location == TP.EXTERNAL for t in raw.graph.initializer
              if t.name != "B.untied.1"), "the others are not external")
    conv_bn_expect(out)
    ort(out)


@case
def not_untied():
    """Readers that agree; a tensor of varied values (a tie the model made); a Constant node;
    an initializer that is also a graph input: nothing changes."""
    rep, err = plan(work("agree.onnx"), "--scheme", "torch")
    check(not untied(rep) and "warning" not in err, "agree: %s", err)
    for name, why in (("conv_bn_varied", "the first is used"),
                      ("conv_bn_constant", "the first is used"),
                      ("conv_bn_input", "is also an input of graph main; it is not untied")):
        src = work(name + ".onnx")
        rep, err = plan(src, "--scheme", "torch")
        check(not untied(rep), "%s: untied", name)
        check(why in err, "%s: warning: %s", name, err)
        a, b = work(name + "_torch.onnx"), work(name + "_nountie.onnx")
        init(src, a, "--scheme", "torch")
        init(src, b, "--scheme", "torch", "--no-untie")
        check(same_bytes(a, b), "%s: not the --no-untie output", name)


@case
def batch():
    """batch unties too, and takes --no-untie."""
    tree = os.path.join(cases.ARGS.work, "tree")
    shutil.rmtree(tree, ignore_errors=True)
    os.makedirs(tree)
    shutil.copy(work("conv_bn.onnx"), tree)
    for opt, want in (((), "B.untied.1"), (("--no-untie",), "B")):
        out = os.path.join(cases.ARGS.work, "tree_out")
        shutil.rmtree(out, ignore_errors=True)
        oi("batch", tree, "-o", out, "--scheme", "torch", "--no-fsync", "-q", *opt)
        r = reads(load(os.path.join(out, "conv_bn.onnx")))
        check(r[("bn", 2)][0] == want, "batch %s: the BatchNorm reads %s", opt, r[("bn", 2)][0])


if __name__ == "__main__":
    sys.exit(cases.main('untie', node=True, setup=make_models))
