#!/bin/sh
# systemd-analyze verify on deploy/systemd/winnowd.service, with ExecStart
# pointing at the winnowd just built (verify checks that it is executable).
# Any warning (an unknown key, a bad value) fails the test. Exits 77
# (skipped) when systemd-analyze is not installed.
# Usage: check_systemd.sh SYSTEMD_ANALYZE UNIT WINNOWD
set -eu
analyze=$1 unit=$2 winnowd=$3
if [ -z "$analyze" ] || [ ! -x "$analyze" ]; then
  echo "SKIPPED: systemd-analyze is not installed (Debian package systemd)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s|/usr/local/bin/winnowd|$winnowd|" "$unit" >"$work/winnowd.service"
grep -q "^ExecStart=$winnowd " "$work/winnowd.service"
if ! out=$("$analyze" verify "$work/winnowd.service" 2>&1); then
  echo "systemd-analyze verify failed:"; echo "$out"; exit 1
fi
if [ -n "$out" ]; then
  echo "systemd-analyze verify warned:"; echo "$out"; exit 1
fi
echo "systemd-analyze verify: $unit OK"
