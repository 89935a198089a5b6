#!/usr/bin/env bash
# The fuzzers themselves, briefly: a clang build with -Dfuzz=true (the library
# compiled again with libFuzzer's coverage, ASan and UBSan), then each fuzzer
# runs FUZZ_SECONDS (default 20) from a copy of its committed corpus. Fails if
# the build fails or a fuzzer finds a crash, a leak or undefined behaviour
# (its input is left in $WORK/crash-*); skipped (77) without clang.
# Environment: SRCDIR, WORK.
set -uo pipefail
: "${SRCDIR:?}" "${WORK:?}"
secs=${FUZZ_SECONDS:-20}
command -v clang >/dev/null || { echo "no clang: skipped"; exit 77; }
rm -rf "$WORK"
mkdir -p "$WORK"
B=$WORK/build
if ! CC=clang meson setup "$B" "$SRCDIR" -Dfuzz=true -Db_lundef=false \
	>"$WORK/setup.log" 2>&1; then
	tail -n 20 "$WORK/setup.log"
	echo "not ok - clang configure with -Dfuzz=true"
	exit 1
fi
if ! ninja -C "$B" tests/fuzz/fuzz_load tests/fuzz/fuzz_data tests/fuzz/fuzz_donor \
	>"$WORK/build.log" 2>&1; then
	grep -m 5 -A 5 'error' "$WORK/build.log"
	echo "not ok - clang build of the fuzzers"
	exit 1
fi
status=0
for f in load:corpus data:corpus_data donor:corpus_donor; do
	name=${f%%:*} corpus=${f#*:}
	cp -r "$SRCDIR/tests/fuzz/$corpus" "$WORK/$corpus"
	if "$B/tests/fuzz/fuzz_$name" -max_total_time="$secs" -artifact_prefix="$WORK/crash-$name-" \
		-print_final_stats=1 "$WORK/$corpus" >"$WORK/$name.log" 2>&1; then
		echo "ok - fuzz_$name, $secs s: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' \
			"$WORK/$name.log" | grep -o '[0-9]*$') inputs"
	else
		grep -m 3 -E 'ERROR|SUMMARY' "$WORK/$name.log"
		echo "not ok - fuzz_$name: a crash, see $WORK/$name.log"
		status=1
	fi
done
exit $status
