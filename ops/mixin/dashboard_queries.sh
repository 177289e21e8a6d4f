#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Prints every query of the rendered dashboards, one a line, with Grafana's
# variables filled in: $job, the host variable, $__rate_interval. A
# template variable's label_values(SELECTOR, LABEL) prints as SELECTOR.
# usage: dashboard_queries.sh RENDERED_DIR JOB HOST
# shellcheck disable=SC2016 # the sed expressions match a literal $
set -euo pipefail
dir="$1" job="$2" host="$3"
for d in "$dir"/synwatch-*.json; do
  jq -r '(.templating.list[] | select(.type == "query") | .query.query), (.panels[].targets[].expr)' "$d"
done | sed -E \
  -e 's/^label_values\((.*), *[a-zA-Z_]+\)$/\1/' \
  -e 's/\$job/'"$job"'/g' \
  -e 's/\$(instance|\{instance\})/'"$host"'/g' \
  -e 's/\$__rate_interval/1m/g'
