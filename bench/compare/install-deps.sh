#!/usr/bin/env bash
# Installs the peers of the comparison bench (shared/docs/bench-protocol.md)
# from Debian's packages: PostgreSQL 15, Redis 7, their Python clients, numpy
# and OpenBLAS. Idempotent: installs only what is missing. The build and test
# packages come from scripts/install-deps.sh.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  postgresql redis-server redis-tools
  python3 python3-psycopg2 python3-redis python3-hiredis python3-numpy
  libopenblas0-openmp
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's postgresql package starts a cluster of its own on port 5432 when a
# service manager runs; the bench uses its own cluster on a free port and
# leaves that one alone.
