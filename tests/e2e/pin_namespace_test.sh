#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Pins and mount namespaces, in namespaces and a BPF filesystem this test
# owns. Under `ip netns exec` (a private mount namespace with a fresh /sys)
# and no BPF filesystem, synwatch mounts its own at /sys/fs/bpf, which goes
# with that namespace: it says so in one warning, claims no persistence, and
# indeed the link detaches when it exits and the next start counts from zero.
# Under `nsenter --net=` (the host's mount namespace) with pin_path on a BPF
# filesystem mounted on the host, the counters continue across a restart, as
# it says; so they do under `ip netns exec` once that BPF filesystem is
# there before it (the namespace's copy of the host's mount). As PID 1 of
# its own PID namespace (a container's init), where nothing shows the host,
# it promises nothing either. The host's /sys/fs/bpf is never touched.
# Bounded: about 40 s.
set -uo pipefail
BIN="$(realpath "${1:?usage: pin_namespace_test.sh path/to/synwatch}")"
HERE="$(dirname "$(realpath "$0")")"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"

sandbox_up
bpffs_up
start_listener 8080

CLAIM="they keep counting after this process exits"
write_config() { # PIN_PATH
  cat >"$SW_TMP/synwatch.toml" <<TOML
[xdp]
interfaces = ["sw-srv"]
pin_path = "$1"
[port_scan]
enabled = false
TOML
}
unmatched() { metric "$(scrape)" synwatch_syn_packets_total 'interface="sw-srv",outcome="unmatched",action="pass"'; }
peer() { metric "$(scrape)" synwatch_peer_syn_packets_total "interface=\"sw-srv\",peer=\"$1\",outcome=\"unmatched\",action=\"pass\""; }
attached() { srv ip link show dev sw-srv | head -n1 | grep -q ' xdp'; }
connects() { # N SRC: N real connections, each must succeed
  local ok=0
  for _ in $(seq 1 "$1"); do
    if connect_from "$2" 192.0.2.1 8080; then ok=$((ok + 1)); fi
  done
  echo "$ok"
}
fs_type() { stat -f -c %T "$1" 2>/dev/null || echo none; }
# start_nsenter: synwatch in the server's network namespace and this mount
# namespace, the way README recommends; sets SYNWATCH_PID.
start_nsenter() {
  nsenter --net="/run/netns/$SW_SRV" "$BIN" --config "$SW_TMP/synwatch.toml" >"$SW_TMP/synwatch.log" 2>&1 &
  SW_PIDS+=("$!")
  SYNWATCH_PID="$!"
  if ! wait_until 15 srv curl -fsS http://127.0.0.1:9632/-/ready; then
    log "synwatch did not become ready; its log:"
    cat "$SW_TMP/synwatch.log" >&2
    return 1
  fi
}

# --- 1. ip netns exec, no BPF filesystem: pins that end with the namespace -
host_bpf_before="$(fs_type /sys/fs/bpf)"
PRIV="/sys/fs/bpf/synwatch-e2e-$SW_ID"
if [ "$(srv stat -f -c %T /sys/fs/bpf 2>/dev/null)" = bpf_fs ]; then
  # Not the fresh /sys this test is about; pin nothing there.
  check "ip netns exec gives a /sys without a BPF filesystem" false
else
  write_config "$PRIV"
  start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }
  check "it mounted its own BPF filesystem" grep -q "Mounted a BPF filesystem at /sys/fs/bpf for xdp.pin_path" "$SW_TMP/synwatch.log"
  check_eq "one warning says the pins end with the namespace" \
    "$(grep -c " warning Pins in $PRIV do not outlive this mount namespace: synwatch mounted the BPF filesystem at /sys/fs/bpf itself in this mount namespace only" "$SW_TMP/synwatch.log")" 1
  check "the warning says how to keep them" grep -q 'nsenter --net=/run/netns/NAME' "$SW_TMP/synwatch.log"
  check "no claim that the pins keep counting" bash -c "! grep -q '$CLAIM' '$SW_TMP/synwatch.log'"
  check_eq "connects from .11" "$(connects 3 192.0.2.11)" 3
  check_eq "unmatched SYNs counted" "$(unmatched)" 3
  stop_pid "$SYNWATCH_PID"
  check_eq "SIGTERM exits 0" "$STOP_RC" 0
  # The warning was right: the namespace's BPF filesystem went with it.
  check "the link detached with the namespace" wait_until 5 bash -c "! ip netns exec $SW_SRV ip link show dev sw-srv | head -n1 | grep -q ' xdp'"
  start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }
  check_eq "the next start counts from zero" "$(unmatched)" 0
  check "and reused nothing" bash -c "! grep -q 'Reusing pinned state' '$SW_TMP/synwatch.log'"
  stop_pid "$SYNWATCH_PID"
  wait_until 5 bash -c "! ip netns exec $SW_SRV ip link show dev sw-srv | head -n1 | grep -q ' xdp'"
fi
# --- 1b. the init of its own PID namespace (a container's entrypoint) ----
# /proc/1 is synwatch itself, so nothing shows the host: it mounted its BPF
# filesystem and cannot tell, so it promises nothing.
if [ "$(srv stat -f -c %T /sys/fs/bpf 2>/dev/null)" != bpf_fs ]; then
  write_config "$PRIV"
  start_bg "$SW_SRV" "$SW_TMP/synwatch.log" unshare --pid --mount-proc --kill-child=SIGTERM "$BIN" --config "$SW_TMP/synwatch.toml"
  # unshare ignores SIGTERM while it waits for its child, synwatch: that is
  # the one to stop (sandbox_down too).
  unshare_pid="$LAST_PID"
  wait_until 5 test -s "/proc/$unshare_pid/task/$unshare_pid/children"
  init_pid="$(tr -d ' ' <"/proc/$unshare_pid/task/$unshare_pid/children")"
  if [ -n "$init_pid" ]; then SW_PIDS+=("$init_pid"); fi
  if wait_until 15 srv curl -fsS http://127.0.0.1:9632/-/ready; then
    check_eq "as PID 1, one warning says the pins may not outlive it" \
      "$(grep -c " warning Pins in $PRIV may not outlive this process: synwatch mounted the BPF filesystem at /sys/fs/bpf itself and cannot tell whether this is the host's mount namespace (synwatch is PID 1 of its PID namespace" "$SW_TMP/synwatch.log")" 1
    check "as PID 1, no claim that the pins keep counting" bash -c "! grep -q '$CLAIM' '$SW_TMP/synwatch.log'"
  else
    check "synwatch as PID 1 became ready ($(tail -n 3 "$SW_TMP/synwatch.log"))" false
  fi
  if [ -n "$init_pid" ]; then stop_pid "$init_pid"; fi
  stop_pid "$unshare_pid"
  check_eq "as PID 1: SIGTERM exits 0" "$STOP_RC" 0
  check "as PID 1: the link detached when it exited" wait_until 5 bash -c "! ip netns exec $SW_SRV ip link show dev sw-srv | head -n1 | grep -q ' xdp'"
fi
check_eq "the host's /sys/fs/bpf is as it was" "$(fs_type /sys/fs/bpf)" "$host_bpf_before"
check "no pin directory of this test on the host" test ! -e "$PRIV"

# --- 2. nsenter --net=: the host's mount namespace, pins that persist ------
PIN="$SW_BPFFS/synwatch"
write_config "$PIN"
start_nsenter || { finish; exit 1; }
check_eq "one line says the pins keep counting" "$(grep -c " info Pinned maps and XDP links in $PIN: $CLAIM" "$SW_TMP/synwatch.log")" 1
check "no warning about the pins" bash -c "! grep -Eq 'Pins in .* (do|may) not outlive' '$SW_TMP/synwatch.log'"
check_eq "connects from .11" "$(connects 3 192.0.2.11)" 3
check_eq "unmatched SYNs counted" "$(unmatched)" 3
stop_pid "$SYNWATCH_PID"
check_eq "SIGTERM exits 0" "$STOP_RC" 0
check "still attached after the exporter exited" attached
check_eq "connects while no exporter runs" "$(connects 2 192.0.2.11)" 2
start_nsenter || { finish; exit 1; }
check "logged the reuse" grep -q "Reusing pinned state in $PIN (layout version" "$SW_TMP/synwatch.log"
check_eq "unmatched SYNs continue (3 + 2 while stopped)" "$(unmatched)" 5
check_eq "per-peer count of .11 continues" "$(peer 192.0.2.11)" 5

# --- 3. ip netns exec with that BPF filesystem already there: persists ------
stop_pid "$SYNWATCH_PID"
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }
check_eq "one line says the pins keep counting" "$(grep -c " info Pinned maps and XDP links in $PIN: $CLAIM" "$SW_TMP/synwatch.log")" 1
check "no warning about the pins" bash -c "! grep -Eq 'Pins in .* (do|may) not outlive' '$SW_TMP/synwatch.log'"
check "mounted nothing" bash -c "! grep -q 'Mounted a BPF filesystem' '$SW_TMP/synwatch.log'"
check_eq "unmatched SYNs continue" "$(unmatched)" 5
stop_pid "$SYNWATCH_PID"
check "still attached after the exporter exited" attached
out="$(srv "$BIN" --detach --config "$SW_TMP/synwatch.toml" 2>&1)"
check "--detach removes the test's pins ($out)" test ! -e "$PIN"

finish
