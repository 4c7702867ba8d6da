#!/usr/bin/env bash
# Runs the tests: installs what is missing, builds with Ninja, lints the
# proto contract with buf, then runs ctest: every test but the long crash
# and load ones (labels "reliability" and "load"), which CI runs in a timed
# stage of their own (scripts/ci-stages.sh crash). This is the README's test command and
# the first thing CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

BUILD_DIR="${BUILD_DIR:-build}"
start=$SECONDS
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$BUILD_DIR" -j "$(nproc)"
echo "==== build: $((SECONDS - start))s of 720s budget"

echo "== buf lint proto"
node_modules/.bin/buf lint proto

echo "== ctest"
# The long crash and load tests (labels "reliability" and "load") run in
# their own timed CI stage, scripts/ci-stages.sh crash.
start=$SECONDS
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" \
  -LE 'reliability|load'
echo "==== tests: $((SECONDS - start))s of 600s budget"
