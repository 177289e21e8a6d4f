#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Bakes the synwatch golden image with Packer (packer/) from the local base
# image (scripts/image/build-base.sh, cached), offline:
#   - a per-run ssh key, handed to the VM as a systemd credential;
#   - the package's missing dependencies resolved on the host against the
#     base image's dpkg status and uploaded as a flat apt repository;
#   - qemu user networking with restrict=on: the VM reaches nothing.
#
# usage: scripts/image/bake.sh DEB [OUTPUT.qcow2]
#   default output: build/image/synwatch.qcow2
# Environment: PACKER_ACCEL (kvm if /dev/kvm is usable, else tcg).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
deb=$(readlink -f "${1:?usage: bake.sh DEB [OUTPUT.qcow2]}")
out=$(readlink -f "${2:-$root/build/image/synwatch.qcow2}")
imgdir=$root/build/image
base=$imgdir/base.qcow2

sh "$root/scripts/image-deps.sh"
bash "$here/build-base.sh" "$base"

start=$(date +%s)
work=$(mktemp -d "$imgdir/bake.XXXXXX")
trap 'rm -rf "$work"' EXIT

ssh-keygen -q -t ed25519 -N '' -C synwatch-bake -f "$work/id_ed25519"

# Flat repository of what the package needs and the base lacks: apt resolves
# against the base's dpkg status (saved by build-base.sh) and host's lists.
repo=$work/deps
mkdir -p "$repo/partial"
fetch_deps() {
  apt-get -qq -o Dir::State::status="$base.dpkg-status" \
    -o Dir::Cache::archives="$repo" -o Debug::NoLocking=1 -o APT::Sandbox::User=root \
    --download-only --no-install-recommends -y install "$deb" >/dev/null
}
# Stale or missing package lists on the host: refresh once and retry.
fetch_deps || { apt-get update -qq && fetch_deps; }
rm -rf "$repo/partial" "$repo/lock"
(cd "$repo" && dpkg-scanpackages --multiversion . /dev/null 2>/dev/null >Packages && xz -k Packages)
echo "bake: $(find "$repo" -name '*.deb' | wc -l) dependency packages for the offline install"

accel=${PACKER_ACCEL:-}
if [ -z "$accel" ]; then
  if [ -w /dev/kvm ]; then accel=kvm; else accel=tcg; fi
fi

export CHECKPOINT_DISABLE=1 PACKER_CACHE_DIR=$imgdir/packer_cache
export PACKER_LOG=1 PACKER_LOG_PATH=$imgdir/packer.log
rm -rf "$work/out"
packer build -color=false \
  -var "base_image_url=file://$base" \
  -var "base_image_checksum=sha256:$(sha256sum "$base" | cut -d' ' -f1)" \
  -var "output_directory=$work/out" \
  -var "output_name=synwatch" \
  -var "accelerator=$accel" \
  -var "deb_path=$deb" \
  -var "deps_dir=$repo" \
  -var "offline=true" \
  -var "ssh_private_key_file=$work/id_ed25519" \
  -var "ssh_public_key=$(cat "$work/id_ed25519.pub")" \
  "$root/packer"

mv "$work/out/synwatch.qcow2" "$out"
echo "bake: $out ($(du -h "$out" | cut -f1)) in $(($(date +%s) - start)) s"
