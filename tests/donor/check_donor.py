"""init export(A) --from DONOR(B) must equal export(B), tensor by tensor, with
PyTorch as the oracle: A (seed 1) and B (seed 2, BatchNorm statistics from
a few training-mode passes) are exported the same way; the donors are B's
state_dict (safetensors, npz, .npy folder, f16/bf16), a training-mode ONNX
export of B and B's export with every name scrambled."""
import argparse
import os
import subprocess
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import donors  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--onnxinit', required=True)
ap.add_argument('--work', required=True)
ap.add_argument('--only', default='')
args = ap.parse_args()
os.makedirs(args.work, exist_ok=True)
torch.set_num_threads(1)
failures = []


class Lin3d(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(12, 24)
        self.fc2 = nn.Linear(24, 16)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        return self.head(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


class Rnn(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.rnn = getattr(nn, kind)(8, 16, num_layers=2, bidirectional=True)
        self.out = nn.Linear(32, 4)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.out(y)


def make(arch, seed, classes=None):
    torch.manual_seed(seed)
    import torchvision
    if arch == 'lin3d':
        return Lin3d(), torch.randn(2, 3, 12)
    if arch == 'resnet18':
        return torchvision.models.resnet18(num_classes=classes or 10), torch.randn(1, 3, 48, 48)
    if arch == 'mobilenet_v2':
        return torchvision.models.mobilenet_v2(num_classes=classes or 10), torch.randn(1, 3, 48, 48)
    if arch in ('LSTM', 'GRU'):
        return Rnn(arch), torch.randn(5, 2, 8)
    raise ValueError(arch)


def trained_stats(model, x):
    """Non-trivial BatchNorm statistics: a few training-mode passes."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn_like(x).repeat(2, *([1] * (x.dim() - 1))) * 2 + 0.5)
    model.eval()


def export(model, x, path, training=False):
    model.eval()
    kw = {}
    if training:
        kw = dict(training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
    torch.onnx.export(model, x, path, opset_version=13, **kw)


def inits(path):
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def compare(label, got_path, want_path, tol, allow_diff=()):
    got, want = inits(got_path), inits(want_path)
    bad = []
    for k, w in want.items():
        if k in allow_diff:
            continue
        g = got.get(k)
        if g is None or g.shape != w.shape:
            bad.append('%s: shape' % k)
            continue
        if w.dtype.kind != 'f':
            if not np.array_equal(g, w):
                bad.append('%s: values' % k)
            continue
        err = np.max(np.abs(g.astype(np.float64) - w.astype(np.float64)) /
                     (np.abs(w.astype(np.float64)) + 1e-3)) if w.size else 0
        if err > tol:
            bad.append('%s: rel err %.3g' % (k, err))
    if bad:
        failures.append('%s: %s' % (label, '; '.join(bad[:6])))
        print('FAIL', label, bad[:6])
    else:
        print('ok  ', label)


def init(label, target, donor, out, extra=()):
    r = run([args.onnxinit, 'init', target, '-o', out, '--from', donor, '--no-provenance',
             *extra])
    if r.returncode != 0:
        failures.append('%s: exit %d: %s' % (label, r.returncode, r.stderr.strip()))
        print('FAIL', label, r.stderr.strip())
        return None
    return r


def case(arch):
    w = os.path.join(args.work, arch)
    os.makedirs(w, exist_ok=True)
    a, x = make(arch, 1)
    b, _ = make(arch, 2)
    trained_stats(b, x)
    # A's statistics non-trivial too: with a fresh BatchNorm every folded
    # bias is 0 and the exporter shares one initializer among the layers
    # (the shared case has its own test)
    trained_stats(a, x)
    pa, pb = os.path.join(w, 'a.onnx'), os.path.join(w, 'b.onnx')
    export(a, x, pa)
    export(b, x, pb)
    sd = b.state_dict()
    st = os.path.join(w, 'b.safetensors')
    donors.write_safetensors(st, donors.to_numpy(sd), metadata={'format': 'pt'})
    npz = os.path.join(w, 'b.npz')
    donors.write_npz(npz, donors.to_numpy(sd), compressed=(arch == 'resnet18'))
    train = os.path.join(w, 'b_train.onnx')
    # a training-mode trace updates the running statistics: a copy
    import copy
    bt = copy.deepcopy(b)
    for mod in bt.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            mod.momentum = 0.0
    export(bt, x, train, training=True)
    scr = os.path.join(w, 'b_scrambled.onnx')
    donors.scramble(pb, scr)
    for name, d in (('safetensors', st), ('npz', npz), ('train-onnx', train),
                    ('scrambled-onnx', scr)):
        out = os.path.join(w, 'out_%s.onnx' % name)
        if init('%s <- %s' % (arch, name), pa, d, out):
            compare('%s <- %s' % (arch, name), out, pb, 1e-4)
    return w, a, b, x, sd


def extras(w, arch, sd, pa, pb):
    # f16 / bf16 donors: the values as those types hold them
    for kind in ('f16', 'bf16'):
        p = os.path.join(w, 'b_%s.safetensors' % kind)
        donors.write_safetensors(p, donors.to_numpy(sd, kind))
        out = os.path.join(w, 'out_%s.onnx' % kind)
        if init('%s <- %s' % (arch, kind), pa, p, out):
            compare('%s <- %s' % (arch, kind), out, pb, 1e-2 if kind == 'bf16' else 2e-3)


def head_case():
    """A 1000-class donor into a 10-class target: the classifier is
    mismatched and reported, the rest exact."""
    w = os.path.join(args.work, 'head')
    os.makedirs(w, exist_ok=True)
    a, x = make('resnet18', 1, classes=10)
    trained_stats(a, x)
    b, _ = make('resnet18', 2, classes=1000)
    trained_stats(b, x)
    b10, _ = make('resnet18', 3, classes=10)
    sd = {k: v for k, v in b.state_dict().items() if not k.startswith('fc.')}
    b10.load_state_dict(sd, strict=False)
    b10.eval()
    pa, pb = os.path.join(w, 'a.onnx'), os.path.join(w, 'b10.onnx')
    export(a, x, pa)
    export(b10, x, pb)
    st = os.path.join(w, 'b1000.safetensors')
    donors.write_safetensors(st, donors.to_numpy(b.state_dict()))
    out = os.path.join(w, 'out.onnx')
    r = init('head 1000->10', pa, st, out)
    if r:
        compare('head 1000->10 (backbone)', out, pb, 1e-4, allow_diff=('fc.weight', 'fc.bias'))
        ok = 'mismatched' in r.stderr and "'fc.weight'" in r.stderr and '[1000,512]' in r.stderr
        print('ok  ' if ok else 'FAIL', 'head mismatch reported:', r.stderr.strip().splitlines()[:3])
        if not ok:
            failures.append('head: mismatch not reported: ' + r.stderr)
    # --unmatched error: exit 1, nothing written
    out2 = os.path.join(w, 'never.onnx')
    r = run([args.onnxinit, 'init', pa, '-o', out2, '--from', st, '--unmatched', 'error'])
    ok = r.returncode == 1 and not os.path.exists(out2) and len(r.stderr.strip().splitlines()) >= 1
    print('ok  ' if ok else 'FAIL', '--unmatched error:', r.returncode, r.stderr.strip()[-200:])
    if not ok:
        failures.append('--unmatched error: exit %d' % r.returncode)


archs = [a for a in ('lin3d', 'LSTM', 'GRU', 'mobilenet_v2', 'resnet18')
         if not args.only or a in args.only.split(',')]
for arch in archs:
    w, a, b, x, sd = case(arch)
    if arch in ('lin3d', 'resnet18'):
        extras(w, arch, sd, os.path.join(w, 'a.onnx'), os.path.join(w, 'b.onnx'))
if not args.only or 'head' in args.only:
    head_case()


def shared_case():
    """A fresh export shares one zero bias among the folded convs; the donor
    gives each its own values: each reader gets its own copy (untied) with
    its values, every Conv of the output reading what export(B)'s does.
    With --no-untie the shared bias is mismatched, with that reason."""
    w = os.path.join(args.work, 'shared')
    os.makedirs(w, exist_ok=True)
    a, x = make('resnet18', 1)
    b, _ = make('resnet18', 2)
    trained_stats(b, x)
    pa, pb = os.path.join(w, 'a.onnx'), os.path.join(w, 'b.onnx')
    export(a, x, pa)
    export(b, x, pb)
    st = os.path.join(w, 'b.safetensors')
    donors.write_safetensors(st, donors.to_numpy(b.state_dict()))
    out = os.path.join(w, 'out.onnx')
    r = init('shared bias untied', pa, st, out)

    def conv_inputs(path):
        """Each Conv's weight and bias values (through the exporter's Identity copies)."""
        m = onnx.load(path)
        vals = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
        for n in m.graph.node:
            if n.op_type == 'Identity' and n.input[0] in vals:
                vals[n.output[0]] = vals[n.input[0]]
        return [[vals.get(i) for i in n.input[1:]] for n in m.graph.node if n.op_type == 'Conv']
    if r:
        got, want = conv_inputs(out), conv_inputs(pb)
        shared_in_a = len({t.name for t in onnx.load(pa).graph.initializer}) < \
            sum(len(n.input) - 1 for n in onnx.load(pa).graph.node if n.op_type == 'Conv')
        ok = shared_in_a and len(got) == len(want) and all(
            g is not None and v is not None and g.shape == v.shape and
            np.allclose(g, v, rtol=1e-4, atol=1e-5)
            for gs, ws in zip(got, want) for g, v in zip(gs, ws))
        ok = ok and 'mismatched' not in r.stderr.split('from ')[-1].replace('0 mismatched', '')
        print('ok  ' if ok else 'FAIL', 'shared folded bias: every Conv reads its own values')
        if not ok:
            failures.append('shared: values differ from export(B)')
    r = run([args.onnxinit, 'init', pa, '--dry-run', '--json', '--no-untie', '--from', st])
    import json
    rep = json.loads(r.stdout)['from'] if r.returncode == 0 else {}
    why = [m['reason'] for m in rep.get('mismatched', [])]
    ok = any('shared by layers' in x for x in why) and len(rep.get('matched', [])) > 20
    print('ok  ' if ok else 'FAIL', '--no-untie: shared folded bias reported mismatched:', why[:1])
    if not ok:
        failures.append('shared --no-untie: ' + r.stderr[-300:])


class ConvBn(nn.Module):
    """A BatchNorm with its own epsilon (1e-3, as Keras-ported models have)."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8, eps=1e-3)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3)))


def eps_case():
    """Folding uses the donor's epsilon: an ONNX donor's BatchNormalization
    attribute, or --bn-eps for a checkpoint (which does not carry it)."""
    w = os.path.join(args.work, 'eps')
    os.makedirs(w, exist_ok=True)
    x = torch.randn(2, 3, 10, 10)
    torch.manual_seed(1)
    a = ConvBn()
    torch.manual_seed(2)
    b = ConvBn()
    with torch.no_grad():  # small variances: the epsilon shows
        b.bn.running_var.uniform_(1e-3, 4e-3)
        b.bn.running_mean.uniform_(-1, 1)
        b.bn.weight.uniform_(0.5, 1.5)
    pa, pb, pt = (os.path.join(w, n) for n in ('a.onnx', 'b.onnx', 'b_train.onnx'))
    export(a, x, pa)
    export(b, x, pb)
    import copy
    bt = copy.deepcopy(b)
    bt.bn.momentum = 0.0
    export(bt, x, pt, training=True)
    st = os.path.join(w, 'b.safetensors')
    donors.write_safetensors(st, donors.to_numpy(b.state_dict()))
    for label, donor, extra in (('eps from the ONNX donor', pt, ()),
                                ('eps from the ONNX donor beats --bn-eps', pt,
                                 ('--bn-eps', '1e-5')),
                                ('eps from --bn-eps', st, ('--bn-eps', '1e-3'))):
        out = os.path.join(w, 'out_%d.onnx' % len(label))
        if init(label, pa, donor, out, extra):
            compare(label, out, pb, 1e-4)
    # and the default (1e-5) for a checkpoint is visibly different here
    out = os.path.join(w, 'out_default.onnx')
    if init('eps default', pa, st, out):
        got, want = inits(out), inits(pb)
        differ = any(not np.allclose(got[k], want[k], rtol=1e-3, atol=0) for k in want
                     if want[k].dtype.kind == 'f' and k.startswith('onnx::Conv'))
        print('ok  ' if differ else 'FAIL', 'the default epsilon gives other folded values')
        if not differ:
            failures.append('eps: the case cannot tell epsilons apart')


if not args.only or 'eps' in args.only:
    eps_case()
if not args.only or 'shared' in args.only:
    shared_case()
if failures:
    print('\n%d failures:' % len(failures))
    for f in failures:
        print(' ', f)
    sys.exit(1)
print('all donor cases pass')
