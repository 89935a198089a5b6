"""The case runner of the Python suites that drive the onnxinit program
(tests/residual, tests/untie): cases registered with @case, run one after
another, each an `ok` or a one-line `FAIL`, and the helpers that run
onnxinit and read what it wrote.  A suite sets ARGS through main()."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import traceback

ARGS = None
CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def oi(*args, code=0, timeout=600):
    """Run onnxinit; returns (stdout, stderr).  Fails unless it exits with `code`."""
    p = subprocess.run([ARGS.onnxinit, *args], capture_output=True, text=True, timeout=timeout)
    if p.returncode != code:
        raise AssertionError("onnxinit %s exited %d (wanted %d): %s"
                             % (" ".join(args), p.returncode, code, p.stderr.strip()))
    return p.stdout, p.stderr


def plan(model, *opts):
    """The --dry-run --json report of init MODEL OPTS, and stderr."""
    out, err = oi("init", model, "--dry-run", "--json", *opts)
    return json.loads(out), err


def init(model, out, *opts):
    """init MODEL -o OUT --no-fsync OPTS; its stderr."""
    _, err = oi("init", model, "-o", out, "--no-fsync", *opts)
    return err


def work(name):
    return os.path.join(ARGS.work, name)


def provenance(model):
    """The onnxinit entry of a loaded model's metadata_props, parsed; None if none."""
    for p in model.metadata_props:
        if p.key == "onnxinit":
            return json.loads(p.value)
    return None


def check(cond, msg, *a):
    if not cond:
        raise AssertionError(msg % a if a else msg)


def main(suite, node=False, setup=None):
    """Parse --onnxinit, --work (emptied), --only, -v (and --node if node), run
    setup() then the cases; the exit status."""
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnxinit", required=True)
    ap.add_argument("--work", required=True)
    if node:
        ap.add_argument("--node", help="node, to run the outputs through ONNX Runtime")
    ap.add_argument("--only")
    ap.add_argument("-v", action="store_true")
    ARGS = ap.parse_args()
    ARGS.work = os.path.abspath(ARGS.work)
    shutil.rmtree(ARGS.work, ignore_errors=True)
    os.makedirs(ARGS.work)
    if setup:
        setup()
    only = set(ARGS.only.split(",")) if ARGS.only else None
    passed = failed = 0
    for fn in CASES:
        if only and fn.__name__ not in only:
            continue
        try:
            fn()
            print("ok   %s" % fn.__name__)
            passed += 1
        except Exception as e:  # noqa: BLE001 - one line per failing case
            print("FAIL %s: %s" % (fn.__name__, str(e).replace("\n", " ")))
            if ARGS.v:
                traceback.print_exc()
            failed += 1
        sys.stdout.flush()
    print("%s: %d passed, %d failed" % (suite, passed, failed))
    return 1 if failed else 0
