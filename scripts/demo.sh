#!/usr/bin/env bash
# The README's first command: installs what is missing, builds winnowd and
# winnowctl, starts winnowd on ./data, imports a demo dataset, counts and
# samples through winnowctl, and keeps serving until Ctrl-C.
#
# Environment: WINNOW_LISTEN (default 127.0.0.1:7450), WINNOW_METRICS_LISTEN
# (default 127.0.0.1:9464), WINNOW_DATA_DIR (default ./data), BUILD_DIR
# (default build).
set -euo pipefail
cd "$(dirname "$0")/.."

LISTEN="${WINNOW_LISTEN:-127.0.0.1:7450}"
METRICS_LISTEN="${WINNOW_METRICS_LISTEN:-127.0.0.1:9464}"
DATA_DIR="${WINNOW_DATA_DIR:-./data}"
BUILD_DIR="${BUILD_DIR:-build}"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Installing missing packages"
scripts/install-deps.sh

step "Building winnowd and winnowctl"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target winnowd winnowctl
WINNOWD="$BUILD_DIR/server/winnowd"
CTL=("$BUILD_DIR/client/winnowctl" --server "$LISTEN")

DEMO="$BUILD_DIR/demo/demo.jsonl"
DEMO_NPY="$BUILD_DIR/demo/demo.npy"
if [ ! -s "$DEMO" ] || [ ! -s "$DEMO_NPY" ]; then
  step "Generating the demo dataset ($DEMO, embeddings in $DEMO_NPY)"
  mkdir -p "$(dirname "$DEMO")"
  /usr/bin/python3 demo/make_demo_data.py "$DEMO" --count 20000 \
    --embeddings "$DEMO_NPY" --dim 32
fi

step "Starting winnowd on $LISTEN with data in $DATA_DIR"
mkdir -p "$DATA_DIR"
LOG="$BUILD_DIR/demo/winnowd.log"
"$WINNOWD" --data-dir "$DATA_DIR" --listen "$LISTEN" \
  --metrics-listen "$METRICS_LISTEN" >"$LOG" 2>&1 &
PID=$!
stop() {
  echo
  echo "stopping winnowd (pid $PID)"
  kill -TERM "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  exit 0
}
trap stop INT TERM
for _ in $(seq 1 300); do
  grep -q "listening on" "$LOG" && break
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "winnowd failed to start:"; cat "$LOG"; exit 1
  fi
  sleep 0.1
done
grep "listening on" "$LOG"

run() { echo "\$ winnowctl $*"; "${CTL[@]}" "$@"; }

step "Loading the demo collection, with 32-d embeddings"
# A demo collection left by an older demo has no embeddings: start it anew.
if "${CTL[@]}" list | grep -qx "demo	[0-9]*	0"; then
  run delete demo --yes
fi
if ! "${CTL[@]}" list | cut -f1 | grep -qx demo; then
  run create demo --embedding-dimension 32
fi
run import demo "$DEMO" --embeddings "$DEMO_NPY"
run list

step "Counting by a filter"
run count demo --filter 'quality > 0.5 and domain in ("web", "wiki") and length < 2048'
run count demo --filter 'edu > pct(edu, 90)'

step "The first few matches, with scores"
run filter demo --filter 'quality > 0.8 and attr.lang == "en"' --limit 5 --scores quality,edu

step "A weighted sample (w = quality^2), 2 batches of 8 for rank 0 of 2"
run sample demo --strategy weighted --score quality --weight-function power --alpha 2 \
  --seed 42 --batch-size 8 --rank 0 --world-size 2 --max-batches 2
step "... and rank 1 of the same run: disjoint batches"
run sample demo --strategy weighted --score quality --weight-function power --alpha 2 \
  --seed 42 --batch-size 8 --rank 1 --world-size 2 --max-batches 2

step "Nearest neighbours of a document (exact, cosine)"
run nearest demo --id doc-0000042 -k 3

step "Deduplicating by embeddings: SemDeDup, clustering first (docs/embeddings.md)"
run compute semdedup demo --epsilon 0.05 --clusters 40 --seed 1
run count demo --filter 'semdedup_dup == 1'
step "... and sampling from what it kept"
run sample demo --filter 'semdedup_dup == 0' --strategy uniform --seed 7 \
  --batch-size 8 --max-batches 1

step "winnowd is serving on $LISTEN (log: $LOG). Press Ctrl-C to stop."
wait "$PID"
