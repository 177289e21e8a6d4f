#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages the benchmarks need on top of scripts/deps.sh:
# trafgen (netsniff-ng) for the veth SYN flood (ethtool: GRO for the frame flood), nftables for the comparison,
# prometheus-node-exporter as the reference exporter, perf (task-clock in ns)
# and jq (results.json). Idempotent and quiet when everything is there.
set -eu

PACKAGES="
  netsniff-ng nftables prometheus-node-exporter linux-perf jq
  iproute2 ethtool curl bpftool procps
"

# shellcheck disable=SC2086 # one word per package
exec sh "$(dirname "$0")/apt-install.sh" bench-deps $PACKAGES
