#!/usr/bin/env bash
# Configure and build the project (-O3, as a release build: its warnings are
# errors too) as on a machine without cmocka: the tests are
# left out (the `tests` feature is auto), -Dtests=enabled fails with a message,
# the program that is built runs, and its man page installs.
# Environment: SRCDIR, WORK, ONNXINIT (this build's program, for comparing
# bytes), VERSION.
set -euo pipefail
: "${SRCDIR:?}" "${WORK:?}" "${ONNXINIT:?}" "${VERSION:?}"

fail() { echo "FAIL: $*" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK/pkgconfig"

# Every .pc file pkg-config can see, except cmocka's.
IFS=: read -r -a pc_dirs <<<"$(pkg-config --variable pc_path pkg-config)"
for d in "${pc_dirs[@]}" ${PKG_CONFIG_PATH:+${PKG_CONFIG_PATH//:/ }}; do
	[ -d "$d" ] || continue
	for pc in "$d"/*.pc; do
		[ -e "$pc" ] || continue
		name=$(basename "$pc")
		[ "$name" = cmocka.pc ] && continue
		[ -e "$WORK/pkgconfig/$name" ] || ln -s "$pc" "$WORK/pkgconfig/$name"
	done
done
export PKG_CONFIG_LIBDIR=$WORK/pkgconfig
unset PKG_CONFIG_PATH
# Debian's cmocka also ships a CMake package, which meson would find through cmake.
export CMAKE=/bin/false

pkg-config --exists cmocka && fail "cmocka is still visible to pkg-config"
pkg-config --exists jansson libprotobuf-c openblas ||
	fail "the copy of the pkg-config folders lost a build dependency"

# Asked for explicitly, the tests must fail the configuration, naming cmocka.
if meson setup "$WORK/enabled" "$SRCDIR" -Dtests=enabled >"$WORK/enabled.log" 2>&1; then
	cat "$WORK/enabled.log" >&2
	fail "-Dtests=enabled configured without cmocka"
fi
grep -qi cmocka "$WORK/enabled.log" || { cat "$WORK/enabled.log" >&2; fail "-Dtests=enabled failed without naming cmocka"; }
echo "ok: -Dtests=enabled fails without cmocka"

# The default (auto) configures and builds, through the user's script.
"$SRCDIR/scripts/build.sh" "$WORK/fresh" -Dbuildtype=release ||
	fail "scripts/build.sh failed without cmocka"
tests=$(meson introspect --tests "$WORK/fresh")
[ "$tests" = "[]" ] || fail "tests were configured without cmocka: $tests"
echo "ok: configured and built without cmocka, no tests"

exe=$WORK/fresh/onnxinit
[ -x "$exe" ] || fail "no program at $exe"
# meson test points LD_LIBRARY_PATH at this build's library; the fresh program must use its own.
unset LD_LIBRARY_PATH
lib=$(ldd "$exe" | awk '/libonnxinit\.so/ { print $3 }')
[ "$lib" -ef "$WORK/fresh/libonnxinit.so.0" ] || fail "the fresh program loads $lib"
out=$("$exe" --version)
case "$out" in
*"$VERSION"*) echo "ok: --version says $out" ;;
*) fail "--version printed '$out', not $VERSION" ;;
esac

"$exe" init "$SRCDIR/models/mlp.onnx" -o "$WORK/mlp.onnx" --seed 3 -q ||
	fail "init models/mlp.onnx failed"
cmp -s "$SRCDIR/models/mlp.onnx" "$WORK/mlp.onnx" && fail "init did not change models/mlp.onnx"
"$exe" inspect "$WORK/mlp.onnx" >/dev/null || fail "the output does not load again"
# The bytes do not depend on how the program was compiled.
LD_LIBRARY_PATH=$(dirname "$ONNXINIT") "$ONNXINIT" init "$SRCDIR/models/mlp.onnx" -o "$WORK/mlp-ref.onnx" --seed 3 -q
cmp "$WORK/mlp.onnx" "$WORK/mlp-ref.onnx" || fail "the fresh build's bytes differ from this build's"
echo "ok: re-initialized models/mlp.onnx, the same bytes as this build"

# The man page goes where man finds it, and renders without a warning.
meson install -C "$WORK/fresh" --destdir "$WORK/dest" --no-rebuild >"$WORK/install.log" 2>&1 ||
	{ cat "$WORK/install.log" >&2; fail "meson install failed"; }
page=$(find "$WORK/dest" -path '*/share/man/man1/onnxinit.1')
[ -n "$page" ] || fail "meson install put no share/man/man1/onnxinit.1"
if command -v groff >/dev/null; then
	warnings=$(groff -man -Tutf8 -ww "$page" 2>&1 >/dev/null)
	[ -z "$warnings" ] || fail "groff warns about onnxinit.1: $warnings"
	echo "ok: installed $page, renders without warnings"
else
	echo "ok: installed $page (groff missing: not rendered)"
fi
