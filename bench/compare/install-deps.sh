#!/usr/bin/env bash
# Installs the peers of the comparison bench (docs/benchmarks.md)
# from Debian's packages: PostgreSQL 15, Redis 7, their Python clients, numpy
# OpenBLAS and FAISS. Idempotent: installs only what is missing. The build and test
# packages come from scripts/install-deps.sh.
set -euo pipefail
# shellcheck source=../../scripts/apt-missing.sh
source "$(dirname "$0")/../../scripts/apt-missing.sh"

PACKAGES=(
  postgresql redis-server redis-tools
  python3 python3-psycopg2 python3-redis python3-hiredis python3-numpy
  libopenblas0-openmp
  # the Nearest rows (--nearest): FAISS IndexFlatIP
  python3-faiss
)

apt_install_missing "${PACKAGES[@]}"
# Debian's postgresql package starts a cluster of its own on port 5432 when a
# service manager runs; the bench uses its own cluster on a free port and
# leaves that one alone.
