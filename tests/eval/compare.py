"""compare.py OURS ORT [TOL]: every value both dumped (values.tsv + NNNN.npy)
must agree: max|ours - ort| <= TOL * max(max|ort|, 1e-3) (relative to the
value's scale; TOL defaults to 1e-4); integer values exactly. Prints one line
per failure and a summary; exits 1 on any failure or when nothing matched."""
import sys

import numpy as np


def load(d):
    out = {}
    for line in open(f"{d}/values.tsv"):
        k, name = line.rstrip("\n").split("\t", 1)
        out[name] = f"{d}/{k}.npy"
    return out


def main():
    ours, ort = load(sys.argv[1]), load(sys.argv[2])
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-4
    bad = n = 0
    worst = 0.0
    for name, f in ort.items():
        if name not in ours:
            continue
        a, b = np.load(ours[name]), np.load(f)
        n += 1
        if a.shape != b.shape:
            print(f"  {name}: shape {a.shape} vs ORT {b.shape}")
            bad += 1
            continue
        if b.dtype.kind in "iub":
            if not np.array_equal(a.astype(np.int64), b.astype(np.int64)):
                print(f"  {name}: integer values differ")
                bad += 1
            continue
        scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-3)
        err = float(np.max(np.abs(a.astype(np.float64) - b))) / scale if b.size else 0.0
        worst = max(worst, err)
        if not err <= tol:
            print(f"  {name}: relative error {err:.3g} > {tol:g}")
            bad += 1
    print(f"{n} values compared, {bad} differ, worst relative error {worst:.3g}")
    sys.exit(1 if bad or n == 0 else 0)


if __name__ == "__main__":
    main()
