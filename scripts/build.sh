#!/usr/bin/env bash
# Configure (once) and build BUILD_DIR (default build) with warnings as errors.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
if [ ! -f "$dir/build.ninja" ]; then
	meson setup "$dir" --werror "$@" >/dev/null
fi
ninja -C "$dir" >/dev/null
