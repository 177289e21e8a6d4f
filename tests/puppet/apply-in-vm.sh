#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A real `puppet apply` of the synwatch module inside the synwatch VM image
# (systemd is PID 1 there; XDP attaches to the guest's virtio NIC):
#   1. first apply converges (installs the package from DEB when given,
#      writes the config, runs the service) and /metrics answers;
#   2. a second apply changes nothing (--detailed-exitcodes 0);
#   3. a rule change reloads the service (same PID, SIGHUP) and takes
#      effect (the rule is loaded and SYNs from that peer count as denied);
#   4. ensure => absent leaves nothing behind (package, unit, config, pinned
#      maps, XDP program, listener), and applying it again changes nothing.
#
# The guest is offline: puppet-agent and the dependencies it lacks are
# resolved on the host against the guest's own dpkg status, downloaded from
# the host's apt sources and installed in the guest from those files.
# Boots, ssh and cleanup come from tests/image/lib.sh (the image test's
# helpers); without it, or without an image, this test says so and skips.
# Bounded in time (SYNWATCH_PUPPET_VM_TEST_TIMEOUT, 1800 s); qemu is killed
# by PID on every exit path.
#
# usage: tests/puppet/apply-in-vm.sh [IMAGE.qcow2 [DEB]]
#   IMAGE  default build/image/synwatch.qcow2
#   DEB    a synwatch .deb: the guest's preinstalled package is purged first
#          and Puppet installs this file (package_file). Without it, Puppet
#          manages the package the image already has.
# SYNWATCH_PUPPET_VM_REQUIRED=1 turns a skip into a failure (CI).
set -euo pipefail

limit=${SYNWATCH_PUPPET_VM_TEST_TIMEOUT:-1800}
if [ -z "${_SYNWATCH_PUPPET_VM_BOUNDED:-}" ]; then
  export _SYNWATCH_PUPPET_VM_BOUNDED=1
  # vm_bounded: the time bound, and one rerun under TCG when automatically
  # chosen KVM failed after the boot (a failed KVM boot reruns in place).
  outer_lib=$(dirname "$0")/../image/lib.sh
  [ -f "$outer_lib" ] || exec timeout -k 30 "$limit" bash "$0" "$@"
  # shellcheck source=tests/image/lib.sh
  source "$outer_lib"
  rc=0
  vm_bounded "$limit" bash "$0" "$@" || rc=$?
  exit "$rc"
fi

repo=$(cd "$(dirname "$0")/../.." && pwd)
image=${1:-$repo/build/image/synwatch.qcow2}
deb=${2:-}
lib=$repo/tests/image/lib.sh

skip() {
  if [ "${SYNWATCH_PUPPET_VM_REQUIRED:-0}" = 1 ]; then
    echo "FAIL: puppet apply in VM: $*"
    echo "0 passed, 1 failed"
    exit 1
  fi
  echo "SKIP: puppet apply in VM: $*"
  exit 0
}
[ -f "$lib" ] || skip "$lib is missing (the image test's boot/ssh helpers)"
[ -f "$image" ] || skip "no image at $image (build it with the image target)"
if [ -n "$deb" ]; then
  deb=$(readlink -f "$deb")
  [ -f "$deb" ] || { echo "FAIL: no package file $deb"; exit 1; }
fi
[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (apt-get --download-only into a work dir)"; exit 1; }
sh "$repo/scripts/puppet-deps.sh"

# shellcheck source=tests/image/lib.sh
source "$lib"

metrics_port=9632
modules=/var/tmp/synwatch-puppet/modules
passed=0
failed=0
t_start=$SECONDS
summary() {
  echo "puppet VM test: $((SECONDS - t_start)) s"
  echo "$passed passed, $failed failed"
}
die() {
  echo "FAIL: $*"
  failed=$((failed + 1))
  summary
  exit 1
}

scrape() { curl -fsS --max-time 20 "http://127.0.0.1:${VM_PORT[$metrics_port]}/metrics"; }
# metric NAME LABEL_REGEX < exposition: the sum over matching series, or "none".
metric() {
  awk -v name="$1" -v re="$2" '
    ($1 == name || $1 ~ ("^" name "[{]")) && $1 ~ re { sum += $NF; n++ }
    END { if (n == 0) print "none"; else printf "%.0f\n", sum }'
}
wait_metrics() {
  local t=$SECONDS
  while [ $((SECONDS - t)) -lt 120 ]; do
    if curl -fsS --max-time 5 -o /dev/null "http://127.0.0.1:${VM_PORT[$metrics_port]}/-/ready"; then
      return 0
    fi
    sleep 2
  done
  return 1
}

# apply NAME MANIFEST: puppet apply in the guest; prints the exit code
# (--detailed-exitcodes: 0 no change, 2 changes, 4/6 failures). The log goes
# to $VM_DIR/NAME.log and is shown when the run failed.
apply() {
  local name=$1 manifest=$2 rc t=$SECONDS
  vm_copy_to /dev/stdin "/var/tmp/synwatch-puppet/$name.pp" <<<"$manifest"
  set +e
  vm_ssh "puppet apply --detailed-exitcodes --color=false --modulepath=$modules \
    /var/tmp/synwatch-puppet/$name.pp" >"$VM_DIR/$name.log" 2>&1
  rc=$?
  set -e
  echo "puppet apply $name: exit $rc in $((SECONDS - t)) s" >&2
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
    sed 's/^/    /' "$VM_DIR/$name.log" >&2
  fi
  echo "$rc"
}

# --- boot ---------------------------------------------------------------------
vm_init
vm_forward "$metrics_port"
vm_start "$image" || die "guest did not boot"
echo "guest booted under $VM_ACCEL_USED"
nic=$(vm_ssh "ip -o link show | awk -F': ' '\$2 != \"lo\" { print \$2; exit }'")
echo "guest NIC: $nic"

# --- puppet-agent into the offline guest ----------------------------------------
t=$SECONDS
vm_copy_from /var/lib/dpkg/status "$VM_DIR/guest-status"
mkdir -p "$VM_DIR/debs/partial"
# With DEB, its dependencies come along too, so that the base image (without
# synwatch) works as well as the golden one.
apt-get -qq -o Dir::State::status="$VM_DIR/guest-status" \
  -o Dir::Cache::archives="$VM_DIR/debs" -o Debug::NoLocking=1 -o APT::Sandbox::User=root \
  --download-only --no-install-recommends -y install puppet-agent ${deb:+"$deb"} >/dev/null ||
  die "resolving puppet-agent against the guest's packages"
rm -rf "$VM_DIR/debs/partial" "$VM_DIR/debs/lock"
if [ -n "$deb" ]; then cp "$deb" "$VM_DIR/debs/synwatch-under-test.deb"; fi
mkdir -p "$VM_DIR/modules"
cp -r "$repo/puppet" "$VM_DIR/modules/synwatch"
rm -rf "$VM_DIR/modules/synwatch/spec" "$VM_DIR/modules/synwatch/.yardoc"
tar -C "$VM_DIR" -cf - debs modules |
  vm_ssh "rm -rf /var/tmp/synwatch-puppet && mkdir -p /var/tmp/synwatch-puppet && tar -C /var/tmp/synwatch-puppet -xf -"
vm_ssh "cd /var/tmp/synwatch-puppet/debs && set -- \$(ls | grep '[.]deb\$' | grep -v '^synwatch-under-test' | sed 's|^|./|') &&
  if [ \$# -gt 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \"\$@\"; fi" \
  >"$VM_DIR/puppet-install.log" 2>&1 ||
  { cat "$VM_DIR/puppet-install.log"; die "installing puppet-agent in the guest"; }
echo "puppet $(vm_ssh 'puppet --version') in the guest, $(find "$VM_DIR/debs" -name '*.deb' | wc -l) packages installed offline ($((SECONDS - t)) s)"

# --- 1. first apply converges -------------------------------------------------
package_file=""
if [ -n "$deb" ]; then
  vm_ssh '! dpkg -s synwatch >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get purge -y -q synwatch' \
    >"$VM_DIR/purge-preinstalled.log" 2>&1 ||
    { cat "$VM_DIR/purge-preinstalled.log"; die "purging the preinstalled package"; }
  package_file="package_file => '/var/tmp/synwatch-puppet/debs/synwatch-under-test.deb',"
fi
present="class { 'synwatch': $package_file }"
rc=$(apply first "$present")
check "first apply converges with changes (exit 2)" test "$rc" = 2
check "service active and enabled" vm_ssh 'systemctl is-active --quiet synwatch && systemctl is-enabled --quiet synwatch'
check "config written by Puppet" vm_ssh "grep -q '^# Managed by Puppet' /etc/synwatch/synwatch.toml"
check "config passes synwatch --check-config in the guest" vm_ssh 'synwatch --check-config --config /etc/synwatch/synwatch.toml >/dev/null'
wait_metrics || true
m=$(scrape) || die "/metrics does not answer through the forwarded port"
check "/metrics answers, XDP attached on $nic" test "$(metric synwatch_xdp_attached "interface=\"$nic\"" <<<"$m")" = 1

# --- 2. idempotent --------------------------------------------------------------
rc=$(apply second "$present")
check "second apply changes nothing (exit 0)" test "$rc" = 0

# --- 3. a rule change reloads and takes effect ------------------------------------
# Forwarded connections reach the guest from qemu's gateway 10.0.2.2: deny it
# in dry-run mode (counted as denied, never dropped, so ssh keeps working).
pid_before=$(vm_ssh 'systemctl show -P MainPID synwatch')
reloads_before=$(metric synwatch_config_last_reload_success_timestamp_seconds '' <<<"$m")
rule="class { 'synwatch': $package_file rules_deny => ['10.0.2.2'] }"
rc=$(apply rule "$rule")
check "rule change applied (exit 2)" test "$rc" = 2
check "reloaded, not restarted (same MainPID)" test "$(vm_ssh 'systemctl show -P MainPID synwatch')" = "$pid_before"
sleep 2
m=$(scrape)
check "the reload succeeded (synwatch_config_last_reload_successful 1)" \
  test "$(metric synwatch_config_last_reload_successful '' <<<"$m")" = 1
check "reload timestamp moved" test "$(metric synwatch_config_last_reload_success_timestamp_seconds '' <<<"$m")" != "$reloads_before"
check "the deny rule is loaded (synwatch_rules{list=\"deny\"} 1)" test "$(metric synwatch_rules 'list="deny"' <<<"$m")" = 1
denied_before=$(metric synwatch_syn_packets_total "interface=\"$nic\".*outcome=\"denied\"" <<<"$m")
scrape >/dev/null # one more connection from 10.0.2.2
m=$(scrape)
denied_after=$(metric synwatch_syn_packets_total "interface=\"$nic\".*outcome=\"denied\"" <<<"$m")
echo "SYNs denied on $nic: $denied_before -> $denied_after"
check "SYNs from 10.0.2.2 count as denied" test "${denied_after/none/0}" -gt "${denied_before/none/0}"

# --- 4. ensure => absent leaves nothing -------------------------------------------
absent="class { 'synwatch': ensure => absent }"
rc=$(apply absent "$absent")
check "absent applied (exit 2)" test "$rc" = 2
check "absent: package purged" vm_ssh '! dpkg -s synwatch >/dev/null 2>&1'
check "absent: no unit" vm_ssh '! systemctl cat synwatch >/dev/null 2>&1'
check "absent: no synwatch process" vm_ssh '! pgrep -x synwatch'
check "absent: /etc/synwatch removed" vm_ssh '! test -e /etc/synwatch'
check "absent: nothing pinned under /sys/fs/bpf/synwatch" vm_ssh '! test -e /sys/fs/bpf/synwatch'
check "absent: no XDP program on $nic" vm_ssh "! ip link show dev $nic | grep -q ' xdp'"
check "absent: nothing listens on :$metrics_port" vm_ssh "! ss -Htln 'sport = :$metrics_port' | grep -q ."
rc=$(apply absent-again "$absent")
check "applying absent again changes nothing (exit 0)" test "$rc" = 0

vm_shutdown
summary
[ "$failed" -eq 0 ]
