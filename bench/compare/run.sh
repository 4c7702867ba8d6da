#!/usr/bin/env bash
# Winnow against PostgreSQL 15, Redis 7 and numpy, following
# the protocol of docs/benchmarks.md (which has a full run's table).
#
#   bash bench/compare/run.sh                     # N = 1,000,000, 3 reps
#   bash bench/compare/run.sh --n 20000 --reps 1  # the CI smoke run
#   bash bench/compare/run.sh --nearest           # adds the Nearest rows
#   bash bench/compare/run.sh --systems none --scorers  # only the k-means rows
#
# Installs the peers if missing (bench/compare/install-deps.sh), builds
# winnowd, winnow_bench_client and winnow_bench_echo in $BUILD_DIR (default build/) if needed,
# then runs bench.py, which starts every server on 127.0.0.1, prints one
# table and saves it under bench/results/. Other flags: see
# `bench/compare/run.sh --help`.
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD_DIR="${BUILD_DIR:-build}"
bash bench/compare/install-deps.sh

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD_DIR" -j "${BENCH_BUILD_JOBS:-$(nproc)}" --target winnowd winnow_bench_client winnow_bench_echo winnow_bench_nearest winnow_python_stubs >/dev/null

# Python is Debian's (/usr/bin/python3), which the apt packages above serve.
exec /usr/bin/python3 bench/compare/bench.py \
  --winnowd "$BUILD_DIR/server/winnowd" \
  --client "$BUILD_DIR/bench/winnow_bench_client" "$@"
