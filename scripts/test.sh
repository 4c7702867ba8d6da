#!/usr/bin/env bash
# Runs every test: installs what is missing, builds with Ninja, lints the
# proto contract with buf, then runs ctest in two timed groups: the tests
# (budget 10 min), then the long crash and load tests (labels "reliability"
# and "load", budget 6 min). This is the README's test command and the first
# thing CI runs (.ci/run). A third group, the power-loss tests (label
# "powerloss", budget 5 min), runs last.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

BUILD_DIR="${BUILD_DIR:-build}"
start=$SECONDS
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DWINNOW_DEBUG_INFO=-g1  # line tables: cmake/WinnowBuildSpeed.cmake
cmake --build "$BUILD_DIR" -j "$(nproc)"
echo "==== build: $((SECONDS - start))s of 720s budget"

echo "== buf lint proto"
node_modules/.bin/buf lint proto

echo "== ctest"
start=$SECONDS
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" \
  -LE 'reliability|load|powerloss'
echo "==== tests: $((SECONDS - start))s of 600s budget"

echo "== ctest: crash and load tests"
start=$SECONDS
ctest --test-dir "$BUILD_DIR" --output-on-failure -L 'reliability|load'
echo "==== crash and load tests: $((SECONDS - start))s of 360s budget"

echo "== ctest: power-loss tests"
start=$SECONDS
ctest --test-dir "$BUILD_DIR" --output-on-failure -L powerloss
echo "==== power-loss tests: $((SECONDS - start))s of 300s budget"
