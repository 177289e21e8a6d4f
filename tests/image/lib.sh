# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# Boot a qcow2 image under qemu, ssh into it, copy files, shut it down.
# Sourced by tests/image/run.sh and by the Puppet image test.
#
#   source tests/image/lib.sh
#   vm_init                     # work dir, per-run ssh key, EXIT trap
#   vm_forward 9632             # before vm_boot: host port in ${VM_PORT[9632]}
#   vm_boot build/image/synwatch.qcow2
#   vm_wait_ssh                 # then: systemd has finished booting
#   vm_ssh 'systemctl is-active synwatch'
#   vm_copy_to ./x.deb /tmp/x.deb ; vm_copy_from /etc/hostname ./h
#   vm_shutdown                 # clean poweroff; vm_cleanup kills otherwise
#
# The image is never written: the guest runs on a throwaway qcow2 overlay.
# The NIC is virtio-net on qemu user networking with restrict=on (the guest
# reaches nothing outside), every forward bound to 127.0.0.1. Traffic that
# enters through a forward reaches the guest's NIC from the slirp gateway
# 10.0.2.2. root's key goes in as the systemd credential
# ssh.authorized_keys.root (-smbios type=11), which Debian 12's systemd
# writes to /root/.ssh/authorized_keys at boot: nothing is baked in.
#
# Knobs (environment): VM_ACCEL (kvm if /dev/kvm is usable, else tcg),
# VM_MEM (MiB, 1024), VM_CPUS (2), VM_BOOT_TIMEOUT (s, 300),
# VM_CMD_TIMEOUT (s per ssh command, 600), VM_KEEP=1 keeps the work dir.

VM_DIR=""
VM_PID=""
VM_SSH_PORT=""
declare -gA VM_PORT=()

vm_log() { printf '[vm %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# A port on 127.0.0.1 that no socket uses now (qemu binds it next), below
# the kernel's ephemeral range: a port in that range can be taken at any
# moment as the local end of an outgoing connection (ssh to the last VM
# was one), and qemu then fails with "Could not set up host forwarding".
vm_free_port() {
  local port low
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range
  [ "$low" -gt 20000 ] || low=32768
  while :; do
    port=$((20000 + RANDOM % (low - 20000)))
    if ! ss -Htan "sport = :$port" | grep -q .; then
      echo "$port"
      return
    fi
  done
}

vm_init() {
  VM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/synwatch-vm.XXXXXX")
  ssh-keygen -q -t ed25519 -N '' -C "synwatch-image-test" -f "$VM_DIR/id_ed25519"
  VM_SSH_PORT=$(vm_free_port)
  trap vm_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# vm_forward GUEST_PORT: forward 127.0.0.1:${VM_PORT[GUEST_PORT]} to the guest.
vm_forward() {
  local port
  port=$(vm_free_port)
  while [ "$port" = "$VM_SSH_PORT" ] || [[ " ${VM_PORT[*]} " == *" $port "* ]]; do
    port=$(vm_free_port)
  done
  VM_PORT[$1]=$port
}

vm_accel() {
  if [ -n "${VM_ACCEL:-}" ]; then
    echo "$VM_ACCEL"
  elif [ -w /dev/kvm ]; then
    echo kvm
  else
    echo tcg
  fi
}

# vm_boot IMAGE: start qemu in the background on an overlay of IMAGE.
vm_boot() {
  local image accel cpu fwd guest pubkey
  image=$(readlink -f "$1")
  qemu-img create -q -f qcow2 -F qcow2 -b "$image" "$VM_DIR/disk.qcow2"
  accel=$(vm_accel)
  if [ "$accel" = kvm ]; then cpu=host; else cpu=max; accel=tcg,thread=multi; fi
  fwd="hostfwd=tcp:127.0.0.1:$VM_SSH_PORT-:22"
  for guest in "${!VM_PORT[@]}"; do
    fwd="$fwd,hostfwd=tcp:127.0.0.1:${VM_PORT[$guest]}-:$guest"
  done
  pubkey=$(base64 -w0 <"$VM_DIR/id_ed25519.pub")
  vm_log "boot $image ($accel; ssh on 127.0.0.1:$VM_SSH_PORT)"
  qemu-system-x86_64 \
    -accel "$accel" -cpu "$cpu" -smp "${VM_CPUS:-2}" -m "${VM_MEM:-1024}" \
    -drive "file=$VM_DIR/disk.qcow2,if=virtio,format=qcow2" \
    -netdev "user,id=net0,restrict=on,$fwd" \
    -device virtio-net-pci,netdev=net0 \
    -device virtio-rng-pci \
    -smbios "type=11,value=io.systemd.credential.binary:ssh.authorized_keys.root=$pubkey" \
    -display none -monitor none -serial "file:$VM_DIR/console.log" \
    -pidfile "$VM_DIR/qemu.pid" -daemonize
  VM_PID=$(cat "$VM_DIR/qemu.pid")
}

vm_running() { [ -n "$VM_PID" ] && kill -0 "$VM_PID" 2>/dev/null; }

vm_ssh_opts() {
  printf '%s\n' -i "$VM_DIR/id_ed25519" -p "$VM_SSH_PORT" \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR -o BatchMode=yes -o ConnectTimeout=10 \
    -o ServerAliveInterval=10 -o ServerAliveCountMax=6 \
    -o ControlMaster=auto -o "ControlPath=$VM_DIR/ssh.ctl" -o ControlPersist=300
}

# vm_ssh COMMAND...: run a shell command line in the guest as root.
vm_ssh() {
  local opts
  mapfile -t opts < <(vm_ssh_opts)
  timeout "${VM_CMD_TIMEOUT:-600}" ssh "${opts[@]}" root@127.0.0.1 -- "$@"
}

vm_copy_to() { vm_ssh "cat > '$2'" <"$1"; }
vm_copy_from() { vm_ssh "cat '$1'" >"$2"; }

# vm_wait_ssh [TIMEOUT]: until ssh answers and systemd finished booting.
vm_wait_ssh() {
  local deadline=$((SECONDS + ${1:-${VM_BOOT_TIMEOUT:-300}})) start=$SECONDS state
  until VM_CMD_TIMEOUT=20 vm_ssh true 2>/dev/null; do
    if ! vm_running; then
      vm_log "qemu exited during boot; console:"
      tail -n 40 "$VM_DIR/console.log" >&2
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      vm_log "no ssh after $((SECONDS - start)) s; console:"
      tail -n 40 "$VM_DIR/console.log" >&2
      return 1
    fi
    sleep 2
  done
  vm_log "ssh up after $((SECONDS - start)) s"
  state=$(VM_CMD_TIMEOUT=$((deadline - SECONDS > 5 ? deadline - SECONDS : 5)) \
    vm_ssh 'systemctl is-system-running --wait' || true)
  vm_log "systemd: $state after $((SECONDS - start)) s"
  if [ "$state" != running ]; then
    vm_ssh 'systemctl --failed --no-legend' >&2 || true
  fi
}

# vm_shutdown [TIMEOUT]: poweroff in the guest, then wait for qemu to exit.
vm_shutdown() {
  local deadline=$((SECONDS + ${1:-60}))
  vm_running || return 0
  VM_CMD_TIMEOUT=15 vm_ssh 'systemctl poweroff' >/dev/null 2>&1 || true
  while vm_running && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 1
  done
  if vm_running; then
    vm_log "guest did not power off in time; killing qemu $VM_PID"
    vm_kill
  else
    vm_log "guest powered off"
  fi
}

vm_kill() {
  local i
  vm_running || return 0
  vm_log "killing qemu (pid $VM_PID)"
  kill "$VM_PID" 2>/dev/null || true
  for i in 1 2 3 4 5 6 7 8 9 10; do
    vm_running || return 0
    sleep 0.5
    [ "$i" -eq 10 ] && kill -9 "$VM_PID" 2>/dev/null
  done
  return 0
}

# vm_cleanup: the EXIT trap. Safe to call more than once.
vm_cleanup() {
  local rc=$?
  if [ -n "$VM_DIR" ] && [ -S "$VM_DIR/ssh.ctl" ]; then
    ssh -o "ControlPath=$VM_DIR/ssh.ctl" -O exit root@127.0.0.1 >/dev/null 2>&1 || true
  fi
  vm_kill
  if [ -n "$VM_DIR" ] && [ -d "$VM_DIR" ]; then
    if [ "${VM_KEEP:-0}" = 1 ] || { [ "$rc" -ne 0 ] && [ -n "${VM_KEEP_ON_FAILURE:-}" ]; }; then
      vm_log "kept $VM_DIR"
    else
      rm -rf "$VM_DIR"
    fi
  fi
  VM_PID=""
  return "$rc"
}

# check WHAT CMD...: one "ok:"/"FAIL:" line, counted in the caller's
# $passed and $failed (shared by the image and Puppet VM tests).
check() {
  local what=$1
  shift
  if "$@"; then
    echo "ok: $what"
    passed=$((passed + 1))
  else
    echo "FAIL: $what"
    failed=$((failed + 1))
  fi
}
