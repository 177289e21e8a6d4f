#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages that building, testing and the demo need.
# Idempotent and quiet when everything is already there.
set -eu

PACKAGES="
  build-essential cmake pkg-config git
  clang llvm python3 libbpf-dev bpftool linux-libc-dev gcc-multilib libelf-dev zlib1g-dev
  prometheus-cpp-dev libcivetweb-dev libtoml11-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev
  iproute2 iputils-ping curl ncat nmap ethtool
  prometheus
  clang-format clang-tidy shellcheck
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
  echo "deps: missing packages:$missing (run as root: sudo make deps)" >&2
  exit 1
fi

echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
