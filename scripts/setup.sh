#!/usr/bin/env bash
# Install what onnxinit needs on Debian 12, only what is missing.
#   scripts/setup.sh          build dependencies (meson then builds without the tests)
#   scripts/setup.sh --test   and what the tests need (cmocka, python3-onnx, ONNX Runtime, ...)
# As root it runs apt-get itself; otherwise through sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
[ "${1:-}" = "--test" ] && want_tests=1

SUDO=()
[ "$(id -u)" -ne 0 ] && SUDO=(sudo)

pkgs=(build-essential pkg-config meson ninja-build protobuf-c-compiler
      libprotobuf-c-dev libonnx-dev libopenblas-dev libjansson-dev zlib1g-dev)
if [ "$want_tests" = 1 ]; then
	pkgs+=(libcmocka-dev python3-onnx python3-numpy libonnx-testdata clang
	       libclang-rt-14-dev python3-torch python3-torchvision python3-scipy strace
	       python3-sklearn dataset-fashion-mnist)
	command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}" >&2
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$want_tests" = 1 ] && [ ! -d tests/ort/node_modules/onnxruntime-node ]; then
	echo "setup: installing onnxruntime-node (npm)" >&2
	(cd tests/ort && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
