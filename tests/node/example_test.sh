#!/bin/sh
# The Node.js example (client/node/example.js) against a real winnowd on a
# free loopback port: it creates a collection, upserts, counts, samples with
# a cursor and resumes, and checks the resume itself; this script checks
# its output. Needs client/node/node_modules (scripts/install-deps.sh runs
# `npm ci` there).
# Usage: example_test.sh WINNOWD SOURCE_DIR WORK_DIR
set -eu
WINNOWD=$1 SRC=$2 WORK=$3
if [ ! -d "$SRC/client/node/node_modules/@grpc/grpc-js" ]; then
  echo "client/node/node_modules is missing: run scripts/install-deps.sh" >&2
  exit 1
fi
rm -rf "$WORK" && mkdir -p "$WORK"
. "$SRC/tests/start_winnowd.sh"
start_winnowd "$WINNOWD" "$WORK"
node "$SRC/client/node/example.js" --server "127.0.0.1:$PORT" | tee "$WORK/out.txt"
grep -q "acknowledged sequence 1 with 100 documents" "$WORK/out.txt"
grep -q 'count quality >= 0.5 and domain == "web": 38' "$WORK/out.txt"
[ "$(grep -c '^batch ' "$WORK/out.txt")" -eq 3 ]
grep -q "resumed at batch 3, 7 more batches" "$WORK/out.txt"
grep -q "every document served once across the resume" "$WORK/out.txt"
kill -TERM $PID
wait $PID
