#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages the kernel matrix (tests/kernel-matrix, `make
# kernel-matrix`) needs on top of scripts/deps.sh: mmdebstrap for the guest's
# root file system, e2fsprogs to write it, qemu to boot it. Idempotent and
# quiet when everything is already there.
set -eu

PACKAGES="
  mmdebstrap debian-archive-keyring e2fsprogs
  qemu-system-x86 qemu-utils
  jq
"

# shellcheck disable=SC2086 # one word per package
exec sh "$(dirname "$0")/apt-install.sh" kernel-matrix-deps $PACKAGES
