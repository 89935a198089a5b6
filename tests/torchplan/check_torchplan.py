#!/usr/bin/python3
"""Check the std/bound of `onnxinit init --dry-run --json --scheme SPEC` against torch.nn.init.

usage: check_torchplan.py --onnxinit BIN --work DIR [--only NAME,...] [--no-export]
                          [--no-sample] [-v]

Exports the models of tests/roles/export_models.py into DIR (or reuses them with
--no-export); every ONNX tensor that export_models.py traced back to a torch parameter (its
NAME.STYLE.expect.json) is looked up again in the rebuilt torch model, and for each scheme below
the plan's `std` and `bound` are compared (relative tolerance 1e-9; a null bound must be null)
with what torch.nn.init would use for that parameter, computed here with torch's own helpers:

  torch                         the layer constructor's defaults (reset_parameters):
                                Linear/Conv/ConvTranspose weight kaiming_uniform_(a=sqrt(5)),
                                bias U(+-1/sqrt(fan_in)), RNN U(+-1/sqrt(hidden_size)),
                                Embedding N(0,1), norms/PReLU the constant reset_parameters()
                                leaves (std 0, bound |value|).  Also: float constants that are
                                no torch parameter (RNN initial states, Clip bounds, ...) must
                                be kept.
  kaiming_uniform(mode=fan_in,nonlinearity=relu)      \\
  kaiming_normal(mode=fan_out,nonlinearity=relu)       |  weights only (conv_weight,
  xavier_uniform(gain=2)                               |  conv_transpose_weight, dense_weight,
  xavier_normal                                        |  embedding, rnn_input_weight,
  kaiming_uniform(a=0.1,nonlinearity=leaky_relu)       |  rnn_recurrent_weight)
  trunc_normal(std=0.02)          std of N(0,0.02^2) truncated to [-2,2], bound 2
  trunc_normal(std=1,a=-1,b=1)    sqrt(1 - 2 phi(1) / (Phi(1) - Phi(-1))), bound 1

Unless --no-sample, each expectation is also sampled: torch.nn.init.X_ (or the module's own
reset_parameters() for the torch profile) is run on a copy of the parameter until at least
65536 values are drawn, and the sample's std must be within 3% of the plan's std and its
largest |value| within the plan's bound (and, for a uniform, above 95% of it).

A tensor belonging to torch's MultiheadAttention (in_proj_weight/in_proj_bias, out_proj.bias)
is exported as a plain MatMul/Add: torch initializes those with xavier_uniform_/zeros in
MultiheadAttention._reset_parameters, which no graph can reveal, so the torch profile is
expected to treat them as nn.Linear would (noted, not sampled).

One line per mismatch, then exactly
    torchplan: N passed, M failed
counted per (model, scheme, tensor).  Exit 1 if M > 0.
"""
import argparse
import copy
import glob
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROLES = os.path.normpath(os.path.join(HERE, "..", "roles"))
sys.path.insert(0, ROLES)

import torch                      # noqa: E402
import torch.nn as nn             # noqa: E402
from torch.nn import init         # noqa: E402

import export_models as em        # noqa: E402  (tests/roles; reused, not modified)

RTOL = 1e-9
SAMPLE_N = 1 << 16
SAMPLE_RTOL = 0.03
WEIGHT_ROLES = {"conv_weight", "conv_transpose_weight", "dense_weight", "embedding",
                "rnn_input_weight", "rnn_recurrent_weight"}
SQRT3 = math.sqrt(3.0)


# --------------------------------------------------------------------------------------------
# What torch.nn.init computes
# --------------------------------------------------------------------------------------------

def kaiming(dist, a, mode, nonlinearity):
    """torch.nn.init.kaiming_{uniform,normal}_: std = gain / sqrt(fan), bound = sqrt(3) std."""
    def expect(w):
        fan = init._calculate_correct_fan(w, mode)
        std = init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
        return std, (SQRT3 * std if dist == "uniform" else None)
    fn = init.kaiming_uniform_ if dist == "uniform" else init.kaiming_normal_
    return expect, lambda t: fn(t, a=a, mode=mode, nonlinearity=nonlinearity)


def xavier(dist, gain):
    """torch.nn.init.xavier_{uniform,normal}_: std = gain sqrt(2 / (fan_in + fan_out))."""
    def expect(w):
        fan_in, fan_out = init._calculate_fan_in_and_fan_out(w)
        std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
        return std, (SQRT3 * std if dist == "uniform" else None)
    fn = init.xavier_uniform_ if dist == "uniform" else init.xavier_normal_
    return expect, lambda t: fn(t, gain=gain)


def _phi(x):
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _Phi(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def truncated_std(mean, std, a, b):
    """Standard deviation of N(mean, std^2) truncated to [a, b] (a, b absolute)."""
    al, be = (a - mean) / std, (b - mean) / std
    z = _Phi(be) - _Phi(al)
    var = 1.0 + (al * _phi(al) - be * _phi(be)) / z - ((_phi(al) - _phi(be)) / z) ** 2
    return std * math.sqrt(var)


def trunc(mean, std, a, b):
    def expect(_w):
        return truncated_std(mean, std, a, b), max(abs(a), abs(b))
    return expect, lambda t: init.trunc_normal_(t, mean=mean, std=std, a=a, b=b)


SCHEMES = [
    ("torch", None),
    ("kaiming_uniform(mode=fan_in,nonlinearity=relu)", kaiming("uniform", 0, "fan_in", "relu")),
    ("kaiming_normal(mode=fan_out,nonlinearity=relu)", kaiming("normal", 0, "fan_out", "relu")),
    ("xavier_uniform(gain=2)", xavier("uniform", 2.0)),
    ("xavier_normal", xavier("normal", 1.0)),
    ("kaiming_uniform(a=0.1,nonlinearity=leaky_relu)",
     kaiming("uniform", 0.1, "fan_in", "leaky_relu")),
    ("trunc_normal(std=0.02)", trunc(0.0, 0.02, -2.0, 2.0)),
    ("trunc_normal(std=1,a=-1,b=1)", trunc(0.0, 1.0, -1.0, 1.0)),
]


class Param:
    """One torch parameter (or a row block of it) an ONNX tensor came from."""

    def __init__(self, model_name, modules, desc):
        self.desc = desc
        self.folded = " (values folded" in desc
        head = desc.split(" (")[0]
        self.rows = None
        if head.endswith("]"):
            head, rng = head[:-1].split("[")
            a, b = rng.split(":")
            self.rows = (int(a), int(b))
        self.qual = head
        self.mname, _, self.attr = head.rpartition(".")
        self.mod = modules[self.mname]
        parent = modules.get(self.mname.rpartition(".")[0]) if self.mname else None
        self.key = (model_name, head, self.rows)
        t = getattr(self.mod, self.attr, None)
        self.tensor = None if t is None else self._slice(t.detach())
        lw = em.layer_weight(self.mod, self.attr)
        self.layer_weight = None if lw is None else self._slice(lw.detach())
        self.note = None
        if isinstance(self.mod, nn.MultiheadAttention):
            self.note = ("torch: MultiheadAttention._reset_parameters %s"
                         % ("xavier_uniform_" if self.attr == "in_proj_weight" else "zeros"))
        elif isinstance(parent, nn.MultiheadAttention) and self.attr == "bias":
            self.note = "torch: MultiheadAttention._reset_parameters zeros out_proj.bias"

    def _slice(self, t):
        return t[self.rows[0]:self.rows[1]] if self.rows else t

    def torch_default(self):
        """(std, bound, sampler or None): what the layer constructor draws for it."""
        mod, attr = self.mod, self.attr
        if isinstance(mod, (nn.Linear, nn.modules.conv._ConvNd, nn.MultiheadAttention)):
            w = self.layer_weight
            if attr.endswith("weight"):
                # reset_parameters: init.kaiming_uniform_(self.weight, a=math.sqrt(5))
                gain = init.calculate_gain("leaky_relu", math.sqrt(5))
                std = gain / math.sqrt(init._calculate_correct_fan(w, "fan_in"))
                return std, SQRT3 * std, self._reset_sampler()
            # bias: fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight);
            #       bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            fan_in, _ = init._calculate_fan_in_and_fan_out(w)
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            return bound / SQRT3, bound, self._reset_sampler()
        if isinstance(mod, nn.RNNBase):
            # reset_parameters: stdv = 1 / sqrt(hidden_size); every weight uniform_(-stdv, stdv)
            bound = 1.0 / math.sqrt(mod.hidden_size)
            return bound / SQRT3, bound, self._reset_sampler()
        if isinstance(mod, nn.Embedding):
            # reset_parameters: init.normal_(self.weight)  (mean 0, std 1)
            return 1.0, None, self._reset_sampler()
        # norms: reset_parameters() leaves a constant (BatchNorm: and reset_running_stats());
        # PReLU (no reset_parameters in torch 1.13, the init value is not kept): a new one,
        # as the model built it, nn.PReLU(num_parameters) with the constructor's default init
        if hasattr(mod, "reset_parameters"):
            fresh = copy.deepcopy(mod)
            fresh.reset_parameters()
        elif isinstance(mod, nn.PReLU):
            fresh = nn.PReLU(mod.num_parameters)
        else:
            raise ValueError("%s: no torch default known for %s"
                             % (self.qual, type(mod).__name__))
        v = getattr(fresh, attr).detach().double().flatten()
        if v.numel() == 0 or not bool(torch.all(v == v[0])):
            raise ValueError("%s: torch's default is not a constant" % self.qual)
        return 0.0, abs(float(v[0])), None

    def _reset_sampler(self):
        if self.note or self.tensor is None:
            return None
        mod, attr, rows = self.mod, self.attr, self.rows

        def sample():
            fresh = copy.deepcopy(mod)
            out, n = [], 0
            while n < SAMPLE_N:
                fresh.reset_parameters()
                t = getattr(fresh, attr).detach()
                t = t[rows[0]:rows[1]] if rows else t
                out.append(t.flatten().double())
                n += t.numel()
            return torch.cat(out)
        return sample


def init_sampler(fn, shape):
    def sample():
        t = torch.empty(shape, dtype=torch.float32)
        out, n = [], 0
        while n < SAMPLE_N:
            fn(t)
            out.append(t.flatten().double())
            n += t.numel()
        return torch.cat(out)
    return sample


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------

def same(exp, got):
    if exp is None:
        return got is None
    if got is None or isinstance(got, bool) or not isinstance(got, (int, float)):
        return False
    return math.isclose(got, exp, rel_tol=RTOL, abs_tol=0.0)


SAMPLES = {}


def sampled_problem(key, sampler, std, bound):
    """None if a sample of the distribution agrees with the plan's std and bound."""
    if sampler is None:
        return None
    if key not in SAMPLES:
        s = sampler()
        SAMPLES[key] = (float(s.std()), float(s.abs().max()))
    sstd, smax = SAMPLES[key]
    probs = []
    if std is not None and not math.isclose(sstd, std, rel_tol=SAMPLE_RTOL, abs_tol=1e-12):
        probs.append("sampled std %.6g vs plan std %.6g" % (sstd, std))
    if bound is not None:
        if smax > bound * (1 + 1e-6):
            probs.append("sampled max|x| %.6g above plan bound %.6g" % (smax, bound))
        elif std is not None and math.isclose(bound, SQRT3 * std, rel_tol=1e-6) \
                and smax < 0.95 * bound:
            probs.append("sampled max|x| %.6g far below uniform bound %.6g" % (smax, bound))
    return "; ".join(probs) or None


def run_plan(bin_, model, scheme):
    cmd = [bin_, "init", model, "--dry-run", "--json", "--scheme", scheme]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as ex:
        return None, "%s: %s" % (" ".join(cmd), ex)
    if p.returncode != 0:
        return None, "%s: exit %d: %s" % (" ".join(cmd), p.returncode, p.stderr.strip()[:500])
    try:
        return {(t.get("graph"), t.get("name")): t
                for t in json.loads(p.stdout)["tensors"]}, None
    except (ValueError, KeyError, TypeError) as ex:
        return None, "%s: bad JSON: %s" % (" ".join(cmd), ex)


def fmt(v):
    return "null" if v is None else repr(v)


def check_model(bin_, label, model_name, modules, doc, onnx_path, notes):
    passed = failed = 0
    lines = []
    params = {}
    for e in doc["tensors"]:
        params[(e["graph"], e["name"])] = [Param(model_name, modules, d) for d in e["torch"]]
    for scheme, spec in SCHEMES:
        plan, err = run_plan(bin_, onnx_path, scheme)
        todo = [e for e in doc["tensors"] if spec is None or e["role"] in WEIGHT_ROLES]
        if err:
            lines.append("%s [%s] plan: %s" % (label, scheme, err))
            failed += len(todo) or 1
            continue
        for e in todo:
            key = (e["graph"], e["name"])
            tname = e["name"] if e["graph"] == "main" else "%s:%s" % key
            ps = params[key]
            got = plan.get(key)
            where = "%s [%s] %s" % (label, scheme, tname)
            if got is None:
                lines.append("%s: expected in the plan, got missing" % where)
                failed += 1
                continue
            exps = []
            for p in ps:
                if spec is None:
                    std, bound, sampler = p.torch_default()
                    skey = ("torch",) + p.key
                    if p.note:
                        notes.setdefault(p.note, set()).add(p.qual)
                else:
                    expect, fn = spec
                    std, bound = expect(p.tensor if p.tensor is not None else p.layer_weight)
                    shape = tuple((p.tensor if p.tensor is not None else p.layer_weight).shape)
                    sampler = init_sampler(fn, shape)
                    skey = (scheme, shape)
                exps.append((std, bound, sampler, skey))
            std, bound = exps[0][0], exps[0][1]
            if any(not (same(x[0], std) and same(x[1], bound)) for x in exps[1:]):
                lines.append("%s: its torch parameters disagree (%s), not checked"
                             % (where, ", ".join(p.desc for p in ps)))
                failed += 1
                continue
            ok = same(std, got.get("std")) and same(bound, got.get("bound"))
            detail = ""
            if ok:
                for x in exps:
                    prob = sampled_problem(x[3], x[2], got.get("std"), got.get("bound"))
                    if prob:
                        ok, detail = False, "; " + prob
                        break
            if ok:
                passed += 1
                continue
            failed += 1
            lines.append("%s: expected std=%s bound=%s, got std=%s bound=%s%s  "
                         "[torch %s; plan role=%s fans=%s/%s scheme=%s action=%s]"
                         % (where, fmt(std), fmt(bound), fmt(got.get("std")),
                            fmt(got.get("bound")), detail, ", ".join(p.desc for p in ps),
                            got.get("role"), got.get("fan_in"), got.get("fan_out"),
                            got.get("scheme"), got.get("action")))
        if spec is None:
            # float constants that are no torch parameter: torch's constructors never touch them
            for c in doc.get("constant", []):
                g, n, _ = c.split(" ", 2)
                got = plan.get((g, n))
                where = "%s [%s] %s" % (label, scheme, n if g == "main" else "%s:%s" % (g, n))
                if got is not None and got.get("action") == "keep":
                    passed += 1
                    continue
                failed += 1
                lines.append("%s: not a torch parameter (a constant the exporter wrote), "
                             "expected action=keep, got %s  [plan role=%s op=%s scheme=%s]"
                             % (where, "missing" if got is None else "action=%s" % got.get("action"),
                                None if got is None else got.get("role"),
                                None if got is None else got.get("op"),
                                None if got is None else got.get("scheme")))
    return passed, failed, lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--onnxinit", required=True, help="the onnxinit program")
    ap.add_argument("--work", required=True, help="directory for the exported models")
    ap.add_argument("--only", help="comma-separated model names (see export_models.py)")
    ap.add_argument("--no-export", action="store_true",
                    help="reuse the models already exported into --work")
    ap.add_argument("--no-sample", action="store_true", help="skip the sampled checks")
    args = ap.parse_args()
    if args.no_sample:
        global sampled_problem
        sampled_problem = lambda *a: None    # noqa: E731

    torch.manual_seed(20240601)
    torch.set_num_threads(1)
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    t0 = time.time()
    if not args.no_export:
        for f in glob.glob(os.path.join(work, "*.onnx")) + \
                glob.glob(os.path.join(work, "*.expect.json")) + \
                glob.glob(os.path.join(work, "exports.json")):
            os.unlink(f)
        cmd = [sys.executable, os.path.join(ROLES, "export_models.py"), work]
        if args.only:
            cmd += ["--only", args.only]
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL)
        print("export: %.1fs (exit %d)" % (time.time() - t0, p.returncode), flush=True)
    try:
        with open(os.path.join(work, "exports.json")) as f:
            exports = json.load(f)
    except (OSError, ValueError) as ex:
        print("torchplan: export_models.py produced no exports.json: %s" % ex)
        print("torchplan: 0 passed, 1 failed")
        return 1
    if args.only:
        only = set(args.only.split(","))
        exports = [r for r in exports if r["model"] in only]

    builders = dict(em.MODELS)
    built = {}
    total_pass = total_fail = 0
    notes = {}
    summaries = []
    for r in exports:
        label = "%s.%s" % (r["model"], r["style"])
        if not r.get("ok"):
            print("%s export: expected an ONNX model, got failure: %s" % (label, r.get("error")))
            total_fail += 1
            summaries.append("  %-22s EXPORT FAILED" % label)
            continue
        if r["model"] not in built:
            torch.manual_seed(0)
            model = builders[r["model"]]()[0]
            built[r["model"]] = dict(model.named_modules())
        with open(r["expect"]) as f:
            doc = json.load(f)
        try:
            p, m, lines = check_model(args.onnxinit, label, r["model"], built[r["model"]], doc,
                                      r["onnx"], notes)
        except Exception as ex:    # a broken expectation is a failure, not a crash
            p, m, lines = 0, 1, ["%s: %s: %s" % (label, type(ex).__name__, ex)]
        for line in lines:
            print(line)
        total_pass += p
        total_fail += m
        summaries.append("  %-22s %5d passed %5d failed" % (label, p, m))
    print("per model (tensor x scheme checks; schemes: %s):"
          % ", ".join(s for s, _ in SCHEMES))
    for s in summaries:
        print(s)
    for note, quals in sorted(notes.items()):
        print("note: %d parameter(s) expected as nn.Linear's defaults under --scheme torch "
              "(%s; the ONNX graph shows a plain MatMul/Add): %s"
              % (len(quals), note, ", ".join(sorted(quals)[:4]) + (", ..." if len(quals) > 4 else "")))
    print("sampled distributions: %d (%s values each at least)%s"
          % (len(SAMPLES), SAMPLE_N, " [--no-sample]" if args.no_sample else ""))
    print("time: %.1fs" % (time.time() - t0))
    print("torchplan: %d passed, %d failed" % (total_pass, total_fail))
    return 1 if total_fail else 0


if __name__ == "__main__":
    sys.exit(main())
