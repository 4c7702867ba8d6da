#!/usr/bin/env bash
# Checks the layers (docs/architecture.md, "Layers") on what the compiler
# really read: every header of every object file of a layer's library, as
# Ninja's dependency log records it (headers included through other headers
# and through the layer's precompiled header, cmake/WinnowBuildSpeed.cmake,
# included):
#   selection/ reads no gRPC, protobuf, RocksDB or generated contract;
#   storage/   reads no gRPC, protobuf or generated contract;
#   server/    reads no RocksDB.
# It also checks that it sees what it should (storage/ does read RocksDB,
# server/ gRPC), so that an empty or stale log cannot pass. Run after a
# build; ctest runs it as "layering_includes".
#
#   bash scripts/check-layering.sh [BUILD_DIR]    # NINJA=path/to/ninja
set -euo pipefail

BUILD_DIR="${1:-build}"
NINJA="${NINJA:-ninja}"
deps="$(mktemp)"
trap 'rm -f "$deps"' EXIT
"$NINJA" -C "$BUILD_DIR" -t deps >"$deps"

# headers OBJECT_DIR: the headers read by the objects under OBJECT_DIR
# (relative to the build dir), one "object: header" per line.
headers() {
  awk -v dir="$1/" '
    /^[^ \t]/ { obj = ($0 ~ "^" dir) ? $1 : ""; next }
    obj != "" && NF { print obj " " $1 }' "$deps"
}

status=0
# layer NAME OBJECT_DIR FORBIDDEN_REGEX REQUIRED_REGEX
layer() {
  local name="$1" dir="$2" forbidden="$3" required="$4" read
  read="$(headers "$dir")"
  if [ -z "$read" ]; then
    echo "check-layering: no dependency log for $dir in $BUILD_DIR (build first)" >&2
    status=1
    return
  fi
  if grep -E -- "$forbidden" <<<"$read"; then
    echo "check-layering: $name reads headers it may not (above)" >&2
    status=1
  fi
  if [ -n "$required" ] && ! grep -qE -- "$required" <<<"$read"; then
    echo "check-layering: $name reads no header matching $required; is the log complete?" >&2
    status=1
  fi
  echo "check-layering: $name: $(cut -d' ' -f1 <<<"$read" | sort -u | wc -l) objects checked"
}

contract='/(grpc|grpcpp|grpc\+\+)/|/google/protobuf/|/winnow/v1/[a-z_]+\.(grpc\.)?pb\.h'
layer selection selection/CMakeFiles/winnow_selection.dir \
  "$contract|/rocksdb/" '/absl/'
layer storage storage/CMakeFiles/winnow_storage.dir "$contract" '/rocksdb/'
layer server server/CMakeFiles/winnow_server.dir '/rocksdb/' '/grpcpp/'
layer winnowd server/CMakeFiles/winnowd.dir '/rocksdb/' ''
exit $status
