#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Faults, in namespaces this test owns: the watched interface deleted and
# created again, the peer namespace removed and created again (each reported
# by synwatch_xdp_attached 0, /-/ready 503 and one log line, then re-attached
# without a restart, the totals of that interface continuing); the interface
# coming back as a device the program cannot be attached to, then as one it
# can (the totals continue across the failed attempt); a full peer
# table and a full ring buffer (counted, exact totals kept, the exporter
# answering throughout). Bounded: about 60 s.
set -uo pipefail
BIN="$(realpath "${1:?usage: faults_test.sh path/to/synwatch}")"
HERE="$(dirname "$(realpath "$0")")"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"

sandbox_up
bpffs_up
PIN="$SW_BPFFS/synwatch"
start_listener 8080

write_config() { # MAX_PEERS LOG_CONNECTIONS [MODE]
  cat >"$SW_TMP/synwatch.toml" <<TOML
[xdp]
interfaces = ["sw-srv"]
mode = "${3:-auto}"
pin_path = "$PIN"
[rules]
dry_run = false
[peers]
max_entries = $1
[port_scan]
enabled = false
[log]
connections = $2
connections_per_second = 1000000
TOML
}

# The veth pair again, as sandbox_up made it (the server end keeps its name).
relink() {
  ip netns list | grep -qw "$SW_CLI" || ip netns add "$SW_CLI"
  ip -n "$SW_CLI" link set lo up
  ip netns exec "$SW_CLI" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  ip link add sw-srv netns "$SW_SRV" type veth peer name sw-cli netns "$SW_CLI"
  ip -n "$SW_SRV" addr add 192.0.2.1/24 dev sw-srv
  local h
  for h in 10 11 12 13 14 15 16 17 18 19 66; do
    ip -n "$SW_CLI" addr add "192.0.2.$h/24" dev sw-cli
  done
  ip -n "$SW_SRV" link set sw-srv up
  ip -n "$SW_CLI" link set sw-cli up
}

unmatched() { metric "$1" synwatch_syn_packets_total 'interface="sw-srv",outcome="unmatched",action="pass"'; }
attached_metric() { metric "$(scrape)" synwatch_xdp_attached "interface=\"sw-srv\",mode=\"$1\""; }
ready_code() { srv curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9632/-/ready; }
gone_lines() { grep -c 'Interface sw-srv (ifindex [0-9]*) is gone' "$SW_TMP/synwatch.log"; }
back_lines() { grep -c 'Interface sw-srv is back (ifindex' "$SW_TMP/synwatch.log"; }
refused_lines() { grep -c 'Interface sw-srv is back but cannot be attached' "$SW_TMP/synwatch.log"; }
# at_least FUNCTION N: FUNCTION's output is N or more (evaluated on each call,
# so wait_until can poll it).
at_least() { [ "$("$1")" -ge "$2" ]; }
connects() { # N SRC
  local i ok=0
  for i in $(seq 1 "$1"); do
    if connect_from "$2" 192.0.2.1 8080; then ok=$((ok + 1)); fi
  done
  echo "$ok"
}

write_config 65536 false
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }
check_eq "connects before the fault" "$(connects 2 192.0.2.11)" 2
ifindex1="$(srv cat /sys/class/net/sw-srv/ifindex)"

# --- 1. the interface is deleted, then created again -----------------------
srv ip link del sw-srv
wait_until 5 at_least gone_lines 1
check_eq "one log line says the interface is gone" "$(gone_lines)" 1
check_eq "synwatch_xdp_attached is 0" "$(attached_metric auto)" 0
check_eq "/-/ready is not ready" "$(ready_code)" 503
check "metrics still answer, with the totals so far" test "$(unmatched "$(scrape)")" = 2
check "its pinned link is released" test ! -e "$PIN/link_$ifindex1"
relink
wait_until 5 at_least back_lines 1
check_eq "one log line says it is back" "$(back_lines)" 1
check_eq "synwatch_xdp_attached is 1 again" "$(attached_metric native)" 1
check_eq "/-/ready is ready again" "$(ready_code)" 200
ifindex2="$(srv cat /sys/class/net/sw-srv/ifindex)"
check "a new ifindex ($ifindex1 -> $ifindex2), pinned" test -e "$PIN/link_$ifindex2" -a "$ifindex1" != "$ifindex2"
check_eq "connects after it came back" "$(connects 3 192.0.2.11)" 3
check_eq "the interface's totals continue (2 + 3)" "$(unmatched "$(scrape)")" 5

# --- 2. the peer namespace disappears (its veth end, and so ours, go) ------
ip netns del "$SW_CLI"
wait_until 5 at_least gone_lines 2
check_eq "namespace gone: one more log line" "$(gone_lines)" 2
check_eq "namespace gone: not attached" "$(attached_metric auto)" 0
check_eq "namespace gone: not ready" "$(ready_code)" 503
relink
wait_until 5 at_least back_lines 2
check_eq "namespace back: attached" "$(attached_metric native)" 1
check_eq "namespace back: connects" "$(connects 1 192.0.2.12)" 1
check_eq "namespace back: totals continue" "$(unmatched "$(scrape)")" 6
stop_pid "$SYNWATCH_PID"
srv "$BIN" --detach --config "$SW_TMP/synwatch.toml" >/dev/null

# --- 2b. it comes back as a bridge (no native XDP), then as a veth again ---
write_config 65536 false native
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }
check_eq "native: connects before the fault" "$(connects 2 192.0.2.13)" 2
srv ip link del sw-srv
wait_until 5 at_least gone_lines 1
# A bridge has no native XDP: the attach fails.
check "a bridge named sw-srv appears" srv ip link add sw-srv type bridge
srv ip link set sw-srv up
wait_until 5 at_least refused_lines 1
# One line per distinct error, not one per link event (there are several).
refused="$(grep 'cannot be attached' "$SW_TMP/synwatch.log" | sed 's/.*: attach XDP/attach XDP/' | sort | uniq -c | sort -rn | head -n 1)"
check "a device it cannot attach to: logged, each error once ($refused)" \
  test "$(awk '{print $1}' <<<"$refused")" = 1
check_eq "a device it cannot attach to: not attached" "$(attached_metric native)" 0
check_eq "a device it cannot attach to: the totals so far" "$(unmatched "$(scrape)")" 2
srv ip link del sw-srv
relink
wait_until 5 at_least back_lines 1
check_eq "the veth again: attached" "$(attached_metric native)" 1
check_eq "the veth again: connects" "$(connects 3 192.0.2.13)" 3
check_eq "the veth again: the totals continue across the failed attach (2 + 3)" \
  "$(unmatched "$(scrape)")" 5
stop_pid "$SYNWATCH_PID"
srv "$BIN" --detach --config "$SW_TMP/synwatch.toml" >/dev/null

# --- 3. a full peer table: exact totals, the fill is visible ---------------
write_config 4 false
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }
ok=0
# Twice each: a peer enters the per-peer table on its second SYN.
for h in 10 11 12 13 14 15 16 17 18 19; do
  for i in 1 2; do
    if connect_from "192.0.2.$h" 192.0.2.1 8080; then ok=$((ok + 1)); fi
  done
done
check_eq "10 peers connect twice" "$ok" 20
text="$(scrape)"
check_eq "the interface total stays exact" "$(unmatched "$text")" 20
check_eq "peer table capacity" "$(grep '^synwatch_peer_table_capacity ' <<<"$text" | cut -d' ' -f2)" 4
entries="$(grep '^synwatch_peer_table_entries ' <<<"$text" | cut -d' ' -f2)"
check "peer table full ($entries of 4 entries)" test "$entries" -ge 3 -a "$entries" -le 4
series="$(grep -c '^synwatch_peer_syn_packets_total{' <<<"$text")"
check "at most 4 peer series ($series)" test "$series" -le 4
stop_pid "$SYNWATCH_PID"
srv "$BIN" --detach --config "$SW_TMP/synwatch.toml" >/dev/null

# --- 4. a full ring buffer: events dropped and counted, totals exact -------
write_config 65536 true
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }
kill -STOP "$SYNWATCH_PID"
# 3,000 SYNs (one per port, no retries) while nobody reads the 128 KiB ring.
cli timeout 30 nmap -sS -Pn -n -p 1-3000 --max-retries 0 --min-rate 3000 \
  --host-timeout 20s -e sw-cli -S 192.0.2.15 192.0.2.1 >/dev/null 2>&1
kill -CONT "$SYNWATCH_PID"
wait_until 5 srv curl -fsS -o /dev/null http://127.0.0.1:9632/-/ready
text="$(scrape)"
full="$(metric "$text" synwatch_events_dropped_total 'reason="ring_full"')"
check "ring buffer full: events dropped and counted ($full)" test "$full" -gt 0
syn="$(metric "$text" synwatch_packets_total 'interface="sw-srv",class="syn"')"
check "every SYN counted although events were dropped ($syn)" test "$syn" -ge 3000
logged_count() { grep -c 'New connection: 192.0.2.15' "$SW_TMP/synwatch.log"; }
events_accounted() { echo $(($(logged_count) + full)); }
wait_until 5 at_least events_accounted "$syn"
logged="$(logged_count)"
check_eq "SYNs = events logged + events dropped" "$((logged + full))" "$syn"
check "still answering scrapes" srv curl -fsS -o /dev/null http://127.0.0.1:9632/metrics

finish
