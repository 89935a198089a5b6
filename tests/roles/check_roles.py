#!/usr/bin/python3
"""Check `onnxinit inspect --json` (roles, fans, activations, gains) against PyTorch.

usage: check_roles.py --onnxinit BIN --work DIR [--only NAME,...] [--no-export]

Runs export_models.py into DIR (torch models exported to ONNX, expectations computed from
torch), then for every exported model runs
    BIN inspect MODEL --json
    BIN inspect MODEL --json --fan-convention keras
and compares, for each expected tensor, role, fan_in, fan_out, activation, gain (relative
tolerance 1e-12) and the keras fans.  One line per mismatch, a summary per model, and last
    roles: N passed, M failed
counted per tensor (a tensor passes when all its fields match; a model that failed to export
or to inspect counts as failed).  Exit 1 if M > 0.
"""
import argparse
import glob
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GAIN_RTOL = 1e-12


def show(v):
    return json.dumps(v)


def same_int(exp, got):
    if exp is None:
        return got is None
    return isinstance(got, int) and not isinstance(got, bool) and got == exp


def same_gain(exp, got):
    if exp is None:
        return got is None
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        return False
    return math.isclose(got, exp, rel_tol=GAIN_RTOL, abs_tol=0.0)


def same_str(exp, got):
    return got == exp


def inspect(bin_, model, extra):
    cmd = [bin_, "inspect", model, "--json"] + extra
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as ex:
        return None, "%s: %s" % (" ".join(cmd), ex)
    if p.returncode != 0:
        return None, "%s: exit %d: %s" % (" ".join(cmd), p.returncode, p.stderr.strip()[:500])
    try:
        doc = json.loads(p.stdout)
        index = {}
        for t in doc["tensors"]:
            index.setdefault((t.get("graph"), t.get("name")), t)
        return index, None
    except (ValueError, KeyError, TypeError) as ex:
        return None, "%s: bad JSON: %s" % (" ".join(cmd), ex)


def check_model(bin_, exp_doc, onnx_path, label):
    """Returns (passed, failed, mismatch lines, field mismatch counts)."""
    lines = []
    torch_idx, err = inspect(bin_, onnx_path, [])
    keras_idx, err2 = (None, None) if err else inspect(bin_, onnx_path,
                                                       ["--fan-convention", "keras"])
    err = err or err2
    tensors = exp_doc["tensors"]
    if err:
        lines.append("%s inspect: %s" % (label, err))
        return 0, len(tensors), lines, {"inspect": len(tensors)}
    passed = failed = 0
    fields_bad = {}
    for e in tensors:
        key = (e["graph"], e["name"])
        tname = e["name"] if e["graph"] == "main" else "%s:%s" % (e["graph"], e["name"])
        got_t, got_k = torch_idx.get(key), keras_idx.get(key)
        if got_t is None or got_k is None:
            lines.append("%s %s present: expected tensor in inspect output, got missing"
                         % (label, tname))
            fields_bad["present"] = fields_bad.get("present", 0) + 1
            failed += 1
            continue
        skip = set(e.get("unchecked", []))
        checks = [
            ("role", e["role"], got_t.get("role"), same_str),
            ("fan_in", e["fan_in"], got_t.get("fan_in"), same_int),
            ("fan_out", e["fan_out"], got_t.get("fan_out"), same_int),
            ("activation", e["activation"], got_t.get("activation"), same_str),
            ("gain", e["gain"], got_t.get("gain"), same_gain),
            ("keras_fan_in", e["keras_fan_in"], got_k.get("fan_in"), same_int),
            ("keras_fan_out", e["keras_fan_out"], got_k.get("fan_out"), same_int),
        ]
        ok = True
        for field, exp, got, same in checks:
            if field in skip:
                continue
            if not same(exp, got):
                ok = False
                fields_bad[field] = fields_bad.get(field, 0) + 1
                lines.append("%s %s %s: expected %s, got %s  [%s]"
                             % (label, tname, field, show(exp), show(got),
                                ", ".join(e.get("torch", []))))
        if ok:
            passed += 1
        else:
            failed += 1
    return passed, failed, lines, fields_bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--onnxinit", required=True, help="the onnxinit program")
    ap.add_argument("--work", required=True, help="directory for the exported models")
    ap.add_argument("--only", help="comma-separated model names (see export_models.py)")
    ap.add_argument("--no-export", action="store_true",
                    help="reuse the models already exported into --work")
    args = ap.parse_args()

    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    if not args.no_export:
        for f in glob.glob(os.path.join(work, "*.onnx")) + \
                glob.glob(os.path.join(work, "*.expect.json")) + \
                glob.glob(os.path.join(work, "exports.json")):
            os.unlink(f)
        cmd = [sys.executable, os.path.join(HERE, "export_models.py"), work]
        if args.only:
            cmd += ["--only", args.only]
        t0 = time.time()
        p = subprocess.run(cmd)
        print("export: %.1fs (exit %d)" % (time.time() - t0, p.returncode), flush=True)
    try:
        with open(os.path.join(work, "exports.json")) as f:
            exports = json.load(f)
    except (OSError, ValueError) as ex:
        print("roles: export_models.py produced no exports.json: %s" % ex)
        print("roles: 0 passed, 1 failed")
        return 1
    if args.only:
        only = set(args.only.split(","))
        exports = [r for r in exports if r["model"] in only]

    total_pass = total_fail = 0
    summaries = []
    for r in exports:
        label = "%s.%s" % (r["model"], r["style"])
        if not r.get("ok"):
            print("%s export: expected an ONNX model, got failure: %s" % (label, r.get("error")))
            summaries.append("  %-22s EXPORT FAILED" % label)
            total_fail += 1
            continue
        with open(r["expect"]) as f:
            doc = json.load(f)
        p, m, lines, bad = check_model(args.onnxinit, doc, r["onnx"], label)
        for line in lines:
            print(line)
        total_pass += p
        total_fail += m
        summaries.append("  %-22s %4d passed %4d failed   (%d skipped, %d constant-filled%s)"
                         % (label, p, m, len(doc.get("skipped", [])),
                            len(doc.get("constant", [])),
                            "; mismatches: " + ", ".join("%s %d" % kv for kv in sorted(bad.items()))
                            if bad else ""))
    print("per model (tensor checks):")
    for s in summaries:
        print(s)
    print("roles: %d passed, %d failed" % (total_pass, total_fail))
    return 1 if total_fail else 0


if __name__ == "__main__":
    sys.exit(main())
