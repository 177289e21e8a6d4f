#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The kernel matrix's guest: one Debian 12 (bookworm) root file system, the
# same libraries as the build host, with three Debian kernels installed side
# by side and booted one at a time (qemu -kernel/-initrd):
#
#   5.10  linux-image-amd64 of bullseye-security (Debian 11)
#   6.1   linux-image-amd64 of bookworm          (Debian 12)
#   6.12  linux-image-amd64 of bookworm-backports
#
# Only the kernel (and its modules, under /lib/modules/RELEASE) changes from
# one boot to the next; user space is always bookworm's, so the host-built
# synwatch and test binaries run unchanged. The metapackage of each suite is
# resolved to its concrete kernel package with a private apt state under
# OUT/apt (the host's apt sources are never touched); mmdebstrap then builds
# the tree from bookworm plus those suites. PID 1 is a small script
# (/sbin/kmatrix-init) that mounts the source and build tree shared by the
# host (9p, read-only) and runs tests/kernel-matrix/guest.sh from it: no
# systemd, no ssh, so a TCG boot takes seconds.
#
# Outputs, in OUT (build/kernel-matrix):
#   rootfs.img          ext4 image of the tree (booted with snapshot=on)
#   boot/vmlinuz-R, boot/initrd.img-R   per kernel release R
#   kernels.txt         "LABEL RELEASE VERSION SUITE" per kernel
# Cached: reused while this script and the package list (which includes the
# libraries the binaries of BUILD link) are unchanged; --force rebuilds.
# Downloaded .debs are kept in OUT/debs between builds.
#
# usage: tests/kernel-matrix/rootfs.sh [--force] BUILD OUT
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
force=0
if [ "${1:-}" = --force ]; then
  force=1
  shift
fi
build=$(realpath "${1:?usage: rootfs.sh [--force] BUILD OUT}")
out=${2:?usage: rootfs.sh [--force] BUILD OUT}
mkdir -p "$out"
out=$(realpath "$out")
mirror=${SYNWATCH_KM_MIRROR:-http://deb.debian.org/debian}
security=${SYNWATCH_KM_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

log() { printf '[rootfs %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# The Debian packages that hold the shared libraries synwatch and the BPF
# test binary link: the guest must have the same.
lib_packages() {
  local bin lib cand pkg pkgs=()
  for bin in "$build/synwatch" "$build/tests/bpf_tests"; do
    [ -x "$bin" ] || {
      log "$bin missing: build first (make build)"
      return 1
    }
  done
  while read -r lib; do
    pkg=""
    for cand in "$lib" "$(realpath "$lib")" "/usr$lib" "${lib#/usr}"; do
      pkg=$(dpkg -S "$cand" 2>/dev/null | head -n1 | cut -d: -f1) && [ -n "$pkg" ] && break
    done
    [ -n "$pkg" ] || {
      log "no Debian package holds $lib"
      return 1
    }
    pkgs+=("$pkg")
  done < <(ldd "$build/synwatch" "$build/tests/bpf_tests" | awk '$3 ~ /^\// { print $3 }' | sort -u)
  printf '%s\n' "${pkgs[@]}" | sort -u
}

# The guest's packages besides the kernels: what initramfs-tools needs to
# boot them, the tools the end-to-end scripts call (tests/e2e/lib.sh), and
# the libraries of the binaries.
base_packages=(
  kmod initramfs-tools
  iproute2 iputils-ping procps ncat nmap curl prometheus ca-certificates
  xdp-tools bpftool
)
mapfile -t libs < <(lib_packages)
packages=("${base_packages[@]}" "${libs[@]}")

want_stamp=$({
  sha256sum "$0" | cut -d' ' -f1
  printf '%s\n' "${packages[@]}"
} | sha256sum | cut -d' ' -f1)
if [ "$force" = 0 ] && [ -s "$out/rootfs.img" ] && [ -s "$out/kernels.txt" ] &&
  [ "$(cat "$out/rootfs.img.stamp" 2>/dev/null)" = "$want_stamp" ]; then
  log "reusing $out/rootfs.img ($(awk '{ printf "%s%s", sep, $2; sep=", " }' "$out/kernels.txt"))"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  log "needs root (mmdebstrap into a directory keeps file owners)"
  exit 1
fi
sh "$root/scripts/kernel-matrix-deps.sh"
start=$SECONDS

# --- which concrete kernel package each suite's linux-image-amd64 means ---
aptdir=$out/apt
mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
: >"$aptdir/status"
cat >"$aptdir/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-backports main
deb $security bullseye-security main
EOF
apt_opts=(
  -o "Dir::Etc::sourcelist=$aptdir/sources.list" -o Dir::Etc::sourceparts=-
  -o "Dir::State::Lists=$aptdir/lists" -o "Dir::State::status=$aptdir/status"
  -o "Dir::Cache=$aptdir/cache" -o Acquire::Languages=none
  -o APT::Get::List-Cleanup=0 -o Debug::NoLocking=1
)
log "apt-get update (private state in $aptdir; the host's sources are untouched)"
apt-get "${apt_opts[@]}" -qq update
kernels=()
: >"$out/kernels.txt.tmp"
for entry in 5.10:bullseye-security 6.1:bookworm 6.12:bookworm-backports; do
  label=${entry%%:*} suite=${entry#*:}
  pkg=$(apt-cache "${apt_opts[@]}" show "linux-image-amd64/$suite" |
    sed -n 's/^Depends: \(linux-image-[^ ,]*\).*/\1/p' | head -n1)
  version=$(apt-cache "${apt_opts[@]}" show "$pkg" | sed -n 's/^Version: //p' | head -n1)
  if [ -z "$pkg" ] || [ -z "$version" ]; then
    log "no linux-image-amd64 in $suite on $mirror"
    exit 1
  fi
  case "$pkg" in linux-image-"$label"[.-]*) ;; *)
    log "$suite's kernel is $pkg, not a $label kernel"
    exit 1
    ;;
  esac
  kernels+=("$pkg")
  echo "$label ${pkg#linux-image-} $version $suite" >>"$out/kernels.txt.tmp"
  log "$label: $pkg $version ($suite)"
done

# --- the tree ---------------------------------------------------------------
work=$(mktemp -d "$out/rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree=$work/tree
debcache=$out/debs
mkdir -p "$debcache"
# initramfs: only what finding the root disk and the 9p shares takes (small
# and fast to unpack under TCG), written before the kernels' postinst runs
# update-initramfs.
# shellcheck disable=SC2016 # hooks get the tree as $1
mmdebstrap \
  --variant=minbase \
  --include="$(IFS=,; echo "${packages[*]},${kernels[*]}")" \
  --aptopt='Acquire::Languages "none"' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/gpu/*' \
  --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/media/*' \
  --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/net/wireless/*' \
  --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/infiniband/*' \
  --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/staging/*' \
  --dpkgopt='path-exclude=/lib/modules/*/kernel/sound/*' \
  --skip=download/empty --skip=essential/unlink \
  --setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
  --setup-hook="sync-in '$debcache' /var/cache/apt/archives/" \
  --essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d"' \
  --essential-hook='printf "MODULES=list\nCOMPRESS=gzip\n" >"$1/etc/initramfs-tools/conf.d/kmatrix.conf"' \
  --essential-hook='mkdir -p "$1/usr/share/initramfs-tools/modules.d"' \
  --essential-hook='printf "%s\n" virtio_pci virtio_blk ext4 9pnet_virtio 9p >"$1/usr/share/initramfs-tools/modules.d/kmatrix"' \
  --customize-hook="sync-out /var/cache/apt/archives '$debcache'" \
  --customize-hook='chroot "$1" apt-get clean' \
  bookworm "$tree" \
  "deb $mirror bookworm main" \
  "deb $mirror bookworm-updates main" \
  "deb $security bookworm-security main" \
  "deb $mirror bookworm-backports main" \
  "deb $security bullseye-security main"
log "tree in $((SECONDS - start)) s"

echo kmatrix >"$tree/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$tree/etc/hosts"
printf '/dev/vda\t/\text4\trw\t0\t0\n' >"$tree/etc/fstab"
cat >"$tree/sbin/kmatrix-init" <<'EOF'
#!/bin/sh
# PID 1 of the kernel matrix guest (tests/kernel-matrix/rootfs.sh): mount
# what the tests need, the shared tree (km.tree=PATH, read-only 9p tag
# "tree") and the result directory (9p tag "out"), run
# PATH/tests/kernel-matrix/guest.sh, power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mp() { mountpoint -q "$3" || { mkdir -p "$3"; mount -t "$1" "$2" "$3"; }; }
mp proc proc /proc
mp sysfs sys /sys
mp devtmpfs dev /dev
mp tmpfs run /run
mp tmpfs tmp /tmp
mp bpf bpf /sys/fs/bpf
mp debugfs debugfs /sys/kernel/debug
mount -o remount,rw / 2>/dev/null
hostname kmatrix
ip link set lo up
tree=""
for arg in $(cat /proc/cmdline); do
  case "$arg" in km.tree=*) tree=${arg#km.tree=} ;; esac
done
modprobe 9pnet_virtio 2>/dev/null
modprobe 9p 2>/dev/null
mkdir -p "$tree" /out
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 tree "$tree" &&
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /out &&
  {
    bash "$tree/tests/kernel-matrix/guest.sh" >/out/guest.log 2>&1
    echo $? >/out/status
  }
echo "kmatrix-init: guest.sh done ($(cat /out/status 2>/dev/null || echo 'no status')), powering off"
sync
umount /out 2>/dev/null
echo o >/proc/sysrq-trigger
sleep 10
echo b >/proc/sysrq-trigger
EOF
chmod 755 "$tree/sbin/kmatrix-init"

mkdir -p "$out/boot.tmp"
for pkg in "${kernels[@]}"; do
  release=${pkg#linux-image-}
  test -s "$tree/boot/initrd.img-$release" || {
    log "no initrd for $release"
    exit 1
  }
  cp "$tree/boot/vmlinuz-$release" "$tree/boot/initrd.img-$release" "$out/boot.tmp/"
done
rm -f "$tree"/boot/vmlinuz-* "$tree"/boot/initrd.img-* "$tree"/boot/System.map-*

mib=$(($(du -sm "$tree" | cut -f1) * 13 / 10 + 256))
rm -f "$out/rootfs.img.tmp"
truncate -s "${mib}M" "$out/rootfs.img.tmp"
mkfs.ext4 -q -F -L kmatrix -d "$tree" "$out/rootfs.img.tmp"
rm -rf "${out:?}/boot"
mv "$out/boot.tmp" "$out/boot"
mv "$out/rootfs.img.tmp" "$out/rootfs.img"
mv "$out/kernels.txt.tmp" "$out/kernels.txt"
echo "$want_stamp" >"$out/rootfs.img.stamp"
log "$out/rootfs.img (${mib} MiB, $(du -sh "$out/rootfs.img" | cut -f1) used) in $((SECONDS - start)) s"
