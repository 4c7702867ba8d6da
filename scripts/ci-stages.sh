#!/usr/bin/env bash
# CI's stages after the README test command (.ci/run): the lock-rule check
# (clang-14's -Wthread-safety over storage/ and server/), sanitizer builds
# and their tests, fuzzing, the crash and load tests (labels reliability and
# load), and the power-loss tests (label powerloss). Each stage
# prints its elapsed time against its budget (issue 6); the summary lists
# them all. A failing stage fails the script after every stage has run.
# An over-budget stage is flagged; with CI_ENFORCE_BUDGETS=1 it fails too.
#
#   bash scripts/ci-stages.sh                # every stage
#   bash scripts/ci-stages.sh fuzz crash     # some: thread-safety |
#                                            # sanitizers | fuzz | crash |
#                                            # powerloss
set -uo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR="${BUILD_DIR:-build}"
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
STAGES=("$@")
if [ "${#STAGES[@]}" -eq 0 ]; then
  STAGES=(thread-safety sanitizers fuzz crash powerloss)
fi

summary=()
failed=0

# stage NAME BUDGET_SECONDS COMMAND...
stage() {
  local name="$1" budget="$2"
  shift 2
  echo
  echo "==== stage: $name (budget ${budget}s)"
  local start=$SECONDS rc=0
  "$@" || rc=$?
  local took=$((SECONDS - start)) verdict="ok"
  if [ $rc -ne 0 ]; then
    verdict="FAILED (exit $rc)"
    failed=1
  elif [ $took -gt "$budget" ]; then
    verdict="OVER BUDGET"
    if [ "${CI_ENFORCE_BUDGETS:-0}" = 1 ]; then failed=1; fi
  fi
  local line
  line=$(printf '%-34s %5ds of %5ds budget  %s' "$name" "$took" "$budget" "$verdict")
  echo "==== $line"
  summary+=("$line")
}

for s in "${STAGES[@]}"; do
  case "$s" in
    thread-safety)
      # Cold (CCACHE_DISABLE=1): protoc and 35 files, about 130 s of CPU, so
      # about 70 s on 2 idle cores (240 s measured on 2 busy ones).
      stage "lock rules (clang-14 -Wthread-safety)" 300 \
        bash scripts/thread-safety.sh ;;
    sanitizers)
      stage "sanitizers (ASan+UBSan, TSan)" 1200 bash scripts/sanitizers.sh ;;
    fuzz)
      # Each target for FUZZ_SECONDS with ASan and UBSan; the build is part
      # of the stage.
      targets=(filter_fuzzer request_fuzzer cursor_fuzzer plan_record_fuzzer)
      stage "fuzzing (${#targets[@]} x ${FUZZ_SECONDS}s + build)" \
        $(( ${#targets[@]} * FUZZ_SECONDS + 300 )) \
        env FUZZ_SECONDS="$FUZZ_SECONDS" bash scripts/fuzz.sh "${targets[@]}" ;;
    crash)
      stage "crash and load tests" 360 \
        ctest --test-dir "$BUILD_DIR" -L 'reliability|load' --output-on-failure ;;
    powerloss)
      stage "power-loss tests" 300 \
        ctest --test-dir "$BUILD_DIR" -L powerloss --output-on-failure ;;
    *)
      echo "unknown stage '$s' (thread-safety, sanitizers, fuzz, crash," \
        "powerloss)" >&2
      exit 2 ;;
  esac
done

echo
echo "==== stage times"
for line in "${summary[@]}"; do echo "  $line"; done
exit $failed
