#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Static checks of the image tooling, offline and fast (no VM):
# packer fmt -check and packer validate (Debian's packer 1.6.6), shellcheck
# of the Packer provisioners, the image scripts, the image test and the
# maintainer scripts, and systemd-analyze verify of the unit.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
sh scripts/image-deps.sh

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export CHECKPOINT_DISABLE=1

packer fmt -check -diff packer/
packer fmt -check -diff packer/modern/
ssh-keygen -q -t ed25519 -N '' -f "$tmp/key"
: >"$tmp/synwatch_0.0.0-1_amd64.deb"
# A local URL with its checksum: validate must not need the network.
: >"$tmp/base.qcow2"
packer validate \
  -var "base_image_url=file://$tmp/base.qcow2" \
  -var "base_image_checksum=sha256:$(sha256sum "$tmp/base.qcow2" | cut -d' ' -f1)" \
  -var "deb_path=$tmp/synwatch_0.0.0-1_amd64.deb" -var "deps_dir=$tmp" \
  -var "ssh_private_key_file=$tmp/key" -var "ssh_public_key=$(cat "$tmp/key.pub")" \
  -var accelerator=tcg -var offline=true \
  packer/
echo "packer: fmt and validate ok"

shellcheck -x packer/scripts/*.sh scripts/image/*.sh scripts/image-deps.sh scripts/package.sh tests/package/run.sh \
  tests/image/*.sh tests/image/fake-kvm/qemu-system-x86_64
shellcheck -s sh debian/synwatch.postinst debian/synwatch.prerm debian/synwatch.postrm
echo "shellcheck: ok"

# The unit as systemd reads it (unknown keys, bad values); the binary the
# unit names need not exist on the build machine.
mkdir -p "$tmp/unit"
sed 's|^ExecStart=/usr/bin/synwatch|ExecStart=/bin/true|' image/synwatch.service \
  >"$tmp/unit/synwatch.service"
systemd-analyze verify --man=no "$tmp/unit/synwatch.service" >"$tmp/verify.log" 2>&1 || true
if grep -v -e 'User=synwatch' "$tmp/verify.log" | grep .; then
  echo "systemd-analyze verify: warnings above" >&2
  exit 1
fi
echo "systemd unit: ok"
