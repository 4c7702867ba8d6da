#!/bin/sh
# `docker compose config` on deploy/docker-compose.yml: the compose client
# parses and validates the file, its build context and its mounts (no daemon
# needed). Falls back to the standalone docker-compose. Exits 77, which ctest
# reports as SKIPPED (never as passed), when neither client exists.
# Usage: check_compose.sh DOCKER DEPLOY_DIR
set -eu
docker=$1 deploy=$2
if [ -n "$docker" ] && "$docker" compose version >/dev/null 2>&1; then
  compose="$docker compose"
elif command -v docker-compose >/dev/null 2>&1; then
  compose=docker-compose
else
  echo "SKIPPED: no docker compose client on this machine"
  echo "  (docker: ${docker:-not found}; 'docker compose version' failed;"
  echo "   no docker-compose either), so deploy/docker-compose.yml was not"
  echo "  validated by compose. deploy_files_parse still parses it as YAML."
  exit 77
fi
echo "using: $compose"
cd "$deploy"
$compose -f docker-compose.yml config --quiet
services=$($compose -f docker-compose.yml config --services | sort | tr '\n' ' ')
echo "services: $services"
[ "$services" = "grafana prometheus winnowd " ]
