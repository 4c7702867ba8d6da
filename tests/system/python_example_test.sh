#!/bin/sh
# Runs the README's Python example (demo/python_example.py) with freshly
# generated stubs against a real winnowd on a free loopback port.
# Usage: python_example_test.sh WINNOWD SOURCE_DIR WORK_DIR
set -eu
WINNOWD=$1 SRC=$2 WORK=$3
rm -rf "$WORK" && mkdir -p "$WORK/python"
protoc -I"$SRC/proto" --python_out="$WORK/python" --grpc_out="$WORK/python" \
  --plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin "$SRC"/proto/winnow/v1/*.proto
. "$SRC/tests/start_winnowd.sh"
start_winnowd "$WINNOWD" "$WORK"
PYTHONPATH="$WORK/python" /usr/bin/python3 "$SRC/demo/python_example.py" \
  --server "127.0.0.1:$PORT" | tee "$WORK/out.txt"
grep -q "acknowledged sequence 1 with 1000 documents" "$WORK/out.txt"
grep -q "quality >= 0.5 and domain == \"web\": 333 documents" "$WORK/out.txt"
[ "$(grep -c '^batch ' "$WORK/out.txt")" -eq 2 ]
kill -TERM $PID
wait $PID
