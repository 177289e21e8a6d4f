# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# Boot a qcow2 image under qemu, ssh into it, copy files, shut it down.
# Sourced by tests/image/run.sh and by the Puppet image test.
#
#   source tests/image/lib.sh
#   vm_init                     # work dir, per-run ssh key, EXIT trap
#   vm_forward 9632             # before vm_boot: host port in ${VM_PORT[9632]}
#   vm_start build/image/synwatch.qcow2   # boot, wait for ssh and systemd;
#                               # a failed automatic KVM boot reruns under TCG
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
# The accelerator (scripts/image/accel.sh): VM_ACCEL forces one, no
# fallback. Otherwise KVM when /dev/kvm is writable and a probe runs; a KVM
# guest that qemu reports a KVM error for, that dies, or that does not
# answer ssh within SYNWATCH_KVM_BOOT_TIMEOUT (120 s) is killed and booted
# again under TCG ("KVM failed (REASON), retrying under TCG"). A KVM error
# later, after the boot, kills the guest at once; a script run through
# vm_bounded then runs once more under TCG. qemu's stderr is qemu.log in the
# work dir, the serial console console.log; their tails are printed when a
# boot or the script fails.
#
# Knobs (environment): VM_ACCEL (kvm or tcg: forced; unset: automatic),
# VM_MEM (MiB, 1024), VM_CPUS (2), VM_BOOT_TIMEOUT (s, 300),
# SYNWATCH_KVM_BOOT_TIMEOUT (s, 120), VM_CMD_TIMEOUT (s per ssh command,
# 600), VM_KEEP=1 keeps the work dir.

# shellcheck source=scripts/image/accel.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/image/accel.sh"

VM_DIR=""
VM_PID=""
VM_SSH_PORT=""
VM_WATCH_PID=""
VM_ACCEL_USED=""  # kvm or tcg, once chosen
VM_ACCEL_AUTO=0   # 1: chosen automatically (a KVM failure falls back)
VM_FAIL_REASON="" # why vm_wait_ssh gave up
VM_TAILS_SHOWN=0
VM_STOPPING=0 # vm_shutdown or vm_kill asked qemu to exit
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

# vm_choose_accel: VM_ACCEL_USED and VM_ACCEL_AUTO, with a log line.
vm_choose_accel() {
  if [ -n "${VM_ACCEL:-}" ]; then
    VM_ACCEL_USED=$VM_ACCEL
    VM_ACCEL_AUTO=0
    vm_log "accelerator $VM_ACCEL (VM_ACCEL: no fallback)"
  else
    VM_ACCEL_USED=$(accel_auto vm_log)
    VM_ACCEL_AUTO=1
  fi
}

# vm_new_ports: fresh host ports for ssh and every forward (a retry boots
# while the last qemu's sockets may linger).
vm_new_ports() {
  local guest
  VM_SSH_PORT=$(vm_free_port)
  for guest in "${!VM_PORT[@]}"; do
    unset "VM_PORT[$guest]"
    vm_forward "$guest"
  done
}

# vm_watch PID LOG: kill qemu PID as soon as LOG (its stderr) shows a KVM
# error: a broken KVM stops the guest but not qemu, and nothing else would
# notice before some timeout.
vm_watch() {
  local pid=$1 log=$2 reason
  while accel_is_qemu "$pid"; do
    if reason=$(accel_kvm_error "$log"); then
      vm_log "qemu reports a KVM failure ($reason): killing qemu (pid $pid)"
      kill -KILL "$pid" 2>/dev/null
      return 0
    fi
    sleep 1
  done
}

# vm_boot IMAGE: start qemu in the background on an overlay of IMAGE, under
# VM_ACCEL_USED (chosen by vm_choose_accel when empty).
vm_boot() {
  local image accel cpu fwd guest pubkey
  image=$(readlink -f "$1")
  [ -n "$VM_ACCEL_USED" ] || vm_choose_accel
  rm -f "$VM_DIR/disk.qcow2" "$VM_DIR/console.log" "$VM_DIR/qemu.log"
  qemu-img create -q -f qcow2 -F qcow2 -b "$image" "$VM_DIR/disk.qcow2"
  accel=$VM_ACCEL_USED
  if [ "$accel" = kvm ]; then cpu=host; else cpu=max; accel=tcg,thread=multi; fi
  fwd="hostfwd=tcp:127.0.0.1:$VM_SSH_PORT-:22"
  for guest in "${!VM_PORT[@]}"; do
    fwd="$fwd,hostfwd=tcp:127.0.0.1:${VM_PORT[$guest]}-:$guest"
  done
  pubkey=$(base64 -w0 <"$VM_DIR/id_ed25519.pub")
  vm_log "boot $image ($accel; ssh on 127.0.0.1:$VM_SSH_PORT)"
  VM_STOPPING=0
  VM_TAILS_SHOWN=0
  # In the background rather than -daemonize, which sends qemu's stderr
  # (where KVM errors go) to /dev/null.
  qemu-system-x86_64 \
    -accel "$accel" -cpu "$cpu" -smp "${VM_CPUS:-2}" -m "${VM_MEM:-1024}" \
    -drive "file=$VM_DIR/disk.qcow2,if=virtio,format=qcow2" \
    -netdev "user,id=net0,restrict=on,$fwd" \
    -device virtio-net-pci,netdev=net0 \
    -device virtio-rng-pci \
    -smbios "type=11,value=io.systemd.credential.binary:ssh.authorized_keys.root=$pubkey" \
    -display none -monitor none -serial "file:$VM_DIR/console.log" \
    </dev/null >>"$VM_DIR/qemu.log" 2>&1 &
  VM_PID=$!
  # Out of the job table: no "Killed" notice from bash when it is killed.
  disown "$VM_PID"
  if [ "$VM_ACCEL_USED" = kvm ]; then
    vm_watch "$VM_PID" "$VM_DIR/qemu.log" &
    VM_WATCH_PID=$!
  fi
}

# vm_tails: the tails of the guest's serial console and qemu's stderr.
vm_tails() {
  [ -n "$VM_DIR" ] && [ -d "$VM_DIR" ] || return 0
  VM_TAILS_SHOWN=1
  accel_tail "guest serial console" "$VM_DIR/console.log" 40
  accel_tail "qemu stderr" "$VM_DIR/qemu.log" 20
}

vm_running() { accel_is_qemu "$VM_PID"; }

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
# Under automatically chosen KVM, ssh must answer within the KVM bound.
# On failure VM_FAIL_REASON says why (a KVM error, "qemu exited", "no ssh
# after N s") and the tails of console and qemu stderr are printed.
vm_wait_ssh() {
  local timeout=${1:-${VM_BOOT_TIMEOUT:-300}} start=$SECONDS state bound reason
  local deadline ssh_deadline next_note=$((SECONDS + 60))
  deadline=$((SECONDS + timeout))
  ssh_deadline=$deadline
  if [ "$VM_ACCEL_USED" = kvm ] && [ "$VM_ACCEL_AUTO" = 1 ]; then
    bound=$(accel_kvm_bound)
    [ "$bound" -ge "$timeout" ] || ssh_deadline=$((SECONDS + bound))
  fi
  VM_FAIL_REASON=""
  until VM_CMD_TIMEOUT=20 vm_ssh true 2>/dev/null; do
    if reason=$(accel_kvm_error "$VM_DIR/qemu.log"); then
      VM_FAIL_REASON=$reason
    elif ! vm_running; then
      VM_FAIL_REASON="qemu exited"
    elif [ "$SECONDS" -ge "$ssh_deadline" ]; then
      VM_FAIL_REASON="no ssh after $((SECONDS - start)) s"
    fi
    if [ -n "$VM_FAIL_REASON" ]; then
      vm_log "guest under $VM_ACCEL_USED did not boot: $VM_FAIL_REASON"
      vm_tails
      return 1
    fi
    if [ "$SECONDS" -ge "$next_note" ]; then
      next_note=$((SECONDS + 60))
      vm_log "no ssh yet after $((SECONDS - start)) s; console: $(tail -n 1 "$VM_DIR/console.log" 2>/dev/null | tr -d '\r' | cut -c1-120)"
    fi
    sleep 2
  done
  vm_log "ssh up after $((SECONDS - start)) s ($VM_ACCEL_USED)"
  state=$(VM_CMD_TIMEOUT=$((deadline - SECONDS > 5 ? deadline - SECONDS : 5)) \
    vm_ssh 'systemctl is-system-running --wait' || true)
  vm_log "systemd: $state after $((SECONDS - start)) s"
  if [ "$state" != running ]; then
    vm_ssh 'systemctl --failed --no-legend' >&2 || true
  fi
}

# vm_start IMAGE [TIMEOUT]: vm_boot and vm_wait_ssh, choosing the
# accelerator; when automatically chosen KVM fails, the same boot again
# under TCG.
vm_start() {
  local image=$1 timeout=${2:-}
  VM_ACCEL_USED=""
  vm_choose_accel
  vm_boot "$image"
  if vm_wait_ssh ${timeout:+"$timeout"}; then return 0; fi
  if [ "$VM_ACCEL_USED" != kvm ] || [ "$VM_ACCEL_AUTO" != 1 ]; then return 1; fi
  vm_log "$(accel_fallback_line "$VM_FAIL_REASON")"
  vm_kill
  vm_ssh_master_exit
  mv "$VM_DIR/console.log" "$VM_DIR/console.kvm.log" 2>/dev/null || true
  mv "$VM_DIR/qemu.log" "$VM_DIR/qemu.kvm.log" 2>/dev/null || true
  VM_ACCEL_USED=tcg
  vm_new_ports
  vm_boot "$image"
  vm_wait_ssh ${timeout:+"$timeout"}
}

vm_ssh_master_exit() {
  if [ -n "$VM_DIR" ] && [ -S "$VM_DIR/ssh.ctl" ]; then
    ssh -o "ControlPath=$VM_DIR/ssh.ctl" -O exit root@127.0.0.1 >/dev/null 2>&1 || true
  fi
}

# vm_shutdown [TIMEOUT]: poweroff in the guest, then wait for qemu to exit.
vm_shutdown() {
  local deadline=$((SECONDS + ${1:-60}))
  vm_running || return 0
  VM_STOPPING=1
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
  if [ -n "$VM_WATCH_PID" ]; then
    kill "$VM_WATCH_PID" 2>/dev/null || true
    wait "$VM_WATCH_PID" 2>/dev/null || true
    VM_WATCH_PID=""
  fi
  vm_running || return 0
  VM_STOPPING=1
  vm_log "killing qemu (pid $VM_PID)"
  kill "$VM_PID" 2>/dev/null || true
  for i in 1 2 3 4 5 6 7 8 9 10; do
    vm_running || return 0
    sleep 0.5
    [ "$i" -eq 10 ] && kill -9 "$VM_PID" 2>/dev/null
  done
  return 0
}

# vm_cleanup: the EXIT trap. Safe to call more than once. When the script
# fails: the tails of console and qemu stderr, and, for a guest under
# automatically chosen KVM that qemu reported a KVM error for or that died,
# the reason in VM_KVM_FAILED_FILE (set by vm_bounded, which reruns the
# script under TCG).
vm_cleanup() {
  local rc=$? reason=""
  if [ "$rc" -ne 0 ] && [ -n "$VM_PID" ] && [ -n "$VM_DIR" ] && [ -d "$VM_DIR" ]; then
    [ "$VM_TAILS_SHOWN" = 1 ] || vm_tails
    if [ "$VM_ACCEL_USED" = kvm ] && [ "$VM_ACCEL_AUTO" = 1 ]; then
      if reason=$(accel_kvm_error "$VM_DIR/qemu.log"); then
        :
      elif ! vm_running && [ "$VM_STOPPING" = 0 ]; then
        reason="qemu exited"
      else
        reason=""
      fi
      if [ -n "$reason" ] && [ -n "${VM_KVM_FAILED_FILE:-}" ]; then
        echo "$reason" >"$VM_KVM_FAILED_FILE"
      fi
    fi
  fi
  vm_ssh_master_exit
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

# vm_bounded LIMIT CMD...: run CMD (a script that uses this library) under
# `timeout LIMIT`; when it failed because automatically chosen KVM failed
# after the boot, run it once more under TCG.
vm_bounded() {
  local limit=$1 rc=0 file reason
  shift
  file=$(mktemp)
  VM_KVM_FAILED_FILE=$file timeout -k 30 "$limit" "$@" || rc=$?
  reason=$(cat "$file")
  rm -f "$file"
  if [ "$rc" -ne 0 ] && [ -n "$reason" ]; then
    vm_log "$(accel_fallback_line "$reason")"
    rc=0
    VM_ACCEL=tcg timeout -k 30 "$limit" "$@" || rc=$?
  fi
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
