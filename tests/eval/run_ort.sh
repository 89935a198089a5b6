#!/usr/bin/env bash
# The evaluator against ONNX Runtime: per op (--ops) or whole PyTorch exports
# (--nets), every intermediate value within 1e-4 of ORT's (relative to the
# value's scale) on the same input. Needs /usr/bin/python3 with python3-onnx
# (and python3-torch, python3-torchvision for --nets), node and tests/ort's
# onnxruntime-node. Env: EVAL_DUMP (the C dumper), SRCDIR.
set -u
what=${1:---ops}
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -d "$here/../ort/node_modules/onnxruntime-node" ]; then
	echo "eval: onnxruntime-node is not installed: run scripts/setup.sh --test" >&2
	echo "eval: 0 passed, 1 failed"
	exit 1
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
/usr/bin/python3 "$here/make_models.py" "$T" "$what" ${ONLY:+--only "$ONLY"} || exit 1
fail=0
while IFS=$'\t' read -r name model data batch; do
	mkdir -p "$T/$name.ours"
	if ! "$EVAL_DUMP" "$model" "$data" "$T/$name.ours" "$batch"; then
		echo "eval: $name: the evaluator did not run the whole graph" >&2
		fail=1
	fi
done < <(/usr/bin/python3 -c '
import json, sys
for c in json.load(open(sys.argv[1])):
    print("\t".join([c["name"], c["model"], c["data"], str(c["batch"])]))' "$T/manifest.json")
node "$here/ort_dump.js" --manifest "$T/manifest.json" 2>"$T/ort.log" || { cat "$T/ort.log" >&2; fail=1; }
/usr/bin/python3 "$here/compare.py" --manifest "$T/manifest.json" || fail=1
exit $fail
