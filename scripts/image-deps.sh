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

# shellcheck disable=SC2086 # one word per package
exec sh "$(dirname "$0")/apt-install.sh" image-deps $PACKAGES
