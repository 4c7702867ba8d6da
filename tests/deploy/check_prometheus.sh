#!/bin/sh
# promtool on deploy/prometheus/: the scrape config (which loads the rule
# file too), the alert rules, and the rules' unit tests.
# Usage: check_prometheus.sh PROMTOOL PROMETHEUS_DIR
set -eu
promtool=$1 dir=$2
if [ -z "$promtool" ] || [ ! -x "$promtool" ]; then
  echo "promtool not found: run scripts/install-deps.sh (Debian package prometheus) and reconfigure"
  exit 1
fi
cd "$dir"
"$promtool" check config prometheus.yml
"$promtool" check rules alerts.yml
"$promtool" test rules alerts_test.yml
