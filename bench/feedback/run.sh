#!/usr/bin/env bash
# The training-feedback bench (docs/benchmarks.md, "Training feedback"):
# starts winnowd on a free loopback port with a fresh data directory,
# runs build/bench/feedback_bench against it, prints its JSON lines, and
# stops the server.
#
#   bash bench/feedback/run.sh                       # 1M docs, 500 messages
#   bash bench/feedback/run.sh --docs 100000 --messages 50 --seconds 2
#
# Flags go to feedback_bench (see its --help text in feedback_bench.cc).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR="${BUILD_DIR:-build}"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD_DIR" -j "${BENCH_BUILD_JOBS:-2}" --target winnowd feedback_bench >/dev/null

data=$(mktemp -d /tmp/winnow-feedback-bench-XXXXXX)
log="$data.log"
"$BUILD_DIR/server/winnowd" --data-dir "$data/db" --listen 127.0.0.1:0 \
  --metrics-listen 127.0.0.1:0 ${WINNOWD_FLAGS:-} >"$log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$data" "$log"
}
trap cleanup EXIT
port=""
for _ in $(seq 1 300); do
  port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$log" | head -1 | sed 's/.*://' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "winnowd did not start:" >&2
  cat "$log" >&2
  exit 1
fi
"$BUILD_DIR/bench/feedback_bench" --target "127.0.0.1:$port" "$@"
