#!/bin/sh
# Runs the README's Python example (demo/python_example.py) with freshly
# generated stubs against a real winnowd on a free loopback port.
# Usage: python_example_test.sh WINNOWD SOURCE_DIR WORK_DIR
set -eu
WINNOWD=$1 SRC=$2 WORK=$3
rm -rf "$WORK" && mkdir -p "$WORK/python"
protoc -I"$SRC/proto" --python_out="$WORK/python" --grpc_out="$WORK/python" \
  --plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin "$SRC"/proto/winnow/v1/*.proto
"$WINNOWD" --data-dir "$WORK/data" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 >"$WORK/winnowd.log" 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null || true' EXIT
i=0
until grep -q "listening on" "$WORK/winnowd.log"; do
  i=$((i + 1)); [ $i -lt 300 ] || { cat "$WORK/winnowd.log"; exit 1; }
  sleep 0.1
done
PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/winnowd.log" | head -1)
PYTHONPATH="$WORK/python" /usr/bin/python3 "$SRC/demo/python_example.py" \
  --server "127.0.0.1:$PORT" | tee "$WORK/out.txt"
grep -q "acknowledged sequence 1 with 1000 documents" "$WORK/out.txt"
grep -q "quality >= 0.5 and domain == \"web\": 333 documents" "$WORK/out.txt"
[ "$(grep -c '^batch ' "$WORK/out.txt")" -eq 2 ]
kill -TERM $PID
wait $PID
