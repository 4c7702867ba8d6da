#!/bin/sh
# Prints the Debian packages that provide the shared libraries the given
# binaries and libraries load (one name a line, sorted), leaving out the
# libraries found in LIBDIR (Winnow's own). The Dockerfile's build stage
# runs it so that the runtime stage installs exactly the runtime libraries,
# and no -dev package.
# Usage: runtime-packages.sh LIBDIR FILE...
set -eu
libdir=$1
shift
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$@" 2>/dev/null |
  awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
  while read -r lib; do
    case "$lib" in "$libdir"/*) continue ;; esac
    # dpkg knows each file by the path its package installed it under,
    # which may be /lib or /usr/lib (merged /usr), and by its own name or
    # the name of the symlink to it.
    real=$(readlink -f "$lib")
    for path in "$lib" "$real" "/usr${lib#/usr}" "${lib#/usr}" "/usr${real#/usr}" "${real#/usr}"; do
      if pkg=$(dpkg-query -S "$path" 2>/dev/null); then
        echo "${pkg%%:*}"
        break
      fi
    done || true
  done | sort -u
