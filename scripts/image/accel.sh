# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# Which qemu accelerator a VM step uses, and how a failed KVM is recognised.
# Sourced by scripts/image/bake.sh (the Packer bake) and tests/image/lib.sh
# (the image and Puppet VM tests).
#
# Chosen by what works, not by what exists:
#   - PACKER_ACCEL / VM_ACCEL set by hand force one accelerator, no fallback;
#   - otherwise KVM is tried when /dev/kvm is writable, after a probe (a
#     bare qemu under KVM must run ACCEL_PROBE_SECONDS without an error);
#     a failed probe means TCG;
#   - a KVM guest chosen that way is stopped at once when qemu reports a KVM
#     error, when qemu exits, or when ssh does not answer within
#     SYNWATCH_KVM_BOOT_TIMEOUT (s, 120: a KVM boot of these images takes
#     seconds; TCG takes minutes), and the same step runs again under TCG
#     after the line "KVM failed (REASON), retrying under TCG".
# SYNWATCH_ACCEL_TRY_KVM=1 (tests only) makes the automatic choice try KVM
# even without /dev/kvm: with tests/image/fake-kvm first on PATH, a KVM that
# fails like a broken nested one.

ACCEL_PROBE_SECONDS=${ACCEL_PROBE_SECONDS:-4}
# What qemu prints when KVM fails: a guest exit KVM cannot handle (the
# nested-KVM failure: "KVM internal error. Suberror: 1", the VM stops but
# qemu keeps running), a failed KVM_RUN or entry, a KVM that cannot start.
ACCEL_KVM_ERROR_RE='KVM internal error|KVM: entry failed|kvm run failed|error: kvm run|failed to initialize kvm|Could not access KVM kernel module|kvm_init_vcpu failed|KVM_[A-Z_]+ failed'

# accel_kvm_bound: seconds a guest under automatically chosen KVM gets to
# answer ssh.
accel_kvm_bound() { echo "${SYNWATCH_KVM_BOOT_TIMEOUT:-120}"; }

# accel_kvm_candidate: KVM is worth trying.
accel_kvm_candidate() { [ -w /dev/kvm ] || [ "${SYNWATCH_ACCEL_TRY_KVM:-0}" = 1 ]; }

# accel_kvm_error FILE...: the KVM failure that qemu reported in FILEs, as
# a short reason ("KVM internal error", else the offending line); status 1
# when there is none.
accel_kvm_error() {
  local line
  line=$(cat "$@" 2>/dev/null | grep -E -m 1 "$ACCEL_KVM_ERROR_RE") || return 1
  if [[ "$line" == *"KVM internal error"* ]]; then
    echo "KVM internal error"
  else
    line=${line##*Qemu stderr: }
    echo "${line:0:100}"
  fi
}

# accel_probe: run a bare qemu (no disk: the firmware runs) under KVM for
# ACCEL_PROBE_SECONDS. Status 0 when it was still running without a KVM
# error; otherwise prints the reason.
accel_probe() {
  local err rc=0 reason
  err=$(mktemp)
  timeout -k 2 "$ACCEL_PROBE_SECONDS" qemu-system-x86_64 -accel kvm -cpu host -machine pc \
    -m 64 -nodefaults -no-user-config -display none -monitor none -serial none \
    </dev/null >/dev/null 2>"$err" || rc=$?
  if reason=$(accel_kvm_error "$err"); then
    :
  elif [ "$rc" -ne 124 ]; then
    reason="qemu exited with status $rc: $(head -c 200 "$err" | tr '\n' ' ')"
  else
    rm -f "$err"
    return 0
  fi
  rm -f "$err"
  echo "$reason"
  return 1
}

# accel_auto LOGFN: kvm or tcg for an automatic choice, with one line
# through the function LOGFN saying why.
accel_auto() {
  local log=$1 reason
  if ! accel_kvm_candidate; then
    "$log" "accelerator tcg (no writable /dev/kvm)"
    echo tcg
  elif reason=$(accel_probe); then
    "$log" "accelerator kvm (a ${ACCEL_PROBE_SECONDS} s probe ran; TCG if the guest fails)"
    echo kvm
  else
    "$log" "KVM probe failed ($reason), using TCG"
    echo tcg
  fi
}

# accel_is_qemu PID: PID is alive and a qemu (not a recycled PID).
accel_is_qemu() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null && tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -q qemu
}

# accel_fallback_line REASON: the one line that says why a step reruns.
accel_fallback_line() { echo "KVM failed ($1), retrying under TCG"; }

# accel_tail LABEL FILE [LINES]: the tail of FILE, headed, on stderr.
accel_tail() {
  local label=$1 file=$2 lines=${3:-40}
  if [ -s "$file" ]; then
    echo "---- $label, last $lines lines ($file)" >&2
    # awk ends every line, also a console's last one that lacks its newline.
    tail -n "$lines" "$file" | tr -d '\r' | awk '{ print "  | " $0 }' >&2
  else
    echo "---- $label: empty ($file)" >&2
  fi
}
