#!/usr/bin/env bash
# Runs every test: installs what is missing, builds with Ninja, lints the
# proto contract with buf, then runs ctest. This is the README's test command
# and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

BUILD_DIR="${BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$BUILD_DIR" -j "$(nproc)"

echo "== buf lint proto"
node_modules/.bin/buf lint proto

echo "== ctest"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)"
