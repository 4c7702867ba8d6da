# Build time (docs/architecture.md, "Build time"): what keeps the cold
# build of a clean clone on CI's 2 cores inside its budget, and warm
# rebuilds cheap.
#
#  - ccache, when installed, with the sloppiness that precompiled headers
#    need (pch_defines,time_macros) set by the project itself, so that a
#    warm rebuild hits the cache without any ccache.conf;
#  - lld as the linker where the compiler can use it (Debian's lld,
#    scripts/install-deps.sh): it links the debug-info-heavy shared
#    libraries and binaries faster than GNU ld;
#  - line tables only (-g1) for the test binaries (winnow_test_debug_info);
#  - precompiled headers of the heavy third-party headers, one set per layer
#    (winnow_precompile_headers below). A layer's set holds only what the
#    layer may include (docs/architecture.md, "Layers"): selection/ never
#    sees gRPC, protobuf or RocksDB, server/ never sees RocksDB, and
#    scripts/check-layering.sh (ctest "layering_includes") checks what each
#    layer's objects really read, precompiled headers included.
#
# -DWINNOW_PCH=OFF (or CMAKE_DISABLE_PRECOMPILE_HEADERS=ON) builds without
# the precompiled headers, e.g. to check that every file includes what it
# uses.
include_guard(GLOBAL)
include(CheckLinkerFlag)

option(WINNOW_PCH "Precompile each layer's heavy third-party headers" ON)
option(WINNOW_LLD "Link with lld where the compiler can" ON)

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  # GCC's precompiled headers are cacheable only with this sloppiness.
  find_program(WINNOW_ENV_PROGRAM env REQUIRED)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${WINNOW_ENV_PROGRAM}"
    "CCACHE_SLOPPINESS=pch_defines,time_macros" "${CCACHE_PROGRAM}")
endif()

if(WINNOW_LLD)
  check_linker_flag(CXX -fuse-ld=lld WINNOW_HAVE_LLD)
  if(WINNOW_HAVE_LLD)
    add_link_options(-fuse-ld=lld)
  endif()
endif()

# The headers of each layer's precompiled header: the heaviest third-party
# headers that most of the layer's files include anyway.
set(_winnow_pch_std
  <algorithm> <atomic> <chrono> <cmath> <cstdint> <functional> <map>
  <memory> <optional> <set> <span> <string> <string_view> <utility>
  <vector>)
set(_winnow_pch_absl
  <absl/status/status.h> <absl/status/statusor.h> <absl/strings/str_cat.h>
  <absl/strings/str_format.h>)
set(_winnow_pch_selection ${_winnow_pch_std} ${_winnow_pch_absl})
set(_winnow_pch_storage ${_winnow_pch_selection}
  <absl/synchronization/mutex.h> <rocksdb/db.h> <rocksdb/env.h>
  <rocksdb/file_system.h>)
# server/: the generated contract, whose gRPC headers include the
# messages, protobuf, and gRPC's client and server API.
file(GLOB _winnow_protos RELATIVE ${PROJECT_SOURCE_DIR}/proto
  ${PROJECT_SOURCE_DIR}/proto/winnow/v1/*.proto)
set(_winnow_pch_server ${_winnow_pch_std} ${_winnow_pch_absl}
  <absl/synchronization/mutex.h> <absl/time/time.h>
  <grpcpp/server_context.h> <grpcpp/support/server_callback.h>)
foreach(_proto IN LISTS _winnow_protos)
  string(REGEX REPLACE "\\.proto$" ".grpc.pb.h" _header "${_proto}")
  list(APPEND _winnow_pch_server "<${_header}>")
endforeach()

# What a layer's precompiled header may never hold (docs/architecture.md).
set(_winnow_pch_forbidden_selection "grpc|protobuf|rocksdb|winnow/v1/")
set(_winnow_pch_forbidden_storage "grpc|protobuf|winnow/v1/")
set(_winnow_pch_forbidden_server "rocksdb")

# winnow_precompile_headers(TARGET LAYER [GTEST] [SPDLOG])
#   LAYER: selection | storage | server, the layer whose headers the
#   target's files include; GTEST adds GoogleTest and SPDLOG spdlog, for
#   targets that link them. It pays only for targets of many files: GCC
#   spends about as long on a precompiled header as on a heavy file (the
#   server's is some 300 MB), and saves each file of the target a tenth to a
#   fifth of its time (its parsing; template instantiation, optimization and
#   debug info remain). So the generated contract's, the client's and the
#   few-file test binaries' targets have none.
function(winnow_precompile_headers target layer)
  if(NOT WINNOW_PCH)
    return()
  endif()
  if(NOT DEFINED _winnow_pch_${layer})
    message(FATAL_ERROR "winnow_precompile_headers: unknown layer '${layer}'")
  endif()
  set(headers ${_winnow_pch_${layer}})
  if("GTEST" IN_LIST ARGN)
    list(APPEND headers <gtest/gtest.h>)
  endif()
  if("SPDLOG" IN_LIST ARGN)
    list(APPEND headers <spdlog/spdlog.h>)
  endif()
  foreach(header IN LISTS headers)
    if(header MATCHES "${_winnow_pch_forbidden_${layer}}")
      message(FATAL_ERROR "winnow_precompile_headers: ${header} may not be "
        "precompiled into ${target}, of layer ${layer}")
    endif()
  endforeach()
  target_precompile_headers(${target} PRIVATE ${headers})
endfunction()

# The test binaries' debug info (winnow_test_debug_info(), in tests/): line
# tables only (-g1) in RelWithDebInfo. Full -g makes a test file take half
# again as long to compile (tests/server/server_test.cc: 25 s of CPU with
# -g, 16 s with -g1), and what CI needs of the test binaries' debug info,
# file:line in backtraces and sanitizer reports, -g1 keeps. For a debugger
# session in a test, configure with -DWINNOW_TEST_DEBUG_INFO=-g. The
# libraries, winnowd and winnowctl keep full -g.
set(WINNOW_TEST_DEBUG_INFO "-g1" CACHE STRING
  "Debug-info flag of the test binaries in RelWithDebInfo (-g1 or -g)")
function(winnow_test_debug_info)
  add_compile_options(
    "$<$<CONFIG:RelWithDebInfo>:${WINNOW_TEST_DEBUG_INFO}>")
endfunction()

# The libraries' and programs' debug info in RelWithDebInfo: CMake's full -g
# unless WINNOW_DEBUG_INFO says otherwise. scripts/test.sh (the README's
# test command, which CI runs on a clean clone) passes -g1: the tests need
# file:line in backtraces, not a debugger's variables, and line tables take
# about 15% less compile time than -g on the libraries (the clean 2-core
# build had reached 705 s of its 720 s budget with -g).
set(WINNOW_DEBUG_INFO "" CACHE STRING
  "Debug-info flag of every target in RelWithDebInfo (-g1 or -g); empty keeps -g")
if(WINNOW_DEBUG_INFO)
  add_compile_options("$<$<CONFIG:RelWithDebInfo>:${WINNOW_DEBUG_INFO}>")
endif()
