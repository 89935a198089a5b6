#!/usr/bin/python3
"""LSUV: onnxinit against a PyTorch LSUV written the usual way, and the forward pass alone
against ONNX Runtime. Driven by scripts/bench_lsuv.sh (which says how to run it).

usage: bench_lsuv.py --onnxinit BIN --eval-bench BIN --work DIR [--pairs 5] [--threads 1,2]

Cases: a torchvision ResNet-18 (eval export, BatchNorm folded) on a batch of 64 random
3x64x64 inputs, and the deep tanh MLP of models/data on 64 digits. PyTorch's LSUV: forward
hooks on every Conv2d/Linear, orthogonal_ first, then per layer a whole forward pass per
measurement, weight /= sqrt(var) until |var - 1| < tol or max_iter (tol 0.1, max_iter 10, as
onnxinit's defaults); the model in eval mode, under no_grad, torch.set_num_threads(threads).
onnxinit: the whole `init --pretrain lsuv` command (process start, load, plan, orthogonal
values, the pass, the save with --no-fsync), so its figure includes what PyTorch's leaves
out; "pass" is that minus the same command without --pretrain (medians), the pass's own cost.
Each pair runs onnxinit (with and without the pass) then PyTorch, back to back; min and median
over the pairs, and the ratio onnxinit / PyTorch of each (below 1: onnxinit faster).
"""
import argparse
import copy
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(REPO, "models", "data")


def torch_lsuv(model, x, tol=0.1, max_iter=10):
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        for m in layers:
            nn.init.orthogonal_(m.weight)
        for m in layers:
            out = {}
            h = m.register_forward_hook(lambda mod, i, o: out.__setitem__("y", o))
            model(x)
            var = out["y"].var().item()
            it = 0
            while abs(var - 1.0) >= tol and it < max_iter and var > 0:
                m.weight.div_(var ** 0.5)
                model(x)
                var = out["y"].var().item()
                it += 1
            h.remove()


class MLP(nn.Module):
    """The models/data/digits_mlp.onnx network."""

    def __init__(self):
        super().__init__()
        mods = []
        for _ in range(8):
            mods += [nn.Linear(64, 64), nn.Tanh()]
        mods.append(nn.Linear(64, 10))
        self.net = nn.Sequential(*mods)

    def forward(self, x):
        return self.net(x)


def fmt(ts):
    return min(ts), statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnxinit", required=True)
    ap.add_argument("--eval-bench", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    torch.manual_seed(0)
    r18 = torchvision.models.resnet18(weights=None).eval()
    r18_onnx = os.path.join(a.work, "resnet18.onnx")
    torch.onnx.export(r18, torch.randn(2, 3, 64, 64), r18_onnx, opset_version=13,
                      input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    digits = os.path.join(DATA, "digits_512.npy")
    x_digits = torch.from_numpy((np.load(digits)[:64].astype(np.float64) * 0.0625).astype(np.float32))
    cases = [
        ("resnet18 (batch 64, 3x64x64, noise)", r18_onnx, ["--data", "normal", "--batch", "64"],
         r18, torch.randn(64, 3, 64, 64), "normal", "64,3,64,64"),
        ("deep tanh MLP (batch 64, digits)", os.path.join(DATA, "digits_mlp.onnx"),
         ["--data", digits, "--data-scale", "0.0625", "--batch", "64"], MLP().eval(), x_digits,
         None, None),
    ]
    print(f"# {a.pairs} interleaved pairs per row; times in ms; ratio = onnxinit / other")
    print(f"{'case':40} {'threads':>7} {'onnxinit min/med':>18} {'pytorch min/med':>18} "
          f"{'ratio min/med':>14} {'pass med':>9} {'ratio':>6}")
    for threads in [int(t) for t in a.threads.split(",")]:
        torch.set_num_threads(threads)
        for name, onnx_path, data_args, tmodel, x, _, _ in cases:
            ours, theirs, plain = [], [], []
            out = os.path.join(a.work, "out.onnx")
            for _ in range(a.pairs):
                t0 = time.perf_counter()
                subprocess.run([a.onnxinit, "init", onnx_path, "-o", out, "--threads", str(threads),
                                "--no-fsync", "-q"], check=True)
                plain.append((time.perf_counter() - t0) * 1e3)
                t0 = time.perf_counter()
                subprocess.run([a.onnxinit, "init", onnx_path, "-o", out, "--pretrain", "lsuv",
                                "--threads", str(threads), "--no-fsync", "-q"] + data_args,
                               check=True)
                ours.append((time.perf_counter() - t0) * 1e3)
                m = copy.deepcopy(tmodel)
                t0 = time.perf_counter()
                torch_lsuv(m, x)
                theirs.append((time.perf_counter() - t0) * 1e3)
            (om, od), (tm, td) = fmt(ours), fmt(theirs)
            pm = od - statistics.median(plain)
            print(f"{'lsuv ' + name:40} {threads:7d} {om:8.1f}/{od:8.1f} {tm:8.1f}/{td:8.1f} "
                  f"{om / tm:6.2f}/{od / td:6.2f} {pm:9.1f} {pm / td:6.2f}", flush=True)
    print()
    print(f"{'forward pass alone':40} {'threads':>7} {'onnxinit min/med':>18} {'ORT min/med':>18} "
          f"{'ratio min/med':>14}")
    for threads in [int(t) for t in a.threads.split(",")]:
        name, onnx_path, _, _, _, data, shape = cases[0]
        ours, theirs = [], []
        for _ in range(a.pairs):
            p = subprocess.run([a.eval_bench, onnx_path, data, "64", "3", str(threads)],
                               check=True, capture_output=True, text=True)
            ours.append(float(p.stdout.split()[0]))
            p = subprocess.run(["node", os.path.join(HERE, "ort_forward.js"), onnx_path, shape, "3",
                                str(threads)], check=True, capture_output=True, text=True)
            theirs.append(float(p.stdout.split()[0]))
        (om, od), (tm, td) = fmt(ours), fmt(theirs)
        print(f"{'resnet18 batch 64, 3x64x64':40} {threads:7d} {om:8.1f}/{od:8.1f} "
              f"{tm:8.1f}/{td:8.1f} {om / tm:6.2f}/{od / td:6.2f}", flush=True)


if __name__ == "__main__":
    main()
