#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds the local Debian 12 base image that the Packer bake starts from when
# the official Debian cloud image cannot be downloaded (CI, offline machines):
#
#   mmdebstrap (minbase + cloud kernel + systemd + openssh-server + curl)
#     -> partitioned raw disk, ext4 written with `mkfs.ext4 -d` at an offset,
#        GRUB (i386-pc) written with grub-mkimage: no loop device, no mount
#     -> qcow2
#
# It mirrors what the official image offers the bake: systemd as PID 1,
# DHCP on the first NIC, sshd, and root's authorized key taken from the
# systemd credential `ssh.authorized_keys.root` (stock Debian 12 tmpfiles
# provision.conf; qemu passes it with -smbios type=11). No key is baked in.
#
# The result is cached: build/image/base.qcow2 is reused while this script is
# unchanged (stamp file). Delete it, or pass --force, to rebuild.
#
# usage: scripts/image/build-base.sh [--force] [OUTPUT.qcow2]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

force=0
if [ "${1:-}" = "--force" ]; then
  force=1
  shift
fi
out=${1:-$root/build/image/base.qcow2}
stamp=$out.stamp

suite=${SYNWATCH_BASE_SUITE:-bookworm}
mirror=${SYNWATCH_BASE_MIRROR:-http://deb.debian.org/debian}
security=${SYNWATCH_BASE_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
disk_mib=${SYNWATCH_BASE_DISK_MIB:-2048}

want_stamp=$(sha256sum "$0" | cut -d' ' -f1)
if [ "$force" -eq 0 ] && [ -s "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want_stamp" ]; then
  echo "build-base: reusing $out"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "build-base: needs root (mmdebstrap into a directory keeps file owners)" >&2
  exit 1
fi
sh "$root/scripts/image-deps.sh"

mkdir -p "$(dirname "$out")"
work=$(mktemp -d "$(dirname "$out")/base.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
# Downloaded .debs, kept between builds of the base (not between CI clones).
debcache=$(dirname "$out")/apt-archives
mkdir -p "$debcache"
start=$(date +%s)

# --- root file system -------------------------------------------------------
packages=(
  linux-image-cloud-amd64 initramfs-tools zstd
  systemd systemd-sysv udev dbus libpam-systemd
  openssh-server
  iproute2 netbase curl ca-certificates adduser procps less
)
# Hooks run on the host with the root directory as $1, hence single quotes.
# Timers and scrubs that only cost CPU in short-lived test guests are masked.
# shellcheck disable=SC2016
mmdebstrap \
  --variant=minbase \
  --include="$(IFS=,; echo "${packages[*]}")" \
  --aptopt='Acquire::Languages "none"' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --skip=download/empty --skip=essential/unlink \
  --setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
  --setup-hook="sync-in '$debcache' /var/cache/apt/archives/" \
  --customize-hook="sync-out /var/cache/apt/archives '$debcache'" \
  --customize-hook='chroot "$1" systemctl enable systemd-networkd.service ssh.service' \
  --customize-hook='chroot "$1" systemctl mask e2scrub_reap.service e2scrub_all.timer apt-daily.timer apt-daily-upgrade.timer' \
  --customize-hook='chroot "$1" apt-get clean' \
  "$suite" "$rootfs" \
  "deb $mirror $suite main" \
  "deb $mirror $suite-updates main" \
  "deb $security $suite-security main"
echo "build-base: rootfs in $(($(date +%s) - start)) s"

uuid=$(cat /proc/sys/kernel/random/uuid)
kernel=$(find "$rootfs/boot" -name 'vmlinuz-*' -printf '%f\n' | sort -V | tail -n1)
initrd=initrd.img-${kernel#vmlinuz-}
test -s "$rootfs/boot/$initrd"

echo debian >"$rootfs/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
  >"$rootfs/etc/hosts"
# fsck pass 0: the file system is fresh, and fsck costs seconds under TCG.
printf 'UUID=%s\t/\text4\terrors=remount-ro\t0\t0\n' "$uuid" >"$rootfs/etc/fstab"
cat >"$rootfs/etc/systemd/network/50-dhcp.network" <<'EOF'
# The first NIC, whatever udev names it (ens3, enp0s3, eth0): DHCP from the
# hypervisor, like Debian's cloud images.
[Match]
Name=en* eth*

[Network]
DHCP=yes
EOF
# An empty machine-id: systemd makes a fresh one on first boot of each copy.
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"

# GRUB: modules next to grub.cfg so `linux`/`initrd` load on demand; the core
# image only needs to find the partition and read ext4.
mkdir -p "$rootfs/boot/grub/i386-pc"
cp /usr/lib/grub/i386-pc/*.mod /usr/lib/grub/i386-pc/*.lst "$rootfs/boot/grub/i386-pc/"
cat >"$rootfs/boot/grub/grub.cfg" <<EOF
set timeout=0
insmod part_msdos
insmod ext2
search --no-floppy --fs-uuid --set=root $uuid
linux /boot/$kernel root=UUID=$uuid ro console=ttyS0,115200n8 quiet
initrd /boot/$initrd
boot
EOF

# --- disk: MBR, one partition from 1 MiB, ext4 filled from the directory -----
raw=$work/disk.raw
truncate -s "${disk_mib}M" "$raw"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk --quiet "$raw"
part_bytes=$(((disk_mib - 1) * 1024 * 1024))
mkfs.ext4 -q -F -L root -U "$uuid" -E offset=$((2048 * 512)) -d "$rootfs" \
  "$raw" "$((part_bytes / 1024))k"

grub-mkimage -O i386-pc -o "$work/core.img" -p '(hd0,msdos1)/boot/grub' \
  biosdisk part_msdos ext2 search search_fs_uuid normal configfile
core_sectors=$((($(stat -c %s "$work/core.img") + 511) / 512))
if [ "$core_sectors" -ge 2047 ]; then
  echo "build-base: core.img ($core_sectors sectors) does not fit before the partition" >&2
  exit 1
fi
# boot.img's code only (the partition table at 446.. stays); it loads
# core.img from LBA 1, grub-mkimage's default, where we put it.
dd if=/usr/lib/grub/i386-pc/boot.img of="$raw" bs=440 count=1 conv=notrunc status=none
dd if="$work/core.img" of="$raw" bs=512 seek=1 conv=notrunc status=none

qemu-img convert -f raw -O qcow2 "$raw" "$out.tmp"
# What is installed in the base: bake.sh resolves the package's missing
# dependencies against it for an offline install.
cp "$rootfs/var/lib/dpkg/status" "$out.dpkg-status"
mv "$out.tmp" "$out"
echo "$want_stamp" >"$stamp"
echo "build-base: $out ($(du -h "$out" | cut -f1)) in $(($(date +%s) - start)) s"
