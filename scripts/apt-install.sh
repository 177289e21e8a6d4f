#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# usage: scripts/apt-install.sh NAME PACKAGE...
# Installs the Debian packages that are not installed yet, quietly, and says
# nothing when all are there. NAME prefixes the messages ("deps", "image-deps").
# Waits for the dpkg lock, since several set-up scripts may run apt at once.
set -eu
name="$1"
shift

missing=""
for p in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "$name: missing packages:$missing (run as root)" >&2
  exit 1
fi

echo "$name: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
# shellcheck disable=SC2086 # one word per package
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null
