#!/usr/bin/python3
"""The random stream, rebuilt from its description alone (README "Reproducible
bytes", docs/FORMULAS.md section 6: stream version 2).

Usage: check_stream.py --onnxinit BIN --work DIR
       check_stream.py --vectors SEED NAME [COUNT]

Implements Philox4x32-10, the key derivation, the uniform mapping, onnxinit's
own ln and exp (the same IEEE operations in the same order) and the ziggurat
for normals, in plain Python, and checks that `onnxinit init` wrote precisely
those values: uniform(low=-1,high=1) as float64 and float32, normal(mean=0,
std=1) and trunc_normal(a=-1,b=1) as float64 (the truncated normal reads
normal draws 1, 2, ... of an element after draw 0 missed). The normal
tensors are large enough that the ziggurat's slow paths (wedge, retry after a
rejected wedge, tail) all occur, and the script says how often. Prints
`stream: N passed, M failed`.

--vectors prints the first COUNT (default 8) elements of the uniform [0, 1)
and the N(0, 1) streams of one tensor, then the first elements whose normal
(draw 0, and draw 1) takes each slow path, and digests of many normals: the
known answers of tests/unit/test_rng.c.
"""
import argparse
import math
import os
import struct
import subprocess
import sys

M32 = 0xFFFFFFFF


def philox4x32_10(ctr, key):
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for _ in range(10):
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & M32, p1 & M32, ((p0 >> 32) ^ c3 ^ k1) & M32, p0 & M32
        k0 = (k0 + 0x9E3779B9) & M32
        k1 = (k1 + 0xBB67AE85) & M32
    return c0, c1, c2, c3


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def mix64(x):
    z = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return z ^ (z >> 31)


def key_of(seed, name):
    k = mix64(seed ^ mix64(fnv1a64(name.encode())))
    return k & M32, k >> 32


def uniform01(key, i):
    """Elements 2m and 2m+1 share block (m, 0): words 0-1 and 2-3."""
    m = i >> 1
    w = philox4x32_10((m & M32, m >> 32, 0, 0), key)
    lo, hi = (w[2], w[3]) if i & 1 else (w[0], w[1])
    return ((hi << 32 | lo) >> 11) * 2.0 ** -53


LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10


def own_exp(x):
    """onnxinit's exp: the same IEEE operations in the same order."""
    if x != x:
        return x
    if x > 709.78:
        return math.inf
    if x < -745.2:
        return 0.0
    kd = math.floor(x * 1.44269504088896338700 + 0.5)
    r = (x - kd * LN2_HI) - kd * LN2_LO
    s = 1.0
    for n in range(17, 0, -1):
        s = 1.0 + s * r * (1.0 / n)
    return math.ldexp(s, int(kd))


def own_log(x):
    """onnxinit's ln (x > 0, finite): s = (m-1)/(m+1), series by Estrin."""
    if x == 1.0:
        return 0.0
    m, e = math.frexp(x)
    if m < 0.70710678118654752440:
        m *= 2.0
        e -= 1
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    a = [1.0 / (2 * k + 1) for k in range(13)]
    z2 = z * z
    z4 = z2 * z2
    z8 = z4 * z4
    q = [a[2 * j + 1] + a[2 * j + 2] * z for j in range(6)]
    r0 = q[0] + q[1] * z2
    r1 = q[2] + q[3] * z2
    r2 = q[4] + q[5] * z2
    series = z * ((r0 + r1 * z4) + r2 * z8)
    logm = 2.0 * s + 2.0 * s * series
    return e * LN2_HI + (logm + e * LN2_LO)


ZIG_N = 256
ZIG_R = float.fromhex("0x1.d3bb48209ad33p+1")
ZIG_V = float.fromhex("0x1.43016a5a43732p-8")


def zig_tables():
    x = [0.0] * (ZIG_N + 1)
    f = [0.0] * (ZIG_N + 1)
    x[1] = ZIG_R
    f[1] = own_exp(-0.5 * ZIG_R * ZIG_R)
    x[0] = ZIG_V / f[1]
    for k in range(1, ZIG_N - 1):
        f[k + 1] = ZIG_V / x[k] + f[k]
        x[k + 1] = math.sqrt(-2.0 * own_log(f[k + 1]))
    x[ZIG_N] = 0.0
    f[ZIG_N] = 1.0
    return x, f


ZX, ZF = zig_tables()


def u53(w):
    return (w >> 11) * 2.0 ** -53


def draw_words(key, i, draw):
    """The 64-bit words W0, W1, ... of normal draw `draw` of element i."""
    if draw == 0:
        m = i >> 1
        w = philox4x32_10((m & M32, m >> 32, 0, 0), key)
        yield (w[3] << 32 | w[2]) if i & 1 else (w[1] << 32 | w[0])
    t = 0
    while True:
        w = philox4x32_10((i & M32, i >> 32, t, 2 + draw), key)
        yield w[1] << 32 | w[0]
        yield w[3] << 32 | w[2]
        t += 1


def normal01(key, i, draw=0, path=None):
    """The ziggurat, 256 layers; `path` collects how the value came: 'wedge'
    (accepted there), 'retry' (a wedge rejected first), 'tail'."""
    words = draw_words(key, i, draw)
    for _ in range(64):
        w = next(words)
        k = w & 255
        x = u53(w) * ZX[k]
        if x < ZX[k + 1]:
            v = x
        elif k == 0:
            if path is not None:
                path.add("tail")
            v = ZIG_R
            for _ in range(64):
                a = -own_log(1.0 - u53(next(words))) / ZIG_R
                b = -own_log(1.0 - u53(next(words)))
                if b + b >= a * a:
                    v = ZIG_R + a
                    break
        else:
            if ZF[k] + u53(next(words)) * (ZF[k + 1] - ZF[k]) < own_exp(-0.5 * x * x):
                if path is not None:
                    path.add("wedge")
                v = x
            else:
                if path is not None:
                    path.add("retry")
                continue
        return -v if w >> 8 & 1 else v
    return 0.0


def slow_cases(key, draw, limit=200000):
    """The first element taking each slow path of the ziggurat, and its value."""
    found = {}
    for i in range(limit):
        path = set()
        z = normal01(key, i, draw, path)
        for p in path - set(found):
            found[p] = (i, z)
        if len(found) == 3:
            break
    return found


def normal_digest(key, draw, count):
    """FNV-1a 64 of the little-endian bytes of normals 0 .. count-1: a check of
    every decision of the slow paths at once."""
    return fnv1a64(b"".join(struct.pack("<d", normal01(key, i, draw)) for i in range(count)))


def print_vectors(seed, name, count):
    key = key_of(seed, name)
    print("key %08x %08x" % key)
    for i in range(count):
        u = uniform01(key, i)
        print("uniform %d %s %.17g" % (i, u.hex(), u))
    for i in range(count):
        z = normal01(key, i)
        print("normal %d %s %.17g" % (i, z.hex(), z))
    for draw in (0, 1):
        for p, (i, z) in sorted(slow_cases(key, draw).items()):
            print("normal-%s draw %d element %d %s %.17g" % (p, draw, i, z.hex(), z))
    for draw, n in ((0, 100000), (1, 20000)):
        print("normal-digest draw %d count %d %016x" % (draw, n, normal_digest(key, draw, n)))


def model(path, dtype, name, n=64):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    np_t = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64}[dtype]
    w = numpy_helper.from_array(np.ones((n, 2), np_t), name)
    g = helper.make_graph([helper.make_node("MatMul", ["x", name], ["y"])], "g",
                          [helper.make_tensor_value_info("x", dtype, [1, n])],
                          [helper.make_tensor_value_info("y", dtype, [1, 2])], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, path)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--vectors":
        print_vectors(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 8)
        return
    # numpy and python3-onnx only for the comparison with the program
    import numpy as np
    import onnx
    from onnx import TensorProto, numpy_helper
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnxinit", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    # Random123's known answer, so that the Python Philox is the real one
    assert philox4x32_10((0, 0, 0, 0), (0, 0)) == (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)
    passed = failed = 0

    def check(dtype, seed, name, rule, want_of, rows=64):
        nonlocal passed, failed
        src = os.path.join(a.work, "in.onnx")
        out = os.path.join(a.work, "out.onnx")
        model(src, dtype, name, rows)
        p = subprocess.run([a.onnxinit, "init", src, "-o", out, "--seed", str(seed),
                            "--scheme", "keep", "--rule", "name:%s=%s" % (name, rule)],
                           capture_output=True, text=True)
        what = "%s %s %d %s" % (rule, onnx.TensorProto.DataType.Name(dtype), seed, name)
        if p.returncode != 0:
            print("FAIL", what, p.stderr.strip())
            failed += 1
            return
        got = numpy_helper.to_array(onnx.load(out).graph.initializer[0]).ravel()
        key = key_of(seed, name)
        want = np.array([want_of(key, i) for i in range(got.size)])
        if dtype == TensorProto.FLOAT:
            want = want.astype(np.float32)
        ok = np.array_equal(got, want.astype(got.dtype))
        if not ok:
            bad = np.flatnonzero(got != want.astype(got.dtype))
            what += " (first differing element %d: %r, expected %r)" % (
                bad[0], float(got[bad[0]]), float(want[bad[0]]))
        print("ok" if ok else "FAIL", what)
        passed += ok
        failed += not ok

    for dtype in (TensorProto.DOUBLE, TensorProto.FLOAT):
        for seed in (0, 1, 12345678901234567890):
            for name in ("W", "encoder.layer.0.weight", "ünïcode/ŵ"):
                check(dtype, seed, name, "uniform(low=-1,high=1)",
                      lambda key, i: -1.0 + 2.0 * uniform01(key, i))
    # normals, 8192 elements a tensor: about 122 slow first attempts and 2
    # tails each; the paths taken are counted so that a weak check shows
    paths = {"wedge": 0, "retry": 0, "tail": 0}

    def normal(key, i):
        path = set()
        z = normal01(key, i, 0, path)
        for q in path:
            paths[q] += 1
        return 0.0 + 1.0 * z

    def trunc(key, i):
        for draw in range(100000):
            z = normal01(key, i, draw)
            if -1.0 <= z <= 1.0:
                return 0.0 + 1.0 * z
        raise AssertionError("no draw inside")

    for seed in (0, 12345678901234567890):
        for name in ("W", "encoder.layer.0.weight"):
            check(TensorProto.DOUBLE, seed, name, "normal(mean=0,std=1)", normal, 4096)
    check(TensorProto.FLOAT, 5, "W", "normal(mean=0,std=1)", normal, 4096)
    check(TensorProto.DOUBLE, 3, "W", "trunc_normal(mean=0,std=1,a=-1,b=1)", trunc, 2048)
    print("normal slow paths taken:", paths)
    if min(paths.values()) == 0:
        print("FAIL: a slow path of the ziggurat was never taken")
        failed += 1
    print(f"stream: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
