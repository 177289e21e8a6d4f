#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages that packaging, the base image, the Packer bake
# and the image test need, on top of scripts/deps.sh. Idempotent and quiet
# when everything is already there.
set -eu

PACKAGES="
  dpkg-dev fakeroot file lintian xz-utils
  mmdebstrap debian-archive-keyring e2fsprogs fdisk
  grub-common grub-pc-bin
  qemu-system-x86 qemu-utils
  packer
  openssh-client curl
  shellcheck
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
  echo "image-deps: missing packages:$missing (run as root)" >&2
  exit 1
fi

echo "image-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
