#!/usr/bin/python3
"""The data-driven passes, measured by ONNX Runtime.

usage: check_passes.py --onnxinit BIN --eval-dump BIN --work DIR

- stats: for each layer and activation `onnxinit stats --json` reports, std^2 equals the
  variance ORT computes for the same output on the same batch (and mean, min, max, zeros);
- lsuv: after `init --pretrain lsuv`, every layer's output variance on the batch, as ORT
  computes it, is within tol of 1: a deep tanh MLP on digits, a plain 6-conv CNN on
  Fashion-MNIST (both in models/data) and a folded ResNet-18 (a torchvision eval export)
  on normal noise;
- the bytes: the same model, data, seed, parameters and --threads give the same bytes;
  a tensor a rule keeps is never changed; provenance records the pass, the data's name and
  SHA-256.
Prints "passes: N passed, M failed".
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(REPO, "models", "data")
BYTE = "0.00392156862745098"

results = []


def check(ok, what):
    results.append(bool(ok))
    print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
    return ok


def run(*args, **kw):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)
    if p.returncode != 0:
        print(f"  command failed ({p.returncode}): {' '.join(map(str, args))}\n  {p.stderr.strip()}")
    return p


def with_outputs(src, dst):
    subprocess.run(["/usr/bin/python3", os.path.join(HERE, "add_outputs.py"), src, dst],
                   check=True)


def ort_values(model, inputs, work, tag):
    """Every value ORT computes for model on inputs {name: array}: {name: array}."""
    allm = os.path.join(work, f"{tag}.all.onnx")
    with_outputs(model, allm)
    out = os.path.join(work, f"{tag}.ort")
    os.makedirs(out, exist_ok=True)
    args = []
    for k, v in inputs.items():
        f = os.path.join(work, f"{tag}.{k}.npy")
        np.save(f, v)
        args.append(f"{k}={f}")
    subprocess.run(["node", os.path.join(HERE, "ort_dump.js"), allm, out] + args, check=True,
                   capture_output=True)
    vals = {}
    for line in open(os.path.join(out, "values.tsv")):
        k, name = line.rstrip("\n").split("\t", 1)
        vals[name] = np.load(os.path.join(out, f"{k}.npy")).astype(np.float64)
    return vals


def batch_of(path, n, scale):
    a = np.load(path)[:n].astype(np.float64) * scale
    return a.astype(np.float32)


def noise_input(eval_dump, model, work, batch):
    """The batch onnxinit feeds for --data normal (its own generator), from eval_dump."""
    d = os.path.join(work, "noise")
    os.makedirs(d, exist_ok=True)
    subprocess.run([eval_dump, model, "normal", d, str(batch)], check=True, capture_output=True)
    for line in open(os.path.join(d, "values.tsv")):
        k, name = line.rstrip("\n").split("\t", 1)
        if name == "x":
            return np.load(os.path.join(d, f"{k}.npy"))
    raise RuntimeError("eval_dump gave no input")


def check_stats(a, name, model, data_args, inputs, work):
    p = run(a.onnxinit, "stats", model, *data_args, "--json")
    if not check(p.returncode == 0, f"stats {name}: runs"):
        return
    layers = json.loads(p.stdout)["layers"]
    vals = ort_values(model, inputs, work, f"stats_{name}")
    bad = []
    for l in layers:
        v = vals.get(l["output"])
        if v is None:
            bad.append(f"{l['output']}: not in ORT's outputs")
            continue
        var, std2 = float(np.var(v)), l["std"] ** 2
        if abs(std2 - var) > 1e-3 * var + 1e-12 or abs(l["mean"] - v.mean()) > 1e-3 * (v.std() + 1e-12) \
           or abs(l["max"] - v.max()) > 1e-4 * (abs(v.max()) + 1e-6) \
           or abs(l["zeros"] - float(np.mean(v == 0))) > 1e-3:
            bad.append(f"{l['node']}: std^2 {std2:.6g} mean {l['mean']:.4g} vs ORT var {var:.6g} "
                       f"mean {v.mean():.4g}")
    for b in bad[:5]:
        print("  " + b)
    check(layers and not bad, f"stats {name}: std^2 = ORT's variance for {len(layers)} layers "
          "and activations")


def check_lsuv(a, name, model, data_args, inputs, work, tol=0.1):
    out = os.path.join(work, f"{name}.lsuv.onnx")
    p = run(a.onnxinit, "init", model, "-o", out, "--pretrain", f"lsuv(tol={tol})", *data_args,
            "--json")
    if not check(p.returncode == 0, f"lsuv {name}: runs"):
        return None
    rep = json.loads(p.stdout)["pretrain"]
    layers = rep["layers"]
    check(layers and all(l["status"] == "done" for l in layers),
          f"lsuv {name}: {len(layers)} layers, all within tolerance by its own measure")
    vals = ort_values(out, inputs, work, f"lsuv_{name}")
    bad = []
    for l in layers:
        v = vals.get(l["output"])
        var = float(np.var(v)) if v is not None else float("nan")
        if not abs(var - 1.0) < tol * (1 + 1e-3):
            bad.append(f"{l['node']}: ORT variance {var:.6g}")
    for b in bad[:5]:
        print("  " + b)
    check(not bad, f"lsuv {name}: every layer's output variance within {tol} of 1, measured by ORT")
    return out


def check_bytes(a, model, data_args, work):
    outs = {}
    for threads in ("1", "2"):
        for k in range(2):
            o = os.path.join(work, f"det{threads}_{k}.onnx")
            run(a.onnxinit, "init", model, "-o", o, "--seed", "7", "--threads", threads,
                "--pretrain", "lsuv", *data_args)
            outs[(threads, k)] = open(o, "rb").read() if os.path.exists(o) else None
    check(outs[("1", 0)] and outs[("1", 0)] == outs[("1", 1)] and outs[("2", 0)] == outs[("2", 1)],
          "lsuv: the same model, data, seed, parameters and --threads give the same bytes")
    m = onnx.load(os.path.join(work, "det1_0.onnx"))
    prov = json.loads({p.key: p.value for p in m.metadata_props}.get("onnxinit", "{}") or "{}")
    pre = prov.get("pretrain", {})
    digest = hashlib.sha256(open(os.path.join(DATA, "digits_512.npy"), "rb").read()).hexdigest()
    check(pre.get("pass") == "lsuv" and pre.get("data") == "digits_512.npy"
          and pre.get("sha256") == digest and pre.get("params", {}).get("tol") == 0.1,
          f"lsuv: provenance records the pass, its data and SHA-256 ({json.dumps(pre)[:120]})")
    # a rule's keep protects its tensor
    o = os.path.join(work, "kept.onnx")
    p = run(a.onnxinit, "init", model, "-o", o, "--rule", "fc3.weight=keep", "--pretrain", "lsuv",
            *data_args, "--json")
    if check(p.returncode == 0, "lsuv with a keep rule: runs"):
        rep = {l["weight"]: l for l in json.loads(p.stdout)["pretrain"]["layers"]}
        src = {t.name: t for t in onnx.load(model).graph.initializer}
        dst = {t.name: t for t in onnx.load(o).graph.initializer}
        check(src["fc3.weight"].raw_data == dst["fc3.weight"].raw_data
              and rep["fc3.weight"]["status"] == "kept"
              and src["fc2.weight"].raw_data != dst["fc2.weight"].raw_data,
              "lsuv: a tensor a rule keeps is never changed (status kept), the others are")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnxinit", required=True)
    ap.add_argument("--eval-dump", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    mlp = os.path.join(DATA, "digits_mlp.onnx")
    cnn = os.path.join(DATA, "fashion_cnn.onnx")
    digits = os.path.join(DATA, "digits_512.npy")
    fashion = os.path.join(DATA, "fashion_mnist_256.npy")
    mlp_args = ["--data", digits, "--data-scale", "0.0625"]
    cnn_args = ["--data", fashion, "--data-scale", BYTE]
    mlp_in = {"x": batch_of(digits, 64, 0.0625)}
    cnn_in = {"x": batch_of(fashion, 64, float(BYTE))}

    check_stats(a, "digits_mlp", mlp, mlp_args, mlp_in, a.work)
    check_stats(a, "fashion_cnn", cnn, cnn_args, cnn_in, a.work)
    check_lsuv(a, "digits_mlp", mlp, mlp_args, mlp_in, a.work)
    check_lsuv(a, "fashion_cnn", cnn, cnn_args, cnn_in, a.work)

    # a folded ResNet-18 (BatchNorm folded into the convolutions by an eval export)
    import torch
    import torchvision
    torch.manual_seed(0)
    r18 = os.path.join(a.work, "resnet18.onnx")
    torch.onnx.export(torchvision.models.resnet18(weights=None).eval(), torch.randn(2, 3, 64, 64),
                      r18, opset_version=13, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    check(not any(n.op_type == "BatchNormalization" for n in onnx.load(r18).graph.node),
          "resnet18: the export is folded (no BatchNormalization)")
    noise_args = ["--data", "normal", "--batch", "16"]
    r18_in = {"x": noise_input(a.eval_dump, r18, a.work, 16)}
    check_stats(a, "resnet18", r18, noise_args, r18_in, a.work)
    check_lsuv(a, "resnet18", r18, noise_args, r18_in, a.work)

    check_bytes(a, mlp, mlp_args, a.work)
    passed = sum(results)
    print(f"passes: {passed} passed, {len(results) - passed} failed")
    sys.exit(0 if passed == len(results) else 1)


if __name__ == "__main__":
    main()
