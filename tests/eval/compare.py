"""compare.py OURS ORT [TOL] | compare.py --manifest FILE [TOL]: every value
both dumped (values.tsv + NNNN.npy) must agree: max|ours - ort| <= TOL *
max(max|ort|, 1e-3) (relative to the value's scale; TOL defaults to 1e-4);
integer values exactly. Prints one line per failure and a summary; exits 1
on any failure or when nothing matched. With --manifest, each case of
make_models.py's manifest (DIR/NAME.ours against DIR/NAME.ort), and the
summary line "eval: N passed, M failed"."""
import sys

import numpy as np


def load(d):
    out = {}
    for line in open(f"{d}/values.tsv"):
        k, name = line.rstrip("\n").split("\t", 1)
        out[name] = f"{d}/{k}.npy"
    return out


def compare(ours_dir, ort_dir, tol, quiet=False):
    ours, ort = load(ours_dir), load(ort_dir)
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
    if not quiet or bad or n == 0:
        print(f"{n} values compared, {bad} differ, worst relative error {worst:.3g}")
    return n, bad, worst


def main():
    if sys.argv[1] == "--manifest":
        import json
        import os
        tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-4
        cases = json.load(open(sys.argv[2]))
        d = os.path.dirname(sys.argv[2])
        passed = failed = 0
        for c in cases:
            try:
                n, bad, worst = compare(f"{d}/{c['name']}.ours", f"{d}/{c['name']}.ort", tol, True)
            except OSError as e:
                n, bad, worst = 0, 1, 0.0
                print(f"  {e}")
            ok = n > 0 and bad == 0
            print(f"{'ok  ' if ok else 'FAIL'} {c['name']}: {n} values, worst relative error "
                  f"{worst:.2g}")
            passed += ok
            failed += not ok
        print(f"eval: {passed} passed, {failed} failed")
        sys.exit(1 if failed else 0)
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-4
    n, bad, _ = compare(sys.argv[1], sys.argv[2], tol)
    sys.exit(1 if bad or n == 0 else 0)


if __name__ == "__main__":
    main()
