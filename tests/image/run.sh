#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The image test: boots the baked golden image under qemu and checks, from
# outside and inside the guest, that
#   1. synwatch came up on its own at boot (enabled by the package), as user
#      synwatch with exactly CAP_BPF CAP_NET_ADMIN CAP_PERFMON, XDP attached
#      to the guest's virtio NIC (the default-route interface);
#   2. real TCP connections from the host, through a forwarded port into a
#      listener in the guest, are counted on that NIC (scraped through the
#      forwarded metrics port and from inside the guest);
#   3. upgrading to a newer build of the package restarts the service and
#      keeps counting;
#   3b. with xdp.attach = "dispatcher" and the README's unit drop-in, it
#      joins libxdp's dispatcher with only CAP_BPF CAP_NET_ADMIN effective,
#      counts, and an upgrade to a third build (UPGRADE2.deb) hands over
#      inside the dispatcher: the counters continue, SYNs sent during the
#      upgrade are counted, no earlier synwatch program is left in the chain;
#   4. remove stops it, detaches XDP (the dispatcher too) and unpins
#      everything but keeps the config; purge removes the config.
# Bounded in time (SYNWATCH_IMAGE_TEST_TIMEOUT, 1500 s); qemu is killed by
# PID on every exit path.
#
# usage: tests/image/run.sh IMAGE.qcow2 UPGRADE.deb UPGRADE2.deb
set -euo pipefail

limit=${SYNWATCH_IMAGE_TEST_TIMEOUT:-1500}
if [ -z "${_SYNWATCH_IMAGE_TEST_BOUNDED:-}" ]; then
  export _SYNWATCH_IMAGE_TEST_BOUNDED=1
  # vm_bounded: the time bound, and one rerun under TCG when automatically
  # chosen KVM failed after the boot (a failed KVM boot reruns in place).
  # shellcheck source=tests/image/lib.sh
  source "$(dirname "$0")/lib.sh"
  rc=0
  vm_bounded "$limit" bash "$0" "$@" || rc=$?
  exit "$rc"
fi

image=${1:?usage: run.sh IMAGE.qcow2 UPGRADE.deb UPGRADE2.deb}
upgrade_deb=${2:?usage: run.sh IMAGE.qcow2 UPGRADE.deb UPGRADE2.deb}
upgrade2_deb=${3:?usage: run.sh IMAGE.qcow2 UPGRADE.deb UPGRADE2.deb}
connections=${SYNWATCH_IMAGE_TEST_CONNECTIONS:-25}
# Counters survive the upgrade only with pinning (xdp.pin_path, the default).
# auto: expected when the running exporter pinned something; 1: always.
expect_pinning=${SYNWATCH_IMAGE_TEST_PINNING:-1}

metrics_port=9632
listen_port=18080
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/image/lib.sh
source "$here/lib.sh"

passed=0
failed=0
skipped=0
t_start=$SECONDS
# die: a failure after which later checks make no sense.
die() {
  echo "FAIL: $*"
  failed=$((failed + 1))
  summary
  exit 1
}
summary() {
  echo "image test: $((SECONDS - t_start)) s"
  echo "$passed passed, $failed failed, $skipped skipped"
}

# --- metrics helpers ---------------------------------------------------------
scrape() { curl -fsS --max-time 20 "http://127.0.0.1:${VM_PORT[$metrics_port]}/metrics"; }
# sum_metric NAME LABEL_REGEX < exposition: the sum over matching series.
sum_metric() {
  awk -v name="$1" -v re="$2" '
    $1 ~ ("^" name "[{]") && $1 ~ re { sum += $NF; n++ }
    END { if (n == 0) print "none"; else printf "%.0f\n", sum }'
}
attached() { grep -Eq "^synwatch_xdp_attached[{][^}]*interface=\"$nic\"[^}]*[}] 1(\\.0)?\$"; }
guest_xdp_on_nic() { vm_ssh "ip link show dev $nic" | grep -q ' xdp'; }

connect_many() {
  local i fd line ok=0
  for ((i = 0; i < connections; i++)); do
    if exec {fd}<>"/dev/tcp/127.0.0.1/${VM_PORT[$listen_port]}"; then
      if read -r -t 10 line <&"$fd" && [ "$line" = synwatch-listener ]; then
        ok=$((ok + 1))
      fi
      exec {fd}>&-
    fi
  done
  echo "$ok"
}

# --- boot --------------------------------------------------------------------
vm_init
vm_forward "$metrics_port"
vm_forward "$listen_port"
t=$SECONDS
vm_start "$image" || die "guest did not boot"
t_boot=$((SECONDS - t))

nic=$(vm_ssh "ip -o link show | awk -F': ' '\$2 != \"lo\" { print \$2; exit }'")
echo "guest NIC: $nic ($(vm_ssh "readlink /sys/class/net/$nic/device/driver" | xargs basename))"
vm_ssh "ip route show default; ip -6 route show default"

# --- 1. the service as booted -------------------------------------------------
t=$SECONDS
ready=0
while [ $((SECONDS - t)) -lt 120 ]; do
  if curl -fsS --max-time 5 -o /dev/null "http://127.0.0.1:${VM_PORT[$metrics_port]}/-/ready"; then
    ready=1
    break
  fi
  sleep 2
done
echo "service ready $((SECONDS - t)) s after ssh"
check "synwatch enabled by the package" vm_ssh 'systemctl is-enabled --quiet synwatch'
check "synwatch active after boot" vm_ssh 'systemctl is-active --quiet synwatch'
check "/-/ready answers through the forwarded port" test "$ready" = 1
if [ "$ready" != 1 ]; then
  vm_ssh 'systemctl status --no-pager synwatch; journalctl -b -u synwatch --no-pager | tail -n 30' || true
fi

pid=$(vm_ssh 'systemctl show -P MainPID synwatch')
check "runs as user synwatch" test "$(vm_ssh "ps -o user= -p $pid")" = synwatch
# Once attached, CAP_NET_ADMIN (12) and CAP_BPF (39), and nothing else
# (CAP_PERFMON, which only the verifier needs, is dropped after the load).
check "effective capabilities are exactly BPF and NET_ADMIN once attached" \
  test "$(vm_ssh "awk '/^CapEff/ { print \$2 }' /proc/$pid/status")" = 0000008000001000

m0=$(scrape) || die "scrape through the forwarded port failed"
check "XDP attached on $nic (synwatch_xdp_attached 1)" attached <<<"$m0"
check "ip link shows an XDP program on $nic" guest_xdp_on_nic
check "scrape from inside the guest" vm_ssh "curl -fsS --max-time 20 http://127.0.0.1:$metrics_port/metrics | grep -q '^synwatch_build_info'"
vm_ssh 'systemd-analyze security --no-pager synwatch' >"$VM_DIR/security.txt" 2>&1 || true
echo "systemd-analyze security: $(tail -n 1 "$VM_DIR/security.txt")"
if [ -n "${SYNWATCH_IMAGE_TEST_ARTIFACTS:-}" ]; then
  mkdir -p "$SYNWATCH_IMAGE_TEST_ARTIFACTS"
  cp "$VM_DIR/security.txt" "$SYNWATCH_IMAGE_TEST_ARTIFACTS/"
fi

# --- 2. real connections into the guest are counted on its NIC ----------------
vm_ssh "systemd-run --quiet --collect --unit=synwatch-test-listener \
  systemd-socket-activate -l $listen_port -a --inetd /bin/echo synwatch-listener"
vm_ssh "for i in \$(seq 30); do ss -Htln 'sport = :$listen_port' | grep -q . && exit 0; sleep 1; done; exit 1" ||
  die "the test listener did not start"
before=$(scrape | sum_metric synwatch_syn_packets_total "interface=\"$nic\"")
peer_before=$(scrape | sum_metric synwatch_peer_syn_packets_total "interface=\"$nic\".*peer=\"10[.]0[.]2[.]2\"")
answered=$(connect_many)
echo "listener in the guest answered $answered of $connections connections"
check "every connection answered by the guest's listener" test "$answered" = "$connections"
m1=$(scrape)
after=$(sum_metric synwatch_syn_packets_total "interface=\"$nic\"" <<<"$m1")
peer_after=$(sum_metric synwatch_peer_syn_packets_total "interface=\"$nic\".*peer=\"10[.]0[.]2[.]2\"" <<<"$m1")
echo "synwatch_syn_packets_total{interface=\"$nic\"}: $before -> $after"
echo "synwatch_peer_syn_packets_total{peer=\"10.0.2.2\"}: $peer_before -> $peer_after"
counted() {
  [ "$before" != none ] && [ "$after" != none ] && [ $((after - before)) -ge "$connections" ]
}
peer_counted() {
  [ "$peer_after" != none ] && [ $((peer_after - ${peer_before/none/0})) -ge "$connections" ]
}
check "every SYN counted on $nic" counted
check "counted for peer 10.0.2.2 (the slirp gateway)" peer_counted

# --- 2b. the exporter stopped: the pinned program keeps counting --------------
if [ "$expect_pinning" = 1 ]; then
  # shellcheck disable=SC2016 # expands in the guest
  check "maps and the XDP link pinned under /sys/fs/bpf/synwatch, owned by synwatch" \
    vm_ssh 'test -e /sys/fs/bpf/synwatch/peers && ls /sys/fs/bpf/synwatch | grep -q "^link_" && test "$(stat -c %U /sys/fs/bpf/synwatch/peers)" = synwatch'
  vm_ssh 'systemctl stop synwatch'
  check "still attached while the exporter is stopped" guest_xdp_on_nic
  stopped_answered=$(connect_many)
  vm_ssh 'systemctl start synwatch'
  t=$SECONDS
  until curl -fsS --max-time 5 -o /dev/null "http://127.0.0.1:${VM_PORT[$metrics_port]}/-/ready" ||
    [ $((SECONDS - t)) -ge 60 ]; do sleep 2; done
  restarted=$(scrape | sum_metric synwatch_syn_packets_total "interface=\"$nic\"")
  echo "stopped: $stopped_answered connections answered; synwatch_syn_packets_total: $after -> $restarted"
  gap_counted() {
    [ "$restarted" != none ] && [ "$restarted" -ge $((after + stopped_answered)) ] &&
      [ "$stopped_answered" = "$connections" ]
  }
  check "SYNs sent while the exporter was stopped are counted after it starts" gap_counted
  after=$restarted
  pid=$(vm_ssh 'systemctl show -P MainPID synwatch')
fi

# --- 3. upgrade ----------------------------------------------------------------
old_version=$(vm_ssh "dpkg-query -W -f='\${Version}' synwatch")
vm_copy_to "$upgrade_deb" /tmp/synwatch-upgrade.deb
vm_ssh 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q /tmp/synwatch-upgrade.deb' >"$VM_DIR/upgrade.log" 2>&1 ||
  { cat "$VM_DIR/upgrade.log"; die "upgrade failed"; }
new_version=$(vm_ssh "dpkg-query -W -f='\${Version}' synwatch")
echo "upgrade: $old_version -> $new_version"
check "package upgraded" test "$old_version" != "$new_version"
check "service restarted by the upgrade" test "$(vm_ssh 'systemctl show -P MainPID synwatch')" != "$pid"
check "service active after the upgrade" vm_ssh 'systemctl is-active --quiet synwatch'
t=$SECONDS
until curl -fsS --max-time 5 -o /dev/null "http://127.0.0.1:${VM_PORT[$metrics_port]}/-/ready" ||
  [ $((SECONDS - t)) -ge 60 ]; do sleep 2; done
answered=$(connect_many)
m2=$(scrape) || die "scrape after the upgrade failed"
upgraded=$(sum_metric synwatch_syn_packets_total "interface=\"$nic\"" <<<"$m2")
echo "after upgrade: synwatch_syn_packets_total{interface=\"$nic\"}: $upgraded"
check "XDP attached after the upgrade" attached <<<"$m2"
counting_after_upgrade() {
  [ "$upgraded" != none ] && [ "$upgraded" -ge "$connections" ]
}
check "counting after the upgrade" counting_after_upgrade
if [ "$expect_pinning" = auto ]; then
  # shellcheck disable=SC2016 # expands in the guest
  if vm_ssh 'test -n "$(ls -A /sys/fs/bpf/synwatch 2>/dev/null)"'; then
    expect_pinning=1
  else
    echo "skip: counters across the upgrade (nothing pinned under /sys/fs/bpf/synwatch)"
    skipped=$((skipped + 1))
  fi
fi
if [ "$expect_pinning" = 1 ]; then
  continued() { [ "$upgraded" != none ] && [ "$upgraded" -ge $((after + connections)) ]; }
  check "counters continued across the upgrade (pinned maps)" continued
fi

# --- 3b. the dispatcher: the README's drop-in, a restart, an upgrade ---------
wait_ready() {
  local t=$SECONDS
  until curl -fsS --max-time 5 -o /dev/null "http://127.0.0.1:${VM_PORT[$metrics_port]}/-/ready" ||
    [ $((SECONDS - t)) -ge 90 ]; do sleep 2; done
}
# synwatch's programs in the dispatcher of the NIC (libxdp's pins).
ifindex=$(vm_ssh "cat /sys/class/net/$nic/ifindex")
# shellcheck disable=SC2016 # expands in the guest
chain_programs() {
  vm_ssh 'n=0; for d in /sys/fs/bpf/xdp/dispatch-'"$ifindex"'-*; do
      [ -d "$d" ] || continue
      for p in "$d"/prog*-prog; do [ -e "$p" ] && n=$((n + 1)); done
    done; echo "$n"'
}
in_dispatcher() { grep -Eq "^synwatch_xdp_attach_info[{][^}]*attach=\"dispatcher\"[^}]*interface=\"$nic\"[^}]*[}] 1(\\.0)?\$|^synwatch_xdp_attach_info[{][^}]*interface=\"$nic\"[^}]*attach=\"dispatcher\"[^}]*[}] 1(\\.0)?\$"; }
vm_ssh 'mkdir -p /etc/systemd/system/synwatch.service.d && cat > /etc/systemd/system/synwatch.service.d/dispatcher.conf' <<'INI'
[Service]
AmbientCapabilities=CAP_BPF CAP_NET_ADMIN CAP_PERFMON CAP_SYS_ADMIN CAP_DAC_OVERRIDE
CapabilityBoundingSet=CAP_BPF CAP_NET_ADMIN CAP_PERFMON CAP_SYS_ADMIN CAP_DAC_OVERRIDE
TemporaryFileSystem=
BindPaths=
INI
vm_ssh "sed -i 's/^attach = \"direct\"/attach = \"dispatcher\"/' /etc/synwatch/synwatch.toml && grep -q '^attach = \"dispatcher\"' /etc/synwatch/synwatch.toml" ||
  die "could not set xdp.attach = \"dispatcher\""
since=$(vm_ssh 'date +%s')
vm_ssh 'systemctl daemon-reload && systemctl restart synwatch'
wait_ready
check "dispatcher: service active with the drop-in" vm_ssh 'systemctl is-active --quiet synwatch'
md0=$(scrape) || {
  vm_ssh "systemctl status --no-pager synwatch; journalctl -u synwatch --no-pager --since @$since | head -n 40" || true
  die "scrape in dispatcher mode failed"
}
check "dispatcher: synwatch_xdp_attach_info says dispatcher on $nic" in_dispatcher <<<"$md0"
check "dispatcher: priority 10 (synwatch_xdp_run_priority)" \
  grep -Eq "^synwatch_xdp_run_priority[{][^}]*interface=\"$nic\"[^}]*[}] 10(\\.0)?\$" <<<"$md0"
check "dispatcher: one synwatch program in libxdp's dispatcher of $nic" test "$(chain_programs)" = 1
pid=$(vm_ssh 'systemctl show -P MainPID synwatch')
check "dispatcher: effective capabilities are BPF and NET_ADMIN only" \
  test "$(vm_ssh "awk '/^CapEff/ { print \$2 }' /proc/$pid/status")" = 0000008000001000
before=$(sum_metric synwatch_syn_packets_total "interface=\"$nic\"" <<<"$md0")
answered=$(connect_many)
after=$(scrape | sum_metric synwatch_syn_packets_total "interface=\"$nic\"")
echo "dispatcher: $answered connections answered; synwatch_syn_packets_total: $before -> $after"
dispatcher_counted() { [ "$before" != none ] && [ "$after" != none ] && [ $((after - before)) -ge "$answered" ] && [ "$answered" = "$connections" ]; }
check "dispatcher: every SYN counted" dispatcher_counted

# The upgrade while connections keep coming: the old program counts until
# the new one takes over in the same dispatcher, so none is lost.
old_version=$(vm_ssh "dpkg-query -W -f='\${Version}' synwatch")
vm_copy_to "$upgrade2_deb" /tmp/synwatch-upgrade2.deb
during="$VM_DIR/during-upgrade"
(
  n=0
  for ((round = 0; round < 12; round++)); do
    n=$((n + $(connect_many)))
    sleep 1
  done
  echo "$n" >"$during"
) &
traffic_pid=$!
vm_ssh 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q /tmp/synwatch-upgrade2.deb' >"$VM_DIR/upgrade2.log" 2>&1 ||
  { cat "$VM_DIR/upgrade2.log"; kill "$traffic_pid" 2>/dev/null; die "upgrade in dispatcher mode failed"; }
wait "$traffic_pid" || true
sent_during=$(cat "$during" 2>/dev/null || echo 0)
new_version=$(vm_ssh "dpkg-query -W -f='\${Version}' synwatch")
echo "dispatcher upgrade: $old_version -> $new_version; $sent_during connections answered around it"
check "dispatcher: package upgraded" test "$old_version" != "$new_version"
check "dispatcher: service restarted by the upgrade" test "$(vm_ssh 'systemctl show -P MainPID synwatch')" != "$pid"
wait_ready
md1=$(scrape) || die "scrape after the upgrade in dispatcher mode failed"
upgraded=$(sum_metric synwatch_syn_packets_total "interface=\"$nic\"" <<<"$md1")
echo "dispatcher: synwatch_syn_packets_total after the upgrade: $upgraded"
check "dispatcher: still in the dispatcher after the upgrade" in_dispatcher <<<"$md1"
check "dispatcher: the earlier program left the chain (one synwatch program)" test "$(chain_programs)" = 1
no_gap() {
  [ "$upgraded" != none ] && [ "$sent_during" -ge $((12 * connections)) ] &&
    [ "$upgraded" -ge $((after + sent_during)) ]
}
check "dispatcher: counters continued and every SYN sent during the upgrade counted" no_gap
vm_ssh 'journalctl -u synwatch --no-pager -n 40' >"$VM_DIR/dispatcher-journal.txt" 2>&1 || true
check "dispatcher: the new synwatch took over from the earlier program" \
  grep -q 'Detached the earlier synwatch program' "$VM_DIR/dispatcher-journal.txt"

# --- 4. remove, purge ------------------------------------------------------------
vm_ssh 'DEBIAN_FRONTEND=noninteractive apt-get remove -y -q synwatch' >"$VM_DIR/remove.log" 2>&1 ||
  { cat "$VM_DIR/remove.log"; die "remove failed"; }
check "remove: service gone" vm_ssh '! systemctl is-active --quiet synwatch && ! test -e /lib/systemd/system/synwatch.service'
check "remove: no synwatch process" vm_ssh '! pgrep -x synwatch'
# shellcheck disable=SC2016 # expands in the guest
check "remove: nothing pinned under /sys/fs/bpf/synwatch" \
  vm_ssh 'test -z "$(ls -A /sys/fs/bpf/synwatch 2>/dev/null)"'
check "remove: no XDP program on $nic (the dispatcher gone with synwatch's program)" eval '! guest_xdp_on_nic'
check "remove: config kept" vm_ssh 'test -f /etc/synwatch/synwatch.toml'
vm_ssh 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -q synwatch' >"$VM_DIR/purge.log" 2>&1 ||
  { cat "$VM_DIR/purge.log"; die "purge failed"; }
check "purge: config removed" vm_ssh '! test -e /etc/synwatch'
check "purge: package gone" vm_ssh '! dpkg -s synwatch >/dev/null 2>&1'

t=$SECONDS
vm_shutdown
echo "timings: boot to ssh+systemd ${t_boot} s (accelerator $VM_ACCEL_USED), shutdown $((SECONDS - t)) s"
summary
[ "$failed" -eq 0 ]
