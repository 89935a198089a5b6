#!/usr/bin/python3
"""torch_orthogonal.py N [--count K] [--seed S]: the PyTorch side of bench_orthogonal.sh.

Fills K float32 (N, N) tensors with torch.nn.init.orthogonal_ in this process and prints
"call SECONDS": the time of those K calls alone (perf_counter), after one warm-up call on
a 64 x 64 tensor. No file is read or written and torch's import is not timed, so the
figure is torch's generation time only; the bench times the whole script as well.
"""
import argparse
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.nn.init.orthogonal_(torch.empty(64, 64))
    ws = [torch.empty(a.n, a.n) for _ in range(a.count)]
    t = time.perf_counter()
    for w in ws:
        torch.nn.init.orthogonal_(w)
    print(f"call {time.perf_counter() - t:.3f}")


if __name__ == "__main__":
    main()
