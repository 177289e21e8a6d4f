#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages the benchmarks need on top of scripts/deps.sh:
# trafgen (netsniff-ng) for the veth SYN flood, nftables for the comparison,
# prometheus-node-exporter as the reference exporter, perf (task-clock in ns)
# and jq (results.json). Idempotent and quiet when everything is there.
set -eu

PACKAGES="
  netsniff-ng nftables prometheus-node-exporter linux-perf jq
  iproute2 curl bpftool procps
"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

if [ -z "$missing" ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "bench-deps: missing packages:$missing (run as root)" >&2
  exit 1
fi

echo "bench-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
