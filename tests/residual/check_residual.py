#!/usr/bin/python3
"""Residual-aware initialization (`--residual`, the gpt2 profile) against PyTorch itself.

usage: check_residual.py --onnxinit BIN --work DIR [--only CASE,...] [-v]

The oracles are PyTorch's and the papers' reference code, run here on the same models:
  - torchvision's resnet18 / resnet50 with zero_init_residual=True zero exactly the scale of
    the last BatchNorm of each block (bn2 / bn3, not the downsample's): a training-mode export
    (BatchNorm kept, parameter names kept) through `init --residual zero` must zero exactly
    those, and change nothing else against `--residual none`;
  - an eval export (BatchNorm folded into the convs, random norm statistics so that nothing
    is merged) must get the weight and bias of each block's last conv zeroed instead, found
    by the conv's node name (/layer1/layer1.0/conv2/Conv);
  - a nanoGPT-layout model (written here as nanoGPT writes it) with nanoGPT's _init_weights
    (normal 0.02; c_proj.weight 0.02/sqrt(2 n_layer); zero biases; Embedding 0.02): the plan
    of `--scheme gpt2` must give every parameter that std, in training and eval exports;
  - a ResNet without normalization (Fixup's reference blocks, basic and bottleneck) with
    Fixup's reference init code, run under a recorder: `--residual fixup` with the scheme
    kaiming_normal(mode=fan_out,nonlinearity=relu) (what the reference gives the
    projections) must plan the std it draws with for each parameter, and its zeros;
  - post-norm and pre-norm nn.TransformerEncoder: zero gives the attention's out_proj and
    linear2 weight and bias 0;
  - a plain CNN has no blocks: nothing changes, and a notice says so; two parallel branches
    added are ambiguous: a warning naming the Add, nothing changes; an unknown mode exits 2.
One line per case (ok / FAIL with why), then exactly `residual: N passed, M failed`; exit 1 if
M > 0.
"""
import json
import math
import os
import shutil
import sys
import warnings

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cases  # noqa: E402 - the shared case runner
from cases import case, check, init, oi, plan, provenance, work  # noqa: E402

OPSET = 14


# ------------------------------------------------------------------------------ running
def values(path):
    m = onnx.load(path)
    return {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}, m


def near(got, want, what, rel=1e-9):
    check(got is not None and abs(got - want) <= rel * abs(want) + 1e-15,
          "%s: std %r, expected %r", what, got, want)


def by_name(report):
    return {t["name"]: t for t in report["tensors"]}


def weights_of_nodes(model):
    """{node name: [initializer names of its inputs, through Transpose/Identity]}"""
    inits = {t.name for t in model.graph.initializer}
    prod = {o: n for n in model.graph.node for o in n.output}
    out = {}
    for n in model.graph.node:
        names = []
        for x in n.input:
            while x not in inits and x in prod and prod[x].op_type in ("Transpose", "Identity"):
                x = prod[x].input[0]
            if x in inits:
                names.append(x)
        out[n.name] = names
    return out


def zeroed_against(model, opts, base=("--scheme", "torch")):
    """Run init with base + opts and with base + --residual none (same seed); the names of
    the tensors that differ, each of which must be all zeros in the first.  The base scheme
    gives biases values other than zeros (torch's), so that zeroing them shows."""
    a, b = work("a.onnx"), work("b.onnx")
    init(model, a, "--seed", "7", *base, *opts)
    init(model, b, "--seed", "7", *base, "--residual", "none")
    va, ma = values(a)
    vb, _ = values(b)
    changed = set()
    for name, x in va.items():
        if not np.array_equal(x, vb[name]):
            check(not np.any(x), "%s differs from --residual none but is not zeros", name)
            changed.add(name)
    return changed, ma


# ------------------------------------------------------------------------------ models
_EXPORTED = {}


def export(name, build, train, inputs, randomize=False):
    """Export build() once per (name, mode) to DIR/NAME.{train,eval}.onnx; returns the path
    and the torch model."""
    import torch
    key = (name, train)
    if key in _EXPORTED:
        return _EXPORTED[key]
    torch.manual_seed(0)
    m = build()
    if randomize:  # distinct values everywhere: no initializer is merged with another
        with torch.no_grad():
            for p in list(m.parameters()) + list(m.buffers()):
                if p.dtype.is_floating_point:
                    p.copy_(torch.rand_like(p) + 0.5)
    path = work("%s.%s.onnx" % (name, "train" if train else "eval"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if train:
            m.train()
            torch.onnx.export(m, inputs, path, opset_version=OPSET, do_constant_folding=False,
                              training=torch.onnx.TrainingMode.TRAINING)
        else:
            m.eval()
            torch.onnx.export(m, inputs, path, opset_version=OPSET)
    _EXPORTED[key] = (path, m)
    return path, m


def torchvision_resnet(depth, zero_init):
    import torchvision
    ctor = torchvision.models.resnet18 if depth == 18 else torchvision.models.resnet50
    return lambda: ctor(weights=None, num_classes=10, zero_init_residual=zero_init)


def gpt_class():
    """nanoGPT's model.py, as written there (no weight tying, no flash path)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class CausalSelfAttention(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c_attn = nn.Linear(c.n_embd, 3 * c.n_embd)
            self.c_proj = nn.Linear(c.n_embd, c.n_embd)
            self.attn_dropout = nn.Dropout(c.dropout)
            self.resid_dropout = nn.Dropout(c.dropout)
            self.n_head, self.n_embd = c.n_head, c.n_embd

        def forward(self, x):
            B, T, C = x.size()
            q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
            k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            att = self.attn_dropout(F.softmax(att, dim=-1))
            y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
            return self.resid_dropout(self.c_proj(y))

    class MLP(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c_fc = nn.Linear(c.n_embd, 4 * c.n_embd)
            self.gelu = nn.GELU()
            self.c_proj = nn.Linear(4 * c.n_embd, c.n_embd)
            self.dropout = nn.Dropout(c.dropout)

        def forward(self, x):
            return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.ln_1 = nn.LayerNorm(c.n_embd)
            self.attn = CausalSelfAttention(c)
            self.ln_2 = nn.LayerNorm(c.n_embd)
            self.mlp = MLP(c)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.config = c
            self.transformer = nn.ModuleDict(dict(
                wte=nn.Embedding(c.vocab_size, c.n_embd),
                wpe=nn.Embedding(c.block_size, c.n_embd),
                drop=nn.Dropout(c.dropout),
                h=nn.ModuleList([Block(c) for _ in range(c.n_layer)]),
                ln_f=nn.LayerNorm(c.n_embd)))
            self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)

        def forward(self, idx):
            b, t = idx.size()
            pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
            x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
            for block in self.transformer.h:
                x = block(x)
            return self.lm_head(self.transformer.ln_f(x))

    class Config:
        vocab_size, block_size, n_layer, n_head, n_embd, dropout = 64, 16, 3, 2, 32, 0.1

    return GPT, Config


def nanogpt_stds(model):
    """nanoGPT's _init_weights and its c_proj rule, run under a recorder: {param: std}."""
    import torch
    import torch.nn as nn
    got = {}
    names = {id(p): n for n, p in model.named_parameters()}
    real_normal, real_zeros = torch.nn.init.normal_, torch.nn.init.zeros_

    def normal_(p, mean=0.0, std=1.0):
        got[names[id(p)]] = std
        return p

    def zeros_(p):
        got[names[id(p)]] = 0.0
        return p

    torch.nn.init.normal_, torch.nn.init.zeros_ = normal_, zeros_
    try:
        def _init_weights(module):  # nanoGPT model.py
            if isinstance(module, nn.Linear):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    torch.nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
        model.apply(_init_weights)
        for pn, p in model.named_parameters():
            if pn.endswith('c_proj.weight'):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * model.config.n_layer))
    finally:
        torch.nn.init.normal_, torch.nn.init.zeros_ = real_normal, real_zeros
    for n, mod in model.named_modules():  # LayerNorm: torch's 1 / 0
        if isinstance(mod, nn.LayerNorm):
            got[n + ".weight"] = got[n + ".bias"] = 0.0
    return got


def fixup_resnet():
    """Fixup's ImageNet ResNet (hongyi-zhang/Fixup, fixup_resnet_imagenet.py), two stages of
    basic blocks and one of bottlenecks, and its init loop run under a recorder."""
    import torch
    import torch.nn as nn

    def conv3x3(i, o, stride=1):
        return nn.Conv2d(i, o, kernel_size=3, stride=stride, padding=1, bias=False)

    def conv1x1(i, o, stride=1):
        return nn.Conv2d(i, o, kernel_size=1, stride=stride, bias=False)

    class FixupBasicBlock(nn.Module):
        expansion = 1

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.bias1a = nn.Parameter(torch.zeros(1))
            self.conv1 = conv3x3(inplanes, planes, stride)
            self.bias1b = nn.Parameter(torch.zeros(1))
            self.relu = nn.ReLU(inplace=True)
            self.bias2a = nn.Parameter(torch.zeros(1))
            self.conv2 = conv3x3(planes, planes)
            self.scale = nn.Parameter(torch.ones(1))
            self.bias2b = nn.Parameter(torch.zeros(1))
            self.downsample = downsample

        def forward(self, x):
            identity = x
            out = self.conv1(x + self.bias1a)
            out = self.relu(out + self.bias1b)
            out = self.conv2(out + self.bias2a)
            out = out * self.scale + self.bias2b
            if self.downsample is not None:
                identity = self.downsample(x + self.bias1a)
            return self.relu(out + identity)

    class FixupBottleneck(nn.Module):
        expansion = 4

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.bias1a = nn.Parameter(torch.zeros(1))
            self.conv1 = conv1x1(inplanes, planes)
            self.bias1b = nn.Parameter(torch.zeros(1))
            self.bias2a = nn.Parameter(torch.zeros(1))
            self.conv2 = conv3x3(planes, planes, stride)
            self.bias2b = nn.Parameter(torch.zeros(1))
            self.bias3a = nn.Parameter(torch.zeros(1))
            self.conv3 = conv1x1(planes, planes * self.expansion)
            self.scale = nn.Parameter(torch.ones(1))
            self.bias3b = nn.Parameter(torch.zeros(1))
            self.relu = nn.ReLU(inplace=True)
            self.downsample = downsample

        def forward(self, x):
            identity = x
            out = self.relu(self.conv1(x + self.bias1a) + self.bias1b)
            out = self.relu(self.conv2(out + self.bias2a) + self.bias2b)
            out = self.conv3(out + self.bias3a)
            out = out * self.scale + self.bias3b
            if self.downsample is not None:
                identity = self.downsample(x + self.bias1a)
            return self.relu(out + identity)

    class FixupResNet(nn.Module):
        def __init__(self, stages, num_classes=10):
            super().__init__()
            self.num_layers = sum(n for _, _, n in stages)
            self.inplanes = 8
            self.conv1 = nn.Conv2d(3, 8, kernel_size=7, stride=2, padding=3, bias=False)
            self.bias1 = nn.Parameter(torch.zeros(1))
            self.relu = nn.ReLU(inplace=True)
            self.layers = nn.Sequential(*[self._make_layer(b, p, n, stride=2 if i else 1)
                                          for i, (b, p, n) in enumerate(stages)])
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.bias2 = nn.Parameter(torch.zeros(1))
            self.fc = nn.Linear(self.inplanes, num_classes)

        def _make_layer(self, block, planes, blocks, stride=1):
            downsample = None
            if stride != 1 or self.inplanes != planes * block.expansion:
                downsample = conv1x1(self.inplanes, planes * block.expansion, stride)
            layers = [block(self.inplanes, planes, stride, downsample)]
            self.inplanes = planes * block.expansion
            layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
            return nn.Sequential(*layers)

        def forward(self, x):
            x = self.relu(self.conv1(x) + self.bias1)
            x = self.layers(x)
            x = self.avgpool(x).flatten(1)
            return self.fc(x + self.bias2)

    def reference_init(self):  # the reference's loop, as written there
        for m in self.modules():
            if isinstance(m, FixupBasicBlock):
                nn.init.normal_(m.conv1.weight, mean=0, std=np.sqrt(2 / (m.conv1.weight.shape[0] * np.prod(m.conv1.weight.shape[2:]))) * self.num_layers ** (-0.5))
                nn.init.constant_(m.conv2.weight, 0)
                if m.downsample is not None:
                    nn.init.normal_(m.downsample.weight, mean=0, std=np.sqrt(2 / (m.downsample.weight.shape[0] * np.prod(m.downsample.weight.shape[2:]))))
            elif isinstance(m, FixupBottleneck):
                nn.init.normal_(m.conv1.weight, mean=0, std=np.sqrt(2 / (m.conv1.weight.shape[0] * np.prod(m.conv1.weight.shape[2:]))) * self.num_layers ** (-0.25))
                nn.init.normal_(m.conv2.weight, mean=0, std=np.sqrt(2 / (m.conv2.weight.shape[0] * np.prod(m.conv2.weight.shape[2:]))) * self.num_layers ** (-0.25))
                nn.init.constant_(m.conv3.weight, 0)
                if m.downsample is not None:
                    nn.init.normal_(m.downsample.weight, mean=0, std=np.sqrt(2 / (m.downsample.weight.shape[0] * np.prod(m.downsample.weight.shape[2:]))))
            elif isinstance(m, nn.Linear):
                nn.init.constant_(m.weight, 0)
                nn.init.constant_(m.bias, 0)

    return FixupResNet, FixupBasicBlock, FixupBottleneck, reference_init


def recorded_init(model, init_fn):
    """{param name: std} of what init_fn draws: normal_'s std, constant_'s 0."""
    import torch.nn as nn
    got = {}
    names = {id(p): n for n, p in model.named_parameters()}
    real = nn.init.normal_, nn.init.constant_

    def normal_(p, mean=0.0, std=1.0):
        got[names[id(p)]] = float(std)
        return p

    def constant_(p, val):
        got[names[id(p)]] = 0.0 if val == 0 else None
        return p

    nn.init.normal_, nn.init.constant_ = normal_, constant_
    try:
        init_fn(model)
    finally:
        nn.init.normal_, nn.init.constant_ = real
    return got


# ------------------------------------------------------------------------------ cases
def resnet_zero(depth, last_bn):
    import torch
    path, m = export("resnet%d" % depth, torchvision_resnet(depth, True), True,
                     (torch.randn(2, 3, 32, 32),))
    # the oracle: what zero_init_residual=True zeroed in torch
    oracle = {n for n, p in m.named_parameters() if n.endswith(".weight") and p.dim() == 1
              and not torch.any(p)}
    check(oracle and all(n.endswith("." + last_bn + ".weight") for n in oracle),
          "torch zeroed %s", sorted(oracle))
    changed, out = zeroed_against(path, ("--residual", "zero"))
    check(changed == oracle, "zeroed %s, torch zeroes %s", sorted(changed - oracle),
          sorted(oracle - changed))
    prov = provenance(out)
    check(prov and prov.get("residual") == "zero", "provenance: %s", prov)
    blocks = {mod for n, mod in m.named_modules() if n.count(".") == 1 and n.startswith("layer")}
    rep = json.loads(oi("inspect", path, "--json")[0])
    res = [t["residual"] for t in rep["tensors"] if "residual" in t]
    check({r["blocks"] for r in res} == {len(blocks)}, "chains: %s",
          {r["blocks"] for r in res})
    check({r["block"] for r in res} == set(range(1, len(blocks) + 1)), "blocks numbered %s",
          sorted({r["block"] for r in res}))
    down = [t for t in rep["tensors"] if "downsample" in t["name"]]
    check(down and not any("residual" in t for t in down), "a downsample is in a branch")


@case
def resnet18_zero_init_residual():
    resnet_zero(18, "bn2")


@case
def resnet50_zero_init_residual():
    resnet_zero(50, "bn3")


@case
def resnet18_folded_zero():
    import torch
    import torchvision
    path, m = export("resnet18_folded", torchvision_resnet(18, False), False,
                     (torch.randn(1, 3, 32, 32),), randomize=True)
    model = onnx.load(path)
    nodes = weights_of_nodes(model)
    blocks = [n for n, mod in m.named_modules()
              if isinstance(mod, torchvision.models.resnet.BasicBlock)]
    oracle = set()
    for b in blocks:  # layer1.0 -> /layer1/layer1.0/conv2/Conv
        node = "/%s/%s/conv2/Conv" % (b.split(".")[0], b)
        check(len(nodes.get(node, [])) == 2, "%s: %s", node, nodes.get(node))
        oracle.update(nodes[node])
    changed, _ = zeroed_against(path, ("--residual", "zero"))
    check(changed == oracle, "zeroed %s, expected %s", sorted(changed - oracle),
          sorted(oracle - changed))


def gpt_model():
    GPT, Config = gpt_class()
    return GPT(Config())


@case
def nanogpt_scaled_projections():
    import torch
    idx = torch.randint(0, 64, (2, 8))
    _, m = export("nanogpt", gpt_model, True, (idx,))
    want = nanogpt_stds(m)
    scaled = {n for n, s in want.items() if n.endswith("c_proj.weight")}
    check(len(scaled) == 2 * m.config.n_layer, "nanoGPT scales %s", sorted(scaled))
    for train in (True, False):
        path, _ = export("nanogpt", gpt_model, train, (idx,), randomize=not train)
        rep, err = plan(path, "--scheme", "gpt2")
        t = by_name(rep)
        if train:
            for n, s in want.items():
                check(n in t, "%s is not in the export", n)
                near(t[n]["std"], s, n)
                check(("residual_scaled" in t[n]["scheme"]) == (n in scaled), "%s: %s", n,
                      t[n]["scheme"])
        else:  # folded and transposed: the weights are found by their node
            nodes = weights_of_nodes(onnx.load(path))
            seen = 0
            for n, s in want.items():
                if not n.endswith(".weight") or ".ln_" in n or "wpe" in n:
                    continue  # norms and the position table are folded away
                # transformer.h.0.attn.c_proj.weight -> /h.0/attn/c_proj/MatMul
                parts = n[:-len(".weight")].replace("transformer.", "").split(".")
                if parts[0] == "h":
                    parts[:2] = ["h." + parts[1]]
                node = "/" + "/".join(parts) + ("/Gather" if parts == ["wte"] else "/MatMul")
                hits = nodes.get(node, [])
                check(len(hits) == 1, "%s: node %s reads %s", n, node, hits)
                near(t[hits[0]]["std"], s, n + " (" + hits[0] + ")")
                seen += 1
            check(seen == 4 * m.config.n_layer + 2, "%d weights found by node", seen)
        check("no residual blocks" not in err, "a notice: %s", err)
    # an explicit mode overrides the profile's
    path, _ = export("nanogpt", gpt_model, True, (idx,))
    t = by_name(plan(path, "--scheme", "gpt2", "--residual", "none")[0])
    for n in scaled:
        near(t[n]["std"], 0.02, n + " with --residual none")


@case
def fixup_resnet_without_norms():
    import torch
    FixupResNet, Basic, Bottleneck, reference_init = fixup_resnet()
    stages = [(Basic, 8, 2), (Basic, 16, 2), (Bottleneck, 4, 2)]
    path, m = export("fixup", lambda: FixupResNet(stages), True, (torch.randn(2, 3, 32, 32),))
    want = recorded_init(m, reference_init)
    check(len(want) > 10, "the reference initialized %d tensors", len(want))
    rep, _ = plan(path, "--residual", "fixup", "--scheme",
                  "kaiming_normal(mode=fan_out,nonlinearity=relu)")
    t = by_name(rep)
    for n, s in want.items():
        check(n in t, "%s is not in the export", n)
        near(t[n]["std"], s, n)
        if s == 0:
            check(t[n]["scheme"].endswith("residual_fixup"), "%s: %s", n, t[n]["scheme"])
    L = sum(n for _, _, n in stages)
    res = [x["residual"] for x in rep["tensors"] if "residual" in x]
    check({r["blocks"] for r in res} == {L}, "chains %s", {r["blocks"] for r in res})
    check({r["length"] for r in res} == {2, 3}, "branch lengths %s", {r["length"] for r in res})


def encoder(norm_first):
    def build():
        import torch.nn as nn
        layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.1, norm_first=norm_first)
        return nn.TransformerEncoder(layer, 2)
    return build


@case
def transformer_post_and_pre_norm():
    import torch
    for norm_first in (False, True):
        path, m = export("encoder_%s" % ("pre" if norm_first else "post"), encoder(norm_first),
                         True, (torch.randn(5, 2, 16),), randomize=True)
        oracle = {n for n, _ in m.named_parameters()
                  if n.split(".")[-2] in ("out_proj", "linear2")}
        check(len(oracle) == 8, "oracle %s", sorted(oracle))
        changed, _ = zeroed_against(path, ("--residual", "zero"))
        check(changed == oracle, "norm_first=%s: zeroed %s, expected %s", norm_first,
              sorted(changed - oracle), sorted(oracle - changed))
        rep = json.loads(oi("inspect", path, "--json")[0])
        res = [t["residual"] for t in rep["tensors"] if "residual" in t]
        check({r["blocks"] for r in res} == {4}, "norm_first=%s: chains %s", norm_first,
              {r["blocks"] for r in res})


def small_cnn(parallel):
    import torch.nn as nn

    class Parallel(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.conv_a = nn.Conv2d(8, 8, 3, padding=1)
            self.conv_b = nn.Conv2d(8, 8, 1)
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            x = self.stem(x).relu()
            x = (self.conv_a(x) + self.conv_b(x)).relu()
            return self.fc(x.mean((2, 3)))

    if parallel:
        return Parallel()
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(),
                         nn.Flatten(), nn.Linear(8 * 4 * 4, 4))


@case
def plain_cnn_has_no_blocks():
    import torch
    path, _ = export("plain", lambda: small_cnn(False), False, (torch.randn(1, 3, 8, 8),))
    for mode in ("zero", "scaled", "fixup"):
        a, b = work("a.onnx"), work("b.onnx")
        err = init(path, a, "--residual", mode, "--no-provenance")
        init(path, b, "--no-provenance")
        check(open(a, "rb").read() == open(b, "rb").read(), "--residual %s changed it", mode)
        check("residual mode '%s': the model has no residual blocks" % mode in err,
              "no notice: %s", err)
    rep = json.loads(oi("inspect", path, "--json")[0])
    check(not any("residual" in t for t in rep["tensors"]), "a tensor in a branch")
    check("RESIDUAL" not in oi("inspect", path)[0], "a RESIDUAL column")


@case
def parallel_branches_warn():
    import torch
    path, _ = export("parallel", lambda: small_cnn(True), False, (torch.randn(1, 3, 8, 8),))
    changed, _ = zeroed_against(path, ("--residual", "zero", "-v"))
    check(not changed, "changed %s", sorted(changed))
    _, err = oi("init", path, "--dry-run", "--residual", "zero", "-v")
    check("node '/Add' (Add): the paths from" in err and "1 and 1 conv/dense layers" in err,
          "no warning naming the Add: %s", err)
    out, err = oi("inspect", path, "--json", "-v")
    check(not any("residual" in t for t in json.loads(out)["tensors"]), "a tensor in a branch")
    check("'/Add'" not in err, "inspect warns: %s", err)
    check("'/Add'" not in oi("init", path, "--dry-run", "-v")[1], "init warns without a mode")


@case
def inspect_shows_blocks():
    import torch
    path, _ = export("resnet18", torchvision_resnet(18, True), True, (torch.randn(2, 3, 32, 32),))
    out, _ = oi("inspect", path)
    lines = out.splitlines()
    check("RESIDUAL" in lines[1], "no RESIDUAL column: %s", lines[1])
    row = [ln for ln in lines if ln.startswith("layer4.1.bn2.weight ")]
    check(row and row[0].rstrip().endswith("8/8 2/2 last"), "row: %s", row)
    rep = json.loads(oi("inspect", path, "--json")[0])
    t = by_name(rep)
    check(t["layer1.0.conv1.weight"]["residual"] ==
          {"block": 1, "blocks": 8, "index": 1, "length": 2, "last": False,
           "add": "/layer1/layer1.0/Add"}, "%s", t["layer1.0.conv1.weight"]["residual"])
    check("residual" not in t["conv1.weight"] and "residual" not in t["fc.weight"],
          "stem or head in a branch")


@case
def batch_and_bad_mode():
    import torch
    path, m = export("encoder_post", encoder(False), True, (torch.randn(5, 2, 16),),
                     randomize=True)
    src, dst = work("batch-in"), work("batch-out")
    os.makedirs(src, exist_ok=True)
    shutil.copy(path, os.path.join(src, "enc.onnx"))
    oi("batch", src, "-o", dst, "--residual", "zero", "--no-fsync", "-q")
    v, out = values(os.path.join(dst, "enc.onnx"))
    for n, _ in m.named_parameters():
        if n.split(".")[-2] in ("out_proj", "linear2"):
            check(not np.any(v[n]), "batch: %s is not zeros", n)
    check(provenance(out).get("residual") == "zero", "provenance %s", provenance(out))
    _, err = oi("init", path, "--dry-run", "--residual", "half", code=2)
    check("--residual must be zero, scaled, fixup or none, not 'half'" in err, "%s", err)
    oi("batch", src, "-o", work("batch-bad"), "--residual", "", code=2)


if __name__ == "__main__":
    sys.exit(cases.main('residual'))
