#!/bin/bash
# `onnxinit batch`: discovery, mirroring, determinism, shards,
# the manifest, bad input and faults (unreadable folders, a full disk, signals),
# --in-place, --dry-run, progress and the onnxinit.json rules precedence.
#
#   ONNXINIT=build/onnxinit SRCDIR=. bash tests/batch/run.sh
#
# ONNXINIT: the program (required). SRCDIR: the source tree (default: two
# folders up from this script). PYTHON: a python3 with python3-onnx and numpy
# (default /usr/bin/python3). Scratch goes to a mktemp folder under $TMPDIR,
# removed at the end unless KEEP_SCRATCH=1. As root, tmpfs mounts are used for
# the full-disk and signal cases (else `ulimit -f` and the scratch disk), and the
# unreadable-folder case runs the program as user nobody.
# Prints `ok - NAME`, `not ok - NAME: WHY` or `skip - NAME: WHY` (a case that
# cannot run here: root without a way to become nobody) per case, then
# `batch: N passed, M failed, K skipped`; exits 1 if any failed, or with
# REQUIRE_ALL=1 if any was skipped.
set -u

if [ -z "${ONNXINIT:-}" ]; then
	echo "run.sh: set ONNXINIT to the onnxinit program" >&2
	exit 2
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRCDIR=${SRCDIR:-$(cd "$HERE/../.." && pwd)}
PYTHON=${PYTHON:-/usr/bin/python3}
MODELS=$SRCDIR/models
RUN_TIMEOUT=${RUN_TIMEOUT:-60}
export LC_ALL=C

S=$(mktemp -d "${TMPDIR:-/tmp}/onnxinit-batch.XXXXXX") || exit 2
S=$(cd "$S" && pwd -P)
cd "$S" || exit 2 # every path below is absolute; anything stray lands here
MOUNTS=()
cleanup() {
	local m
	for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
	chmod -R u+rwX "$S" 2>/dev/null
	if [ "${KEEP_SCRATCH:-0}" = 1 ]; then echo "# scratch kept in $S"; else rm -rf "$S"; fi
}
trap cleanup EXIT
OUT=$S/stdout
ERR=$S/stderr

passed=0
failed=0
skipped=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1: $2"; failed=$((failed + 1)); }
# skip NAME WHY: a case that cannot run here; neither passed nor failed, but
# counted and, with REQUIRE_ALL=1, a failure
skip() {
	if [ "${REQUIRE_ALL:-0}" = 1 ]; then not_ok "$1" "cannot run here: $2"
	else echo "skip - $1: $2"; skipped=$((skipped + 1)); fi
}
# verdict NAME: ok if $why is empty
verdict() { if [ -z "$why" ]; then ok "$1"; else not_ok "$1" "$why"; fi; why=""; }
# w WHY...: the first reason a case fails
w() { [ -n "$why" ] || why="$*"; }
why=""

# run ARGS...: the program; rc, stdout in $OUT, stderr in $ERR
run() {
	timeout -k 5 "$RUN_TIMEOUT" "$ONNXINIT" "$@" >"$OUT" 2>"$ERR" </dev/null
	rc=$?
}
first_err() { grep -v 'warning:' "$ERR" | head -n 1 | tr '\r' ' ' | cut -c1-160; }
# expect_rc N: a reason when rc is not N
expect_rc() {
	if [ "$rc" -ne "$1" ]; then
		if [ "$rc" -eq 124 ]; then w "timed out"
		elif [ "$rc" -ge 128 ]; then w "crashed (exit $rc)"
		else w "exit $rc, not $1 ($(first_err))"; fi
	fi
}
# chk ARGS...: check.py; its complaints on one line (empty: all is well)
chk() { "$PYTHON" "$HERE/check.py" "$@" 2>&1 | head -n 3 | tr '\n' ';' | sed 's/;$//' | cut -c1-400; }
# the models below DIR, relative, sorted as the program sorts them
models_in() { (cd "$1" 2>/dev/null && find . -type f -name '*.onnx' ! -name '.*' | sed 's|^\./||' | sort); }
files_in() { (cd "$1" 2>/dev/null && find . -type f | sed 's|^\./||' | sort); }
# temporaries a save leaves behind: .NAME.oi-XXXXXX
temps_in() { find "$1" -name '.*.oi-*' 2>/dev/null | head -n 3 | tr '\n' ' '; }
sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum); }
summary_re='^onnxinit: batch: [0-9]+ ok, [0-9]+ failed, [0-9]+ skipped'
same_tree() { diff -r "$1" "$2" >/dev/null 2>&1 || w "$3 differs from $(basename "$1") ($(diff -rq "$1" "$2" 2>&1 | head -n 2 | tr '\n' ' '))"; }

if ! "$PYTHON" -c 'import onnx, numpy' 2>/dev/null; then
	echo "run.sh: $PYTHON has no onnx/numpy" >&2
	exit 2
fi
# py: check.py, for setup
py() { "$PYTHON" "$HERE/check.py" "$@"; }

# odd_model PATH MARK: a Gemm model whose tensors (w, b and unused, which no
# node reads: a warning), node and opset domain have MARK (bytes) in their names
odd_model() {
	"$PYTHON" "$HERE/../cli/make_bad.py" --odd "$1" "$2"
}

# ---- the main tree --------------------------------------------------------
T=$S/t
mkdir -p "$T/a/b" "$T/x" "$T/c/d/e" "$T/g"
cp "$MODELS/cnn.onnx" "$MODELS/mlp.onnx" "$T/"
cp "$MODELS/lstm.onnx" "$MODELS/typed.onnx" "$T/a/"
cp "$MODELS/fp16.onnx" "$MODELS/if_const.onnx" "$MODELS/mlp.onnx" "$T/a/b/"
cp "$MODELS/external.onnx" "$MODELS/external.onnx.data" "$T/x/"
cp "$MODELS/cnn.onnx" "$T/c/d/e/"
py gen "$T/g/gemm.onnx" 4096 || exit 2
echo notes >"$T/notes.txt"
echo readme >"$T/a/b/README"
ln -s .. "$T/a/loop"
ALL=$(models_in "$T")
NALL=$(echo "$ALL" | wc -l)
mapfile -t RELS <<<"$ALL"
mapfile -t ALL_OK < <(echo "$ALL" | sed 's/$/=ok/')
SUMS_T=$(sums "$T")

# ---- 1. mirror ------------------------------------------------------------
run batch "$T" -o "$S/ref" --manifest "$S/ref.jsonl"
expect_rc 0
[ "$(models_in "$S/ref")" = "$ALL" ] || w "outputs $(models_in "$S/ref" | tr '\n' ' ') != inputs"
[ -e "$S/ref/a/loop" ] && w "the symlink loop was followed into the output"
verdict "mirror: the output tree has the inputs' relative paths ($NALL models)"

grep -q 'loop' "$ERR" || w "no warning about the symlink loop"
[ -z "$(find "$S/ref" -path '*loop*')" ] || w "loop/ in the output"
verdict "mirror: a symlink loop is not followed"

[ -f "$S/ref/x/external.onnx.data" ] || w "no x/external.onnx.data beside the output"
[ -e "$S/ref/external.onnx.data" ] && w "external data landed in OUTDIR's root"
[ -e "$S/ref/x/external.onnx.data.onnx" ] && w "the data file was taken for a model"
cmp -s "$T/x/external.onnx.data" "$S/ref/x/external.onnx.data" && w "the output's external data equals the input's"
grep -q 'external.onnx.data' "$S/ref.jsonl" && w "the data file is in the manifest"
verdict "mirror: external data beside its model, not a model itself"

r=$(chk valid "$S/ref"); [ -n "$r" ] && w "$r"
verdict "mirror: every output passes onnx.checker"

r=$(chk differ "$T" "$S/ref" "${RELS[@]}"); [ -n "$r" ] && w "$r"
verdict "mirror: every output's weights differ from its input's (scheme auto)"

[ "$(sums "$T")" = "$SUMS_T" ] || w "the input tree changed"
verdict "mirror: inputs untouched (sha256 before/after)"

run batch "$T/a/b/mlp.onnx" -o "$S/fa"
expect_rc 0
[ "$(files_in "$S/fa")" = "mlp.onnx" ] || w "outputs: $(files_in "$S/fa" | tr '\n' ' ')"
cmp -s "$S/fa/mlp.onnx" "$S/ref/mlp.onnx" || w "OUTDIR/mlp.onnx differs from the tree run's mlp.onnx (same relative path, same seed)"
verdict "mirror: a file argument lands at OUTDIR/basename"

# ---- 2. determinism -------------------------------------------------------
for j in 1 2 4; do
	run batch "$T" -o "$S/j$j" -j "$j" -q
	expect_rc 0
	same_tree "$S/ref" "$S/j$j" "-j $j"
done
verdict "determinism: the same bytes with -j 1, 2, 4"

run batch "$T" -o "$S/th1" -j 1 --threads 1 -q
expect_rc 0
same_tree "$S/ref" "$S/th1" "--threads 1"
run batch "$T" -o "$S/th4" -j 1 --threads 4 -q
expect_rc 0
same_tree "$S/ref" "$S/th4" "--threads 4"
verdict "determinism: --threads 1, 4 and default give the same bytes"

run batch "$T" -o "$S/s7" --seed 7 -q
expect_rc 0
for r in "${RELS[@]}"; do cmp -s "$S/ref/$r" "$S/s7/$r" && w "$r: the same bytes with --seed 7 as with 0"; done
verdict "determinism: another --seed gives other bytes"

cmp -s "$T/mlp.onnx" "$T/a/b/mlp.onnx" || w "setup: the inputs differ"
r=$(chk same-weights "$S/ref/mlp.onnx" "$S/ref/a/b/mlp.onnx")
[ -z "$r" ] && w "mlp.onnx and a/b/mlp.onnx got the same weights"
r=$(chk same-weights "$S/ref/cnn.onnx" "$S/ref/c/d/e/cnn.onnx")
[ -z "$r" ] && w "cnn.onnx and c/d/e/cnn.onnx got the same weights"
verdict "determinism: the same model at two relative paths gets different weights"

mkdir -p "$S/else/where/deep"
cp -a "$T" "$S/else/where/deep/t2"
run batch "$S/else/where/deep/t2" -o "$S/loc" -q
expect_rc 0
same_tree "$S/ref" "$S/loc" "the tree copied elsewhere"
(cd "$S/else" && timeout 60 "$ONNXINIT" batch where/deep/t2/ -o ../loc2 -q </dev/null >/dev/null 2>&1)
rc=$?
expect_rc 0
same_tree "$S/ref" "$S/loc2" "a relative root with a trailing slash"
verdict "determinism: bytes do not depend on the root's location"

# ---- 3. shards ------------------------------------------------------------
# slice N K: the models a shard K/N should get
slice() { echo "$ALL" | awk -v n="$1" -v k="$2" '(NR - 1) % n == k - 1'; }
# shards N: every shard into its own OUTDIR, then merged; and all into one OUTDIR
shards() {
	local n=$1 k got union=""
	rm -rf "$S/one$n" "$S/merged$n"
	mkdir -p "$S/merged$n"
	for ((k = 1; k <= n; k++)); do
		run batch "$T" -o "$S/sh$n-$k" --shard "$k/$n" --manifest "$S/sh$n-$k.jsonl" -q
		expect_rc 0
		got=$(models_in "$S/sh$n-$k")
		[ "$got" = "$(slice "$n" "$k")" ] || w "shard $k/$n got [$(echo "$got" | tr '\n' ' ')], expected [$(slice "$n" "$k" | tr '\n' ' ')]"
		union+="$got"$'\n'
		cp -a "$S/sh$n-$k/." "$S/merged$n/"
		run batch "$T" -o "$S/one$n" --shard "$k/$n" -q
		expect_rc 0
	done
	local dups
	dups=$(echo "$union" | sed '/^$/d' | sort | uniq -d)
	[ -z "$dups" ] || w "in two shards: $(echo $dups)"
	[ "$(echo "$union" | sed '/^$/d' | sort)" = "$ALL" ] || w "the shards do not cover every model"
	same_tree "$S/ref" "$S/merged$n" "$n shards merged"
	same_tree "$S/ref" "$S/one$n" "$n shards into one OUTDIR"
}
shards 4
verdict "shard: 4 shards are disjoint, cover all, union == single run"
shards 3
verdict "shard: 3 shards are disjoint, cover all, union == single run"

empty=0
for ((k = 1; k <= 20; k++)); do
	run batch "$T" -o "$S/one20" --shard "$k/20" -q
	expect_rc 0
	[ -z "$(slice 20 "$k")" ] && empty=$((empty + 1))
done
[ "$empty" -gt 0 ] || w "setup: no empty shard"
same_tree "$S/ref" "$S/one20" "20 shards into one OUTDIR"
run batch "$T" -o "$S/empty" --shard 20/20 --manifest "$S/empty.jsonl"
expect_rc 0
[ -z "$(files_in "$S/empty")" ] || w "an empty shard wrote $(files_in "$S/empty" | head -n 2)"
[ -s "$S/empty.jsonl" ] && w "an empty shard's manifest is not empty"
verdict "shard: more shards than models ($empty empty shards exit 0)"

mapfile -t exp < <(slice 4 2 | sed 's/$/=ok/')
r=$(chk manifest "$S/sh4-2.jsonl" 0 "$S/sh4-2" "${exp[@]}")
[ -n "$r" ] && w "$r"
verdict "shard: manifest seeds follow the relative path, not the index"

# two inputs that map to one output: refused by the full run; a shard that
# holds only one of them cannot see the clash, and the merge has two writers
mkdir -p "$S/col/d1" "$S/col/d2"
cp "$MODELS/mlp.onnx" "$S/col/d1/m.onnx"
cp "$MODELS/cnn.onnx" "$S/col/d2/m.onnx"
run batch "$S/col/d1/m.onnx" "$S/col/d2/m.onnx" -o "$S/col/o"
expect_rc 2
[ -n "$(files_in "$S/col/o")" ] && w "the full run wrote $(files_in "$S/col/o")"
for k in 1 2; do
	run batch "$S/col/d1/m.onnx" "$S/col/d2/m.onnx" -o "$S/col/o$k" --shard "$k/2"
	[ "$rc" -eq 2 ] || w "--shard $k/2: exit $rc, writes $(files_in "$S/col/o$k") (the full run exits 2: two inputs -> m.onnx)"
done
verdict "shard: a clash of outputs is refused in every shard as in the full run"

# the same model twice (as a file and inside a folder): done once in the full
# run; the shards must not do it twice either
run batch "$T" "$T/a/lstm.onnx" -o "$S/dupfull" -q
expect_rc 0
rm -rf "$S/dupsh"
for k in 1 2 3 4 5 6; do
	run batch "$T" "$T/a/lstm.onnx" -o "$S/dupsh" --shard "$k/6" -q
	expect_rc 0
done
same_tree "$S/dupfull" "$S/dupsh" "6 shards of 'T T/a/lstm.onnx'"
verdict "shard: a model given twice is done once across shards"

# ---- 4. manifest ----------------------------------------------------------
r=$(chk manifest "$S/ref.jsonl" 0 "$S/ref" "${ALL_OK[@]}")
[ -n "$r" ] && w "$r"
[ "$(wc -l <"$S/ref.jsonl")" -eq "$NALL" ] || w "$(wc -l <"$S/ref.jsonl") lines for $NALL models"
verdict "manifest: one object per model, every key, sha256 of the output, seeds as documented"

M=$S/m
mkdir -p "$M/a" "$M/b" "$S/mo/b"
cp "$MODELS/cnn.onnx" "$M/"
cp "$MODELS/mlp.onnx" "$M/a/"
head -c 1500 "$MODELS/cnn.onnx" >"$M/a/bad.onnx"
cp "$MODELS/lstm.onnx" "$M/b/"
cp "$MODELS/typed.onnx" "$M/b/exists.onnx"
echo old >"$S/mo/b/exists.onnx"
BIGSEED=12345678901234567890
run batch "$M" -o "$S/mo" --seed "$BIGSEED" --manifest "$S/m.jsonl"
MRC=$rc
cp "$ERR" "$S/m.err"
expect_rc 1
r=$(chk manifest "$S/m.jsonl" "$BIGSEED" "$S/mo" cnn.onnx=ok a/mlp.onnx=ok a/bad.onnx=failed b/lstm.onnx=ok b/exists.onnx=skipped)
[ -n "$r" ] && w "$r"
verdict "manifest: ok/failed/skipped, errors, 64-bit seed $BIGSEED"

# ---- 5. bad input and faults ----------------------------------------------
rc=$MRC
expect_rc 1
grep -q 'bad.onnx' "$S/m.err" || w "bad.onnx not named on stderr"
for r in cnn.onnx a/mlp.onnx b/lstm.onnx; do [ -f "$S/mo/$r" ] || w "$r not done"; done
[ -e "$S/mo/a/bad.onnx" ] && w "an output for the corrupt model"
[ -n "$(temps_in "$S/mo")" ] && w "temporaries left: $(temps_in "$S/mo")"
grep '"a/bad.onnx\|bad.onnx"' "$S/m.jsonl" | grep -q '"status":"failed","error":"[^"]' || w "the manifest has no error for bad.onnx"
r=$(chk valid "$S/mo/cnn.onnx" "$S/mo/a/mlp.onnx" "$S/mo/b/lstm.onnx"); [ -n "$r" ] && w "$r"
verdict "fault: a corrupt model -> exit 1, the others done, manifest says failed"

[ "$(cat "$S/mo/b/exists.onnx")" = old ] || w "an existing output was replaced without --force"
grep -q '1 skipped' "$S/m.err" || w "the summary does not count 1 skipped: $(grep 'batch:' "$S/m.err")"
run batch "$M/b" -o "$S/mo/b" --seed "$BIGSEED" --force --manifest "$S/mf.jsonl"
expect_rc 0
run batch "$M/b" -o "$S/mref" --seed "$BIGSEED" -q
cmp -s "$S/mo/b/exists.onnx" "$S/mref/exists.onnx" || w "--force did not write the model over the old output"
cmp -s "$S/mo/b/lstm.onnx" "$S/mref/lstm.onnx" || w "--force changed lstm.onnx's bytes"
[ -n "$(temps_in "$S/mo")" ] && w "temporaries left: $(temps_in "$S/mo")"
r=$(chk manifest "$S/mf.jsonl" "$BIGSEED" "$S/mo/b" exists.onnx=ok lstm.onnx=ok); [ -n "$r" ] && w "--force manifest: $r"
verdict "fault: an existing output is skipped (unchanged) without --force, replaced with it"

# unreadable folder: as root permissions are bypassed, so run as nobody
P=$S/pub
as_nobody=()
if [ "$(id -u)" -eq 0 ]; then
	if command -v setpriv >/dev/null; then as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
	elif command -v runuser >/dev/null; then as_nobody=(runuser -u nobody --); fi
fi
mkdir -p "$P/in/a" "$P/in/locked" "$P/in/z" "$P/o" "$P/mf"
cp "$MODELS/cnn.onnx" "$P/in/a/"
cp "$MODELS/mlp.onnx" "$P/in/locked/"
cp "$MODELS/lstm.onnx" "$P/in/z/"
chmod 755 "$S"
chmod -R a+rX "$P"
chmod 000 "$P/in/locked"
if [ "$(id -u)" -eq 0 ]; then chown 65534 "$P/o" "$P/mf"; fi
# why the permission cases cannot run here, or empty
no_perms=""
if [ "$(id -u)" -eq 0 ]; then
	if [ ${#as_nobody[@]} -eq 0 ]; then no_perms="root, and neither setpriv nor runuser to become nobody"
	elif ! "${as_nobody[@]}" test -x "$ONNXINIT" -a -r "$P/in/a/cnn.onnx" 2>/dev/null; then
		no_perms="root, and user nobody cannot run $ONNXINIT (a folder above it is private)"
	fi
fi
if [ -n "$no_perms" ]; then
	skip "fault: an unreadable folder" "$no_perms"
else
	timeout 60 "${as_nobody[@]}" "$ONNXINIT" batch "$P/in" -o "$P/o/out" --manifest "$P/mf/m.jsonl" >"$OUT" 2>"$ERR" </dev/null
	rc=$?
	expect_rc 1
	[ -f "$P/o/out/a/cnn.onnx" ] || w "a/cnn.onnx not done"
	[ -f "$P/o/out/z/lstm.onnx" ] || w "z/lstm.onnx (after the locked folder) not done"
	grep -q "$P/in/locked" "$ERR" || w "the folder is not named on stderr: $(first_err)"
	verdict "fault: an unreadable folder -> the others done, exit 1, the folder named"
fi
chmod 755 "$P/in/locked"

# an unreadable onnxinit.json: the models below it are not done without its
# rules (failed, named), the others are
if [ -n "$no_perms" ]; then
	skip "fault: an unreadable onnxinit.json" "$no_perms"
else
	mkdir -p "$P/in/ruled"
	cp "$MODELS/mlp.onnx" "$P/in/ruled/"
	echo '{"rules": ["role:bias=ones"]}' >"$P/in/ruled/onnxinit.json"
	chmod -R a+rX "$P/in/ruled"
	chmod 000 "$P/in/ruled/onnxinit.json"
	rm -rf "$P/o/out2"
	timeout 60 "${as_nobody[@]}" "$ONNXINIT" batch "$P/in/a" "$P/in/ruled" -o "$P/o/out2" >"$OUT" 2>"$ERR" </dev/null
	rc=$?
	expect_rc 1
	[ -f "$P/o/out2/cnn.onnx" ] || w "cnn.onnx (no rules file) not done"
	[ -e "$P/o/out2/mlp.onnx" ] && w "mlp.onnx was written without its onnxinit.json's rules"
	grep -q "onnxinit.json" "$ERR" || w "the rules file is not named on stderr: $(first_err)"
	verdict "fault: an unreadable onnxinit.json -> the models below it fail, the others done"
	rm -rf "$P/in/ruled"
fi

I=$S/i
mkdir -p "$I/sub"
cp "$MODELS/cnn.onnx" "$MODELS/mlp.onnx" "$I/"
cp "$MODELS/lstm.onnx" "$I/sub/"
SUMS_I=$(sums "$I")
run batch "$I" -o "$I/out"
expect_rc 2
[ -e "$I/out" ] && w "OUTDIR was created inside the input ($(files_in "$I/out" | wc -l) files in it)"
run batch "$I" -o "$I/sub/deeper/out"
expect_rc 2
[ -e "$I/sub/deeper" ] && w "OUTDIR's parents were created inside the input"
rm -rf "$I/out" "$I/sub/deeper"
[ "$(sums "$I")" = "$SUMS_I" ] || w "the input tree changed"
verdict "fault: OUTDIR inside an input folder -> exit 2, nothing written"

IEXP=$'cnn.onnx\nmlp.onnx\nsub/lstm.onnx'
run batch "$I" -o "$I/out" --output-inside-input --manifest "$S/in1.jsonl"
expect_rc 0
[ "$(models_in "$I/out")" = "$IEXP" ] || w "outputs: $(models_in "$I/out" | tr '\n' ' ')"
run batch "$I" -o "$I/out" --output-inside-input --force --manifest "$S/in2.jsonl"
expect_rc 0
[ "$(models_in "$I/out")" = "$IEXP" ] || w "after a second run: $(models_in "$I/out" | tr '\n' ' ')"
[ "$(wc -l <"$S/in2.jsonl")" -eq 3 ] || w "the second run did $(wc -l <"$S/in2.jsonl") models, not 3"
rm -rf "$I/out"
run batch "$I" -o "$I/sub/o2" --output-inside-input -q
expect_rc 0
[ "$(models_in "$I/sub/o2")" = "$IEXP" ] || w "OUTDIR in a subfolder: $(models_in "$I/sub/o2" | tr '\n' ' ')"
rm -rf "$I/sub/o2"
verdict "fault: --output-inside-input works, the output tree is not read as input"

run batch "$I/cnn.onnx" "$I/cnn.onnx" -o "$S/dup1" --manifest "$S/dup1.jsonl"
expect_rc 0
[ "$(files_in "$S/dup1")" = cnn.onnx ] || w "outputs: $(files_in "$S/dup1")"
grep -q 'twice' "$ERR" || w "no warning: $(first_err)"
[ "$(grep -c '"status":"ok"' "$S/dup1.jsonl")" -eq 1 ] || w "manifest: $(grep -c '"status":"ok"' "$S/dup1.jsonl") ok lines, not 1"
run batch "$T" "$T/a/lstm.onnx" -o "$S/dup2" --manifest "$S/dup2.jsonl"
expect_rc 0
grep -q 'twice' "$ERR" || w "no warning for a file inside a folder given: $(first_err)"
same_tree "$S/ref" "$S/dup2" "T + T/a/lstm.onnx"
[ "$(grep -c '"status":"ok"' "$S/dup2.jsonl")" -eq "$NALL" ] || w "manifest: $(grep -c '"status":"ok"' "$S/dup2.jsonl") ok lines, not $NALL"
verdict "fault: the same model given twice is done once"

r=$(chk manifest "$S/dup2.jsonl" 0 "$S/dup2" "${ALL_OK[@]}" lstm.onnx=skipped)
[ -n "$r" ] && w "$r"
verdict "manifest: a model given twice: one ok line, one skipped line with its seed"

F=$S/f
mkdir -p "$F"
echo 'not a model' >"$F/0bad.onnx"
for i in 01 02 03 04 05 06 07 08 09 10; do cp "$MODELS/mlp.onnx" "$F/m$i.onnx"; done
run batch "$F" -o "$S/ff1" -j 1 --fail-fast --manifest "$S/ff1.jsonl"
expect_rc 1
n=$(models_in "$S/ff1" | wc -l)
[ "$n" -lt 10 ] || w "-j 1 --fail-fast with the first model bad: $n of 10 done"
grep -q 'stopped early' "$ERR" || w "the summary does not say 'stopped early': $(tail -n 1 "$ERR")"
run batch "$F" -o "$S/ff2" -j 2 --fail-fast
expect_rc 1
n2=$(models_in "$S/ff2" | wc -l)
[ "$n2" -lt 10 ] || w "-j 2 --fail-fast: $n2 of 10 done"
run batch "$F" -o "$S/ff3" -j 1
expect_rc 1
n3=$(models_in "$S/ff3" | wc -l)
[ "$n3" -eq 10 ] || w "without --fail-fast: $n3 of 10 done"
verdict "fault: --fail-fast stops early ($n and $n2 of 10 done; 10 without)"

# a full disk: a 200 KiB tmpfs (or, where mounting fails, ulimit -f 200)
D=$S/d
mkdir -p "$D" "$S/full"
py gen "$D/a1.onnx" 300
py gen "$D/b2.onnx" 120
py gen "$D/c3.onnx" 90
cp "$MODELS/cnn.onnx" "$MODELS/mlp.onnx" "$MODELS/lstm.onnx" "$D/"
if mount -t tmpfs -o size=200k tmpfs "$S/full" 2>/dev/null; then
	MOUNTS+=("$S/full")
	how="tmpfs"
	run batch "$D" -o "$S/full/out" -j 1 --manifest "$S/full.jsonl"
else
	how="ulimit -f"
	(
		trap '' XFSZ
		ulimit -f 200
		exec timeout 60 "$ONNXINIT" batch "$D" -o "$S/full/out" -j 1 --manifest "$S/full.jsonl"
	) >"$OUT" 2>"$ERR" </dev/null
	rc=$?
fi
expect_rc 1
nf=$(grep -c '"status":"failed"' "$S/full.jsonl" 2>/dev/null)
[ "${nf:-0}" -ge 1 ] || w "no failure in the manifest"
r=$(chk manifest "$S/full.jsonl" 0 "$S/full/out" --any); [ -n "$r" ] && w "$r"
[ -n "$(temps_in "$S/full")" ] && w "temporaries left: $(temps_in "$S/full")"
r=$(chk valid "$S/full/out"); [ -n "$r" ] && w "a partial output: $r"
verdict "fault: disk full ($how) -> exit 1, $nf failed, no partial outputs or temporaries"

# signals: 40 models of 20 MiB written one at a time, a signal after 0.5 s
# or more: when one is done and the next one is being written
G=$S/g
mkdir -p "$G"
if mount -t tmpfs -o size=1200m tmpfs "$G" 2>/dev/null; then MOUNTS+=("$G"); fi
mkdir -p "$G/in"
py gen "$G/in/m01.onnx" 20480
# enough models that the run lasts seconds, however fast the machine
NSIG=40
for ((i = 2; i <= NSIG; i++)); do cp "$G/in/m01.onnx" "$(printf '%s/in/m%02d.onnx' "$G" "$i")"; done
# interrupt OUTDIR SIG: start a run, send SIG mid-run; rc, n (outputs), lines (manifest)
interrupt() {
	"$ONNXINIT" batch "$G/in" -o "$1" -j 1 --manifest "$1.jsonl" >/dev/null 2>"$1.err" </dev/null &
	local pid=$! t
	# after 0.5 s, once a model is done and the next one is being written
	sleep 0.5
	for ((t = 0; t < 200; t++)); do
		[ -n "$(models_in "$1")" ] && [ -n "$(temps_in "$1")" ] && break
		sleep 0.05
	done
	kill "-$2" "$pid" 2>/dev/null || w "SIG$2: the run ended before the signal"
	{ wait "$pid"; } 2>/dev/null
	rc=$?
	n=$(models_in "$1" | wc -l)
	lines=$(cat "$1.jsonl" 2>/dev/null | wc -l)
	local oks others
	oks=$(grep -c '"status":"ok"' "$1.jsonl" 2>/dev/null)
	others=$(grep -v '"status":"ok"' "$1.jsonl" 2>/dev/null | grep -vc 'interrupted')
	[ "$n" -lt "$NSIG" ] || w "SIG$2: the run ended before the signal ($n of $NSIG done)"
	# a caught signal stops the saves in flight (recorded as failed: interrupted)
	# and lets every finished model reach the manifest; kill -9 cannot
	if [ "$2" = KILL ]; then
		[ "${oks:-0}" -le "$n" ] || w "SIG$2: $oks ok manifest lines for $n outputs"
	else
		[ "${oks:-0}" -eq "$n" ] || w "SIG$2: $oks ok manifest lines for $n outputs"
	fi
	[ "${others:-0}" -eq 0 ] || w "SIG$2: a manifest line neither ok nor interrupted"
}
interrupt "$G/int" INT
expect_rc 130
[ -n "$(temps_in "$G/int")" ] && w "temporaries left: $(temps_in "$G/int")"
r=$(chk valid "$G/int"); [ -n "$r" ] && w "$r"
r=$(chk manifest "$G/int.jsonl" 0 "$G/int" --partial); [ -n "$r" ] && w "manifest: $r"
verdict "fault: SIGINT mid-run -> dies, no temporaries, $n complete outputs, $lines valid manifest lines"
rm -rf "$G/int"

for sig in TERM HUP; do
	interrupt "$G/$sig" "$sig"
	[ "$rc" -eq 143 ] || [ "$rc" -eq 129 ] || w "SIG$sig: exit $rc"
	[ -n "$(temps_in "$G/$sig")" ] && w "SIG$sig: temporaries left: $(temps_in "$G/$sig")"
	r=$(chk valid "$G/$sig"); [ -n "$r" ] && w "SIG$sig: $r"
	rm -rf "${G:?}/$sig"
done
verdict "fault: SIGTERM, SIGHUP mid-run -> die, no temporaries, outputs complete"

interrupt "$G/kill" KILL
expect_rc 137
r=$(chk valid "$G/kill"); [ -n "$r" ] && w "$r"
r=$(chk manifest "$G/kill.jsonl" 0 "$G/kill" --partial); [ -n "$r" ] && w "manifest: $r"
left=$(find "$G/kill" -name '.*.oi-*' | wc -l)
verdict "fault: kill -9 mid-run -> $n complete outputs ($left temporaries left, as may be)"
for m in "${MOUNTS[@]}"; do [ "$m" = "$G" ] && umount "$G" 2>/dev/null; done
rm -rf "$G"

# a manifest on a full disk: a small tmpfs filled up (or, where mounting
# fails, /dev/full)
MF=$S/mfull
mkdir -p "$MF"
if mount -t tmpfs -o size=8k tmpfs "$MF" 2>/dev/null; then
	MOUNTS+=("$MF")
	head -c 1M /dev/zero >"$MF/fill" 2>/dev/null
	how="a full tmpfs"
	man=$MF/m.jsonl
else
	how="/dev/full"
	man=/dev/full
fi
run batch "$M/b" -o "$S/mfo" --manifest "$man"
expect_rc 1
n=$(grep -c "^onnxinit: $man: cannot write the manifest: No space left on device" "$ERR")
[ "$n" -eq 1 ] || w "$n lines say that the manifest cannot be written: $(first_err)"
r=$(chk valid "$S/mfo/lstm.onnx" "$S/mfo/exists.onnx"); [ -n "$r" ] && w "$r"
verdict "fault: the manifest on a full disk ($how) -> exit 1, said once, the models done"
for m in "${MOUNTS[@]}"; do [ "$m" = "$MF" ] && umount "$MF" 2>/dev/null; done

# a full standard output: the JSON records, the plans
if [ -c /dev/full ]; then
	for args in --json --dry-run "--dry-run --json"; do
		rm -rf "$S/sfo"
		# shellcheck disable=SC2086
		timeout -k 5 "$RUN_TIMEOUT" "$ONNXINIT" batch "$M/b" -o "$S/sfo" $args >/dev/full 2>"$ERR" </dev/null
		rc=$?
		expect_rc 1
		n=$(grep -c '^onnxinit: cannot write to standard output: No space left on device' "$ERR")
		[ "$n" -eq 1 ] || w "$args: $n lines say that stdout cannot be written: $(first_err)"
		if [ "$args" = --json ]; then
			grep -q 'standard output: .*(2 models were written)' "$ERR" || w "--json: does not say the models were written: $(first_err)"
			r=$(chk valid "$S/sfo/lstm.onnx" "$S/sfo/exists.onnx"); [ -n "$r" ] && w "$r"
		fi
	done
	verdict "fault: stdout full (--json, --dry-run, --dry-run --json) -> exit 1, said once"
else
	skip "fault: stdout full (--json, --dry-run, --dry-run --json) -> exit 1, said once" "no /dev/full"
fi

# an input truncated by another program while a worker has it mapped
# (SIGBUS): each worker's second write is held 3 s by strace, b.onnx is cut
# meanwhile; the message names it, and no temporary is left, its or a's. A
# run that ended before the cut (a machine too busy) is tried again, 3 times.
BU=$S/bus
mkdir -p "$BU/in"
if strace -f -qq -o /dev/null -e inject=write:delay_enter=1:when=1000 true 2>/dev/null &&
	"$PYTHON" "$SRCDIR/scripts/bench/make_big_model.py" "$BU/in/a.onnx" --size-mib 16 --layers 8 >/dev/null 2>"$BU/err"; then
	for try in 1 2 3; do
		cp "$BU/in/a.onnx" "$BU/in/b.onnx"
		rm -rf "$BU/out" "$BU/m.jsonl"
		mkdir -p "$BU/out"
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
			timeout -k 5 "$RUN_TIMEOUT" strace -f -qq -o /dev/null \
			-e inject=write:delay_enter=3000000:when=2 \
			"$ONNXINIT" batch "$BU/in" -o "$BU/out" -j 2 --no-fsync --manifest "$BU/m.jsonl" \
			>"$OUT" 2>"$ERR" </dev/null &
		pid=$!
		for ((t = 0; t < 200; t++)); do
			[ "$(find "$BU/out" -name '.*.oi-*' | wc -l)" -ge 2 ] && break
			sleep 0.05
		done
		truncate -s 0 "$BU/in/b.onnx"
		wait "$pid"
		rc=$?
		sed -i '/^strace: /d' "$ERR" # strace's own complaints are not the program's
		[ "$rc" -ne 0 ] && break
	done
	expect_rc 1
	[ "$(wc -l <"$ERR")" -eq 1 ] || w "$(wc -l <"$ERR") lines on stderr, not 1: $(head -c 300 "$ERR" | tr '\n' '|')"
	grep -q "^onnxinit: $BU/in/b.onnx: .*truncated" "$ERR" || w "does not name b.onnx as truncated: $(first_err)"
	[ -n "$(temps_in "$BU/out")" ] && w "temporaries left: $(temps_in "$BU/out")"
	r=$(chk valid "$BU/out"); [ -n "$r" ] && w "a partial output: $r"
	verdict "fault: an input truncated while mapped (SIGBUS) -> one line naming it, exit 1, no temporaries"
else
	skip "fault: an input truncated while mapped (SIGBUS) -> one line naming it, exit 1, no temporaries" \
		"no strace that can inject, or no big model ($(head -c 100 "$BU/err" 2>/dev/null))"
fi
rm -rf "$BU"

# ---- 6. --in-place, --dry-run, progress -----------------------------------
IP=$S/ip
cp -a "$T" "$IP"
declare -A ino
for r in "${RELS[@]}"; do ino[$r]=$(stat -c %i "$IP/$r"); done
run batch "$IP" --in-place
expect_rc 0
for r in "${RELS[@]}"; do
	[ "$(stat -c %i "$IP/$r")" = "${ino[$r]}" ] && w "$r: the same inode"
	# the model with external data names its new data file: same weights
	if [ "$r" = x/external.onnx ]; then
		x=$(chk same-weights "$IP/$r" "$S/ref/$r"); [ -n "$x" ] && w "$r: $x"
	else
		cmp -s "$IP/$r" "$S/ref/$r" || w "$r: differs from the -o run's output"
	fi
done
# its data went to a new file, the old one (named after it) was removed
[ -e "$IP/x/external.onnx.data" ] && w "x/external.onnx.data is still there"
[ "$(ls "$IP/x" | grep -c '^external\.onnx\..*data$')" = 1 ] || w "not one data file in x: $(ls "$IP/x" | tr '\n' ' ')"
[ -n "$(temps_in "$IP")" ] && w "temporaries left: $(temps_in "$IP")"
[ "$(cat "$IP/notes.txt")" = notes ] || w "notes.txt changed"
verdict "--in-place replaces every model (new inodes, bytes as with -o)"

run batch "$T" -o "$S/dry" --dry-run
expect_rc 0
[ -e "$S/dry" ] && w "OUTDIR created"
[ "$(sums "$T")" = "$SUMS_T" ] || w "the input tree changed"
for r in "${RELS[@]}"; do grep -q "$T/$r" "$OUT" || w "no plan for $r"; done
grep -q 'kaiming\|xavier\|orthogonal' "$OUT" || w "no schemes in the plans"
run batch "$T" --dry-run -q
expect_rc 0
[ -s "$OUT" ] || w "no plan without -o"
verdict "--dry-run writes nothing and prints the plans"

run batch "$T" -o "$S/dry" --dry-run --json
expect_rc 0
[ -e "$S/dry" ] && w "OUTDIR created"
r=$(chk dryjson "$OUT" 0 "$NALL" "$T"); [ -n "$r" ] && w "$r"
verdict "--dry-run --json: one JSON object per model per line"
cp "$OUT" "$S/dry.json"
r=$(chk dryjson "$S/dry.json" 0 "$NALL" "$T" --seeds); [ -n "$r" ] && w "$r"
verdict "--dry-run --json: the seeds are the ones the run uses"

run batch "$T" -o "$S/pa" --progress always
expect_rc 0
tr '\r' '\n' <"$ERR" | grep -Eq "$NALL/$NALL models, [0-9.]+ MB/s, ETA [0-9]+ s" || w "no '$NALL/$NALL models, X MB/s, ETA N s' on stderr: $(tr '\r' '|' <"$ERR" | head -c 200)"
tail -n 1 "$ERR" | grep -Eq "$summary_re" || w "no summary at the end: $(tail -n 1 "$ERR")"
verdict "progress: --progress always shows done/total, MB/s and ETA, then the summary"

for mode in never auto; do
	run batch "$T" -o "$S/p$mode" --progress "$mode"
	expect_rc 0
	grep -Eq 'models, .*MB/s|ETA' "$ERR" && w "--progress $mode (stderr a file): progress shown"
	tail -n 1 "$ERR" | grep -Eq "$summary_re" || w "--progress $mode: no summary: $(tail -n 1 "$ERR")"
done
run batch "$T" -o "$S/pq" -q --progress always
expect_rc 0
[ -s "$ERR" ] && w "-q: stderr has $(head -c 120 "$ERR" | tr '\r\n' '||')"
verdict "progress: never / auto on a non-terminal print none; summary unless -q"

if command -v script >/dev/null; then
	script -qec "'$ONNXINIT' batch '$T' -o '$S/ptty' --progress auto" /dev/null >"$S/tty.log" 2>&1 </dev/null
	rc=$?
	expect_rc 0
	tr '\r' '\n' <"$S/tty.log" | grep -Eq "$NALL/$NALL models, .*MB/s, ETA" || w "no progress on a terminal: $(tr '\r\n' '||' <"$S/tty.log" | head -c 200)"
	verdict "progress: auto on a terminal shows progress"
else
	skip "progress: auto on a terminal shows progress" "no script(1) to give it a terminal"
fi

# a warning while the progress line is up: the line is cleared before it
# and drawn again after (as a terminal shows it: '\r' goes back to the start)
PW=$S/pw
mkdir -p "$PW"
cp "$MODELS/mlp.onnx" "$PW/a.onnx"
cp "$MODELS/mlp.onnx" "$PW/c.onnx"
odd_model "$PW/b.onnx" XX
run batch "$PW" -o "$S/pwo" -j 1 --progress always
expect_rc 0
r=$("$PYTHON" - "$ERR" <<'EOF' 2>&1 | head -n 1
import sys
shown = []
for raw in open(sys.argv[1], "rb").read().decode("latin-1").split("\n"):
    cells = []
    for part in raw.split("\r"):
        cells[:len(part)] = part
    shown.append("".join(cells).rstrip())
warn = [l for l in shown if "warning:" in l]
if not warn:
    print("no warning on stderr: %r" % shown[:3])
for l in warn:
    if "models," in l or not l.startswith("onnxinit: "):
        print("progress and warning on one line: %r" % l)
        break
EOF
)
[ -n "$r" ] && w "$r"
tr '\r' '\n' <"$ERR" | grep -Eq "3/3 models, [0-9.]+ MB/s" || w "no '3/3 models' progress"
tail -n 1 "$ERR" | grep -Eq "$summary_re" || w "no summary at the end: $(tail -n 1 "$ERR")"
verdict "progress: a warning clears the progress line, which is drawn again after"

# usage errors: exit 2, a diagnostic, nothing written
for args in "-o $S/u" "$T" "$T -o $S/u --in-place" "$T -o $S/u --shard 0/4" "$T -o $S/u --shard 5/4" \
	"$T -o $S/u --shard 1/0" "$T -o $S/u --shard x" "$T -o $S/u -j 0" "$T -o $S/u --progress sometimes" \
	"$T -o $S/u --bogus" "$T -o $S/u --seed -1"; do
	# shellcheck disable=SC2086
	run batch $args
	[ "$rc" -eq 2 ] || w "'batch ${args//$S\//}': exit $rc"
	grep -q '^onnxinit: ' "$ERR" || w "'batch ${args//$S\//}': no diagnostic"
done
[ -e "$S/u" ] && w "OUTDIR created by a usage error"
verdict "usage errors exit 2 and write nothing"

# ---- 7. onnxinit.json precedence ------------------------------------------
R=$S/r
mkdir -p "$R/sub/deeper" "$R/other" "$S/rext"
cp "$MODELS/mlp.onnx" "$R/top.onnx"
cp "$MODELS/mlp.onnx" "$R/sub/m.onnx"
cp "$MODELS/mlp.onnx" "$R/sub/deeper/d.onnx"
cp "$MODELS/mlp.onnx" "$R/other/o.onnx"
cp "$MODELS/mlp.onnx" "$S/rext/l.onnx"
ln -s ../rext "$R/linked"
cat >"$R/onnxinit.json" <<'EOF'
{"scheme": "constant(value=3)", "rules": ["name:fc1.*=constant(value=9)", "role:bias=ones"]}
EOF
cat >"$R/sub/onnxinit.json" <<'EOF'
{"scheme": "constant(value=4)", "rules": [{"select": "role:bias", "scheme": "constant(value=2)"}]}
EOF
echo '{"scheme": "constant(value=6)", "rules": ["role:bias=constant(value=5)"]}' >"$S/rules.json"

run batch "$R" -o "$S/r1" -q
expect_rc 0
r=$(chk expect "$S/r1/top.onnx" fc1.weight=9 fc1.bias=1 fc2.weight=3 fc2.bias=1 fc3.weight=3 fc3.bias=1 \
	"$S/r1/other/o.onnx" fc1.weight=9 fc1.bias=1 fc2.weight=3 fc3.bias=1 \
	"$S/r1/sub/m.onnx" fc1.weight=9 fc1.bias=2 fc2.weight=4 fc2.bias=2 fc3.weight=4 fc3.bias=2 \
	"$S/r1/sub/deeper/d.onnx" fc1.weight=9 fc1.bias=2 fc2.weight=4 fc3.bias=2)
[ -n "$r" ] && w "$r"
verdict "rules: outer onnxinit.json first, inner later (inner wins; inner scheme beats outer)"

r=$(chk expect "$S/r1/linked/l.onnx" fc1.weight=9 fc1.bias=1 fc2.weight=3)
[ -n "$r" ] && w "$r"
verdict "rules: onnxinit.json applies below a symlinked subfolder too"

run batch "$R" -o "$S/r2" -q --rules "$S/rules.json"
expect_rc 0
r=$(chk expect "$S/r2/top.onnx" fc1.weight=9 fc1.bias=5 fc2.weight=6 fc3.bias=5 \
	"$S/r2/sub/m.onnx" fc1.weight=9 fc1.bias=5 fc2.weight=6 fc2.bias=5)
[ -n "$r" ] && w "$r"
verdict "rules: --rules FILE after the onnxinit.json files (its scheme too)"

run batch "$R" -o "$S/r3" -q --rules "$S/rules.json" --rule 'role:bias=constant(value=7)' --rule 'fc1.weight=constant(value=8)'
expect_rc 0
r=$(chk expect "$S/r3/top.onnx" fc1.weight=8 fc1.bias=7 fc2.weight=6 fc3.bias=7 \
	"$S/r3/sub/deeper/d.onnx" fc1.weight=8 fc1.bias=7 fc2.weight=6 fc2.bias=7)
[ -n "$r" ] && w "$r"
verdict "rules: --rule after --rules (the command line wins)"

run batch "$R" -o "$S/r4" -q --scheme 'constant(value=0.5)'
expect_rc 0
r=$(chk expect "$S/r4/top.onnx" fc1.weight=9 fc1.bias=1 fc2.weight=0.5 fc3.weight=0.5 \
	"$S/r4/sub/m.onnx" fc1.weight=9 fc1.bias=2 fc2.weight=0.5 fc3.weight=0.5)
[ -n "$r" ] && w "$r"
run batch "$R" -o "$S/r5" -q --scheme 'constant(value=0.5)' --rules "$S/rules.json"
expect_rc 0
r=$(chk expect "$S/r5/sub/m.onnx" fc2.weight=0.5 fc2.bias=5)
[ -n "$r" ] && w "$r"
verdict "rules: --scheme beats every file's scheme"

# ---- 8. names and paths that are not text ----------------------------------
# JSON strings are Unicode: a byte that is not UTF-8 (a file name, a tensor
# name) is the character of that number, never dropped
NU=$S/nu
mkdir -p "$NU/in"
odd_model "$NU/in/m"$'\xff'".onnx" $'\xff\xc3'
run batch "$NU/in" -o "$NU/out" --json --manifest "$NU/m.jsonl"
expect_rc 0
r=$("$PYTHON" - "$OUT" "$NU/m.jsonl" <<'EOF' 2>&1 | head -n 1
import json, sys
for p in sys.argv[1:]:
    lines = open(p, "rb").read().decode("utf-8").splitlines()
    rec = json.loads(lines[0])
    for k in ("input", "output"):
        if not str(rec.get(k)).endswith("/m\u00ff.onnx"):
            sys.exit(print("%s: %s is %r" % (p, k, rec.get(k))))
EOF
)
[ -n "$r" ] && w "$r"
run batch "$NU/in" --dry-run --json
expect_rc 0
r=$("$PYTHON" - "$OUT" <<'EOF' 2>&1 | head -n 1
import json, sys
doc = json.loads(open(sys.argv[1], "rb").read().decode("utf-8").splitlines()[0])
names = [t.get("name") for t in doc["tensors"]]
if not doc.get("model", "").endswith("/m\u00ff.onnx") or names != ["w\u00ff\u00c3", "b\u00ff\u00c3", "unused\u00ff\u00c3"]:
    print("model %r, names %r" % (doc.get("model"), names))
EOF
)
[ -n "$r" ] && w "$r"
verdict "text: paths and names that are not UTF-8 are in the JSON and the manifest"

# a newline in a path: each message stays one line
NL=$S/new$'\n'line
mkdir -p "$NL"
odd_model "$NL/warns.onnx" XX
head -c 100 "$MODELS/cnn.onnx" >"$NL/broken.onnx"
run batch "$NL" "$S/no"$'\n'"such" -o "$S/nlo"
expect_rc 1
bad=$(grep -a -v -e '^onnxinit: ' "$ERR" | head -n 1)
[ -n "$bad" ] && w "a line that is no message: '$bad' ($(head -c 300 "$ERR" | tr '\n' '|'))"
grep -q 'warning' "$ERR" || w "no warning for warns.onnx"
grep -q 'broken.onnx' "$ERR" || w "broken.onnx not named"
verdict "text: a newline in a path leaves every message on one line"

# ---- 9. models that share a data file; temporaries of a killed run ---------
# a.onnx and b.onnx read one weights.bin, each its own part: every output
# carries its own new weights, whichever model is saved last
SH=$S/shared
mkdir -p "$SH/in"
"$PYTHON" - "$SH/in" <<'EOF'
import sys
import numpy as np
from onnx import TensorProto, helper, numpy_helper, save_model
d = sys.argv[1]
blob = b""
def ext(name, shape, seed):
    global blob
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    t = numpy_helper.from_array(a, name)
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "weights.bin"), ("offset", str(len(blob))), ("length", str(a.nbytes))):
        e = t.external_data.add()
        e.key, e.value = k, v
    blob += a.tobytes()
    return t
for name, seed in (("a", 1), ("b", 2)):
    g = helper.make_graph([helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)], name,
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                          [ext("w", [4, 8], seed), ext("b", [4], seed + 10)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    save_model(m, "%s/%s.onnx" % (d, name))
open(d + "/weights.bin", "wb").write(blob)
EOF
# shared_why DIR: both models load with their data, every weight new
shared_why() {
	local r
	for m in a b; do
		r=$(chk differ "$SH/in" "$1" $m.onnx); [ -n "$r" ] && { echo "$r"; return; }
		r=$(chk same-weights "$1/$m.onnx" "$SH/ref/$m/$m.onnx"); [ -n "$r" ] && { echo "$m.onnx: not its own new weights: $r"; return; }
	done
}
# the reference: each model alone, in a folder of its own
for m in a b; do
	mkdir -p "$SH/ref/$m"
	timeout -k 5 "$RUN_TIMEOUT" "$ONNXINIT" init "$SH/in/$m.onnx" -o "$SH/ref/$m/$m.onnx" \
		--seed "$("$PYTHON" "$HERE/check.py" seed 0 $m.onnx)" >/dev/null 2>&1 || w "init $m.onnx alone failed"
done
for j in 1 2; do
	run batch "$SH/in" -o "$SH/out-j$j" -j $j
	expect_rc 0
	r=$(shared_why "$SH/out-j$j"); [ -n "$r" ] && w "-j $j: $r"
done
cp -a "$SH/in" "$SH/ip"
run batch "$SH/ip" --in-place -j 2
expect_rc 0
r=$(shared_why "$SH/ip"); [ -n "$r" ] && w "--in-place: $r"
[ -n "$(temps_in "$SH")" ] && w "temporaries left: $(temps_in "$SH")"
verdict "shared data file: each output keeps its own new weights (-o, -j 1 and 2, --in-place)"

# a run killed (kill -9) while saving leaves temporaries; a rerun removes them
KT=$S/killed
cp -a "$T" "$KT"
if strace -f -qq -o /dev/null -e inject=fsync:delay_enter=1:when=1000 true 2>/dev/null; then
	# (LeakSanitizer cannot run under strace)
	(ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		timeout -k 5 "$RUN_TIMEOUT" strace -f -qq -o /dev/null -e inject=fsync,syncfs:signal=SIGKILL:when=1 \
		"$ONNXINIT" batch "$KT" --in-place -j 1 >"$OUT" 2>"$ERR" </dev/null
	:) 2>/dev/null
	left=$(temps_in "$KT")
	[ -z "$left" ] && w "the killed run left no temporary to test with"
	run batch "$KT" --in-place -j 1
	expect_rc 0
	[ -n "$(temps_in "$KT")" ] && w "temporaries left after the rerun: $(temps_in "$KT")"
	verdict "a rerun removes the temporaries of a killed run"
else
	skip "a rerun removes the temporaries of a killed run" "no strace that can inject faults"
fi

# ---- 10. group commit: one sync for many models ----------------------------
# Each worker writes several models, syncs them at once (syncfs), renames
# them, and the output folders are fsynced at the end; --no-fsync commits
# each model alone, with the same bytes.
run batch "$T" -o "$S/nofsync" --no-fsync -q
expect_rc 0
same_tree "$S/ref" "$S/nofsync" "--no-fsync (each model committed alone)"
verdict "group commit: the same bytes as models committed one by one"

# the order of the syscalls: strace -y names the file of each fd
TRACE=write,pwrite64,writev,copy_file_range,ftruncate,fallocate,syncfs,fsync,fdatasync,rename,renameat,renameat2
# traced ARGS...: the program under strace, its log in $S/trace.log; rc
traced() {
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		timeout -k 5 "$RUN_TIMEOUT" strace -f -y -qq -o "$S/trace.log" -e trace=$TRACE \
		"$ONNXINIT" "$@" >"$OUT" 2>"$ERR" </dev/null
	rc=$?
}
if strace -f -y -qq -o /dev/null -e trace=syncfs true 2>/dev/null; then
	for j in 1 2; do
		traced batch "$T" -o "$S/ord$j" -j "$j" -q
		expect_rc 0
		r=$(chk order "$S/trace.log" "$S/ord$j"); [ -n "$r" ] && w "-j $j: $r"
		same_tree "$S/ref" "$S/ord$j" "-j $j under strace"
	done
	cp -a "$T" "$S/ordip"
	traced batch "$S/ordip" --in-place -q
	expect_rc 0
	r=$(chk order "$S/trace.log" "$S/ordip"); [ -n "$r" ] && w "--in-place: $r"
	verdict "group commit: no model renamed before its files are synced, every folder fsynced after its renames (-j 1, -j 2, --in-place)"
else
	skip "group commit: no model renamed before its files are synced, every folder fsynced after its renames (-j 1, -j 2, --in-place)" "no strace"
fi

# kill -9 at the group's sync, and amid its renames (the third model's):
# each output there is whole (the bytes of a full run), the others absent;
# a rerun completes the tree
if strace -f -qq -o /dev/null -e inject=syncfs:signal=SIGKILL:when=1 true 2>/dev/null; then
	for at in syncfs:when=1 rename:when=3; do
		KG=$S/kg
		rm -rf "$KG"
		(ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
			timeout -k 5 "$RUN_TIMEOUT" strace -f -qq -o /dev/null -e "inject=$at:signal=SIGKILL" \
			"$ONNXINIT" batch "$T" -o "$KG" -j 1 >"$OUT" 2>"$ERR" </dev/null
		:) 2>/dev/null
		n=$(models_in "$KG" | wc -l)
		want=0
		[ "$at" = rename:when=3 ] && want=2
		[ "$n" -eq "$want" ] || w "killed at $at: $n outputs, not $want"
		for r in $(models_in "$KG"); do
			cmp -s "$KG/$r" "$S/ref/$r" || w "killed at $at: $r is not the full run's"
		done
		[ -n "$(temps_in "$KG")" ] || w "killed at $at: no temporaries (was the run killed?)"
		run batch "$T" -o "$KG" -q
		expect_rc 0
		[ -n "$(temps_in "$KG")" ] && w "killed at $at: temporaries after the rerun: $(temps_in "$KG")"
		same_tree "$S/ref" "$KG" "killed at $at, then run again"
	done
	verdict "group commit: kill -9 at the sync or amid the renames -> outputs whole or absent; a rerun completes"
else
	skip "group commit: kill -9 at the sync or amid the renames -> outputs whole or absent; a rerun completes" "no strace that can inject"
fi

# ---- a group's open files: models with many external data files -----------
# 12 models of 40 tensors, each tensor in a data file of its own; with 200
# descriptors a group of 18 models (the plain budget) would need over 900:
# the group is cut by what its models hold instead, and every model is done.
EX=$S/manyext
mkdir -p "$EX/in"
"$PYTHON" - "$EX/in" <<'PYEOF' || exit 2
import sys, os, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
from onnx.external_data_helper import convert_model_to_external_data
d = sys.argv[1]
for k in range(12):
    nodes, inits, prev = [], [], 'x'
    for i in range(40):
        inits.append(numpy_helper.from_array(np.full((4, 4), 0.5, np.float32), 'w%d' % i))
        nodes.append(helper.make_node('MatMul', [prev, 'w%d' % i], ['y%d' % i], name='m%d' % i))
        prev = 'y%d' % i
    g = helper.make_graph(nodes, 'g', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 4])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)])
    convert_model_to_external_data(m, all_tensors_to_one_file=False, size_threshold=0)
    onnx.save(m, os.path.join(d, 'm%02d.onnx' % k))
PYEOF
(ulimit -n 200 && exec timeout -k 5 "$RUN_TIMEOUT" "$ONNXINIT" batch "$EX/in" -o "$EX/out" \
	-j 1 -q) >"$OUT" 2>"$ERR" </dev/null
rc=$?
expect_rc 0
[ "$(models_in "$EX/out" | wc -l)" -eq 12 ] || w "$(models_in "$EX/out" | wc -l) models written, not 12"
verdict "group commit: models with many data files stay within the open-file limit"

echo "batch: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
