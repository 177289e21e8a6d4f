#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The accelerator choice and the TCG fallback of tests/image/lib.sh, fast and
# without a broken KVM: tests/image/fake-kvm/qemu-system-x86_64 first on
# PATH in stub mode (no qemu runs; a stub guest "boots" in a second, and
# under KVM it fails as SYNWATCH_FAKE_KVM says), SYNWATCH_ACCEL_TRY_KVM=1 so
# that the automatic choice tries KVM on any machine, short bounds. Only ssh
# is replaced (the stub guest is "up" while its marker file exists); the
# choice, probe, watcher, bounds, kills and reruns are lib.sh's own.
#
#   1. KVM internal error during the boot -> killed at once, booted under TCG
#   2. qemu dies during the boot           -> booted under TCG
#   3. no ssh within the KVM bound         -> booted under TCG
#   4. the probe fails                     -> TCG from the start
#   5. VM_ACCEL=kvm forced                 -> no fallback; fails at once with
#                                             console and qemu stderr tails
#   6. KVM error after the boot            -> vm_bounded reruns under TCG
#   7. accel_kvm_error on Packer's log lines
# Needs qemu-img (scripts/image-deps.sh). Bounded: every case under 60 s.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
command -v qemu-img >/dev/null || { echo "FAIL: qemu-img missing (scripts/image-deps.sh)"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/synwatch-accel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
qemu-img create -q -f qcow2 "$tmp/base.qcow2" 16M

export PATH="$here/fake-kvm:$PATH"
export SYNWATCH_FAKE_QEMU_STUB=1 SYNWATCH_ACCEL_TRY_KVM=1 ACCEL_PROBE_SECONDS=1
export SYNWATCH_FAKE_QEMU_PIDS=$tmp/pids TMPDIR=$tmp
unset VM_ACCEL

# The driver: boot with vm_start, report the accelerator, then keep using the
# guest for DRIVE_SECONDS (a dead guest fails the script).
cat >"$tmp/driver.sh" <<EOF
#!/bin/bash
set -euo pipefail
if [ -z "\${_DRIVER_BOUNDED:-}" ] && [ "\${DRIVER_BOUNDED:-0}" = 1 ]; then
  export _DRIVER_BOUNDED=1
  source "$here/lib.sh"
  rc=0
  vm_bounded 50 bash "\$0" "\$@" || rc=\$?
  exit "\$rc"
fi
source "$here/lib.sh"
vm_ssh() {
  [ -e "\$VM_DIR/console.log.up" ] && vm_running || return 255
  case "\$*" in *is-system-running*) echo running ;; esac
}
vm_init
vm_forward 9632
t=\$SECONDS
vm_start "$tmp/base.qcow2" 40 || { echo "driver: no guest"; exit 1; }
echo "driver: started under \$VM_ACCEL_USED in \$((SECONDS - t)) s"
for _ in \$(seq "\${DRIVE_SECONDS:-0}"); do
  vm_ssh true || { echo "driver: guest gone"; exit 1; }
  sleep 1
done
echo "driver: done"
EOF

passed=0
failed=0
ok() {
  echo "ok: $*"
  passed=$((passed + 1))
}
bad() {
  echo "FAIL: $*"
  failed=$((failed + 1))
}
# expect WHAT PATTERN: the last case's output matches the extended regex.
expect() {
  if grep -Eq -- "$2" "$tmp/out"; then ok "$1"; else bad "$1 (no /$2/ in the output)"; fi
}
# is OK_TEXT BAD_TEXT CMD...: a check on the last case's status or time.
is() {
  local good=$1 wrong=$2
  shift 2
  if "$@"; then ok "$good"; else bad "$wrong"; fi
}
refute() {
  if grep -Eq -- "$2" "$tmp/out"; then bad "$1 (/$2/ in the output)"; else ok "$1"; fi
}
# run NAME ENV...: the driver with ENV; output in $tmp/out, status in $rc,
# time in $took. Afterwards no stub qemu it started may be alive.
run() {
  local name=$1 t=$SECONDS pid alive=""
  shift
  echo "== $name"
  : >"$SYNWATCH_FAKE_QEMU_PIDS"
  rc=0
  env "$@" timeout -k 5 60 bash "$tmp/driver.sh" >"$tmp/out" 2>&1 || rc=$?
  took=$((SECONDS - t))
  sed 's/^/    /' "$tmp/out"
  while read -r pid; do
    if kill -0 "$pid" 2>/dev/null; then alive="$alive $pid"; fi
  done <"$SYNWATCH_FAKE_QEMU_PIDS"
  if [ -z "$alive" ]; then
    ok "$name: every qemu it started is gone ($(wc -l <"$SYNWATCH_FAKE_QEMU_PIDS") started)"
  else
    bad "$name: qemu still running:$alive"
    for pid in $alive; do kill -KILL "$pid" 2>/dev/null || true; done
  fi
}

fallback='KVM failed \(KVM internal error\), retrying under TCG'

# 1. The probe passes (1 s), the boot under KVM takes 4 s, the KVM error
#    comes at 2 s: killed by the watcher, same boot under TCG.
run "KVM internal error during the boot" SYNWATCH_FAKE_KVM=error SYNWATCH_FAKE_KVM_AFTER=2 \
  SYNWATCH_FAKE_BOOT_SECONDS=4 SYNWATCH_KVM_BOOT_TIMEOUT=60
is "exit status 0" "exit status $rc" test "$rc" = 0
expect "probe passed, KVM chosen" 'accelerator kvm \(a 1 s probe ran'
expect "the fallback line, exactly" "^\[vm [0-9:]{8}\] $fallback\$"
# Killed by the watcher or by the boot's wait, whichever saw the error first.
expect "the KVM guest killed" 'killing qemu'
expect "qemu's stderr shown" '\| KVM internal error\. Suberror: 1'
expect "the guest's console shown" '\| fake guest: stops here'
expect "booted under TCG" '^driver: started under tcg'
is "fell back in $took s, long before the 60 s bound" "took $took s" test "$took" -lt 45

# 2. qemu dies.
run "qemu dies during the boot" SYNWATCH_FAKE_KVM=exit SYNWATCH_FAKE_KVM_AFTER=2 \
  SYNWATCH_FAKE_BOOT_SECONDS=4 SYNWATCH_KVM_BOOT_TIMEOUT=60
is "exit status 0" "exit status $rc" test "$rc" = 0
expect "the fallback line says qemu exited" '^\[vm [0-9:]{8}\] KVM failed \(qemu exited\), retrying under TCG$'
expect "booted under TCG" '^driver: started under tcg'
is "fell back in $took s, long before the 60 s bound" "took $took s" test "$took" -lt 45

# 3. The guest stops silently: the KVM bound (5 s) ends the wait.
run "no ssh within the KVM bound" SYNWATCH_FAKE_KVM=hang SYNWATCH_FAKE_KVM_AFTER=2 \
  SYNWATCH_FAKE_BOOT_SECONDS=4 SYNWATCH_KVM_BOOT_TIMEOUT=5
is "exit status 0" "exit status $rc" test "$rc" = 0
expect "the fallback line says no ssh after the bound" '^\[vm [0-9:]{8}\] KVM failed \(no ssh after [5-9] s\), retrying under TCG$'
expect "booted under TCG" '^driver: started under tcg'

# 4. KVM fails at once: the probe catches it, no KVM boot at all.
run "the probe fails" SYNWATCH_FAKE_KVM=error SYNWATCH_FAKE_KVM_AFTER=0
is "exit status 0" "exit status $rc" test "$rc" = 0
expect "probe failure logged" 'KVM probe failed \(KVM internal error\), using TCG'
refute "no KVM boot to fall back from" 'retrying under TCG'
expect "booted under TCG" '^driver: started under tcg'

# 5. Forced KVM: no fallback, but no long wait either, and the cause shown.
run "VM_ACCEL=kvm forced" VM_ACCEL=kvm SYNWATCH_FAKE_KVM=error SYNWATCH_FAKE_KVM_AFTER=2 \
  SYNWATCH_FAKE_BOOT_SECONDS=4
is "fails (exit status $rc)" "exit status 0" test "$rc" != 0
expect "forced choice logged" 'accelerator kvm \(VM_ACCEL: no fallback\)'
refute "no fallback" 'retrying under TCG|started under tcg'
expect "reason logged" 'guest under kvm did not boot: KVM internal error'
expect "qemu's stderr shown" '\| KVM internal error\. Suberror: 1'
expect "the guest's console shown" 'guest serial console, last 40 lines'
is "failed in $took s, not after VM_BOOT_TIMEOUT" "took $took s" test "$took" -lt 20

# 6. The guest boots under KVM (1 s) and fails 8 s in, while in use: the
#    script fails, and vm_bounded runs it again under TCG.
run "KVM error after the boot" DRIVER_BOUNDED=1 DRIVE_SECONDS=12 SYNWATCH_FAKE_KVM=error \
  SYNWATCH_FAKE_KVM_AFTER=8 SYNWATCH_FAKE_BOOT_SECONDS=1 SYNWATCH_KVM_BOOT_TIMEOUT=30
is "exit status 0" "exit status $rc" test "$rc" = 0
expect "booted under KVM first" '^driver: started under kvm'
expect "the guest failed under KVM" '^driver: guest gone'
expect "the fallback line, exactly" "^\[vm [0-9:]{8}\] $fallback\$"
expect "rerun under TCG" 'accelerator tcg \(VM_ACCEL: no fallback\)'
expect "the rerun passed" '^driver: done'

# 7. The reason as Packer logs qemu's stderr.
echo "== accel_kvm_error"
# shellcheck source=scripts/image/accel.sh
source "$root/scripts/image/accel.sh"
printf '%s\n' '2026/12/04 19:00:01 packer-builder-qemu plugin: Qemu stderr: KVM internal error. Suberror: 1' >"$tmp/p1"
printf '%s\n' '2026/12/04 19:00:01 packer-builder-qemu plugin: Qemu stderr: error: kvm run failed Bad address' >"$tmp/p2"
printf '%s\n' '2026/12/04 19:00:01 packer-builder-qemu plugin: Qemu stderr: qemu-system-x86_64: terminating on signal 15' >"$tmp/p3"
is "KVM internal error" "p1: $(accel_kvm_error "$tmp/p1")" \
  test "$(accel_kvm_error "$tmp/p1")" = "KVM internal error"
is "kvm run failed" "p2: $(accel_kvm_error "$tmp/p2")" \
  test "$(accel_kvm_error "$tmp/p2")" = "error: kvm run failed Bad address"
if accel_kvm_error "$tmp/p3" >/dev/null; then bad "a plain qemu exit is no KVM error"; else ok "a plain qemu exit is no KVM error"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
