#!/usr/bin/env bash
# Quick start, part two: install what is missing, build, run every test, then
# run the suites again in an AddressSanitizer + UndefinedBehaviorSanitizer build.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test || exit 1

status=0
scripts/build.sh build || exit 1
meson test -C build --print-errorlogs --num-processes 2 || status=1
cp build/meson-logs/testlog.json /tmp/onnxinit-testlog-main.json 2>/dev/null

# The sanitizer build: every C test runs again with ASan + UBSan + LSan (not the
# build suite: it compiles the project once more, which the sanitizers do not check).
scripts/build.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false \
	-Dbuildtype=debug || exit 1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-asan --print-errorlogs --num-processes 2 \
	--suite unit --suite cli --suite fuzz --suite corpus --suite batch --suite schemes \
	--suite roles --suite untie --suite residual --suite eval --suite donor || status=1

# One closing line for both runs.
/usr/bin/python3 - build/meson-logs/testlog.json build-asan/meson-logs/testlog.json <<'PY'
import json, sys
ok = bad = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        bad += 1
        continue
    for line in lines:
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            ok += 1
        elif r == "SKIP":
            skipped += 1
        else:
            bad += 1
print(f"tests: {ok} passed, {bad} failed, {skipped} skipped")
PY
exit $status
