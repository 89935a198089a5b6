#!/usr/bin/python3
"""Schemes, rules, reproducibility and validity of `onnxinit init`.

Usage: check_schemes.py --onnxinit BIN --work DIR

Builds its own models with python3-onnx (MatMul chains with 256x512 weights, one per
dtype float32/float16/bfloat16/float64 in raw_data, the same in typed fields; a Conv model;
an orthogonality model with an LSTM; a >2^20-element model; a model with fixed tensors)
and checks:
 1. statistics of every scheme for every dtype: plan std/bound, sample mean/std/max,
    bounds, and a Kolmogorov-Smirnov test against the exact distribution; exact constants,
    eye, dirac and sparse structure; every dtype equals the float64 values rounded to it;
 2. orthogonality (square, tall, wide, conv, LSTM per direction; gain 1 and 2);
 3. reproducibility across --threads and --in-memory, seeds, renames and profiles;
 4. onnx.checker on every output and ONNX Runtime on the profile outputs;
 5. bad input: exit 2, the offending text quoted, nothing written;
 6. rules: order, keep, fixed tensors, op: selectors, --rules FILE, provenance.
Prints one line per check and ends with `schemes: N passed, M failed`.
"""
import argparse
import filecmp
import json
import math
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from scipy import optimize, stats

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
ONNXINIT = None
WORK = None
P_MIN = 1e-3          # KS p-value threshold (every test uses a fixed seed)

passed = 0
failed = 0
all_outputs = []      # every model written, for onnx.checker


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}" + (f" ({detail})" if detail else ""))
    else:
        failed += 1
        print(f"FAIL {name}: {detail}")
    sys.stdout.flush()
    return ok


def guarded(name):
    """Run a group of checks; an exception is one failure, not a crash."""
    def deco(fn):
        def wrapper(*a, **k):
            t0 = time.time()
            try:
                return fn(*a, **k)
            except Exception as e:  # noqa: BLE001
                check(name, False, f"exception {type(e).__name__}: {e}\n"
                      + traceback.format_exc())
            finally:
                if os.environ.get("SCHEMES_TIMES"):
                    print(f"# {name}: {time.time() - t0:.1f} s")
        return wrapper
    return deco


def run(args, timeout=120):
    p = subprocess.run([ONNXINIT] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def init(model, out, *args, json_out=True):
    """init MODEL -o OUT ARGS --json; returns (rc, plan by name, stderr)."""
    a = ["init", model, "-o", out] + list(args) + (["--json"] if json_out else [])
    rc, so, se = run(a)
    plan = None
    if rc == 0 and json_out:
        plan = {t["name"]: t for t in json.loads(so)["tensors"]}
    if rc == 0:
        all_outputs.append(str(out))
    return rc, plan, se


# ---- dtypes ---------------------------------------------------------------------------

DTYPES = {  # name: (TensorProto code, precision in bits, smallest normal exponent)
    "float32": (TensorProto.FLOAT, 24, -126),
    "float16": (TensorProto.FLOAT16, 11, -14),
    "bfloat16": (TensorProto.BFLOAT16, 8, -126),
    "float64": (TensorProto.DOUBLE, 53, -1022),
}
CODE2DT = {v[0]: k for k, v in DTYPES.items()}


def round_to(x, dt):
    """float64 -> dt by round-to-nearest-even, directly (no double rounding)."""
    x = np.asarray(x, np.float64)
    if dt == "float64":
        return x.copy()
    if dt == "float32":
        return x.astype(np.float32).astype(np.float64)
    _, p, emin = DTYPES[dt]
    m, e = np.frexp(x)                     # x = m 2^e, |m| in [0.5, 1)
    e = np.maximum(e - 1, emin)            # exponent of the leading bit, subnormals flat
    ulp = np.ldexp(1.0, e - (p - 1))
    with np.errstate(invalid="ignore"):
        r = np.round(x / ulp) * ulp        # np.round: half to even; x/ulp is exact
    return np.where(x == 0, x, r)


def neighbours(v, dt):
    """The representable values just above and below each value v of dtype dt."""
    if dt in ("float16", "float32", "float64"):
        t = {"float16": np.float16, "float32": np.float32, "float64": np.float64}[dt]
        a = v.astype(t)
        return (np.nextafter(a, t(np.inf)).astype(np.float64),
                np.nextafter(a, t(-np.inf)).astype(np.float64))

    def up(w):  # bfloat16
        f = w.astype(np.float32)
        b = f.view(np.uint32).astype(np.int64)
        ub = np.where(f > 0, b + 0x10000, np.where(f < 0, b - 0x10000, 0x10000))
        return ub.astype(np.uint32).view(np.float32).astype(np.float64)
    return up(v), -up(-v)


def to_storage(x, dt, typed):
    """Fill a TensorProto's data fields with x (float64, already representable)."""
    x = np.ascontiguousarray(x)
    if dt == "float32":
        a = x.astype("<f4")
        return {"float_data": a.ravel().tolist()} if typed else {"raw_data": a.tobytes()}
    if dt == "float64":
        a = x.astype("<f8")
        return {"double_data": a.ravel().tolist()} if typed else {"raw_data": a.tobytes()}
    if dt == "float16":
        bits = x.astype("<f2").view("<u2")
    else:
        bits = (round_to(x, "bfloat16").astype("<f4").view("<u4") >> 16).astype("<u2")
    if typed:
        return {"int32_data": bits.ravel().astype(np.int64).tolist()}
    return {"raw_data": bits.tobytes()}


def make_init(name, x, dt, typed=False):
    t = TensorProto()
    t.name = name
    t.data_type = DTYPES[dt][0]
    t.dims.extend(list(x.shape))
    for k, v in to_storage(round_to(x, dt), dt, typed).items():
        if k == "raw_data":
            t.raw_data = v
        else:
            getattr(t, k).extend(v)
    return t


def values(t):
    """A TensorProto's values as float64 (raw or typed storage)."""
    shape = tuple(t.dims)
    if t.data_type not in CODE2DT:
        return numpy_helper.to_array(t).reshape(shape)
    dt = CODE2DT[t.data_type]
    if len(t.raw_data):
        if dt == "float32":
            a = np.frombuffer(t.raw_data, "<f4")
        elif dt == "float64":
            a = np.frombuffer(t.raw_data, "<f8")
        elif dt == "float16":
            a = np.frombuffer(t.raw_data, "<f2")
        else:
            a = (np.frombuffer(t.raw_data, "<u2").astype("<u4") << 16).view("<f4")
    else:
        if dt == "float32":
            a = np.array(t.float_data, np.float32)
        elif dt == "float64":
            a = np.array(t.double_data, np.float64)
        elif dt == "float16":
            a = np.array(t.int32_data, np.int64).astype("<u2").view("<f2")
        else:
            a = (np.array(t.int32_data, np.int64).astype("<u4") << 16).view("<f4")
    return a.astype(np.float64).reshape(shape)


def storage(t):
    return "raw" if len(t.raw_data) else "typed"


def load_inits(path):
    m = onnx.load(str(path))
    return m, {t.name: t for t in m.graph.initializer}


def save_model(graph, path, opset=17):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="check_schemes")
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return str(path)


def fvi(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def weight_input(nodes, name, dt):
    """The name a float32 op reads weight `name` by: through Cast unless float32."""
    if dt == "float32":
        return name
    nodes.append(helper.make_node("Cast", [name], [name + "_f"], to=TensorProto.FLOAT))
    return name + "_f"


# ---- models ---------------------------------------------------------------------------

R = np.random.default_rng(12345)


def build_stats_model(path, dt, typed=False, rename=None):
    """X[1,256] -> MatMul W1 (256x512) -> Add b1 -> Relu -> MatMul W2 (512x256) -> Y."""
    names = {"W1": "W1", "W2": "W2", "b1": "b1"}
    if rename:
        names.update(rename)
    rng = np.random.default_rng(7)  # same input values whatever the dtype
    w1 = rng.normal(0, 0.05, (256, 512))
    w2 = rng.normal(0, 0.05, (512, 256))
    b1 = rng.normal(0, 0.05, (512,))
    nodes = []
    i1 = weight_input(nodes, names["W1"], dt)
    ib = weight_input(nodes, names["b1"], dt)
    i2 = weight_input(nodes, names["W2"], dt)
    nodes += [helper.make_node("MatMul", ["X", i1], ["h1"]),
              helper.make_node("Add", ["h1", ib], ["h2"]),
              helper.make_node("Relu", ["h2"], ["h3"]),
              helper.make_node("MatMul", ["h3", i2], ["Y"])]
    g = helper.make_graph(nodes, "stats", [fvi("X", [1, 256])], [fvi("Y", [1, 256])],
                          [make_init(names["W1"], w1, dt, typed),
                           make_init(names["b1"], b1, dt, typed),
                           make_init(names["W2"], w2, dt, typed)])
    return save_model(g, path)


def build_conv_model(path):
    """Conv weights for dirac: 4-D groups 1 and 2, O<I, 3-D (even kernel), 5-D."""
    shapes = {"Da": (8, 8, 3, 3), "Db": (8, 4, 3, 3), "Dc": (4, 8, 3, 3), "Dd": (6, 3, 4),
              "De": (4, 2, 3, 3, 3)}
    inits = [make_init(k, R.normal(0, 0.1, s), "float32") for k, s in shapes.items()]
    inits.append(make_init("Da_bias", R.normal(0, 0.1, (8,)), "float32"))
    nodes = [
        helper.make_node("Conv", ["X1", "Da", "Da_bias"], ["Y1"], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["X1", "Db"], ["Y2"], pads=[1, 1, 1, 1], group=2),
        helper.make_node("Conv", ["X2", "Dc"], ["Y3"], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["X3", "Dd"], ["Y4"]),
        helper.make_node("Conv", ["X4", "De"], ["Y5"], pads=[1, 1, 1, 1, 1, 1]),
    ]
    g = helper.make_graph(
        nodes, "conv",
        [fvi("X1", [1, 8, 6, 6]), fvi("X2", [1, 8, 6, 6]), fvi("X3", [1, 3, 10]),
         fvi("X4", [1, 2, 4, 4, 4])],
        [fvi("Y1", [1, 8, 6, 6]), fvi("Y2", [1, 8, 6, 6]), fvi("Y3", [1, 4, 6, 6]),
         fvi("Y4", [1, 6, 7]), fvi("Y5", [1, 4, 4, 4, 4])], inits)
    return save_model(g, path)


def build_ortho_model(path, dt):
    """Square/tall/wide MatMul weights, 4-D conv weights (wide and tall), an LSTM."""
    shapes = {"Mwide": (256, 512), "Mtall": (512, 256), "Msq": (256, 256),
              "Cwide": (64, 8, 3, 3), "Ctall": (96, 64, 1, 1),
              "LW": (2, 128, 16), "LR": (2, 128, 32)}
    inits = [make_init(k, R.normal(0, 0.05, s), dt) for k, s in shapes.items()]
    nodes = []
    n = {k: weight_input(nodes, k, dt) for k in shapes}
    nodes += [
        helper.make_node("MatMul", ["X", n["Mwide"]], ["a1"]),
        helper.make_node("MatMul", ["a1", n["Mtall"]], ["a2"]),
        helper.make_node("MatMul", ["a2", n["Msq"]], ["Y1"]),
        helper.make_node("Conv", ["X2", n["Cwide"]], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["c1", n["Ctall"]], ["Y2"]),
        helper.make_node("LSTM", ["X3", n["LW"], n["LR"]], ["Y3"], hidden_size=32,
                         direction="bidirectional"),
    ]
    g = helper.make_graph(
        nodes, "ortho",
        [fvi("X", [1, 256]), fvi("X2", [1, 8, 6, 6]), fvi("X3", [3, 1, 16])],
        [fvi("Y1", [1, 256]), fvi("Y2", [1, 96, 6, 6]), fvi("Y3", [3, 2, 1, 32])], inits)
    return save_model(g, path)


def build_big_model(path):
    """Tensors past 2^20 elements (float32 and float16), orthogonal and sparse ones."""
    inits = [make_init("Wbig", R.normal(0, 0.02, (1024, 1536)), "float32"),
             make_init("bbig", R.normal(0, 0.02, (1536,)), "float32"),
             make_init("Wbig2", R.normal(0, 0.02, (1536, 1024)), "float16"),
             make_init("Wo", R.normal(0, 0.02, (1024, 512)), "float32"),
             make_init("Ws", R.normal(0, 0.02, (512, 256)), "bfloat16")]
    nodes = []
    i2 = weight_input(nodes, "Wbig2", "float16")
    i4 = weight_input(nodes, "Ws", "bfloat16")
    nodes += [helper.make_node("MatMul", ["X", "Wbig"], ["h1"]),
              helper.make_node("Add", ["h1", "bbig"], ["h2"]),
              helper.make_node("Relu", ["h2"], ["h3"]),
              helper.make_node("MatMul", ["h3", i2], ["h4"]),
              helper.make_node("MatMul", ["h4", "Wo"], ["h5"]),
              helper.make_node("Tanh", ["h5"], ["h6"]),
              helper.make_node("MatMul", ["h6", i4], ["Y"])]
    g = helper.make_graph(nodes, "big", [fvi("X", [1, 1024])], [fvi("Y", [1, 256])], inits)
    return save_model(g, path)


def build_rules_model(path):
    """MatMul+Add+Relu, Gemm, LayerNormalization, Reshape (int64 shape), Clip (scalars)."""
    inits = [make_init("W1", R.normal(0, 0.1, (16, 32)), "float32"),
             make_init("b1", R.normal(0, 0.1, (32,)), "float32"),
             make_init("W2", R.normal(0, 0.1, (8, 32)), "float32"),
             make_init("b2", R.normal(0, 0.1, (8,)), "float32"),
             make_init("ln_scale", R.normal(1, 0.1, (8,)), "float32"),
             make_init("ln_bias", R.normal(0, 0.1, (8,)), "float32"),
             helper.make_tensor("shape", TensorProto.INT64, [3], [2, 2, 4]),
             make_init("clip_min", np.array(-0.75), "float32"),
             make_init("clip_max", np.array(0.75), "float32")]
    nodes = [helper.make_node("MatMul", ["X", "W1"], ["h1"]),
             helper.make_node("Add", ["h1", "b1"], ["h2"]),
             helper.make_node("Relu", ["h2"], ["h3"]),
             helper.make_node("Gemm", ["h3", "W2", "b2"], ["h4"], transB=1),
             helper.make_node("LayerNormalization", ["h4", "ln_scale", "ln_bias"], ["h5"]),
             helper.make_node("Reshape", ["h5", "shape"], ["h6"]),
             helper.make_node("Clip", ["h6", "clip_min", "clip_max"], ["Y"])]
    g = helper.make_graph(nodes, "rules", [fvi("X", [2, 16])], [fvi("Y", [2, 2, 4])], inits)
    return save_model(g, path)


# ---- distributions --------------------------------------------------------------------

KERAS_C = 0.87962566103423978
S3 = math.sqrt(3.0)


def U(lo, hi):
    return stats.uniform(loc=lo, scale=hi - lo), max(abs(lo), abs(hi))


def Ub(b):
    return U(-b, b)


def N(std, mean=0.0):
    return stats.norm(mean, std), None


def TN(mean, std, a, b):
    return stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std), \
        max(abs(a), abs(b))


def KT(scale):
    """Keras truncated normal: sigma = sqrt(scale)/0.8796..., cut at +-2 sigma."""
    s = math.sqrt(scale) / KERAS_C
    return TN(0.0, s, -2 * s, 2 * s)


def gain(nl, a=0.0):
    return {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0),
            "selu": 0.75, "leaky_relu": math.sqrt(2.0 / (1 + a * a))}[nl]


# (SPEC, family of the canonical text, expected(fan_in, fan_out) -> (dist, bound or None))
SPECS = [
    ("uniform(low=-0.3,high=0.7)", "uniform", lambda fi, fo: U(-0.3, 0.7)),
    ("uniform(-2, 3)", "uniform", lambda fi, fo: U(-2.0, 3.0)),
    ("uniform", "uniform", lambda fi, fo: U(0.0, 1.0)),
    ("normal(mean=0.5,std=2)", "normal", lambda fi, fo: N(2.0, 0.5)),
    ("normal", "normal", lambda fi, fo: N(1.0)),
    ("trunc_normal", "trunc_normal", lambda fi, fo: TN(0, 1, -2, 2)),
    ("trunc_normal(mean=0,std=1,a=1,b=3)", "trunc_normal", lambda fi, fo: TN(0, 1, 1, 3)),
    ("trunc_normal(a=-3,b=-1)", "trunc_normal", lambda fi, fo: TN(0, 1, -3, -1)),
    ("trunc_normal(a=-0.3,b=0.4)", "trunc_normal", lambda fi, fo: TN(0, 1, -0.3, 0.4)),
    ("trunc_normal(mean=1,std=0.5,a=1.5,b=1.6)", "trunc_normal",
     lambda fi, fo: TN(1, 0.5, 1.5, 1.6)),
    ("trunc_normal(mean=0.02,std=0.02,a=-0.04,b=0.04)", "trunc_normal",
     lambda fi, fo: TN(0.02, 0.02, -0.04, 0.04)),
    ("trunc_normal(std=0.02,a=-0.5,b=0.5)", "trunc_normal",
     lambda fi, fo: TN(0, 0.02, -0.5, 0.5)),
    ("xavier_uniform", "xavier_uniform", lambda fi, fo: Ub(math.sqrt(6.0 / (fi + fo)))),
    ("xavier_uniform(gain=2)", "xavier_uniform",
     lambda fi, fo: Ub(2 * math.sqrt(6.0 / (fi + fo)))),
    ("xavier_normal(gain=1.5)", "xavier_normal", lambda fi, fo: N(1.5 * math.sqrt(2.0 / (fi + fo)))),
    ("kaiming_uniform", "kaiming_uniform", lambda fi, fo: Ub(S3 * gain("leaky_relu") / math.sqrt(fi))),
    ("kaiming_uniform(a=2.23606797749979)", "kaiming_uniform",
     lambda fi, fo: Ub(S3 * gain("leaky_relu", math.sqrt(5)) / math.sqrt(fi))),
    ("kaiming_uniform(mode=fan_out,nonlinearity=selu)", "kaiming_uniform",
     lambda fi, fo: Ub(S3 * 0.75 / math.sqrt(fo))),
    ("kaiming_uniform(nonlinearity=linear)", "kaiming_uniform",
     lambda fi, fo: Ub(S3 / math.sqrt(fi))),
    ("kaiming_normal(mode=fan_out,nonlinearity=relu)", "kaiming_normal",
     lambda fi, fo: N(math.sqrt(2.0) / math.sqrt(fo))),
    ("kaiming_normal(a=0.2,nonlinearity=leaky_relu)", "kaiming_normal",
     lambda fi, fo: N(gain("leaky_relu", 0.2) / math.sqrt(fi))),
    ("kaiming_normal(nonlinearity=tanh)", "kaiming_normal",
     lambda fi, fo: N(5.0 / 3.0 / math.sqrt(fi))),
    ("lecun_uniform", "variance_scaling", lambda fi, fo: Ub(math.sqrt(3.0 / fi))),
    ("lecun_normal", "variance_scaling", lambda fi, fo: KT(1.0 / fi)),
    ("glorot_uniform", "variance_scaling", lambda fi, fo: Ub(math.sqrt(6.0 / (fi + fo)))),
    ("glorot_normal", "variance_scaling", lambda fi, fo: KT(2.0 / (fi + fo))),
    ("he_uniform", "variance_scaling", lambda fi, fo: Ub(math.sqrt(6.0 / fi))),
    ("he_normal", "variance_scaling", lambda fi, fo: KT(2.0 / fi)),
    ("variance_scaling", "variance_scaling", lambda fi, fo: KT(1.0 / fi)),
    ("variance_scaling(scale=2,mode=fan_out,distribution=normal)", "variance_scaling",
     lambda fi, fo: KT(2.0 / fo)),
    ("variance_scaling(scale=1.5,distribution=truncated_normal)", "variance_scaling",
     lambda fi, fo: KT(1.5 / fi)),
    ("variance_scaling(scale=0.5,mode=fan_avg,distribution=untruncated_normal)",
     "variance_scaling", lambda fi, fo: N(math.sqrt(0.5 / ((fi + fo) / 2.0)))),
    ("variance_scaling(scale=3,mode=fan_in,distribution=uniform)", "variance_scaling",
     lambda fi, fo: Ub(math.sqrt(9.0 / fi))),
]


def abs_tail(dist, t):
    return dist.sf(t) + dist.cdf(-t)


def abs_quantile(dist, p):
    """t with P(|X| > t) = p."""
    lo_s, hi_s = dist.support()
    top = max(abs(lo_s), abs(hi_s))
    if not math.isfinite(top):
        top = abs(dist.mean()) + 60 * dist.std()
    if abs_tail(dist, 0.0) <= p:
        return 0.0
    return optimize.brentq(lambda t: abs_tail(dist, t) - p, 0.0, top, xtol=1e-14, rtol=1e-12)


def ks_rounded(x, cdf, dt):
    """KS statistic of x (values of dtype dt) against the distribution `cdf` rounded to dt
    to nearest: P(round(X) <= v) = F(midpoint above v). Both are step functions jumping
    only at representable values, so the supremum is taken at the sampled values and just
    before them. The p-value uses the continuous-null KS law (conservative for a discrete
    null)."""
    n = x.size
    v, c = np.unique(x, return_counts=True)
    fn = np.cumsum(c) / n
    fp = fn - c / n
    up, dn = neighbours(v, dt)
    g1 = cdf((v + up) / 2)
    g0 = cdf((v + dn) / 2)
    d = max(np.max(np.abs(fn - g1)), np.max(np.abs(fp - g0)))
    return d, stats.kstwo.sf(d, n)


def ks(x, dist, dt):
    # float32/float64: the rounding (<= 2^-24 relative) is far below the KS resolution at
    # n ~ 1e5, so scipy's continuous kstest. float16/bfloat16 (11/8 bits of mantissa): the
    # exact KS against the distribution rounded to the dtype (ks_rounded).
    if dt in ("float32", "float64"):
        r = stats.kstest(x, dist.cdf)
        return r.statistic, r.pvalue
    return ks_rounded(x, dist.cdf, dt)


def close(a, b, rel=1e-9, abs_=0.0):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= rel * max(abs(a), abs(b)) + abs_


def sample_checks(x, dist, bound, dt, plan_t):
    """Everything about one tensor of random values; returns a list of problems."""
    probs = []
    x = x.ravel()
    n = x.size
    p = DTYPES[dt][1]
    eps = 2.0 ** -p                       # relative rounding of the dtype
    mu, sd = dist.mean(), dist.std()
    # plan
    if plan_t.get("action") != "reinit":
        probs.append(f"action {plan_t.get('action')}")
    if not close(plan_t.get("std"), sd, 1e-6):
        probs.append(f"plan std {plan_t.get('std')} != {sd}")
    if not close(plan_t.get("bound"), bound, 1e-9):
        probs.append(f"plan bound {plan_t.get('bound')} != {bound}")
    # moments: 6 standard errors, plus the rounding of the dtype
    ax = np.abs(x)
    m, s = x.mean(), x.std()
    tol_m = 6 * sd / math.sqrt(n) + 2 * eps * ax.mean()
    if abs(m - mu) > tol_m:
        probs.append(f"mean {m:.6g} vs {mu:.6g} (tol {tol_m:.2g})")
    if abs(s / sd - 1) > 0.015 + 4 * eps:
        probs.append(f"std {s:.6g} vs {sd:.6g}")
    # |max|: at least where ~20 of n exceed (P(miss) ~ e^-20); at most where P(any) ~ 1e-4
    mx = ax.max()
    t_lo = abs_quantile(dist, 20.0 / n) * (1 - 2 * eps)
    t_hi = abs_quantile(dist, 1e-4 / n) * (1 + 2 * eps)
    if not t_lo <= mx <= t_hi:
        probs.append(f"max|x| {mx:.6g} outside [{t_lo:.6g}, {t_hi:.6g}]")
    # support: every value within the dtype-rounded bounds (rounding is monotone, so a
    # value inside [a, b] rounds into [round(a), round(b)])
    a_s, b_s = dist.support()
    if math.isfinite(a_s):
        lo_r, hi_r = float(round_to(a_s, dt)), float(round_to(b_s, dt))
        if x.min() < lo_r or x.max() > hi_r:
            probs.append(f"values [{x.min()!r}, {x.max()!r}] outside [{lo_r!r}, {hi_r!r}]")
    if bound is not None and mx > float(round_to(bound, dt)):
        probs.append(f"max|x| {mx!r} > bound {bound!r}")
    if dt == "float64" and isinstance(dist.dist, type(stats.uniform)) and \
            x.max() >= b_s:
        probs.append(f"uniform reached high={b_s!r} (should be [low, high))")
    if not np.all(np.isfinite(x)):
        probs.append("non-finite values")
    d, pv = ks(x, dist, dt)
    if not pv > P_MIN:
        probs.append(f"KS D={d:.4g} p={pv:.3g}")
    return probs, pv


# ---- 1. statistics --------------------------------------------------------------------

def stats_models():
    d = WORK / "models"
    d.mkdir(parents=True, exist_ok=True)
    out = {}
    for dt in DTYPES:
        out[dt] = build_stats_model(d / f"stats_{dt}.onnx", dt)
        out[dt + "_typed"] = build_stats_model(d / f"stats_{dt}_typed.onnx", dt, typed=True)
    return out


@guarded("statistics")
def check_statistics(models):
    d = WORK / "stats"
    d.mkdir(parents=True, exist_ok=True)
    for si, (spec, family, expect) in enumerate(SPECS):
        per_dt = {}
        for dt in DTYPES:
            out = d / f"s{si}_{dt}.onnx"
            rc, plan, se = init(models[dt], out, "--rule", f"name:W*={spec}", "--seed", 100 + si)
            name = f"stats {spec} {dt}"
            if rc != 0:
                check(name, False, f"exit {rc}: {se.strip()}")
                continue
            _, inits = load_inits(out)
            probs, pvs = [], []
            for wn in ("W1", "W2"):
                pt = plan[wn]
                canon = pt.get("scheme", "")
                if canon.split("(")[0] != family:
                    probs.append(f"{wn}: canonical scheme {canon!r} is not {family}(...)")
                if pt.get("storage") != "raw" or storage(inits[wn]) != "raw":
                    probs.append(f"{wn}: storage changed")
                x = values(inits[wn])
                per_dt.setdefault(dt, {})[wn] = x
                dist, bound = expect(pt["fan_in"], pt["fan_out"])
                pr, pv = sample_checks(x, dist, bound, dt, pt)
                probs += [f"{wn}: {p}" for p in pr]
                pvs.append(pv)
            check(name, not probs, "; ".join(probs) if probs else
                  f"KS p={min(pvs):.3g}")
            if dt == "float32" and not probs:
                # the canonical text is itself a SPEC that gives the same bytes
                canon = plan["W1"]["scheme"]
                out2 = d / f"s{si}_canon.onnx"
                rc2, _, se2 = init(models[dt], out2, "--rule", f"name:W*={canon}", "--seed",
                                   100 + si, json_out=False)
                _, i2 = load_inits(out2) if rc2 == 0 else (None, {})
                ok = rc2 == 0 and all(i2[w].raw_data == inits[w].raw_data for w in ("W1", "W2"))
                check(f"canonical text {canon} round-trips", ok,
                      "" if ok else f"exit {rc2} {se2.strip()}")
        consistency(f"stats {spec}", per_dt)


def consistency(name, per_dt):
    """Values depend on seed, name and index only: every dtype holds the float64 values
    rounded (to nearest even, directly) to it."""
    if "float64" not in per_dt:
        return
    probs = []
    for dt in ("float32", "float16", "bfloat16"):
        for wn, x in per_dt.get(dt, {}).items():
            ref = round_to(per_dt["float64"][wn], dt)
            bad = np.flatnonzero(x.ravel() != ref.ravel())
            if bad.size:
                i = bad[0]
                probs.append(f"{dt} {wn}: {bad.size} values differ from the float64 ones "
                             f"rounded, e.g. [{i}] {x.ravel()[i]!r} vs "
                             f"{ref.ravel()[i]!r} (float64 {per_dt['float64'][wn].ravel()[i]!r})")
    check(f"{name}: float32/float16/bfloat16 = float64 values rounded to nearest even",
          not probs, "; ".join(probs))


@guarded("exact schemes")
def check_exact(models):
    d = WORK / "exact"
    d.mkdir(parents=True, exist_ok=True)
    consts = [("zeros", 0.0), ("ones", 1.0), ("constant(value=0.3)", 0.3),
              ("constant(value=-1e-3)", -1e-3), ("constant(value=1e-7)", 1e-7),
              # 1 + 2^-8 + 2^-30 and 1 + 2^-11 + 2^-40: rounding through float32 first
              # would land on a tie and give 1.0 in bfloat16 / float16
              ("constant(value=1.003906250931322574615478515625)", 1 + 2**-8 + 2**-30),
              ("constant(value=1.0004882812509094947017729282379150390625)", 1 + 2**-11 + 2**-40)]
    for spec, v in consts:
        for dt in DTYPES:
            out = d / f"c_{dt}.onnx"
            rc, plan, se = init(models[dt], out, "--rule", f"name:W*={spec}")
            if rc != 0:
                check(f"exact {spec} {dt}", False, f"exit {rc}: {se.strip()}")
                continue
            _, inits = load_inits(out)
            want = float(round_to(v, dt))
            probs = []
            for wn in ("W1", "W2"):
                x = values(inits[wn])
                if not np.all(x == want) or np.any(np.signbit(x) != np.signbit(want)):
                    u = np.unique(x)
                    probs.append(f"{wn} holds {u[:4]!r} not {want!r}")
                if not close(plan[wn]["std"], 0.0, 0, 1e-300) or \
                        not close(plan[wn]["bound"], abs(v), 1e-12):
                    probs.append(f"{wn} plan std/bound {plan[wn]['std']}/{plan[wn]['bound']}")
            check(f"exact {spec} {dt}", not probs, "; ".join(probs))
    # eye
    for dt in DTYPES:
        out = d / f"eye_{dt}.onnx"
        rc, plan, se = init(models[dt], out, "--rule", "name:W*=eye")
        probs = [] if rc == 0 else [f"exit {rc}: {se.strip()}"]
        if rc == 0:
            _, inits = load_inits(out)
            for wn in ("W1", "W2"):
                x = values(inits[wn])
                if not np.array_equal(x, np.eye(*x.shape)):
                    probs.append(f"{wn} is not eye{x.shape}")
                k = min(x.shape)
                mean = k / x.size
                if not close(plan[wn]["std"], math.sqrt(mean * (1 - mean)), 1e-9) or \
                        plan[wn]["bound"] != 1:
                    probs.append(f"{wn} plan std/bound {plan[wn]['std']}/{plan[wn]['bound']}")
        check(f"exact eye {dt}", not probs, "; ".join(probs))


def dirac_ref(shape, groups):
    w = np.zeros(shape)
    per = shape[0] // groups
    for g in range(groups):
        for dd in range(min(per, shape[1])):
            w[(g * per + dd, dd) + tuple(s // 2 for s in shape[2:])] = 1
    return w


@guarded("dirac")
def check_dirac(conv_model):
    d = WORK / "dirac"
    d.mkdir(parents=True, exist_ok=True)
    for groups in (1, 2):
        out = d / f"dirac{groups}.onnx"
        rc, plan, se = init(conv_model, out, "--rule", f"name:D?=dirac(groups={groups})")
        if rc != 0:
            check(f"dirac(groups={groups})", False, f"exit {rc}: {se.strip()}")
            continue
        _, inits = load_inits(out)
        for wn in ("Da", "Db", "Dc", "Dd", "De"):
            x = values(inits[wn])
            ref = dirac_ref(x.shape, groups)
            ok = np.array_equal(x, ref)
            detail = "" if ok else (f"ones at {np.argwhere(x == 1)[:6].tolist()} want "
                                    f"{np.argwhere(ref == 1)[:6].tolist()}; "
                                    f"{int((x != ref).sum())} entries differ")
            check(f"dirac(groups={groups}) {wn} {list(x.shape)}", ok, detail)
        b = values(inits["Da_bias"])
        check(f"dirac(groups={groups}) leaves Da_bias to the default profile",
              plan["Da_bias"]["scheme"] != f"dirac(groups={groups})" and np.all(np.isfinite(b)))


@guarded("sparse")
def check_sparse(models):
    d = WORK / "sparse"
    d.mkdir(parents=True, exist_ok=True)
    cases = [("sparse(sparsity=0.1,std=0.5)", 0.1, 0.5, list(DTYPES)),
             ("sparse(sparsity=0.3,std=0.01)", 0.3, 0.01, ["float32", "float64"]),
             ("sparse(sparsity=0.25)", 0.25, 0.01, ["float32", "float64"]),
             ("sparse(sparsity=0,std=0.2)", 0.0, 0.2, ["float32"])]
    for ci, (spec, sp, std, dts) in enumerate(cases):
        per_dt = {}
        for dt in dts:
            out = d / f"sp{ci}_{dt}.onnx"
            rc, plan, se = init(models[dt], out, "--rule", f"name:W*={spec}", "--seed", 40 + ci)
            if rc != 0:
                check(f"{spec} {dt}", False, f"exit {rc}: {se.strip()}")
                continue
            _, inits = load_inits(out)
            probs, pvs = [], []
            for wn in ("W1", "W2"):
                x = values(inits[wn])
                per_dt.setdefault(dt, {})[wn] = x
                rows, cols = x.shape
                z = math.ceil(sp * rows)
                zc = (x == 0).sum(axis=0)
                if not np.all(zc == z):
                    probs.append(f"{wn}: zeros per column {sorted(set(zc.tolist()))[:5]} "
                                 f"not {z}")
                nz = x[x != 0]
                dist = stats.norm(0, std)
                dd, pv = ks(nz, dist, dt)
                pvs.append(pv)
                if not pv > P_MIN:
                    probs.append(f"{wn}: nonzeros KS D={dd:.4g} p={pv:.3g}")
                if abs(nz.std() / std - 1) > 0.015:
                    probs.append(f"{wn}: nonzero std {nz.std():.6g} vs {std}")
                want = std * math.sqrt(1 - z / rows)
                if not close(plan[wn]["std"], want, 1e-9):
                    probs.append(f"{wn}: plan std {plan[wn]['std']} vs {want}")
            check(f"{spec} {dt}: {math.ceil(sp * 256)}/{math.ceil(sp * 512)} zeros per "
                  f"column, nonzeros N(0,{std})", not probs,
                  "; ".join(probs) if probs else f"KS p={min(pvs):.3g}")
        if len(per_dt) > 1:
            consistency(spec, per_dt)


# ---- 2. orthogonal --------------------------------------------------------------------

@guarded("orthogonal")
def check_orthogonal():
    d = WORK / "ortho"
    d.mkdir(parents=True, exist_ok=True)
    for dt, tol in (("float32", 1e-5), ("float64", 1e-12)):
        model = build_ortho_model(WORK / "models" / f"ortho_{dt}.onnx", dt)
        for g in (1, 2):
            out = d / f"ortho_{dt}_{g}.onnx"
            rc, plan, se = init(model, out, "--rule", f"name:*=orthogonal(gain={g})",
                                "--seed", 9)
            if rc != 0:
                check(f"orthogonal {dt} gain {g}", False, f"exit {rc}: {se.strip()}")
                continue
            _, inits = load_inits(out)
            for wn, t in inits.items():
                x = values(t)
                mats = list(x) if wn.startswith("L") else [x.reshape(x.shape[0], -1)]
                errs = []
                for m in mats:
                    r, c = m.shape
                    prod = m.T @ m if r >= c else m @ m.T
                    errs.append(np.abs(prod - g * g * np.eye(min(r, c))).max())
                err = max(errs)
                how = "per direction " if wn.startswith("L") else ""
                shp = "x".join(map(str, mats[0].shape))
                probs = []
                if not err <= tol * g * g:
                    probs.append(f"max |W'W - g^2 I| = {err:.3g}")
                if np.abs(x).max() > g * (1 + 1e-6):
                    probs.append(f"max|x| {np.abs(x).max()} > gain")
                sd = plan[wn]["std"]
                if not close(x.std(), sd, 0.03):
                    probs.append(f"std {x.std():.5g} vs plan {sd}")
                check(f"orthogonal(gain={g}) {dt} {wn} {list(x.shape)} {how}({shp})",
                      not probs, "; ".join(probs) if probs else f"err {err:.2g}")


# ---- 3. reproducibility ---------------------------------------------------------------

def same_files(a, b):
    return filecmp.cmp(a, b, shallow=False)


@guarded("reproducibility")
def check_repro(models):
    d = WORK / "repro"
    d.mkdir(parents=True, exist_ok=True)
    big = build_big_model(WORK / "models" / "big.onnx")
    rules = ["--rule", "name:Wo=orthogonal", "--rule", "name:Ws=sparse(sparsity=0.2)",
             "--rule", "name:Wbig2=trunc_normal(std=0.02)"]
    variants = [("auto+rules", ["--scheme", "auto"] + rules),
                ("normal", ["--scheme", "normal(std=0.1)"]),
                ("variance_scaling", ["--scheme", "variance_scaling"])]
    base = None  # the first variant's output, when its runs agree
    for vi_, (label, args) in enumerate(variants):
        outs = []
        for mem in (False, True):
            for th in (1, 2, 4):
                out = d / f"v{vi_}_{'mem' if mem else 'map'}_{th}.onnx"
                rc, _, se = init(big, out, "--seed", 5, "--threads", th,
                                 *(["--in-memory"] if mem else []), *args, json_out=False)
                if rc != 0:
                    check(f"repro {label} threads {th} in-memory {mem}", False,
                          f"exit {rc}: {se.strip()}")
                outs.append(out)
        ok = all(o.exists() for o in outs) and all(same_files(outs[0], o) for o in outs[1:])
        diff = [o.name for o in outs[1:] if o.exists() and not same_files(outs[0], o)]
        check(f"repro {label}: same bytes for --threads 1/2/4, mmap and --in-memory", ok,
              f"differ from {outs[0].name}: {diff}")
        if vi_ == 0 and ok:
            base = outs[0]
    # another seed gives other values in every re-initialized tensor
    out6 = d / "seed6.onnx"
    rc, plan, se = init(big, out6, "--seed", 6, "--scheme", "auto", *rules)
    if base is None or rc != 0:
        check("another seed changes every randomly re-initialized tensor", False,
              "no output of seed 5 that all runs agree on" if base is None else
              f"exit {rc}: {se.strip()}")
    else:
        _, a = load_inits(base)
        _, b = load_inits(out6)
        same = [n for n in a if plan[n]["action"] == "reinit" and plan[n]["std"] and
                a[n].raw_data == b[n].raw_data]
        check("another seed changes every randomly re-initialized tensor", not same,
              f"unchanged: {same}")
    # --seed 0 is the default
    o0, o1 = d / "seed0.onnx", d / "seeddefault.onnx"
    init(models["float32"], o0, "--seed", 0, json_out=False)
    init(models["float32"], o1, json_out=False)
    check("--seed 0 is the default", same_files(o0, o1))
    # --in-place writes what -o writes
    ip = d / "inplace.onnx"
    shutil.copy(models["float32"], ip)
    rc, _, se = run(["init", ip, "--in-place", "--seed", 0])
    check("--in-place gives the bytes of -o", rc == 0 and same_files(ip, o1), se.strip())
    # the largest seed
    rc, _, se = init(models["float32"], d / "seedmax.onnx", "--seed", 2**64 - 1, json_out=False)
    check("--seed 18446744073709551615 accepted", rc == 0, se.strip())
    # renaming one tensor changes only that tensor
    ren = build_stats_model(WORK / "models" / "stats_renamed.onnx", "float32",
                            rename={"W1": "W1.renamed"})
    for scheme in ("uniform(low=-1,high=1)", "auto", "orthogonal"):
        oa, ob = d / "ren_a.onnx", d / "ren_b.onnx"
        rc1, _, _ = init(models["float32"], oa, "--seed", 3, "--scheme", scheme, json_out=False)
        rc2, _, _ = init(ren, ob, "--seed", 3, "--scheme", scheme, json_out=False)
        _, a = load_inits(oa)
        _, b = load_inits(ob)
        ok = (rc1 == rc2 == 0 and a["W2"].raw_data == b["W2"].raw_data and
              a["b1"].raw_data == b["b1"].raw_data and
              a["W1"].raw_data != b["W1.renamed"].raw_data)
        check(f"renaming W1 changes W1 only ({scheme})", ok,
              f"W2 same {a['W2'].raw_data == b['W2'].raw_data}, b1 same "
              f"{a['b1'].raw_data == b['b1'].raw_data}, W1 same "
              f"{a['W1'].raw_data == b['W1.renamed'].raw_data}")
    # typed storage: same values as raw storage, storage kept
    for dt in DTYPES:
        for spec in ("normal(std=0.5)", "kaiming_uniform", "orthogonal(gain=1.5)",
                     "sparse(sparsity=0.2)"):
            ra, ta = d / "raw.onnx", d / "typed.onnx"
            rc1, _, se1 = init(models[dt], ra, "--seed", 8, "--rule", f"name:W*={spec}",
                               "--scheme", "uniform(low=-1,high=1)", json_out=False)
            rc2, plan, se2 = init(models[dt + "_typed"], ta, "--seed", 8, "--rule",
                                  f"name:W*={spec}", "--scheme", "uniform(low=-1,high=1)")
            if rc1 or rc2:
                check(f"typed storage {dt} {spec}", False, f"{se1.strip()} {se2.strip()}")
                continue
            _, a = load_inits(ra)
            _, b = load_inits(ta)
            probs = []
            for n in ("W1", "W2", "b1"):
                if storage(b[n]) != "typed" or plan[n]["storage"] != "typed":
                    probs.append(f"{n} storage {storage(b[n])}")
                va, vb = values(a[n]), values(b[n])
                if va.shape != vb.shape or not np.array_equal(va, vb, equal_nan=True):
                    probs.append(f"{n} values differ from the raw model's")
                if dt in ("float16", "bfloat16") and storage(b[n]) == "typed" and \
                        any(v < 0 or v > 0xFFFF for v in b[n].int32_data):
                    probs.append(f"{n} int32_data outside 16 bits")
            check(f"typed storage {dt} {spec}: kept typed, same values as raw", not probs,
                  "; ".join(probs))


def profile_models():
    d = WORK / "models"
    src = sorted((REPO / "models").glob("*.onnx"))
    mine = [d / f"stats_{dt}{s}.onnx" for dt in DTYPES for s in ("", "_typed")]
    mine += [d / "conv.onnx", d / "ortho_float32.onnx", d / "ortho_float64.onnx",
             d / "rules.onnx"]
    return [p for p in src + mine if p.exists()]


@guarded("profiles")
def check_profiles():
    d = WORK / "profiles"
    outs = {}
    for prof in ("auto", "torch", "keras", "flax"):
        for run_i in (1, 2):
            od = d / prof / f"run{run_i}"
            od.mkdir(parents=True, exist_ok=True)
            for m in profile_models():
                rc, _, se = init(m, od / m.name, "--scheme", prof, "--seed", 77, json_out=False)
                if rc != 0:
                    check(f"profile {prof} {m.name}", False, f"exit {rc}: {se.strip()}")
        r1, r2 = d / prof / "run1", d / prof / "run2"
        names = sorted(os.listdir(r1))
        diff = [n for n in names if not (r2 / n).exists() or not same_files(r1 / n, r2 / n)]
        check(f"profile {prof}: two runs give the same bytes ({len(names)} files)",
              not diff and names == sorted(os.listdir(r2)), f"differ: {diff}")
        outs[prof] = sorted(str(r1 / n) for n in names if n.endswith(".onnx"))
    return outs


# ---- 4. validity ----------------------------------------------------------------------

@guarded("onnx.checker")
def check_checker():
    bad = []
    seen = set()
    for p in all_outputs:
        if p in seen or not os.path.exists(p):
            continue
        seen.add(p)
        try:
            onnx.checker.check_model(p)  # a path: external data resolved beside it
        except Exception as e:  # noqa: BLE001
            bad.append(f"{p}: {str(e).splitlines()[0] if str(e) else e}")
    check(f"onnx.checker accepts every output ({len(seen)} files)", not bad, "; ".join(bad[:5]))


@guarded("onnxruntime")
def check_ort(outs):
    ort_dir = REPO / "tests" / "ort"
    node = shutil.which("node")
    if not node:
        check("onnxruntime: node found", False, "node is not installed")
        return
    if not (ort_dir / "node_modules" / "onnxruntime-node").is_dir():
        subprocess.run(["npm", "ci", "--ignore-scripts"], cwd=ort_dir, capture_output=True)
    files = [f for prof in outs for f in outs[prof]]
    p = subprocess.run([node, str(ort_dir / "run_models.js")] + files, capture_output=True,
                       text=True, timeout=300)
    lines = p.stdout.splitlines()
    for prof in outs:
        mine = [l for l in lines if f"/profiles/{prof}/" in l]
        bad = [l for l in mine if not l.startswith("ok ")]
        check(f"onnxruntime runs the {prof} outputs with finite outputs ({len(mine)} models)",
              len(mine) == len(outs[prof]) and not bad,
              "; ".join(bad[:4]) or p.stderr.strip()[-300:])
    tail = lines[-1] if lines else ""
    check("onnxruntime summary", tail.startswith("ort:") and p.returncode == 0, tail)


# ---- 5. bad input ---------------------------------------------------------------------

@guarded("bad input")
def check_bad(models, conv_model):
    d = WORK / "bad"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    (d / "notjson.json").write_text('{"rules": [')
    (d / "badrule.json").write_text('{"rules": ["name:W1=bogus_scheme(1)"]}')
    (d / "badobj.json").write_text('{"rules": [{"select": "name:W1"}]}')
    (d / "badkey.json").write_text('{"schema": "zeros"}')
    (d / "badrole.json").write_text('{"rules": [{"select": "role:nonsense2", "scheme": "ones"}]}')
    m = models["float32"]
    cases = [  # (label, model, args, any of these substrings in stderr)
        ("unknown scheme", m, ["--scheme", "nosuch"], ["nosuch"]),
        ("unknown scheme in a rule", m, ["--rule", "name:W1=nosuch2"], ["nosuch2"]),
        ("unknown parameter", m, ["--scheme", "uniform(lo=1)"], ["'lo'"]),
        ("missing ')'", m, ["--scheme", "uniform(low=1"], ["uniform(low=1"]),
        ("empty value", m, ["--scheme", "normal(std=)"], ["normal(std=)", "std="]),
        ("two words", m, ["--scheme", "x y"], ["x y"]),
        ("empty SPEC", m, ["--scheme", ""], ["scheme", "''"]),
        ("text after ')'", m, ["--scheme", "normal(std=1)x"], ["normal(std=1)x"]),
        ("not a number", m, ["--scheme", "normal(std=abc)"], ["abc"]),
        ("nan", m, ["--scheme", "normal(std=nan)"], ["nan"]),
        ("inf", m, ["--scheme", "uniform(high=inf)"], ["inf"]),
        ("parameter twice", m, ["--scheme", "normal(std=1,std=2)"], ["std"]),
        ("too many positional", m, ["--scheme", "uniform(1,2,3)"], ["uniform"]),
        ("missing required", m, ["--scheme", "sparse"], ["sparsity"]),
        ("missing constant value", m, ["--scheme", "constant"], ["value"]),
        ("bad choice", m, ["--scheme", "kaiming_uniform(nonlinearity=foo)"], ["foo"]),
        ("bad distribution", m, ["--scheme", "variance_scaling(distribution=cauchy)"],
         ["cauchy"]),
        ("bad mode", m, ["--scheme", "variance_scaling(mode=fan_mid)"], ["fan_mid"]),
        ("profile with parameters", m, ["--scheme", "torch(x=1)"], ["torch"]),
        ("orthogonal on 1-D", m, ["--rule", "name:b*=orthogonal"],
         ["name:b*=orthogonal", "'b1'"]),
        ("eye on 1-D", m, ["--rule", "name:b1=eye"], ["b1"]),
        ("dirac on 2-D", m, ["--rule", "name:W1=dirac"], ["W1"]),
        ("dirac groups not dividing", conv_model, ["--rule", "name:Da=dirac(groups=3)"],
         ["Da"]),
        ("dirac groups=0", conv_model, ["--rule", "name:Da=dirac(groups=0)"], ["groups=0"]),
        ("negative std", m, ["--scheme", "normal(std=-1)"], ["-1"]),
        ("negative trunc std", m, ["--scheme", "trunc_normal(std=-1)"], ["-1"]),
        ("trunc a >= b", m, ["--scheme", "trunc_normal(a=1,b=-1)"], ["a=1", "b=-1"]),
        ("uniform low > high", m, ["--scheme", "uniform(low=2,high=1)"], ["low=2", "'2'"]),
        ("sparsity=1", m, ["--scheme", "sparse(sparsity=1)"], ["sparsity=1"]),
        ("sparsity<0", m, ["--scheme", "sparse(sparsity=-0.1)"], ["-0.1"]),
        ("variance_scaling scale=0", m, ["--scheme", "variance_scaling(scale=0)"],
         ["scale=0"]),
        ("rules file not JSON", m, ["--rules", d / "notjson.json"], ["notjson.json"]),
        ("rules file with a bad rule", m, ["--rules", d / "badrule.json"], ["bogus_scheme"]),
        ("rules file rule object without scheme", m, ["--rules", d / "badobj.json"],
         ["badobj.json"]),
        ("rules file unknown key", m, ["--rules", d / "badkey.json"], ["schema"]),
        ("rules file unknown role", m, ["--rules", d / "badrole.json"], ["nonsense2"]),
        ("unknown role", m, ["--rule", "role:nonsense=zeros"], ["nonsense"]),
        ("rule without '='", m, ["--rule", "W1"], ["W1"]),
        ("empty selector", m, ["--rule", "=zeros"], ["=zeros"]),
        ("empty rule SPEC", m, ["--rule", "name:W1="], ["name:W1="]),
        ("selector of 300 characters", m, ["--rule", "name:" + "a" * 300 + "=zeros"], ["aaaa"]),
    ]
    for ci, (label, model, args, quotes) in enumerate(cases):
        od = d / f"case{ci}"
        od.mkdir()
        out = od / "out.onnx"
        rc, so, se = run(["init", model, "-o", out] + args)
        written = os.listdir(od)
        ok = rc == 2 and any(q in se for q in quotes) and not written and \
            se.startswith("onnxinit")
        check(f"bad input → exit 2: {label} ({' '.join(map(str, args))})", ok,
              f"exit {rc}, stderr {se.strip()!r}, written {written}")
    # a missing rules file: a file that cannot be read (1) or a usage error (2); either way
    # named, and nothing written
    od = d / "missing"
    od.mkdir()
    rc, so, se = run(["init", m, "-o", od / "out.onnx", "--rules", d / "nothere.json"])
    check("bad input → exit 1 or 2: rules file missing", rc in (1, 2) and
          "nothere.json" in se and not os.listdir(od), f"exit {rc}, stderr {se.strip()!r}")
    # --in-place with a bad rule leaves the input as it was
    cp = d / "inplace.onnx"
    shutil.copy(m, cp)
    rc, _, se = run(["init", cp, "--in-place", "--rule", "name:W*=orthogonal(gain=x)"])
    check("bad input with --in-place: exit 2, input untouched",
          rc == 2 and same_files(cp, m) and sorted(os.listdir(d)).count("inplace.onnx") == 1
          and not [f for f in os.listdir(d) if f.startswith("inplace.onnx") and
                   f != "inplace.onnx"], f"exit {rc} {se.strip()}")
    # a rule that matches nothing: exit 0, a warning quoting it
    out = d / "nomatch.onnx"
    rc, so, se = run(["init", m, "-o", out, "--rule", "name:nomatch*=zeros"])
    check("a rule that matches nothing → exit 0 with a warning", rc == 0 and out.exists() and
          "warning" in se and "name:nomatch*=zeros" in se, f"exit {rc} {se.strip()!r}")
    if out.exists():
        all_outputs.append(str(out))


# ---- 6. rules semantics ---------------------------------------------------------------

@guarded("rules")
def check_rules(models):
    d = WORK / "rules"
    d.mkdir(parents=True, exist_ok=True)
    rm = build_rules_model(WORK / "models" / "rules.onnx")
    _, orig = load_inits(rm)
    rc, so, _ = run(["init", rm, "--dry-run", "--json"])
    pl = {t["name"]: t for t in json.loads(so)["tensors"]}
    check("rules model roles: shape/clip_min/clip_max fixed, W1/W2 dense, b1/b2 bias",
          all(pl[n]["role"] == "fixed" for n in ("shape", "clip_min", "clip_max")) and
          pl["W1"]["role"] == pl["W2"]["role"] == "dense_weight" and
          pl["b1"]["role"] == pl["b2"]["role"] == "bias",
          str({n: pl[n]["role"] for n in pl}))

    def go(tag, *args):
        out = d / f"{tag}.onnx"
        rc, plan, se = init(rm, out, *args)
        if rc != 0:
            return rc, None, None, se
        m, inits = load_inits(out)
        return rc, plan, {n: values(t) for n, t in inits.items()}, (se, m, inits)

    def const(x, v):
        return x is not None and np.all(x == np.float32(v))

    # later rules win
    rc, _, v, _ = go("later1", "--rule", "name:W*=zeros", "--rule", "name:W1=ones")
    check("later rules win (W* zeros, then W1 ones)", rc == 0 and const(v["W1"], 1) and
          const(v["W2"], 0))
    rc, _, v, _ = go("later2", "--rule", "name:W1=ones", "--rule", "name:W*=zeros")
    check("later rules win (W1 ones, then W* zeros)", rc == 0 and const(v["W1"], 0) and
          const(v["W2"], 0))
    rc, _, v, _ = go("later3", "--rule", "role:bias=ones", "--rule", "b2=constant(value=2)")
    check("bare GLOB selects by name and wins over an earlier role rule",
          rc == 0 and const(v["b1"], 1) and const(v["b2"], 2))
    # keep protects
    rc, plan, v, extra = go("keep", "--scheme", "zeros", "--rule", "name:W1=keep")
    ok = rc == 0 and extra[2]["W1"].raw_data == orig["W1"].raw_data and const(v["W2"], 0) \
        and plan["W1"]["action"] == "keep"
    check("--scheme zeros --rule name:W1=keep leaves W1 byte-identical", ok)
    # fixed tensors
    rc, plan, v, extra = go("fixed1", "--scheme", "zeros")
    ok = rc == 0 and all(extra[2][n].SerializeToString() == orig[n].SerializeToString()
                         for n in ("shape", "clip_min", "clip_max")) and const(v["W1"], 0)
    check("--scheme zeros leaves the fixed tensors (int64 shape, Clip bounds) untouched", ok)
    rc, plan, v, extra = go("fixed2", "--scheme", "zeros", "--rule", "role:fixed=ones")
    ok = rc == 0 and all(extra[2][n].SerializeToString() == orig[n].SerializeToString()
                         for n in ("shape", "clip_min", "clip_max"))
    check("role:fixed=ones leaves the fixed tensors untouched", ok,
          "" if rc == 0 else f"exit {rc}")
    rc, plan, v, extra = go("fixed3", "--scheme", "zeros", "--rule",
                            "name:clip_max=constant(value=3)")
    ok = rc == 0 and const(v["clip_max"], 3) and list(v["clip_max"].shape) == [] and \
        extra[2]["clip_min"].SerializeToString() == orig["clip_min"].SerializeToString() and \
        plan["clip_max"]["action"] == "reinit"
    check("a name: rule changes the fixed float scalar clip_max", ok)
    rc, so, se = run(["init", rm, "-o", d / "int.onnx", "--rule", "name:shape=zeros"])
    check("a name: rule on the int64 shape is refused (exit 2, nothing written)",
          rc == 2 and "shape" in se and not (d / "int.onnx").exists(), f"exit {rc} {se!r}")
    # op: selects by consumer op
    rc, plan, v, _ = go("op1", "--scheme", "keep", "--rule", "op:MatMul=ones")
    unchanged = [n for n in ("b1", "W2", "b2", "ln_scale", "ln_bias")
                 if v is not None and not np.array_equal(v[n], values(orig[n]))]
    check("op:MatMul selects only W1", rc == 0 and const(v["W1"], 1) and not unchanged,
          f"also changed: {unchanged}" if unchanged else "")
    rc, plan, v, _ = go("op2", "--scheme", "keep", "--rule", "op:G*=constant(value=3)",
                        "--rule", "role:norm_scale=constant(value=2)")
    check("op:G* (glob) selects the Gemm's W2 and b2; role:norm_scale the LN scale",
          rc == 0 and const(v["W2"], 3) and const(v["b2"], 3) and const(v["ln_scale"], 2) and
          np.array_equal(v["W1"], values(orig["W1"])) and
          np.array_equal(v["ln_bias"], values(orig["ln_bias"])))
    # --rules FILE, then --rule
    rf = d / "rules.json"
    rf.write_text(json.dumps({"scheme": "zeros", "rules": [
        "role:bias=ones", {"select": "name:W*", "scheme": "normal(std=2)"}]}))
    m = models["float32"]
    out = d / "file.onnx"
    rc, plan, se = init(m, out, "--rules", rf, "--seed", 21)
    ok = rc == 0
    if ok:
        mm, inits = load_inits(out)
        w1, w2, b1 = (values(inits[n]) for n in ("W1", "W2", "b1"))
        ok = const(b1, 1) and abs(w1.std() - 2) < 0.03 and abs(w2.std() - 2) < 0.03 and \
            plan["W1"]["scheme"] == "normal(mean=0,std=2)"
    check("--rules FILE: its scheme and rules (string and object forms) apply", ok, se.strip())
    out = d / "file2.onnx"
    rc, plan, se = init(m, out, "--rules", rf, "--rule", "name:W2=constant(value=0.5)",
                        "--seed", 21)
    ok = rc == 0
    if ok:
        mm, inits = load_inits(out)
        ok = const(values(inits["W2"]), 0.5) and abs(values(inits["W1"]).std() - 2) < 0.03 \
            and const(values(inits["b1"]), 1)
        prov = {p.key: p.value for p in mm.metadata_props}.get("onnxinit")
        pj = json.loads(prov) if prov else {}
        _, ver, _ = run(["--version"])
        rules = pj.get("rules", [])
        pok = (set(pj) == {"version", "stream", "seed", "scheme", "rules"} and
               pj.get("stream") == 2 and str(pj.get("seed")) == "21" and pj.get("scheme") == "zeros" and
               pj.get("version") and pj["version"] in ver and len(rules) == 3 and
               rules[0] == "role:bias=ones" and "name:W*" in rules[1] and
               "normal(std=2)" in rules[1] and rules[2] == "name:W2=constant(value=0.5)")
        check("provenance metadata_props 'onnxinit' = {version, stream, seed, scheme, rules}, file "
              "rules first", pok, f"{prov!r}")
    check("--rule after --rules FILE wins", ok, se.strip())
    rc, plan, se = init(m, d / "file3.onnx", "--rules", rf, "--scheme", "ones")
    if rc == 0:
        _, inits = load_inits(d / "file3.onnx")
    check("--scheme overrides the file's scheme (file rules still apply)",
          rc == 0 and plan["W1"]["scheme"] == "normal(mean=0,std=2)" and
          const(values(inits["b1"]), 1))
    lf = d / "list.json"
    lf.write_text(json.dumps(["name:W1=ones", "name:W2=zeros"]))
    rc, plan, se = init(m, d / "list.onnx", "--rules", lf, "--scheme", "keep")
    if rc == 0:
        _, inits = load_inits(d / "list.onnx")
    check("--rules FILE as a bare list", rc == 0 and const(values(inits["W1"]), 1) and
          const(values(inits["W2"]), 0))
    # provenance details
    rc, _, _ = init(m, d / "noprov.onnx", "--scheme", "ones", "--no-provenance", json_out=False)
    mm, _ = load_inits(d / "noprov.onnx")
    check("--no-provenance records nothing",
          rc == 0 and not [p for p in mm.metadata_props if p.key == "onnxinit"])
    rc, _, _ = init(m, d / "keepall.onnx", "--scheme", "keep", json_out=False)
    mm, _ = load_inits(d / "keepall.onnx")
    check("a run that changes nothing records no provenance",
          rc == 0 and not [p for p in mm.metadata_props if p.key == "onnxinit"] and
          same_files(d / "keepall.onnx", m))
    rc, _, _ = init(d / "file2.onnx", d / "again.onnx", "--scheme", "ones", "--seed", 4,
                    json_out=False)
    mm, _ = load_inits(d / "again.onnx")
    props = [p for p in mm.metadata_props if p.key == "onnxinit"]
    ok = rc == 0 and len(props) == 1 and json.loads(props[0].value).get("seed") == 4 and \
        json.loads(props[0].value).get("rules") == [] and \
        json.loads(props[0].value).get("scheme") == "ones"
    check("provenance of a second run replaces the first", ok,
          str([p.value for p in props]))
    # dry-run writes nothing and gives the same plan
    rc, so, _ = run(["init", m, "--dry-run", "--json", "--rule", "name:W*=normal(std=3)",
                     "-o", d / "dry.onnx"])
    pj = {t["name"]: t for t in json.loads(so)["tensors"]} if rc == 0 else {}
    check("--dry-run writes nothing; bound null for an unbounded normal",
          rc == 0 and not (d / "dry.onnx").exists() and pj["W1"]["bound"] is None and
          pj["W1"]["std"] == 3)


# ---- main -----------------------------------------------------------------------------

def main():
    global ONNXINIT, WORK
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnxinit", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    ONNXINIT = os.path.abspath(a.onnxinit)
    WORK = Path(a.work).resolve()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    t0 = time.time()

    # self-test of the reference rounding
    xs = np.random.default_rng(1).normal(0, 1e3, 100000) * \
        np.exp(np.random.default_rng(2).uniform(-25, 25, 100000))
    check("reference rounding to float16 agrees with numpy",
          np.array_equal(round_to(xs[np.abs(xs) < 6e4], "float16"),
                         xs[np.abs(xs) < 6e4].astype(np.float16).astype(np.float64)))

    models = stats_models()
    conv = build_conv_model(WORK / "models" / "conv.onnx")
    rc, so, se = run(["inspect", models["bfloat16"], "--json"])
    roles = {t["name"]: (t["role"], t["fan_in"], t["fan_out"])
             for t in json.loads(so)["tensors"]} if rc == 0 else {}
    check("stats models: W1/W2 seen through Cast as dense weights with torch fans",
          roles.get("W1") == ("dense_weight", 256, 512) and
          roles.get("W2") == ("dense_weight", 512, 256), str(roles))

    check_statistics(models)
    check_exact(models)
    check_dirac(conv)
    check_sparse(models)
    check_orthogonal()
    check_repro(models)
    check_bad(models, conv)
    check_rules(models)
    outs = check_profiles()
    check_checker()
    if outs:
        check_ort(outs)
    print(f"# {time.time() - t0:.1f} s")
    print(f"schemes: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
