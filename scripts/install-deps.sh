#!/usr/bin/env bash
# Installs what Winnow needs to build and test on Debian bookworm: the
# Debian packages below (docs/architecture.md, "Dependencies"), the npm tools
# in package.json (buf) and the Node.js example's packages
# (client/node/package.json). Idempotent: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=apt-missing.sh
source scripts/apt-missing.sh

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  # build
  cmake ninja-build g++ ccache pkg-config lld
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librocksdb-dev libboost-dev libboost-system-dev libssl-dev
  prometheus-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev
  libabsl-dev libxxhash-dev nlohmann-json3-dev libspdlog-dev libcli11-dev
  libtomlplusplus-dev libsimdjson-dev
  # Nearest's batched scoring (cblas_sgemm)
  libopenblas-dev
  # the security tests make their certificates with the openssl command
  openssl
  # sanitizer builds and fuzzing (scripts/sanitizers.sh, scripts/fuzz.sh)
  clang-14 libclang-rt-14-dev libfuzzer-14-dev
  # the demo's data generator, the Python package (client/python) and its
  # PyTorch dataset (python3-torch: about 220 packages, ~150 s to install),
  # and the package's install path: a venv with pip (tests/python)
  python3 python3-grpcio python3-protobuf python3-numpy python3-torch
  python3-pip python3-venv python3-setuptools
  # metrics and deploy/ tests: promtool and a real Prometheus, YAML parsing,
  # `docker-compose config`, and systemd-analyze verify
  prometheus python3-yaml docker-compose systemd
  # the whole-process power-loss test's FUSE layer (tests/powerloss/)
  libfuse3-dev fuse3
)

apt_install_missing "${PACKAGES[@]}"

# buf comes from npm. Machines of this kind ship Node.js with npm; a plain
# Debian machine gets Debian's.
if ! command -v npm >/dev/null; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm
fi
if [ ! -x node_modules/.bin/buf ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
# The Node.js example's @grpc/grpc-js and @grpc/proto-loader (client/node).
if [ ! -d client/node/node_modules/@grpc/grpc-js ]; then
  npm ci --prefix client/node --no-audit --no-fund --loglevel=error
fi
