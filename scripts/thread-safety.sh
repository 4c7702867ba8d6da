#!/usr/bin/env bash
# Checks the lock rules of storage/ and server/: compiles every source file
# of winnow_storage and winnow_server with clang-14, whose -Wthread-safety
# analysis checks the abseil annotations (ABSL_GUARDED_BY,
# ABSL_EXCLUSIVE_LOCKS_REQUIRED, ...) and, with -Werror=thread-safety (the
# top CMakeLists.txt adds both under clang), fails on a violation.
#
# Only what the check needs is built: the generated proto headers, then
# each source of the two libraries with -fsyntax-only (clang parses,
# instantiates templates and runs the analysis, but emits no code), so
# nothing is linked; g++ builds the real binaries (scripts/test.sh). No
# precompiled headers (WINNOW_PCH=OFF): -fsyntax-only writes none, and so
# every file of the two libraries is checked to include what it uses.
# Build directory: build-tsa/ (THREAD_SAFETY_BUILD_DIR).
#
#   bash scripts/thread-safety.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR="${THREAD_SAFETY_BUILD_DIR:-build-tsa}"
JOBS="${JOBS:-$(nproc)}"

command -v clang++-14 >/dev/null || {
  echo "thread-safety.sh: clang++-14 is missing (scripts/install-deps.sh installs it)" >&2
  exit 1
}

CC=clang-14 CXX=clang++-14 cmake -S . -B "$BUILD_DIR" -G Ninja \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O0 -fsyntax-only" \
  -DWINNOW_BUILD_TESTS=OFF -DWINNOW_BUILD_BENCH=OFF -DWINNOW_PCH=OFF >/dev/null

# The compile steps of the two libraries and winnowd's main.cc; each waits
# only for protoc's headers, not for any library to build. Without an
# object file to show for it, each runs again on every call.
mapfile -t steps < <(ninja -C "$BUILD_DIR" -t targets all |
  grep -E '^(storage/CMakeFiles/winnow_storage|server/CMakeFiles/winnow_server|server/CMakeFiles/winnowd)\.dir/.*\.cc\.o:' |
  cut -d: -f1)
sources=$(ls storage/*.cc server/*.cc | wc -l)
if [ "${#steps[@]}" -ne "$sources" ]; then
  echo "thread-safety.sh: found ${#steps[@]} compile steps for $sources sources of storage/ and server/" >&2
  exit 1
fi
echo "== clang-14 -Wthread-safety -Werror=thread-safety: ${#steps[@]} files of storage/ and server/"
# -k 0: report every file that breaks a rule, not just the first.
ninja -C "$BUILD_DIR" -j "$JOBS" -k 0 "${steps[@]}"
echo "== lock rules hold in storage/ and server/"
