#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages that building, testing, packaging (debhelper,
# lintian) and the demo need.
# Idempotent and quiet when everything is already there.
set -eu

PACKAGES="
  build-essential cmake pkg-config git
  clang libclang-rt-dev llvm python3 libbpf-dev bpftool linux-libc-dev gcc-multilib libelf-dev zlib1g-dev
  libxdp-dev xdp-tools
  prometheus-cpp-dev libtoml11-dev libspdlog-dev libfmt-dev
  libyaml-cpp-dev libssl-dev libcrypt-dev libcurl4-openssl-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev
  iproute2 iputils-ping curl ncat nmap ethtool openssl apache2-utils jq
  prometheus prometheus-node-exporter jsonnet chromium crowdsec
  clang-format clang-tidy shellcheck
  debhelper dpkg-dev fakeroot lintian file xz-utils
"

# crowdsec (the CrowdSec bouncer's e2e test runs its Local API on loopback)
# registers with the Central API at install unless this file exists: a
# comment line keeps it offline ("push and pull to Central API disabled").
if [ "$(id -u)" -eq 0 ] && [ ! -e /etc/crowdsec/online_api_credentials.yaml ]; then
  mkdir -p /etc/crowdsec
  echo "# synwatch tests: no Central API" >/etc/crowdsec/online_api_credentials.yaml
fi

# shellcheck disable=SC2086 # one word per package
exec sh "$(dirname "$0")/apt-install.sh" deps $PACKAGES
