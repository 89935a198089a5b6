#!/bin/bash
# The command-line contract of onnxinit and its answer to bad input.
#
#   ONNXINIT=build/onnxinit SRCDIR=. bash tests/cli/run.sh
#
# ONNXINIT: the program (required). SRCDIR: the source tree (default: two
# folders up from this script). PYTHON: a python3 with python3-onnx (default
# /usr/bin/python3). Scratch files go to a mktemp folder under $TMPDIR, removed
# at the end unless KEEP_SCRATCH=1. Prints `ok - NAME` or `not ok - NAME: WHY`
# per case, `skip - NAME: WHY` for a case that cannot run here (no strace, no
# /dev/full), then `cli: N passed, M failed, K skipped`; exits 1 if any failed,
# or with REQUIRE_ALL=1 if any was skipped.
set -u

if [ -z "${ONNXINIT:-}" ]; then
	echo "run.sh: set ONNXINIT to the onnxinit program" >&2
	exit 2
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRCDIR=${SRCDIR:-$(cd "$HERE/../.." && pwd)}
PYTHON=${PYTHON:-/usr/bin/python3}
MODELS=$SRCDIR/models
CHECK=("$PYTHON" "$HERE/check.py")
# a hung run is a failed case, not a hung suite
RUN_TIMEOUT=${RUN_TIMEOUT:-60}

S=$(mktemp -d "${TMPDIR:-/tmp}/onnxinit-cli.XXXXXX") || exit 2
cleanup() { if [ "${KEEP_SCRATCH:-0}" = 1 ]; then echo "# scratch kept in $S"; else rm -rf "$S"; fi; }
trap cleanup EXIT
OUT=$S/stdout
ERR=$S/stderr

passed=0
failed=0
skipped=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1: $2"; failed=$((failed + 1)); }
# skip NAME WHY: neither passed nor failed; with REQUIRE_ALL=1 a failure
skip() {
	if [ "${REQUIRE_ALL:-0}" = 1 ]; then not_ok "$1" "cannot run here: $2"
	else echo "skip - $1: $2"; skipped=$((skipped + 1)); fi
}
# verdict NAME WHY: ok if WHY is empty
verdict() { if [ -z "$2" ]; then ok "$1"; else not_ok "$1" "$2"; fi; }

# run ARGS...: the program with ARGS; sets rc, stdout in $OUT, stderr in $ERR
run() {
	timeout -k 5 "$RUN_TIMEOUT" "$ONNXINIT" "$@" >"$OUT" 2>"$ERR" </dev/null
	rc=$?
}

first_err() { head -n 1 "$ERR" | cut -c1-200; }
n_lines() { local n; n=$(wc -l <"$1"); [ -s "$1" ] && [ -n "$(tail -c 1 "$1")" ] && n=$((n + 1)); echo "$n"; }
# temporaries a save leaves behind: .NAME.oi-XXXXXX
temps_in() { find "$1" -maxdepth 1 -name '.*.oi-*' 2>/dev/null | head -n 3 | tr '\n' ' '; }
crash_why() { [ "$rc" -ge 128 ] && [ "$rc" -ne 255 ] && echo "crashed (exit $rc, signal $((rc - 128)))"; [ "$rc" -eq 124 ] && echo "timed out"; }

# expect_usage NAME ARGS...: exit 2, first stderr line `onnxinit: `, stdout empty
expect_usage() {
	local name=$1 why=""
	shift
	run "$@"
	why=$(crash_why)
	if [ -n "$why" ]; then :
	elif [ "$rc" -ne 2 ]; then why="exit $rc, not 2 ($(first_err))"
	elif [ ! -s "$ERR" ]; then why="nothing on stderr"
	elif [[ "$(head -n 1 "$ERR")" != "onnxinit: "* ]]; then why="stderr starts '$(first_err)'"
	elif [ -s "$OUT" ]; then why="wrote to stdout: $(head -c 100 "$OUT")"
	fi
	verdict "usage/$name" "$why"
}

# failure_why INPUT [OUTDIR]: checks of a run that must fail with exit 1 and
# one line naming INPUT; OUTDIR (if given) must still be empty
failure_why() {
	local input=$1 outdir=${2:-} why
	why=$(crash_why)
	if [ -n "$why" ]; then echo "$why"; return; fi
	if [ "$rc" -ne 1 ]; then echo "exit $rc, not 1 ($(first_err))"; return; fi
	local n
	n=$(n_lines "$ERR")
	if [ "$n" -ne 1 ]; then echo "$n lines on stderr, not 1: $(head -c 300 "$ERR" | tr '\n' '|')"; return; fi
	if [[ "$(cat "$ERR")" != "onnxinit: "* ]]; then echo "stderr starts '$(first_err)'"; return; fi
	if ! grep -qF -- "$input" "$ERR"; then echo "stderr does not name $input: $(first_err)"; return; fi
	if [ -s "$OUT" ]; then echo "wrote to stdout: $(head -c 100 "$OUT" | tr '\n' ' ')"; return; fi
	if [ -n "$outdir" ] && [ -n "$(ls -A "$outdir")" ]; then
		echo "left in the output folder: $(ls -A "$outdir" | head -n 3 | tr '\n' ' ')"; return
	fi
}

# expect_bad NAME INPUT: `init INPUT -o DIR/out.onnx` and `inspect INPUT` both fail cleanly
expect_bad() {
	local name=$1 input=$2 od=$S/out/$1
	mkdir -p "$od"
	run init "$input" -o "$od/out.onnx" --scheme zeros
	verdict "bad/init/$name" "$(failure_why "$input" "$od")"
	cat "$ERR" >>"$S/bad-messages"
	if [[ "$name" == dangling_* ]]; then
		# inspect shows a model with a dangling input, with a warning
		for flag in "" --json; do
			run inspect $flag "$input"
			why=$(crash_why)
			[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
			[ -z "$why" ] && ! grep -q "warning" "$ERR" && why="no warning on stderr"
			verdict "bad/inspect$flag/$name" "$why"
		done
		return
	fi
	run inspect "$input"
	verdict "bad/inspect/$name" "$(failure_why "$input")"
	run inspect --json "$input"
	verdict "bad/inspect-json/$name" "$(failure_why "$input")"
}

check() { "${CHECK[@]}" "$@" 2>&1 | head -n 1; }

# table_why TABLE JSON [ROWS]: the `inspect` table against `inspect --json` of
# the same model: the title line, the header, one row per tensor in the same
# order with the same cells (GAIN to its 4 digits). ROWS, if given, holds
# "NAME SHAPE ROLE FAN_IN FAN_OUT ACTIVATION" per tensor, worked out by hand.
table_why() {
	"$PYTHON" - "$@" <<'EOF' 2>&1 | head -n 1
import json, sys
HEAD = ("NAME GRAPH SOURCE DTYPE SHAPE STORAGE ELEMENTS BYTES ROLE OP NODE FAN_IN FAN_OUT "
        "ACTIVATION GAIN").split()
KEYS = ("name graph source dtype shape storage numel bytes role op node fan_in fan_out "
        "activation").split()
def fail(why):
    print(why)
    sys.exit(1)
def cell(v):
    if v is None:
        return "-"
    if isinstance(v, list):
        return "[" + ",".join(str(x) for x in v) + "]"
    return str(v)
doc = json.load(open(sys.argv[2]))
lines = open(sys.argv[1]).read().splitlines()
tensors = doc["tensors"]
if len(lines) < 2:
    fail("%d lines" % len(lines))
title = "model %s: ir_version %d, " % (doc["model"], doc["ir_version"])
if not lines[0].startswith(title) or not lines[0].endswith(", %d tensors" % len(tensors)):
    fail("title %r" % lines[0])
if lines[1].split() != HEAD:
    fail("header %r" % lines[1])
rows = [dict(zip(HEAD, r.split())) for r in lines[2:]]
if len(rows) != len(tensors):
    fail("%d rows for %d tensors" % (len(rows), len(tensors)))
for r, raw, t in zip(rows, lines[2:], tensors):
    if len(raw.split()) != len(HEAD):
        fail("row %r has %d cells" % (raw, len(raw.split())))
    for col, key in zip(HEAD, KEYS):
        if r[col] != cell(t[key]):
            fail("%s: %s is %r, the JSON says %r" % (t["name"], col, r[col], cell(t[key])))
    g = t["gain"]
    if (r["GAIN"] == "-") != (g is None) or (g is not None and abs(float(r["GAIN"]) - g) > 5e-4 * g):
        fail("%s: GAIN is %r, the JSON says %r" % (t["name"], r["GAIN"], g))
if len(sys.argv) > 3:
    want = [l.split() for l in open(sys.argv[3]) if l.strip()]
    have = [[r[c] for c in ("NAME", "SHAPE", "ROLE", "FAN_IN", "FAN_OUT", "ACTIVATION")]
            for r in rows]
    for h, w in zip(have, want):
        if h != w:
            fail("row %s, expected %s" % (" ".join(h), " ".join(w)))
    if len(have) != len(want):
        fail("%d rows, expected %d" % (len(have), len(want)))
EOF
}

# ---------------------------------------------------------------------------
shopt -s nullglob
MODEL_FILES=("$MODELS"/*.onnx)
if [ ${#MODEL_FILES[@]} -eq 0 ]; then
	not_ok "setup" "no models in $MODELS"
fi
sha_models() { (cd "$MODELS" && sha256sum -- * | sort); }
sha_models >"$S/models.sha256.before"

# ---- help and version ------------------------------------------------------
for args in "--help" "--version" "init --help" "inspect --help"; do
	# shellcheck disable=SC2086
	run $args
	why=$(crash_why)
	[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc"
	[ -z "$why" ] && [ ! -s "$OUT" ] && why="nothing on stdout"
	[ -z "$why" ] && [ -s "$ERR" ] && why="wrote to stderr: $(first_err)"
	verdict "help/${args// /-}" "$why"
done
run --version
VERSION=$(awk 'NR == 1 { print $NF }' "$OUT")
verdict "help/version-format" "$( [[ "$(head -n 1 "$OUT")" =~ ^onnxinit\ [0-9]+\.[0-9]+\.[0-9]+ ]] || echo "'$(head -n 1 "$OUT")'")"

# ---- usage errors ----------------------------------------------------------
CNN=$MODELS/cnn.onnx
U=$S/usage
mkdir -p "$U"
cp "$CNN" "$U/cnn.onnx"
ln -s cnn.onnx "$U/alias.onnx"
ln "$U/cnn.onnx" "$U/hardlink.onnx"
sha_u=$(sha256sum <"$U/cnn.onnx")
expect_usage no-command
expect_usage unknown-command frobnicate "$CNN"
expect_usage unknown-option-init init "$CNN" -o "$U/o.onnx" --frobnicate
expect_usage unknown-option-inspect inspect --frobnicate "$CNN"
expect_usage unknown-short-option init "$CNN" -o "$U/o.onnx" -Z
expect_usage missing-model-init init -o "$U/o.onnx" --scheme zeros
expect_usage missing-model-inspect inspect
expect_usage missing-output init "$CNN" --scheme zeros
expect_usage output-and-in-place init "$U/cnn.onnx" -o "$U/o.onnx" --in-place --scheme zeros
expect_usage output-is-input init "$U/cnn.onnx" -o "$U/cnn.onnx" --scheme zeros
expect_usage output-is-input-respelled init "$U/cnn.onnx" -o "$U/./../usage/cnn.onnx" --scheme zeros
expect_usage output-is-input-symlink init "$U/cnn.onnx" -o "$U/alias.onnx" --scheme zeros
expect_usage output-is-input-hardlink init "$U/cnn.onnx" -o "$U/hardlink.onnx" --scheme zeros
expect_usage option-without-value init "$CNN" -o "$U/o.onnx" --scheme
for seed in abc -1 18446744073709551616 "" 1.5 12x " -1"; do
	expect_usage "bad-seed-'$seed'" init "$CNN" -o "$U/seed.onnx" --scheme zeros --seed "$seed"
	rm -f "$U/seed.onnx"
done
expect_usage unknown-scheme init "$CNN" -o "$U/o.onnx" --scheme no_such_scheme
expect_usage empty-scheme init "$CNN" -o "$U/o.onnx" --scheme ""
expect_usage two-models init "$CNN" "$CNN" -o "$U/o.onnx"
why=""
[ -e "$U/o.onnx" ] && why="a usage error wrote $U/o.onnx"
[ "$(sha256sum <"$U/cnn.onnx")" != "$sha_u" ] && why="a usage error changed the input"
[ -n "$(temps_in "$U")" ] && why="temporaries left: $(temps_in "$U")"
verdict "usage/wrote-nothing" "$why"

# ---- inspect --json --------------------------------------------------------
for m in "${MODEL_FILES[@]}"; do
	b=$(basename "$m" .onnx)
	run inspect --json "$m"
	why=$(crash_why)
	[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
	[ -z "$why" ] && why=$(check inspect-json "$OUT" "$m")
	[ -z "$why" ] && cp "$OUT" "$S/inspect-$b.json"
	verdict "inspect/json/$b" "$why"
	run inspect "$m"
	why=$(crash_why)
	[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
	[ -z "$why" ] && [ ! -s "$OUT" ] && why="nothing on stdout"
	[ -z "$why" ] && [ ! -f "$S/inspect-$b.json" ] && why="no JSON of it to compare with"
	[ -z "$why" ] && why=$(table_why "$OUT" "$S/inspect-$b.json")
	verdict "inspect/table/$b" "$why"
done
# the table of cnn.onnx, worked out by hand: a Conv weight (out, in/groups,
# kh, kw) has fan_in in/groups·9 and fan_out out·9, its bias carries them,
# BatchNorm's tensors have none; Relu follows both convolutions, nothing fc
cat >"$S/cnn-rows" <<'EOF'
conv1.weight      [8,3,3,3]   conv_weight   27  72   relu
conv1.bias        [8]         bias          27  72   relu
bn1.weight        [8]         norm_scale    -   -    relu
bn1.bias          [8]         norm_bias     -   -    relu
bn1.running_mean  [8]         norm_mean     -   -    relu
bn1.running_var   [8]         norm_var      -   -    relu
conv2.weight      [16,4,3,3]  conv_weight   36  144  relu
conv2.bias        [16]        bias          36  144  relu
fc.weight         [10,16]     dense_weight  16  10   none
fc.bias           [10]        bias          16  10   none
EOF
run inspect "$CNN"
why=$(crash_why)
[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
[ -z "$why" ] && [ ! -f "$S/inspect-cnn.json" ] && why="no JSON of it to compare with"
[ -z "$why" ] && why=$(table_why "$OUT" "$S/inspect-cnn.json" "$S/cnn-rows")
verdict "inspect/table/cnn-by-hand" "$why"
# across the examples: every storage, the sources, and a subgraph
why=$("$PYTHON" - "$S"/inspect-*.json <<'EOF' 2>&1 | head -n 1
import json, sys
st, so, dt, gr = set(), set(), set(), set()
for p in sys.argv[1:]:
    for t in json.load(open(p))["tensors"]:
        st.add(t["storage"]); so.add(t["source"]); dt.add(t["dtype"]); gr.add(t["graph"])
miss = ({"raw", "typed", "external"} - st) | ({"initializer", "constant_node"} - so) \
    | ({"float32", "float16"} - dt)
if miss:
    print("never reported: %s" % sorted(miss))
elif not any(g.startswith("main/") for g in gr):
    print("no subgraph path among %s" % sorted(gr))
EOF
)
verdict "inspect/json/kinds-across-models" "$why"

# ---- init --dry-run --------------------------------------------------------
D=$S/dry
mkdir -p "$D"
for m in "${MODEL_FILES[@]}"; do
	b=$(basename "$m" .onnx)
	run init "$m" -o "$D/$b.onnx" --scheme zeros --dry-run
	why=$(crash_why)
	[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
	[ -z "$why" ] && [ ! -s "$OUT" ] && why="printed no plan"
	[ -z "$why" ] && [ -n "$(ls -A "$D")" ] && why="wrote $(ls -A "$D" | tr '\n' ' ')"
	verdict "dry-run/writes-nothing/$b" "$why"
	run init "$m" -o "$D/$b.onnx" --scheme zeros --dry-run --json
	why=$(crash_why)
	[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
	[ -z "$why" ] && why=$(check plan-json "$OUT" "$m")
	[ -z "$why" ] && [ -n "$(ls -A "$D")" ] && why="wrote $(ls -A "$D" | tr '\n' ' ')"
	verdict "dry-run/json/$b" "$why"
done

# ---- keep --no-provenance is the identity -----------------------------------
for m in "${MODEL_FILES[@]}"; do
	b=$(basename "$m" .onnx)
	od=$S/keep/$b
	mkdir -p "$od"
	run init "$m" -o "$od/out.onnx" --scheme keep --no-provenance
	why=$(crash_why)
	[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
	[ -z "$why" ] && ! cmp -s "$m" "$od/out.onnx" && why="output differs from the input ($(cmp "$m" "$od/out.onnx" 2>&1 | head -n 1))"
	if [ -z "$why" ] && [ -e "$m.data" ]; then
		d=$(basename "$m").data
		if [ ! -e "$od/$d" ]; then why="no $d beside the output"
		elif ! cmp -s "$m.data" "$od/$d"; then why="$d differs from the input's"; fi
	fi
	[ -z "$why" ] && [ -n "$(temps_in "$od")" ] && why="temporaries left: $(temps_in "$od")"
	verdict "keep/identical/$b" "$why"
done

# ---- zeros and provenance ----------------------------------------------------
for m in "${MODEL_FILES[@]}"; do
	b=$(basename "$m" .onnx)
	od=$S/zeros/$b
	mkdir -p "$od/a" "$od/b" "$od/np"
	run init "$m" -o "$od/a/out.onnx" --scheme zeros --seed 7
	why=$(crash_why)
	[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
	[ -z "$why" ] && why=$(check zeroed "$od/a/out.onnx")
	verdict "zeros/valid-and-zero/$b" "$why"
	[ -z "$why" ] && why=$(check provenance "$od/a/out.onnx" "$VERSION" 7 zeros)
	verdict "zeros/provenance/$b" "$why"
	run init "$m" -o "$od/b/out.onnx" --scheme zeros --seed 7
	why=$(crash_why)
	[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
	[ -z "$why" ] && ! cmp -s "$od/a/out.onnx" "$od/b/out.onnx" && why="two runs with seed 7 differ"
	verdict "zeros/deterministic/$b" "$why"
	run init "$m" -o "$od/np/out.onnx" --scheme zeros --seed 7 --no-provenance
	why=$(crash_why)
	[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
	[ -z "$why" ] && why=$(check no-provenance "$od/np/out.onnx")
	[ -z "$why" ] && why=$(check zeroed "$od/np/out.onnx")
	verdict "zeros/no-provenance/$b" "$why"
done
od=$S/zeros/maxseed
mkdir -p "$od"
run init "$CNN" -o "$od/out.onnx" --scheme zeros --seed 18446744073709551615
why=$(crash_why)
[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
[ -z "$why" ] && why=$(check provenance "$od/out.onnx" "$VERSION" 18446744073709551615 zeros)
verdict "zeros/provenance/seed-2^64-1" "$why"
# N is decimal: 010 is ten, not octal eight
run init "$CNN" -o "$od/dec.onnx" --scheme zeros --seed 010
why=$(crash_why)
[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
[ -z "$why" ] && why=$(check provenance "$od/dec.onnx" "$VERSION" 10 zeros)
verdict "zeros/seed-is-decimal" "$why"
# a second pass replaces the entry instead of adding one
run init "$od/out.onnx" -o "$od/again.onnx" --scheme zeros --seed 9
why=$(crash_why)
[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
[ -z "$why" ] && why=$(check provenance "$od/again.onnx" "$VERSION" 9 zeros)
verdict "zeros/provenance/replaced-on-rerun" "$why"

# ---- --in-place ------------------------------------------------------------
IP=$S/inplace
mkdir -p "$IP/cnn" "$IP/ext"
cp "$CNN" "$IP/cnn/cnn.onnx"
ino=$(stat -c %i "$IP/cnn/cnn.onnx")
run init "$IP/cnn/cnn.onnx" --in-place --scheme zeros --seed 3
why=$(crash_why)
[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
[ -z "$why" ] && [ "$(stat -c %i "$IP/cnn/cnn.onnx")" = "$ino" ] && why="same inode: not replaced by rename"
[ -z "$why" ] && why=$(check zeroed "$IP/cnn/cnn.onnx")
[ -z "$why" ] && why=$(check provenance "$IP/cnn/cnn.onnx" "$VERSION" 3 zeros)
[ -z "$why" ] && [ -n "$(temps_in "$IP/cnn")" ] && why="temporaries left: $(temps_in "$IP/cnn")"
[ -z "$why" ] && [ "$(ls -A "$IP/cnn")" != cnn.onnx ] && why="extra files: $(ls -A "$IP/cnn" | tr '\n' ' ')"
verdict "in-place/cnn" "$why"
if [ -e "$MODELS/external.onnx" ]; then
	cp "$MODELS/external.onnx" "$MODELS/external.onnx.data" "$IP/ext/"
	ino=$(stat -c %i "$IP/ext/external.onnx")
	run init "$IP/ext/external.onnx" --in-place --scheme zeros
	why=$(crash_why)
	[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
	[ -z "$why" ] && [ "$(stat -c %i "$IP/ext/external.onnx")" = "$ino" ] && why="same inode: not replaced by rename"
	# the new data under a new name (the model's rename commits both), the
	# old file, named after the model, removed
	[ -z "$why" ] && [ -e "$IP/ext/external.onnx.data" ] && why="the old data file is still there"
	[ -z "$why" ] && [ "$(ls -A "$IP/ext" | wc -l)" -ne 2 ] && why="not the model and one data file: $(ls -A "$IP/ext" | tr '\n' ' ')"
	[ -z "$why" ] && why=$(check zeroed "$IP/ext/external.onnx")
	[ -z "$why" ] && [ -n "$(temps_in "$IP/ext")" ] && why="temporaries left: $(temps_in "$IP/ext")"
	verdict "in-place/external" "$why"

	# ---- external data goes beside the output
	od=$S/extout/deeper
	mkdir -p "$od"
	run init "$MODELS/external.onnx" -o "$od/renamed.onnx" --scheme zeros
	why=$(crash_why)
	[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
	[ -z "$why" ] && [ ! -f "$od/external.onnx.data" ] && why="no external.onnx.data beside the output: $(ls -A "$od" | tr '\n' ' ')"
	[ -z "$why" ] && why=$(check zeroed "$od/renamed.onnx")
	[ -z "$why" ] && [ -n "$(temps_in "$od")" ] && why="temporaries left: $(temps_in "$od")"
	verdict "external/data-beside-output" "$why"

	# writing beside the input: the output gets its own data file, named after
	# it, and the input's data file is left as it was
	C=$S/conflict
	mkdir -p "$C"
	cp "$MODELS/external.onnx" "$MODELS/external.onnx.data" "$C/"
	before=$(cd "$C" && sha256sum -- external.onnx external.onnx.data)
	run init "$C/external.onnx" -o "$C/other.onnx" --scheme zeros
	why=$(crash_why)
	[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
	[ -z "$why" ] && [ "$(cd "$C" && sha256sum -- external.onnx external.onnx.data)" != "$before" ] && why="the input's files changed"
	[ -z "$why" ] && [ ! -f "$C/other.onnx.data" ] && why="no other.onnx.data: $(ls -A "$C" | tr '\n' ' ')"
	[ -z "$why" ] && why=$(check zeroed "$C/other.onnx")
	[ -z "$why" ] && [ -n "$(temps_in "$C")" ] && why="temporaries left: $(temps_in "$C")"
	verdict "external/beside-input-gets-own-data" "$why"

	# -o naming the input's own data file, for every scheme
	for scheme in keep zeros; do
		C=$S/conflict-data-$scheme
		mkdir -p "$C"
		cp "$MODELS/external.onnx" "$MODELS/external.onnx.data" "$C/"
		before=$(cd "$C" && sha256sum -- *)
		run init "$C/external.onnx" -o "$C/external.onnx.data" --scheme "$scheme" --no-provenance
		why=$(crash_why)
		[ -z "$why" ] && [ "$(cd "$C" && sha256sum -- *)" != "$before" ] && why="exit $rc, and the input's external.onnx.data was overwritten"
		[ -z "$why" ] && [ "$rc" -ne 2 ] && why="exit $rc, not 2"
		[ -z "$why" ] && [[ "$(head -n 1 "$ERR")" != "onnxinit: "* ]] && why="stderr starts '$(first_err)'"
		[ -z "$why" ] && [ -n "$(temps_in "$C")" ] && why="temporaries left: $(temps_in "$C")"
		verdict "external/output-is-input-data/$scheme" "$why"
	done
else
	not_ok "in-place/external" "no $MODELS/external.onnx"
fi

# ---- output that cannot be written -------------------------------------------
run init "$CNN" -o "$S/no/such/dir/out.onnx" --scheme zeros
why=$(failure_why "$S/no/such/dir/out.onnx")
[ -z "$why" ] && [ -e "$S/no" ] && why="created $S/no"
verdict "output/dir-missing" "$why"
: >"$S/regular"
run init "$CNN" -o "$S/regular/out.onnx" --scheme zeros
verdict "output/parent-is-a-file" "$(failure_why "$S/regular/out.onnx")"
mkdir -p "$S/outdir-exists"
run init "$CNN" -o "$S/outdir-exists" --scheme zeros
why=$(failure_why "$S/outdir-exists" "$S/outdir-exists")
verdict "output/is-a-directory" "$why"

# ---- bad input -----------------------------------------------------------------
BAD=$S/bad
if ! "$PYTHON" "$HERE/make_bad.py" "$BAD" >"$S/bad.list" 2>"$S/bad.err"; then
	not_ok "bad/make_bad.py" "$(head -n 1 "$S/bad.err")"
fi
while read -r name; do
	expect_bad "$name" "$BAD/$name/model.onnx"
done <"$S/bad.list"
# two initializers on the same external bytes (tied weights) are valid
G=$BAD/good_tied_external
mkdir -p "$S/out/tied"
run init "$G/model.onnx" -o "$S/out/tied/out.onnx" --scheme zeros
why=$(crash_why)
[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
[ -z "$why" ] && why=$(check zeroed "$S/out/tied/out.onnx")
verdict "external/tied-weights" "$why"

# every example model cut at every tenth of its length
for m in "${MODEL_FILES[@]}"; do
	b=$(basename "$m")
	size=$(stat -c %s "$m")
	for p in 1 2 3 4 5 6 7 8 9; do
		d=$S/trunc/${b%.onnx}-${p}0pct
		mkdir -p "$d"
		head -c $((size * p / 10)) "$m" >"$d/$b"
		[ -e "$m.data" ] && cp "$m.data" "$d/"
		expect_bad "truncated/${b%.onnx}-${p}0pct" "$d/$b"
	done
done

# bit flips in the protobuf structure are covered by the fuzzer; here the files
X=$S/files
mkdir -p "$X/dir.onnx"
: >"$X/empty.onnx"
expect_bad empty-file "$X/empty.onnx"
truncate -s 2200M "$X/huge.onnx"
expect_bad past-2GiB "$X/huge.onnx"
rm -f "$X/huge.onnx"
expect_bad directory "$X/dir.onnx"
expect_bad nonexistent "$X/no-such-model.onnx"
ln -s no-such-target.onnx "$X/dangling.onnx"
expect_bad dangling-symlink "$X/dangling.onnx"
if [ -e /dev/null ]; then expect_bad device /dev/null; fi

# the messages say what went wrong once, legibly
why=""
if [ -s "$S/bad-messages" ]; then
	n=$(grep -cE '(.{12,}: )\1' "$S/bad-messages")
	[ "$n" -gt 0 ] && why="$n messages repeat themselves, e.g. '$(grep -m 1 -E '(.{12,}: )\1' "$S/bad-messages" | cut -c1-200)'"
	n=$(LC_ALL=C grep -c '[^[:print:]]' "$S/bad-messages")
	[ -z "$why" ] && [ "$n" -gt 0 ] && why="$n messages hold unprintable bytes"
fi
verdict "bad/messages-legible" "$why"

# ---- a full standard output ----------------------------------------------------
FT=$S/faults
mkdir -p "$FT"
# run_full ARGS...: as run, stdout /dev/full (writes fail: No space left on device)
run_full() {
	timeout -k 5 "$RUN_TIMEOUT" "$ONNXINIT" "$@" >/dev/full 2>"$ERR" </dev/null
	rc=$?
	: >"$OUT"
}
# full_why [TEXT]: exit 1 and one line saying that stdout could not be
# written (and TEXT)
full_why() {
	local why n
	why=$(crash_why)
	if [ -n "$why" ]; then echo "$why"; return; fi
	if [ "$rc" -ne 1 ]; then echo "exit $rc, not 1 ($(first_err))"; return; fi
	n=$(n_lines "$ERR")
	if [ "$n" -ne 1 ]; then echo "$n lines on stderr, not 1: $(head -c 300 "$ERR" | tr '\n' '|')"; return; fi
	if ! grep -q '^onnxinit: cannot write to standard output: No space left on device' "$ERR"; then
		echo "stderr: $(first_err)"; return
	fi
	if [ -n "${1:-}" ] && ! grep -qF -- "$1" "$ERR"; then echo "does not say '$1': $(first_err)"; fi
}
if [ -c /dev/full ]; then
	while read -r label args; do
		# shellcheck disable=SC2086
		run_full $args
		verdict "stdout-full/$label" "$(full_why)"
	done <<EOF
help --help
version --version
init-help init --help
inspect inspect $CNN
inspect-json inspect --json $CNN
dry-run init $CNN --dry-run
dry-run-json init $CNN --dry-run --json
EOF
	run_full init "$CNN" -o "$FT/written.onnx" --json
	why=$(full_why "(the model was written to $FT/written.onnx)")
	[ -z "$why" ] && why=$(check valid "$FT/written.onnx")
	verdict "stdout-full/init-json-says-the-model-was-written" "$why"
else
	skip "stdout-full" "no /dev/full"
fi

# ---- an input truncated by another program while it is mapped (SIGBUS) ------------
# The save's second write is held 3 s by strace; the input is cut meanwhile,
# so the next bytes read from its mapping are gone. A run that ended before
# the cut (a machine too busy to poll in 3 s) is tried again, up to 3 times.
if strace -f -qq -o /dev/null -e inject=write:delay_enter=1:when=1000 true 2>/dev/null &&
	"$PYTHON" "$SRCDIR/scripts/bench/make_big_model.py" "$FT/big.keep" --size-mib 16 --layers 8 >/dev/null 2>"$FT/big.err"; then
	for try in 1 2 3; do
		cp "$FT/big.keep" "$FT/big.onnx"
		rm -rf "$FT/bus"
		mkdir -p "$FT/bus"
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
			timeout -k 5 "$RUN_TIMEOUT" strace -f -qq -o /dev/null \
			-e inject=write:delay_enter=3000000:when=2 \
			"$ONNXINIT" init "$FT/big.onnx" -o "$FT/bus/out.onnx" --no-fsync >"$OUT" 2>"$ERR" </dev/null &
		pid=$!
		for ((t = 0; t < 200; t++)); do
			[ -n "$(temps_in "$FT/bus")" ] && break
			sleep 0.05
		done
		truncate -s 0 "$FT/big.onnx"
		wait "$pid"
		rc=$?
		sed -i '/^strace: /d' "$ERR" # strace's own complaints are not the program's
		[ "$rc" -ne 0 ] && break
	done
	why=$(failure_why "$FT/big.onnx" "$FT/bus")
	[ -z "$why" ] && ! grep -q 'truncated' "$ERR" && why="does not say it was truncated: $(first_err)"
	verdict "sigbus/init-input-truncated-while-mapped" "$why"
	rm -f "$FT/big.keep" "$FT/big.onnx"
else
	skip "sigbus/init-input-truncated-while-mapped" "no strace that can inject, or no big model ($(head -c 100 "$FT/big.err" 2>/dev/null))"
fi

# ---- a durable output is handed to writeback as it grows ---------------------------
# Each sync_file_range of the output starts where the last ended and ends
# at or before what has reached the file (never ahead of the bytes, never
# skipping any); --no-fsync asks for no writeback. The bytes are the same.
WB=$S/writeback
mkdir -p "$WB"
if strace -f -qq -o /dev/null -e trace=sync_file_range true 2>/dev/null &&
	"$PYTHON" "$SRCDIR/scripts/bench/make_big_model.py" "$WB/big.onnx" --size-mib 40 --layers 16 >/dev/null 2>"$WB/err"; then
	why=
	for mode in durable nofsync; do
		opt=(); [ "$mode" = nofsync ] && opt=(--no-fsync)
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
			timeout -k 5 "$RUN_TIMEOUT" strace -f -y -qq -o "$WB/trace.$mode" \
			-e trace=write,copy_file_range,sync_file_range \
			"$ONNXINIT" init "$WB/big.onnx" -o "$WB/out.$mode.onnx" --scheme kaiming_normal -q \
			"${opt[@]}" >"$OUT" 2>"$ERR" </dev/null || why="$mode: exit $?: $(first_err)"
		# the temporary's bytes so far, and the kicks: "kicks ok|<what is wrong>"
		r=$(awk '/\.out\.'"$mode"'\.onnx\.oi-/ {
			if ($0 ~ /sync_file_range\(/) {
				match($0, /sync_file_range\([0-9]+<[^>]*>, [0-9]+, [0-9]+/)
				split(substr($0, RSTART, RLENGTH), f, ", ")
				n++
				if (f[2] != next_off) { print "a kick starts at " f[2] " not " next_off; bad = 1; exit }
				if (f[2] + f[3] > tot) { print "a kick ends at " f[2] + f[3] ", past the " tot " bytes written"; bad = 1; exit }
				next_off = f[2] + f[3]
			} else if (match($0, /= [0-9]+$/)) {
				tot += substr($0, RSTART + 2)
			}
		} BEGIN { next_off = 0 } END { if (!bad) print n + 0 " kicks of " tot " bytes" }' "$WB/trace.$mode")
		case "$mode:$r" in
		durable:0\ kicks*) why="${why:+$why; }durable: no writeback asked for ($r)" ;;
		durable:*kicks*) ;;
		nofsync:0\ kicks*) ;;
		*) why="${why:+$why; }$mode: $r" ;;
		esac
	done
	[ -z "$why" ] && ! cmp -s "$WB/out.durable.onnx" "$WB/out.nofsync.onnx" && why="the bytes differ"
	verdict "writeback/durable-output-handed-to-writeback-as-written" "$why"
else
	skip "writeback/durable-output-handed-to-writeback-as-written" "no strace, or no big model ($(head -c 100 "$WB/err" 2>/dev/null))"
fi
rm -rf "$WB"

# ---- bytes that are not UTF-8 in names and paths; newlines in paths -----------------
# every model string (tensor, node, opset domain, warning) holds the bytes ff c3
NU=$S/not-utf8
mkdir -p "$NU"
"$PYTHON" "$HERE/make_bad.py" --odd "$NU/m"$'\xff'".onnx" $'\xff\xc3' 2>"$NU/err"
NUM=$NU/m$'\xff'.onnx
# nu_why JSON KIND: each name holds the bytes as the characters U+00FF U+00C3
nu_why() {
	"$PYTHON" - "$@" <<'EOF' 2>&1 | head -n 1
import json, sys
path, kind = sys.argv[1], sys.argv[2]
bad = "\u00ff\u00c3"
try:
    doc = json.loads(open(path, "rb").read().decode("utf-8"))
except ValueError as e:
    sys.exit(print("not JSON in UTF-8: %s" % e))
if not doc.get("model", "").endswith("/m\u00ff.onnx"):
    sys.exit(print("model is %r" % doc.get("model")))
names = [t.get("name") for t in doc["tensors"]]
if names != ["w" + bad, "b" + bad, "unused" + bad]:
    sys.exit(print("names %r" % names))
if doc["tensors"][0].get("node") != "gemm" + bad:
    sys.exit(print("node %r" % doc["tensors"][0].get("node")))
if "d" + bad not in doc["opset"]:
    sys.exit(print("opset %r" % doc["opset"]))
if not any("unused" + bad in w for w in doc["warnings"]):
    sys.exit(print("warnings %r" % doc["warnings"]))
if kind == "saved" and not doc.get("output", "").endswith("/out\u00ff.onnx"):
    sys.exit(print("output is %r" % doc.get("output")))
EOF
}
if [ -s "$NUM" ]; then
	run inspect --json "$NUM"
	why=$(crash_why)
	[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
	[ -z "$why" ] && why=$(nu_why "$OUT" inspect)
	verdict "not-utf8/inspect-json-keeps-every-name" "$why"
	run init "$NUM" --dry-run --json
	why=$(crash_why)
	[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
	[ -z "$why" ] && why=$(nu_why "$OUT" plan)
	verdict "not-utf8/dry-run-json-keeps-every-name" "$why"
	run init "$NUM" -o "$NU/out"$'\xff'".onnx" --json
	why=$(crash_why)
	[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
	[ -z "$why" ] && why=$(nu_why "$OUT" saved)
	verdict "not-utf8/init-json-keeps-every-name-and-the-output" "$why"
else
	not_ok "not-utf8/setup" "no model made: $(head -n 1 "$NU/err")"
fi

# one_line_why [N]: every stderr line a message of its own (N of them if given)
one_line_why() {
	local n bad
	n=$(n_lines "$ERR")
	bad=$(grep -a -v -e '^onnxinit: ' -e "^Try 'onnxinit" "$ERR" | head -n 1)
	if [ -n "$bad" ]; then echo "a line that is no message: '$bad' ($(head -c 300 "$ERR" | tr '\n' '|'))"
	elif [ -n "${1:-}" ] && [ "$n" -ne "$1" ]; then echo "$n lines, not $1: $(head -c 300 "$ERR" | tr '\n' '|')"
	fi
}
# one_line_case NAME CODE LINES ARGS...: onnxinit ARGS exits CODE with LINES messages
one_line_case() {
	local name=$1 code=$2 lines=$3 why
	shift 3
	run "$@"
	why=$(crash_why)
	[ -z "$why" ] && [ "$rc" -ne "$code" ] && why="exit $rc, not $code"
	[ -z "$why" ] && why=$(one_line_why "$lines")
	verdict "$name" "$why"
}
NL=$S/new$'\n'line
mkdir -p "$NL"
cp "$NUM" "$NL/warns.onnx" 2>/dev/null
one_line_case "newline-in-path/missing-model: one line" 1 1 \
	init "$NL/no-such.onnx" -o "$NL/out.onnx"
cp "$CNN" "$NL/cnn.onnx"
one_line_case "newline-in-path/output-is-input: one line and the hint" 2 2 \
	init "$NL/cnn.onnx" -o "$NL/cnn.onnx"
run inspect "$NL/warns.onnx"
why=$(crash_why)
[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
[ -z "$why" ] && ! grep -q 'warning' "$ERR" && why="no warning"
[ -z "$why" ] && why=$(one_line_why)
verdict "newline-in-path/warnings: one line each" "$why"
one_line_case "newline-in-path/output-folder-missing: one line" 1 1 \
	init "$CNN" -o "$NL/no/such/dir/out.onnx"

# ---- the save under faults: one rename commits a model with its data -----------
# LeakSanitizer cannot run under strace (ptrace): runs traced here check no leaks
UNTRACED_LEAKS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
# pair_why MODEL: the model loads with its external data, and its weights are
# what its provenance says (no provenance: the input's; zeros; ones), never a
# model of one save with the data of another
PAIR=$S/pair.py
cat >"$PAIR" <<'EOF'
import json, sys
import numpy as np
import onnx
from onnx import numpy_helper
path, orig = sys.argv[1], sys.argv[2]
try:
    m = onnx.load(path)
except Exception as e:  # noqa: BLE001
    sys.exit(print("does not load with its data: %s" % str(e).splitlines()[0][:150]))
prov = [json.loads(p.value) for p in m.metadata_props if p.key == "onnxinit"]
scheme = prov[0]["scheme"] if prov else None
want = {t.name: numpy_helper.to_array(t) for t in onnx.load(orig).graph.initializer}
for t in m.graph.initializer:
    a = numpy_helper.to_array(t)
    w = {None: want[t.name], "zeros": np.zeros_like(a), "ones": np.ones_like(a)}[scheme]
    if not np.array_equal(a, w):
        sys.exit(print("%s is not what its provenance (%s) says" % (t.name, scheme)))
EOF
pair_why() { "$PYTHON" "$PAIR" "$1" "$MODELS/external.onnx" 2>&1 | head -n 1; }
# files_sum DIR: every file's name and bytes, temporaries included
files_sum() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum); }
FS=$S/save-faults
mkdir -p "$FS"
if ! strace -f -qq -o /dev/null -e inject=write:delay_enter=1:when=1000 true 2>/dev/null; then
	skip "save-faults" "no strace that can inject faults"
elif [ ! -e "$MODELS/external.onnx" ]; then
	not_ok "save-faults" "no $MODELS/external.onnx"
else
	# --in-place killed at each of its renames: the model loads, with the data
	# it names, all old or all new; a rerun removes what the kill left
	for when in 1 2 3; do
		D=$FS/inplace-kill-$when
		mkdir -p "$D"
		cp "$MODELS/external.onnx" "$MODELS/external.onnx.data" "$D/"
		(ASAN_OPTIONS=$UNTRACED_LEAKS timeout -k 5 "$RUN_TIMEOUT" strace -f -qq -o /dev/null \
			-e inject=rename,renameat,renameat2:signal=SIGKILL:when=$when \
			"$ONNXINIT" init "$D/external.onnx" --in-place --scheme zeros >"$OUT" 2>"$ERR" </dev/null
		:) 2>/dev/null
		why=$(pair_why "$D/external.onnx")
		verdict "save/in-place-external-killed-at-rename-$when: a model with its own data" "$why"
	done
	D=$FS/inplace-kill-2
	run init "$D/external.onnx" --in-place --scheme zeros
	why=$(crash_why)
	[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
	[ -z "$why" ] && why=$(pair_why "$D/external.onnx")
	[ -z "$why" ] && [ -n "$(temps_in "$D")" ] && why="temporaries left: $(temps_in "$D")"
	verdict "save/in-place-external-rerun-after-kill" "$why"

	# twice --in-place: each time one data file, named after the model, the
	# previous one removed
	D=$FS/inplace-twice
	mkdir -p "$D"
	cp "$MODELS/external.onnx" "$MODELS/external.onnx.data" "$D/"
	why=""
	for scheme in zeros ones; do
		run init "$D/external.onnx" --in-place --scheme $scheme
		[ -z "$why" ] && why=$(crash_why)
		[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
		[ -z "$why" ] && why=$(pair_why "$D/external.onnx")
		[ -z "$why" ] && [ "$(ls -A "$D" | wc -l)" -ne 2 ] && why="after $scheme: $(ls -A "$D" | tr '\n' ' ')"
	done
	verdict "save/in-place-external-twice: the model and one data file" "$why"

	# two saves of one output at once, the first one's model rename (its
	# second) held until the second save has finished: the output is one
	# save's model with that save's data
	D=$FS/concurrent
	mkdir -p "$D"
	ASAN_OPTIONS=$UNTRACED_LEAKS timeout -k 5 "$RUN_TIMEOUT" strace -f -qq -o /dev/null \
		-e inject=rename,renameat,renameat2:delay_enter=2000000:when=2 \
		"$ONNXINIT" init "$MODELS/external.onnx" -o "$D/x.onnx" --scheme zeros >"$OUT" 2>"$ERR" </dev/null &
	pid=$!
	for ((t = 0; t < 100; t++)); do
		[ -n "$(find "$D" -maxdepth 1 -name '*.data' 2>/dev/null)" ] && break
		sleep 0.05
	done
	timeout -k 5 "$RUN_TIMEOUT" "$ONNXINIT" init "$MODELS/external.onnx" -o "$D/x.onnx" --scheme ones \
		>"$S/out2" 2>"$S/err2" </dev/null
	rc2=$?
	wait "$pid"
	rc=$?
	why=$(crash_why)
	[ -z "$why" ] && [ "$rc" -ne 0 ] && why="the first exit $rc ($(first_err))"
	[ -z "$why" ] && [ "$rc2" -ne 0 ] && why="the second exit $rc2 ($(head -n 1 "$S/err2"))"
	[ -z "$why" ] && why=$(pair_why "$D/x.onnx")
	[ -z "$why" ] && [ -n "$(temps_in "$D")" ] && why="temporaries left: $(temps_in "$D")"
	verdict "save/two-saves-of-one-output-at-once: one save's model with its data" "$why"

	# the same, the first save held after its rename, at the removal of the
	# data file of the model it replaced (x.onnx.data; external.onnx.data is
	# another model's): the second must not take that name meanwhile
	D=$FS/concurrent-removal
	mkdir -p "$D"
	echo "another model's" >"$D/external.onnx.data"
	run init "$MODELS/external.onnx" -o "$D/x.onnx" --scheme zeros
	ASAN_OPTIONS=$UNTRACED_LEAKS timeout -k 5 "$RUN_TIMEOUT" strace -f -qq -o /dev/null \
		-e inject=unlink:delay_enter=2000000:when=1 \
		"$ONNXINIT" init "$MODELS/external.onnx" -o "$D/x.onnx" --scheme ones >"$OUT" 2>"$ERR" </dev/null &
	pid=$!
	for ((t = 0; t < 100; t++)); do
		[ -n "$(find "$D" -maxdepth 1 -name 'x.onnx.*.data' 2>/dev/null)" ] && break
		sleep 0.05
	done
	sleep 0.3
	timeout -k 5 "$RUN_TIMEOUT" "$ONNXINIT" init "$MODELS/external.onnx" -o "$D/x.onnx" --scheme zeros \
		>"$S/out2" 2>"$S/err2" </dev/null
	rc2=$?
	wait "$pid"
	rc=$?
	why=$(crash_why)
	[ -z "$why" ] && [ "$rc" -ne 0 ] && why="the held save: exit $rc ($(first_err))"
	[ -z "$why" ] && [ "$rc2" -ne 0 ] && why="the other: exit $rc2 ($(head -n 1 "$S/err2"))"
	[ -z "$why" ] && why=$(pair_why "$D/x.onnx")
	[ -z "$why" ] && [ "$(cat "$D/external.onnx.data")" != "another model's" ] && why="external.onnx.data was replaced"
	verdict "save/a-save-removing-replaced-data-is-still-running: the output keeps its data" "$why"

	# -o named like one of its own data files: refused before anything is written
	D=$FS/named-like-data
	mkdir -p "$D"
	run init "$MODELS/external.onnx" -o "$D/external.onnx.data" --scheme zeros
	why=$(crash_why)
	[ -z "$why" ] && [ "$rc" -ne 2 ] && why="exit $rc, not 2 ($(first_err))"
	[ -z "$why" ] && [ -n "$(ls -A "$D")" ] && why="wrote: $(ls -A "$D" | tr '\n' ' ')"
	[ -z "$why" ] && why=$(one_line_why 1)
	verdict "save/output-named-like-its-data-file: exit 2, nothing written" "$why"

	# a failed save writes nothing: the output is a folder, beside files
	# named like the data
	D=$FS/failed
	mkdir -p "$D/out.onnx"
	echo precious >"$D/external.onnx.data"
	echo precious >"$D/out.onnx.data"
	echo inside >"$D/out.onnx/external.onnx.data"
	before=$(files_sum "$D")
	run init "$MODELS/external.onnx" -o "$D/out.onnx" --scheme zeros
	why=$(failure_why "$D/out.onnx")
	[ -z "$why" ] && [ "$(files_sum "$D")" != "$before" ] && why="the folder changed: $(ls -A "$D" | tr '\n' ' ')"
	verdict "save/output-is-a-folder: nothing written" "$why"
	# the model's rename fails (every rename after the first)
	rm -rf "$D/out.onnx"
	echo precious >"$D/external.onnx.data"
	before=$(files_sum "$D")
	ASAN_OPTIONS=$UNTRACED_LEAKS timeout -k 5 "$RUN_TIMEOUT" strace -f -qq -o /dev/null \
		-e inject=rename,renameat,renameat2:error=EIO:when=2+ \
		"$ONNXINIT" init "$MODELS/external.onnx" -o "$D/out.onnx" --scheme zeros >"$OUT" 2>"$ERR" </dev/null
	rc=$?
	sed -i '/^strace: /d' "$ERR"
	why=$(failure_why "$D/out.onnx")
	[ -z "$why" ] && [ "$(files_sum "$D")" != "$before" ] && why="the folder changed: $(ls -A "$D" | tr '\n' ' ')"
	verdict "save/model-rename-fails: nothing written" "$why"
fi

# ---- FIFOs are refused, not waited on ----------------------------------------------
FF=$S/fifo
mkdir -p "$FF/model" "$FF/data"
mkfifo "$FF/model/m.onnx"
cp "$MODELS/external.onnx" "$FF/data/"
mkfifo "$FF/data/external.onnx.data"
for args in "inspect $FF/model/m.onnx" "init $FF/model/m.onnx -o $FF/out.onnx" \
	"inspect $FF/data/external.onnx" "init $FF/data/external.onnx -o $FF/out.onnx"; do
	# shellcheck disable=SC2086
	RUN_TIMEOUT=10 run $args
	why=$(crash_why)
	[ -z "$why" ] && [ "$rc" -ne 1 ] && why="exit $rc, not 1 ($(first_err))"
	[ -z "$why" ] && why=$(one_line_why 1)
	[ -z "$why" ] && ! grep -q 'regular file' "$ERR" && why="does not say it is no regular file: $(first_err)"
	[ -z "$why" ] && [ -e "$FF/out.onnx" ] && why="wrote $FF/out.onnx"
	name=${args%% *}-${args#* }
	name=${name%% -o*}
	verdict "fifo/${name//\//_}: refused, exit 1" "$why"
done

# ---- stale temporaries: a save removes those of its output whose writer is gone --
ST=$S/stale
mkdir -p "$ST"
if strace -f -qq -o /dev/null -e inject=write:delay_enter=1:when=1000 true 2>/dev/null; then
	for model in cnn external; do
		D=$ST/$model
		mkdir -p "$D"
		# killed (kill -9) at its first fsync: its temporaries stay
		(ASAN_OPTIONS=$UNTRACED_LEAKS timeout -k 5 "$RUN_TIMEOUT" strace -f -qq -o /dev/null \
			-e inject=fsync:signal=SIGKILL:when=1 \
			"$ONNXINIT" init "$MODELS/$model.onnx" -o "$D/out.onnx" >"$OUT" 2>"$ERR" </dev/null
		:) 2>/dev/null
		stale=$(temps_in "$D")
		# another save of the output, held at its first fsync, is running
		ASAN_OPTIONS=$UNTRACED_LEAKS timeout -k 5 "$RUN_TIMEOUT" strace -f -qq -o /dev/null \
			-e inject=fsync:delay_enter=3000000:when=1 \
			"$ONNXINIT" init "$MODELS/$model.onnx" -o "$D/out.onnx" >"$S/out2" 2>"$S/err2" </dev/null &
		pid=$!
		live=""
		for ((t = 0; t < 100; t++)); do
			live=$(find "$D" -maxdepth 1 -name '.*.oi-*' | grep -v -F -x -f <(tr ' ' '\n' <<<"$stale" | grep .) | head -n 1)
			[ -n "$live" ] && break
			sleep 0.05
		done
		run init "$MODELS/$model.onnx" -o "$D/out.onnx"
		why=$(crash_why)
		[ -z "$why" ] && [ -z "$stale" ] && why="the killed save left no temporary to test with"
		[ -z "$why" ] && [ -z "$live" ] && why="the held save made no temporary in time"
		[ -z "$why" ] && [ "$rc" -ne 0 ] && why="exit $rc ($(first_err))"
		for f in $stale; do [ -z "$why" ] && [ -e "$f" ] && why="stale $f is still there"; done
		[ -z "$why" ] && [ ! -e "$live" ] && why="the running save's $live was removed"
		wait "$pid"
		rc2=$?
		[ -z "$why" ] && [ "$rc2" -ne 0 ] && why="the held save: exit $rc2 ($(head -n 1 "$S/err2"))"
		[ -z "$why" ] && [ -n "$(temps_in "$D")" ] && why="temporaries left at the end: $(temps_in "$D")"
		[ -z "$why" ] && why=$(check valid "$D/out.onnx")
		verdict "stale-temporaries/$model: removed by a rerun, a running save's kept" "$why"
	done
else
	skip "stale-temporaries" "no strace that can inject faults"
fi

# ---- an input that changes size while it is read -------------------------------------
# --scheme keep: the whole model is one kernel copy, held 3 s by strace while
# the input is cut; then a model that grows while its temporary is synced
CH=$S/changed
mkdir -p "$CH"
if strace -f -qq -o /dev/null -e inject=write:delay_enter=1:when=1000 true 2>/dev/null &&
	"$PYTHON" "$SRCDIR/scripts/bench/make_big_model.py" "$CH/big.keep" --size-mib 4 --layers 4 >/dev/null 2>"$CH/big.err"; then
	# held_run SYSCALL ACTION: the save of $CH/big.onnx to $CH/out, SYSCALL held
	# 3 s; ACTION runs once its temporary is there
	held_run() {
		cp "$CH/big.keep" "$CH/big.onnx"
		rm -rf "$CH/out"
		mkdir -p "$CH/out"
		ASAN_OPTIONS=$UNTRACED_LEAKS timeout -k 5 "$RUN_TIMEOUT" strace -f -qq -o /dev/null \
			-e inject="$1":delay_enter=3000000:when=1 \
			"$ONNXINIT" init "$CH/big.onnx" -o "$CH/out/out.onnx" --scheme keep --no-provenance \
			>"$OUT" 2>"$ERR" </dev/null &
		local pid=$! t
		for ((t = 0; t < 200; t++)); do
			[ -n "$(temps_in "$CH/out")" ] && break
			sleep 0.05
		done
		eval "$2"
		wait "$pid"
		rc=$?
		sed -i '/^strace: /d' "$ERR"
	}
	held_run copy_file_range 'truncate -s 1M "$CH/big.onnx"'
	why=$(failure_why "$CH/big.onnx" "$CH/out")
	[ -z "$why" ] && ! grep -q 'shrank' "$ERR" && why="does not say it shrank: $(first_err)"
	verdict "changed/input-cut-during-a-kernel-copy: it shrank, exit 1" "$why"
	held_run fsync 'head -c 4096 /dev/zero >>"$CH/big.onnx"'
	why=$(failure_why "$CH/big.onnx" "$CH/out")
	[ -z "$why" ] && ! grep -q 'changed size' "$ERR" && why="does not say it changed size: $(first_err)"
	verdict "changed/input-grown-before-the-rename: exit 1" "$why"
	rm -f "$CH/big.keep" "$CH/big.onnx"
else
	skip "changed" "no strace that can inject, or no big model ($(head -c 100 "$CH/big.err" 2>/dev/null))"
fi

# ---- the inputs were never touched ---------------------------------------------
sha_models >"$S/models.sha256.after"
why=""
cmp -s "$S/models.sha256.before" "$S/models.sha256.after" ||
	why="changed: $(diff "$S/models.sha256.before" "$S/models.sha256.after" | grep '^>' | head -n 3 | tr '\n' ' ')"
verdict "inputs-unchanged" "$why"
why=$(temps_in "$MODELS")
verdict "no-temporaries-in-models" "${why:+left: $why}"

echo "cli: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
