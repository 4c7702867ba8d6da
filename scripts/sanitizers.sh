#!/usr/bin/env bash
# Sanitizer builds and their tests (docs/architecture.md, "How it is tested"),
# each in its own build dir:
#  - build-asan/: ASan + UBSan of selection/ and storage/ and their test
#    binaries, and concurrency_tests (below);
#  - build-tsan/: TSan of the same: selection/, storage/'s own concurrent
#    code (group commit, snapshots, the quota file system, training
#    feedback: FeedbackStoreTest.ConcurrentReportersAndReaders) under
#    concurrent tests, and concurrency_tests: server/'s plan registry, cursor codec and
#    token store (with SIGHUP-style reloads) raced from many threads, built
#    from their sources without the rest of winnow_server.
# Both compile at -O1 (CMakeLists.txt; docs/architecture.md, "Build time"),
# and the longest tests repeat less there (tests/sanitized.h).
# Both use g++ (12): selection/ multiversions function templates
# (target_clones), which clang-14 cannot compile; the fuzz targets, which
# need clang, build the sources they use on their own (tests/fuzz/).
# Debian's gRPC and RocksDB are not instrumented, so server/ and client/
# tests (which live inside gRPC) are not run here; RocksDB runs
# uninstrumented under storage's tests, and TSan reports inside it are
# suppressed (tests/sanitizers/tsan.supp). Abseil is uninstrumented too:
# the TSan test binaries carry tests/sanitizers/absl_mutex_tsan.cc, which
# reports absl::Mutex's locks to TSan.
#
#   bash scripts/sanitizers.sh            # both
#   bash scripts/sanitizers.sh asan       # or just one: asan | tsan
set -euo pipefail
cd "$(dirname "$0")/.."

KINDS=("$@")
if [ "${#KINDS[@]}" -eq 0 ]; then KINDS=(asan tsan); fi
TARGETS=(selection_tests storage_tests concurrency_tests)
JOBS="${JOBS:-$(nproc)}"

run_tests() {  # run_tests BUILD_DIR [PREFIX...]
  local dir="$1" status=0
  shift
  for t in "${TARGETS[@]}"; do
    echo "-- $dir/tests/$t"
    if ! "$@" "$dir/tests/$t" --gtest_brief=1 ${GTEST_FILTER:+--gtest_filter="$GTEST_FILTER"}; then
      status=1
    fi
  done
  return $status
}

status=0
for kind in "${KINDS[@]}"; do
  case "$kind" in
    asan) sanitize=address,undefined ;;
    tsan) sanitize=thread ;;
    *) echo "unknown sanitizer build '$kind' (asan or tsan)" >&2; exit 2 ;;
  esac
  dir="build-$kind"
  start=$(date +%s)
  echo "== $kind: building ${TARGETS[*]} in $dir (-fsanitize=$sanitize)"
  # Without precompiled headers: their gain is small with GCC 12
  # (docs/architecture.md, "Build time"), and each sanitizer would build its
  # own. Line tables (-g1) are all a sanitizer report needs for file:line.
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DWINNOW_SANITIZE="$sanitize" -DWINNOW_BUILD_BENCH=OFF \
    -DWINNOW_PCH=OFF -DWINNOW_DEBUG_INFO=-g1 >/dev/null
  cmake --build "$dir" -j "$JOBS" --target "${TARGETS[@]}"
  echo "== $kind: built in $(( $(date +%s) - start ))s; running tests"
  if [ "$kind" = asan ]; then
    # Leak checking stays on; RocksDB's few process-lifetime singletons are
    # not leaks of ours.
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1"
    export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  else
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/sanitizers/tsan.supp"
  fi
  # TSan's runtime cannot map its shadow memory on kernels with more than
  # 28 bits of mmap randomization; without ASLR it always can.
  prefix=()
  if [ "$kind" = tsan ] && setarch "$(uname -m)" -R true 2>/dev/null; then
    prefix=(setarch "$(uname -m)" -R)
  fi
  if run_tests "$dir" "${prefix[@]}"; then
    echo "== $kind: passed ($(( $(date +%s) - start ))s in all)"
  else
    echo "== $kind: FAILED" >&2
    status=1
  fi
done
exit $status
