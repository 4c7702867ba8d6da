#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ with clang-14, ASan and UBSan
# in build-fuzz/, and runs each for FUZZ_SECONDS (default 60) from its
# committed seed corpus (tests/fuzz/corpus/<target>/). New inputs go to a
# scratch corpus under build-fuzz/fuzz/, so the committed one stays small; a
# crash leaves its input in build-fuzz/fuzz/findings/ and fails the script.
#
#   bash scripts/fuzz.sh                  # every target, 60 s each
#   FUZZ_SECONDS=10 bash scripts/fuzz.sh filter_fuzzer
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR="${FUZZ_BUILD_DIR:-build-fuzz}"
SECONDS_EACH="${FUZZ_SECONDS:-60}"
TARGETS=("$@")
if [ "${#TARGETS[@]}" -eq 0 ]; then
  TARGETS=(filter_fuzzer request_fuzzer cursor_fuzzer plan_record_fuzzer)
fi

command -v clang++-14 >/dev/null || {
  echo "fuzz.sh: clang++-14 is missing (scripts/install-deps.sh installs it)" >&2
  exit 1
}

# request_fuzzer links the main (g++) build's libwinnow_selection.so:
# clang-14 cannot compile selection/'s multiversioned templates.
MAIN_BUILD_DIR="${BUILD_DIR_MAIN:-build}"
if [ ! -f "$MAIN_BUILD_DIR/selection/libwinnow_selection.so" ]; then
  cmake -S . -B "$MAIN_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$MAIN_BUILD_DIR" -j "$(nproc)" --target winnow_selection
fi
CC=clang-14 CXX=clang++-14 cmake -S . -B "$BUILD_DIR" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWINNOW_FUZZ=ON \
  -DWINNOW_SANITIZE=address,undefined -DWINNOW_BUILD_BENCH=OFF -DWINNOW_PCH=OFF \
  -DWINNOW_FUZZ_SELECTION_LIB="$PWD/$MAIN_BUILD_DIR/selection/libwinnow_selection.so" \
  >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target "${TARGETS[@]}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
for t in "${TARGETS[@]}"; do
  work="$BUILD_DIR/fuzz/corpus/$t"
  findings="$BUILD_DIR/fuzz/findings/$t"
  mkdir -p "$work" "$findings"
  echo "== fuzz $t for ${SECONDS_EACH}s"
  start=$(date +%s)
  if ! "$BUILD_DIR/tests/fuzz/$t" "$work" "tests/fuzz/corpus/$t" \
      -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
      -max_len=4096 -artifact_prefix="$findings/" -print_final_stats=1 \
      > "$BUILD_DIR/fuzz/$t.log" 2>&1; then
    echo "FAIL: $t found a crash; its input is in $findings/" >&2
    tail -60 "$BUILD_DIR/fuzz/$t.log" >&2
    status=1
  else
    grep -E "^stat::number_of_executed_units|^stat::new_units_added" \
      "$BUILD_DIR/fuzz/$t.log" | tr '\n' ' '
    echo "($(( $(date +%s) - start ))s)"
  fi
done
exit $status
