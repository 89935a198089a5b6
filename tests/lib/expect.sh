# Shared by the CLI test scripts: TAP-ish ok/not_ok counters, run (the
# program's exit code in rc, its output in $S/out and $S/err) and expect.
# The sourcing script sets ONNXINIT, S (a scratch directory) and, for slow
# runs, RUN_TIMEOUT (seconds, default 60).
passed=0
failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1: $2"; failed=$((failed + 1)); }

run() {
	timeout -k 5 "${RUN_TIMEOUT:-60}" "$ONNXINIT" "$@" >"$S/out" 2>"$S/err" </dev/null
	rc=$?
}

# expect NAME CODE PATTERN ARGS...: exit CODE, one stderr line matching
# PATTERN (grep -E), no output file $S/o.onnx
expect() {
	local name=$1 code=$2 pat=$3
	shift 3
	rm -f "$S/o.onnx"
	run "$@"
	local why=""
	[ "$rc" -eq "$code" ] || why="exit $rc, not $code"
	# one line; a usage error may add where --help is
	local lines
	lines=$(grep -vc "^Try 'onnxinit .*--help' for more information.$" "$S/err")
	[ -z "$why" ] && [ "$lines" -ne 1 ] && why="$lines stderr lines"
	[ -z "$why" ] && ! grep -qE -e "$pat" "$S/err" && why="stderr does not match '$pat'"
	[ -z "$why" ] && ! grep -q '^onnxinit: ' "$S/err" && why="stderr does not start with 'onnxinit: '"
	[ -z "$why" ] && [ -e "$S/o.onnx" ] && why="an output was written"
	[ -z "$why" ] && [ -n "$(find "$S" -maxdepth 1 -name '.*.oi-*')" ] && why="temporaries left"
	if [ -n "$why" ]; then not_ok "$name" "$why; stderr: $(head -c 300 "$S/err")"; else ok "$name"; fi
}
