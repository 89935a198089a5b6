#!/usr/bin/python3
"""Export small PyTorch models to ONNX and write, next to each, what `onnxinit inspect --json`
must say about every tensor that came from a torch parameter or buffer.

usage: export_models.py OUTDIR [--only NAME,...]

Every model is exported twice:
  NAME.eval.onnx   eval mode, constant folding (BN folded into Conv, weights pre-transposed, ...)
  NAME.train.onnx  training mode, no folding (parameter names kept; weights reach their
                   consumer through Transpose/Slice/Concat/Unsqueeze)
and NAME.STYLE.expect.json beside it.  OUTDIR/exports.json lists what was exported and what failed.

How a tensor is traced back to torch: before export every float parameter and buffer gets
distinct integer values (element k of the whole model's flat parameter list holds BASE + k,
exact in float32).  An ONNX float tensor whose values are all such codes, each at most once,
decodes to (parameter, element indices).  Transposes, gate reordering, direction stacking and
slicing keep the codes, so the parameter(s) are found whatever the exporter did.  Tensors whose
values were computed (BN folded into a Conv) do not decode; a Conv/ConvTranspose/Gemm/MatMul
weight or bias among them is matched to its module through the node's scope name
(/layer1/layer1.0/conv1/Conv), the others are counted as skipped.

All expected values come from torch: fans from torch.nn.init._calculate_fan_in_and_fan_out on
the parameter, gains from torch.nn.init.calculate_gain, activations from the per-model tables
below (written from the model source: torchvision's resnet.py / mobilenetv2.py and the classes
here).  Keras fans follow Keras 3 compute_fans on the Keras kernel layout of the same layer.
"""
import argparse
import json
import math
import os
import sys
import time
import traceback
import warnings

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn as nn
import torchvision

OPSET = 14
BASE = 1 << 18          # codes BASE .. BASE+total-1, all < 2**24 (exact in float32)
MAX_CODES = (1 << 24) - BASE

# activations torch.nn.init.calculate_gain knows
TORCH_GAIN_ACTS = {"relu", "leaky_relu", "tanh", "sigmoid", "selu"}
UNCHECKED = "*"         # an expectation not checked (spec does not say); see 'unchecked_why'


# --------------------------------------------------------------------------------------------
# Models.  Each builder returns (model, example inputs, input names, activation table,
# notes).  The activation table maps a module name (as in model.named_modules()) to what the
# model applies after that module, looking through bias Add, BatchNorm, Identity, Dropout and a
# residual Add: a string, ("leaky_relu", slope), or UNCHECKED.  Every module that owns a
# parameter must be listed.
# --------------------------------------------------------------------------------------------

def build_resnet18():
    m = torchvision.models.resnet18(weights=None, num_classes=10)
    acts = {"conv1": "relu", "bn1": "relu", "fc": "none"}
    # BasicBlock.forward: conv1 bn1 relu conv2 bn2 (+ downsample(x)) relu
    for li in range(1, 5):
        layer = getattr(m, "layer%d" % li)
        for bi, blk in enumerate(layer):
            p = "layer%d.%d." % (li, bi)
            for n in ("conv1", "bn1", "conv2", "bn2"):
                acts[p + n] = "relu"
            if blk.downsample is not None:      # downsample(x) is the residual operand
                acts[p + "downsample.0"] = "relu"
                acts[p + "downsample.1"] = "relu"
    return m, (torch.randn(2, 3, 32, 32),), ["input"], acts


def build_mobilenet_v2():
    m = torchvision.models.mobilenet_v2(weights=None, width_mult=0.25, num_classes=10)
    acts = {"classifier.1": "none"}
    from torchvision.models.mobilenetv2 import InvertedResidual
    from torchvision.ops.misc import Conv2dNormActivation
    for i, f in enumerate(m.features):
        p = "features.%d." % i
        if isinstance(f, Conv2dNormActivation):         # conv, BN, ReLU6 (features.0, .18)
            assert isinstance(f[2], nn.ReLU6)
            acts[p + "0"] = acts[p + "1"] = "relu6"
        else:
            assert isinstance(f, InvertedResidual)
            c = f.conv
            # [pw Conv2dNormActivation(ReLU6)], dw Conv2dNormActivation(ReLU6), pw-linear, BN
            for j in range(len(c) - 2):
                assert isinstance(c[j], Conv2dNormActivation) and isinstance(c[j][2], nn.ReLU6)
                acts[p + "conv.%d.0" % j] = acts[p + "conv.%d.1" % j] = "relu6"
            # the projection has no activation, with or without the residual Add
            acts[p + "conv.%d" % (len(c) - 2)] = "none"
            acts[p + "conv.%d" % (len(c) - 1)] = "none"
    return m, (torch.randn(2, 3, 32, 32),), ["input"], acts


class CNN(nn.Module):
    """Grouped, depthwise (multiplier 2), transposed, 1-D and 3-D convolutions."""

    def __init__(self):
        super().__init__()
        self.gconv = nn.Conv2d(4, 8, 3, padding=1, groups=2)
        self.gbn = nn.BatchNorm2d(8)
        self.act1 = nn.ReLU()
        self.dwconv = nn.Conv2d(8, 16, 3, padding=1, groups=8)     # depthwise, multiplier 2
        self.act2 = nn.SiLU()
        self.up = nn.ConvTranspose2d(16, 6, 2, stride=2)
        self.act3 = nn.Hardsigmoid()
        self.conv1d = nn.Conv1d(3, 5, 3)
        self.drop = nn.Dropout(0.1)
        self.act4 = nn.ELU()
        self.conv3d = nn.Conv3d(2, 4, 3, padding=1, bias=False)
        self.bn3d = nn.BatchNorm3d(4)
        self.act5 = nn.Tanh()
        self.conv_last = nn.Conv2d(6, 3, 1)                          # nothing after it

    def forward(self, x2, x1, x3):
        y = self.act1(self.gbn(self.gconv(x2)))
        y = self.act2(self.dwconv(y))
        y = self.act3(self.up(y))
        y = self.conv_last(y)
        z = self.act4(self.drop(self.conv1d(x1)))
        w = self.act5(self.bn3d(self.conv3d(x3)))
        return y, z, w


def build_cnn():
    m = CNN()
    acts = {"gconv": "relu", "gbn": "relu", "dwconv": "silu", "up": "hard_sigmoid",
            "conv1d": "elu", "conv3d": "tanh", "bn3d": "tanh", "conv_last": "none"}
    ins = (torch.randn(2, 4, 8, 8), torch.randn(2, 3, 10), torch.randn(2, 2, 4, 4, 4))
    return m, ins, ["x2d", "x1d", "x3d"], acts


def build_mlp():
    m = nn.Sequential(
        nn.Linear(8, 16), nn.ReLU(),
        nn.Linear(16, 16), nn.Tanh(),
        nn.Linear(16, 16), nn.Sigmoid(),
        nn.Linear(16, 16), nn.LeakyReLU(0.2),
        nn.Linear(16, 16), nn.SELU(),
        nn.Linear(16, 4))
    acts = {"0": "relu", "2": "tanh", "4": "sigmoid",
            "6": ("leaky_relu", m[7].negative_slope), "8": "selu", "10": "none"}
    return m, (torch.randn(3, 8),), ["input"], acts


class RNNHead(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.rnn = cell(6, 5, num_layers=2, bidirectional=True, batch_first=False)
        self.head = nn.Linear(10, 3)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.head(y)


def build_lstm():
    return RNNHead(nn.LSTM), (torch.randn(4, 2, 6),), ["input"], {"rnn": "tanh", "head": "none"}


def build_gru():
    return RNNHead(nn.GRU), (torch.randn(4, 2, 6),), ["input"], {"rnn": "tanh", "head": "none"}


def build_transformer():
    layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, dropout=0.1,
                                       activation="gelu")
    m = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
    acts = {}
    # TransformerEncoderLayer (norm_first=False):
    #   x = norm1(x + dropout(self_attn(x)));  x = norm2(x + dropout(linear2(dropout(gelu(linear1(x))))))
    # q/k/v projections feed the attention product: no activation; out_proj and linear2 reach
    # a residual Add and a LayerNorm, then the next layer's linear maps: none.
    for i in range(2):
        p = "layers.%d." % i
        acts[p + "self_attn"] = "none"              # in_proj_weight / in_proj_bias
        acts[p + "self_attn.out_proj"] = "none"
        acts[p + "linear1"] = "gelu"
        acts[p + "linear2"] = "none"
        acts[p + "norm1"] = "none"
        acts[p + "norm2"] = "none"
    return m, (torch.randn(5, 2, 16),), ["src"], acts


class EmbedLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 8)
        self.fc = nn.Linear(8, 4)

    def forward(self, idx):
        return self.fc(self.emb(idx))


def build_embedding():
    return (EmbedLinear(), (torch.randint(0, 20, (2, 5)),), ["tokens"],
            {"emb": "none", "fc": "none"})


class PReLUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.prelu1 = nn.PReLU(4)           # per channel
        self.fc1 = nn.Linear(64, 6)
        self.prelu2 = nn.PReLU()            # one slope
        self.fc2 = nn.Linear(6, 2)

    def forward(self, x):
        y = self.prelu1(self.conv(x)).flatten(1)
        return self.fc2(self.prelu2(self.fc1(y)))


def build_prelu():
    # The documented activation list has no 'prelu': what a layer followed by PReLU (and the slope
    # tensor itself) should report is not decided, so those activations/gains are not checked.
    acts = {"conv": UNCHECKED, "prelu1": UNCHECKED, "fc1": UNCHECKED, "prelu2": UNCHECKED,
            "fc2": "none"}
    return PReLUNet(), (torch.randn(2, 3, 6, 6),), ["input"], acts


MODELS = [
    ("resnet18", build_resnet18),
    ("mobilenet_v2", build_mobilenet_v2),
    ("cnn", build_cnn),
    ("mlp", build_mlp),
    ("lstm", build_lstm),
    ("gru", build_gru),
    ("transformer", build_transformer),
    ("embedding", build_embedding),
    ("prelu", build_prelu),
]

STYLES = {
    "eval": dict(training=torch.onnx.TrainingMode.EVAL, do_constant_folding=True),
    "train": dict(training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False),
}


# --------------------------------------------------------------------------------------------
# Codes
# --------------------------------------------------------------------------------------------

def encode(model):
    """Give every float parameter and buffer distinct integer values.  Returns the list of
    (qualified name, module name, attribute, tensor, first code offset)."""
    entries = []
    seen = set()
    k = 0
    for mname, mod in model.named_modules():
        for attr, t in list(mod.named_parameters(recurse=False)) + \
                list(mod.named_buffers(recurse=False)):
            if t is None or not t.is_floating_point() or id(t) in seen:
                continue
            seen.add(id(t))
            n = t.numel()
            with torch.no_grad():
                t.copy_((torch.arange(n, dtype=torch.float64) + (BASE + k))
                        .to(t.dtype).reshape(t.shape))
            qual = (mname + "." if mname else "") + attr
            entries.append((qual, mname, attr, t, k))
            k += n
    if k > MAX_CODES:
        raise RuntimeError("model too large for exact float32 codes: %d elements" % k)
    # BatchNorm in training mode updates its running statistics during the export's trace;
    # momentum 0 keeps them (1·x + 0·batch_stat == x exactly while batch stats are finite).
    for mod in model.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            mod.momentum = 0.0
    return entries, k


def decode(arr, starts, total):
    """{entry index: sorted element indices} if every value of arr is a distinct code."""
    v = np.asarray(arr, dtype=np.float64).ravel()
    if v.size == 0 or not np.all(np.isfinite(v)) or not np.all(v == np.floor(v)):
        return None
    iv = v.astype(np.int64) - BASE
    if iv.min() < 0 or iv.max() >= total:
        return None
    if np.unique(iv).size != iv.size:
        return None
    which = np.searchsorted(starts, iv, side="right") - 1
    out = {}
    for e in np.unique(which):
        out[int(e)] = np.sort(iv[which == e] - starts[e])
    return out


# --------------------------------------------------------------------------------------------
# Expected values from torch
# --------------------------------------------------------------------------------------------

def torch_fans(t):
    fi, fo = torch.nn.init._calculate_fan_in_and_fan_out(t)
    return int(fi), int(fo)


def keras_compute_fans(shape):
    """Keras 3 keras.src.initializers.random_initializers.compute_fans."""
    shape = tuple(int(s) for s in shape)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    rf = 1
    for d in shape[:-2]:
        rf *= d
    return shape[-2] * rf, shape[-1] * rf


def keras_kernel_shape(mod, w):
    """The Keras kernel layout of the layer whose torch weight is w (possibly a row slice)."""
    s = tuple(w.shape)
    if isinstance(mod, nn.modules.conv._ConvTransposeNd):
        # torch (in, out/g, k...) -> Keras Conv*Transpose kernel (k..., out, in)
        assert mod.groups == 1
        return s[2:] + (s[1], s[0])
    if isinstance(mod, nn.modules.conv._ConvNd):
        if mod.groups == mod.in_channels and mod.in_channels > 1:
            # depthwise: torch (in*mult, 1, k...) -> Keras DepthwiseConv kernel (k..., in, mult)
            return s[2:] + (mod.in_channels, mod.out_channels // mod.in_channels)
        # torch (out, in/g, k...) -> Keras Conv kernel (k..., in/g, out)
        return s[2:] + (s[1], s[0])
    if isinstance(mod, nn.Embedding):
        return s                                   # (V, D) in both
    # Linear, MultiheadAttention in_proj, RNN kernels (4H, I)/(4H, H): (out, in) -> (in, out)
    assert len(s) == 2, (type(mod), s)
    return (s[1], s[0])


def role_of(mod, attr):
    if isinstance(mod, nn.modules.conv._ConvTransposeNd):
        return "conv_transpose_weight" if attr == "weight" else "bias"
    if isinstance(mod, nn.modules.conv._ConvNd):
        return "conv_weight" if attr == "weight" else "bias"
    if isinstance(mod, nn.Linear):
        return "dense_weight" if attr == "weight" else "bias"
    if isinstance(mod, nn.MultiheadAttention):
        return {"in_proj_weight": "dense_weight", "in_proj_bias": "bias"}[attr]
    if isinstance(mod, nn.Embedding):
        return "embedding"
    if isinstance(mod, nn.RNNBase):
        if attr.startswith("weight_ih"):
            return "rnn_input_weight"
        if attr.startswith("weight_hh"):
            return "rnn_recurrent_weight"
        if attr.startswith("bias_"):
            return "rnn_bias"
    if isinstance(mod, (nn.modules.batchnorm._BatchNorm, nn.LayerNorm)):
        return {"weight": "norm_scale", "bias": "norm_bias", "running_mean": "norm_mean",
                "running_var": "norm_var"}[attr]
    if isinstance(mod, nn.PReLU):
        return "prelu_slope"
    raise KeyError("no role for %s.%s" % (type(mod).__name__, attr))


def layer_weight(mod, attr):
    """The weight whose fans a tensor carries (None: no layer owns it → null fans)."""
    if isinstance(mod, (nn.modules.conv._ConvNd, nn.Linear)):
        return mod.weight
    if isinstance(mod, nn.MultiheadAttention):
        return mod.in_proj_weight
    if isinstance(mod, nn.Embedding):
        return mod.weight
    if isinstance(mod, nn.RNNBase):
        if attr.startswith("bias_"):
            # ONNX B = [Wb, Rb] is an input of the layer whose weight is W: the fans of W
            # (weight_ih of the same layer and direction) for bias_ih and bias_hh alike.
            return getattr(mod, "weight_ih" + attr[len("bias_ih"):])
        return getattr(mod, attr)
    return None


def gain_of(act):
    if act == UNCHECKED:
        return UNCHECKED
    if isinstance(act, tuple):
        return torch.nn.init.calculate_gain(act[0], act[1])
    if act == "none":
        return torch.nn.init.calculate_gain("linear")
    if act in TORCH_GAIN_ACTS:
        return torch.nn.init.calculate_gain(act)
    return None


def act_name(act):
    return act[0] if isinstance(act, tuple) else act


def expectation(mod, mname, attr, acts, rows=None):
    """Expected fields for (module, attribute); rows=(a, b) for a row slice of it."""
    if mname not in acts:
        raise KeyError("activation table has no entry for module '%s'" % mname)
    act = acts[mname]
    e = {"role": role_of(mod, attr)}
    w = layer_weight(mod, attr)
    if w is None:
        e.update(fan_in=None, fan_out=None, keras_fan_in=None, keras_fan_out=None)
    else:
        w = w.detach()
        if rows is not None:
            w = w[rows[0]:rows[1]]
        e["fan_in"], e["fan_out"] = torch_fans(w)
        e["keras_fan_in"], e["keras_fan_out"] = keras_compute_fans(keras_kernel_shape(mod, w))
    e["activation"] = act_name(act)
    e["gain"] = gain_of(act)
    return e


FIELDS = ("role", "fan_in", "fan_out", "keras_fan_in", "keras_fan_out", "activation", "gain")


# --------------------------------------------------------------------------------------------
# ONNX side
# --------------------------------------------------------------------------------------------

def onnx_tensors(graph, path="main"):
    """(graph path, source, name, TensorProto) of every initializer and Constant value, in
    every subgraph, named as onnxinit names them; and the consumers {(path, name): [(node, i)]}."""
    out, consumers = [], {}
    for t in graph.initializer:
        out.append((path, "initializer", t.name, t))
    for idx, n in enumerate(graph.node):
        for i, inp in enumerate(n.input):
            consumers.setdefault((path, inp), []).append((n, i))
        label = n.name if n.name else "%s_%d" % (n.op_type, idx)
        for a in n.attribute:
            if n.op_type == "Constant" and n.domain in ("", "ai.onnx") and a.name == "value":
                out.append((path, "constant_node", n.output[0], a.t))
            if a.type == onnx.AttributeProto.GRAPH:
                o, c = onnx_tensors(a.g, "%s/%s.%s" % (path, label, a.name))
                out += o
                consumers.update(c)
            elif a.type == onnx.AttributeProto.GRAPHS:
                for gi, g in enumerate(a.graphs):
                    o, c = onnx_tensors(g, "%s/%s.%s[%d]" % (path, label, a.name, gi))
                    out += o
                    consumers.update(c)
    return out, consumers


def scope_module(node_name, modules):
    """'/features/features.1/conv/conv.0/conv.0.0/Conv' -> 'features.1.conv.0.0': torch 1.13
    names a node by its module scope, one component per level, a Sequential's child written as
    'parent.index'; the last component is the op."""
    comps = [p for p in node_name.split("/") if p][:-1]
    if not comps:
        return None
    rel, prev = [], None
    for c in comps:
        rel.append(c[len(prev) + 1:] if prev is not None and c.startswith(prev + ".") else c)
        prev = c
    cand = ".".join(rel)
    return cand if cand in modules else None


WEIGHT_SLOTS = {"Conv": {1: "weight", 2: "bias"}, "ConvTranspose": {1: "weight", 2: "bias"},
                "Gemm": {1: "weight", 2: "bias"}}


def build_expectations(name, style, model, entries, total, acts, onnx_path):
    mp = onnx.load(onnx_path)
    modules = dict(model.named_modules())
    starts = np.array([e[4] for e in entries], dtype=np.int64)
    tensors, consumers = onnx_tensors(mp.graph)
    expect, skipped, constant = [], [], []
    for gpath, source, tname, tp in tensors:
        if tp.data_type != onnx.TensorProto.FLOAT:
            continue
        arr = numpy_helper.to_array(tp)
        dec = decode(arr, starts, total)
        rec = {"name": tname, "graph": gpath, "source": source, "shape": list(arr.shape)}
        if dec is None:
            # computed values: a folded Conv weight/bias, matched to its module by scope
            hit = None
            for node, slot in consumers.get((gpath, tname), []):
                what = WEIGHT_SLOTS.get(node.op_type, {}).get(slot)
                mname = scope_module(node.name, modules) if what else None
                if mname is not None:
                    hit = (node, what, mname)
                    break
            if hit is None:
                if arr.size <= 1 or np.all(arr == arr.flat[0]):
                    constant.append("%s %s %s" % (gpath, tname, list(arr.shape)))
                else:
                    skipped.append("%s %s %s (values are not codes; no layer found)"
                                   % (gpath, tname, list(arr.shape)))
                continue
            node, what, mname = hit
            mod = modules[mname]
            w = getattr(mod, "weight")
            if what == "weight" and tuple(w.shape) != arr.shape:
                raise RuntimeError("%s: folded %s shape %s != %s.weight %s"
                                   % (tname, node.op_type, arr.shape, mname, tuple(w.shape)))
            e = expectation(mod, mname, what, acts)
            rec.update(e)
            rec["torch"] = ["%s.%s (values folded; module from node %s)" % (mname, what, node.name)]
            expect.append(rec)
            continue
        # decoded: which parameters, whole or a row block of one
        per = []
        desc = []
        for ei, idx in dec.items():
            qual, mname, attr, t, _ = entries[ei]
            n = t.numel()
            mod = modules[mname]
            if idx.size == n:
                per.append(expectation(mod, mname, attr, acts))
                desc.append(qual)
                continue
            row = n // t.shape[0] if t.dim() >= 1 else n
            a, b = int(idx[0]), int(idx[-1]) + 1
            if b - a == idx.size and a % row == 0 and b % row == 0 and idx.size >= row and \
                    t.dim() >= 1 and isinstance(mod, nn.MultiheadAttention):
                r = (a // row, b // row)
                per.append(expectation(mod, mname, attr, acts, rows=r))
                desc.append("%s[%d:%d]" % (qual, r[0], r[1]))
                continue
            per = None
            break
        if per is None:
            skipped.append("%s %s %s (part of %s, not a row block)"
                           % (gpath, tname, list(arr.shape), desc + [entries[ei][0]]))
            continue
        if any(p != per[0] for p in per[1:]):
            skipped.append("%s %s %s (mixes %s)" % (gpath, tname, list(arr.shape), desc))
            continue
        rec.update(per[0])
        rec["torch"] = desc
        expect.append(rec)
    for r in expect:
        r["unchecked"] = [f for f in FIELDS if r.get(f) == UNCHECKED]
        for f in r["unchecked"]:
            r[f] = None
        if r["unchecked"]:
            r["unchecked_why"] = "the documented activation list has no prelu"
    return expect, skipped, constant


def export_one(name, builder, outdir, styles):
    results = []
    for style in styles:
        t0 = time.time()
        path = os.path.join(outdir, "%s.%s.onnx" % (name, style))
        res = {"model": name, "style": style, "onnx": path}
        try:
            torch.manual_seed(0)
            model, inputs, in_names, acts = builder()
            entries, total = encode(model)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(model, inputs, path, opset_version=OPSET,
                                  input_names=in_names, **STYLES[style])
            onnx.checker.check_model(onnx.load(path))
            expect, skipped, constant = build_expectations(name, style, model, entries, total,
                                                        acts, path)
            if not expect:
                raise RuntimeError("no tensor decoded")
            epath = path[:-len(".onnx")] + ".expect.json"
            with open(epath, "w") as f:
                json.dump({"model": os.path.basename(path), "torch": torch.__version__,
                           "opset": OPSET, "skipped": skipped, "constant": constant,
                           "tensors": expect}, f, indent=1)
            res.update(ok=True, expect=epath, tensors=len(expect), skipped=skipped,
                       constant=constant)
        except Exception as ex:   # reported as a failure by check_roles.py
            res.update(ok=False, error="%s: %s" % (type(ex).__name__, ex),
                       trace=traceback.format_exc())
        res["seconds"] = round(time.time() - t0, 2)
        results.append(res)
        status = ("%d tensors expected, %d skipped, %d constant-filled"
                  % (res["tensors"], len(res["skipped"]), len(res["constant"]))
                  if res["ok"] else "FAILED " + res["error"])
        print("export %-14s %-5s %5.2fs  %s" % (name, style, res["seconds"], status),
              flush=True)
        for s in res.get("skipped", []):
            print("    skipped (no single parameter family): " + s)
    return results


def print_table(path):
    with open(path) as f:
        doc = json.load(f)
    print("== %s" % doc["model"])
    for t in doc["tensors"]:
        print("  %-28s %-16s %-21s torch %5s %5s  keras %5s %5s  %-12s %-19s %s"
              % (t["name"], t["shape"], t["role"], t["fan_in"], t["fan_out"],
                 t["keras_fan_in"], t["keras_fan_out"],
                 t["activation"] if "activation" not in t["unchecked"] else "(unchecked)",
                 t["gain"], ", ".join(t["torch"])))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--only", help="comma-separated model names")
    ap.add_argument("--styles", default="eval,train")
    ap.add_argument("--print", action="store_true", help="print the expectations as a table")
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    torch.set_num_threads(1)
    only = set(args.only.split(",")) if args.only else None
    results = []
    t0 = time.time()
    for name, builder in MODELS:
        if only and name not in only:
            continue
        results += export_one(name, builder, args.outdir, args.styles.split(","))
    if args.print:
        for r in results:
            if r["ok"]:
                print_table(r["expect"])
    with open(os.path.join(args.outdir, "exports.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("exported %d/%d in %.1fs" % (sum(r["ok"] for r in results), len(results),
                                        time.time() - t0))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
