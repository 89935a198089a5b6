#!/usr/bin/env bash
# Configure (once) and build BUILD_DIR (default build) with warnings as errors.
#   scripts/build.sh [BUILD_DIR [MESON_SETUP_OPTION...]]
# Quiet when all goes well; when meson or ninja fails, its whole output is shown.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Runs "$@" with its output in $log; on failure prints it and exits 1.
quietly() {
	if ! "$@" >"$log" 2>&1; then
		cat "$log" >&2
		echo "build.sh: failed: $*" >&2
		exit 1
	fi
}

if [ ! -f "$dir/build.ninja" ]; then
	quietly meson setup "$dir" --werror "$@"
fi
quietly ninja -C "$dir"
