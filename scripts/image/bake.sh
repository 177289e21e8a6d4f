#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Bakes the synwatch golden image with Packer (packer/) from the local base
# image (scripts/image/build-base.sh, cached), offline:
#   - a per-run ssh key, handed to the VM as a systemd credential;
#   - the package's missing dependencies resolved on the host against the
#     base image's dpkg status and uploaded as a flat apt repository;
#   - qemu user networking with restrict=on: the VM reaches nothing.
#
# The accelerator (scripts/image/accel.sh): PACKER_ACCEL=kvm|tcg forces one,
# without fallback. Otherwise KVM when /dev/kvm is writable and a probe
# runs, with Packer's ssh_timeout cut to SYNWATCH_KVM_BOOT_TIMEOUT (120 s);
# when qemu reports a KVM error (Packer's log streams qemu's stderr), qemu
# exits, or ssh does not answer in time, qemu and Packer are stopped at
# once and the bake runs again under TCG ("KVM failed (REASON), retrying
# under TCG"). On failure the tails of the guest's serial console
# (build/image/bake-console.log), qemu's stderr and Packer's log
# (build/image/packer.log; the failed KVM attempt's in packer.kvm.log) are
# printed.
#
# usage: scripts/image/bake.sh DEB [OUTPUT.qcow2]
#   default output: build/image/synwatch.qcow2
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
deb=$(readlink -f "${1:?usage: bake.sh DEB [OUTPUT.qcow2]}")
out=$(readlink -f "${2:-$root/build/image/synwatch.qcow2}")
imgdir=$root/build/image
base=$imgdir/base.qcow2
# shellcheck source=scripts/image/accel.sh
source "$here/accel.sh"
bake_log() { echo "bake: $*" >&2; }

sh "$root/scripts/image-deps.sh"
bash "$here/build-base.sh" "$base"

start=$(date +%s)
work=$(mktemp -d "$imgdir/bake.XXXXXX")
packer_pid=""
qemu_pid=""
# packer_stop: qemu and Packer, by PID, if they still run.
packer_stop() {
  local i
  if accel_is_qemu "$qemu_pid"; then
    kill -KILL "$qemu_pid" 2>/dev/null || true
  fi
  if [ -n "$packer_pid" ] && kill -0 "$packer_pid" 2>/dev/null; then
    kill -TERM "$packer_pid" 2>/dev/null || true
    for ((i = 0; i < 120; i++)); do
      kill -0 "$packer_pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -KILL "$packer_pid" 2>/dev/null || true
  fi
}
trap 'packer_stop; rm -rf "$work"' EXIT

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

export CHECKPOINT_DISABLE=1 PACKER_CACHE_DIR=$imgdir/packer_cache
export PACKER_LOG=1 PACKER_LOG_PATH=$imgdir/packer.log
console=$imgdir/bake-console.log

# packer_run ACCEL SSH_TIMEOUT_S: one packer build, watched. Packer's log
# names qemu's PID ("Started Qemu. Pid: N") and streams qemu's stderr
# ("Qemu stderr: ..."). A KVM error there, or qemu exiting before Packer
# halts the VM, stops qemu and Packer at once. On failure: the tails, and
# run_reason set when the failure is one of KVM's (KVM error, qemu exited,
# no ssh in time).
run_reason=""
packer_run() {
  local accel=$1 ssh_timeout=$2 start=$SECONDS next_note=$((SECONDS + 60)) rc=0 reason=""
  run_reason=""
  qemu_pid=""
  rm -rf "$work/out"
  : >"$PACKER_LOG_PATH"
  : >"$console"
  packer build -color=false \
    -var "base_image_url=file://$base" \
    -var "base_image_checksum=sha256:$(sha256sum "$base" | cut -d' ' -f1)" \
    -var "output_directory=$work/out" \
    -var "output_name=synwatch" \
    -var "accelerator=$accel" \
    -var "ssh_timeout=${ssh_timeout}s" \
    -var "serial_log=$console" \
    -var "deb_path=$deb" \
    -var "deps_dir=$repo" \
    -var "offline=true" \
    -var "ssh_private_key_file=$work/id_ed25519" \
    -var "ssh_public_key=$(cat "$work/id_ed25519.pub")" \
    "$root/packer" </dev/null &
  packer_pid=$!
  while kill -0 "$packer_pid" 2>/dev/null; do
    sleep 2
    [ -n "$qemu_pid" ] ||
      qemu_pid=$(sed -n 's/.*Started Qemu\. Pid: \([0-9][0-9]*\).*/\1/p' "$PACKER_LOG_PATH" | tail -n 1)
    if reason=$(accel_kvm_error "$PACKER_LOG_PATH"); then
      bake_log "qemu reports a KVM failure ($reason): stopping qemu (pid $qemu_pid) and packer (pid $packer_pid)"
      break
    fi
    reason=""
    if [ -n "$qemu_pid" ] && ! accel_is_qemu "$qemu_pid" &&
      ! grep -q -e 'Gracefully halting' -e 'ui error:' "$PACKER_LOG_PATH"; then
      reason="qemu exited"
      bake_log "qemu (pid $qemu_pid) exited before the bake was done: stopping packer (pid $packer_pid)"
      break
    fi
    if [ "$SECONDS" -ge "$next_note" ] && ! grep -q 'Connected to SSH' "$PACKER_LOG_PATH"; then
      next_note=$((SECONDS + 60))
      bake_log "no ssh yet after $((SECONDS - start)) s ($accel); console: $(tail -n 1 "$console" | tr -d '\r' | cut -c1-120)"
    fi
  done
  [ -z "$reason" ] || packer_stop
  wait "$packer_pid" || rc=$?
  packer_pid=""
  qemu_pid=""
  if [ "$rc" -ne 0 ] && [ -z "$reason" ]; then
    if reason=$(accel_kvm_error "$PACKER_LOG_PATH"); then
      :
    elif grep -q 'Timeout waiting for SSH' "$PACKER_LOG_PATH"; then
      reason="no ssh after $ssh_timeout s"
    else
      reason=""
    fi
  fi
  if [ "$rc" -ne 0 ] || [ -n "$reason" ]; then
    bake_log "packer build under $accel failed after $((SECONDS - start)) s${reason:+: $reason}"
    accel_tail "guest serial console" "$console" 40
    grep -a 'Qemu stderr:' "$PACKER_LOG_PATH" | sed 's/.*Qemu stderr: //' >"$work/qemu-stderr.log" || true
    accel_tail "qemu stderr (from the packer log)" "$work/qemu-stderr.log" 20
    accel_tail "packer log" "$PACKER_LOG_PATH" 30
    run_reason=$reason
    return 1
  fi
  bake_log "packer build under $accel in $((SECONDS - start)) s"
}

if [ -n "${PACKER_ACCEL:-}" ]; then
  bake_log "accelerator $PACKER_ACCEL (PACKER_ACCEL: no fallback)"
  packer_run "$PACKER_ACCEL" 900
else
  accel=$(accel_auto bake_log)
  if [ "$accel" = tcg ]; then
    packer_run tcg 900
  elif ! packer_run kvm "$(accel_kvm_bound)"; then
    [ -n "$run_reason" ] || exit 1
    bake_log "$(accel_fallback_line "$run_reason")"
    mv "$PACKER_LOG_PATH" "$imgdir/packer.kvm.log"
    mv "$console" "$imgdir/bake-console.kvm.log"
    packer_run tcg 900
  fi
fi

mv "$work/out/synwatch.qcow2" "$out"
echo "bake: $out ($(du -h "$out" | cut -f1)) in $(($(date +%s) - start)) s"
