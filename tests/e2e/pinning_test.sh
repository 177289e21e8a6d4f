#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Pinned state across restarts, in namespaces and a BPF filesystem this test
# owns: counters continue exactly across SIGTERM and kill -9, SYNs sent while
# no exporter runs are counted, a port-scan block survives a restart, a
# resized peer table keeps its entries, a pinned map of another layout is
# replaced (one line) and never read, a second synwatch on the same pin path
# is refused, --detach removes synwatch's pins and only those, and with
# pin_path = "" nothing is pinned and every exit detaches. Bounded: ~60 s.
set -uo pipefail
BIN="$(realpath "${1:?usage: pinning_test.sh path/to/synwatch}")"
HERE="$(dirname "$(realpath "$0")")"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"

sandbox_up
bpffs_up
PIN="$SW_BPFFS/synwatch"
start_listener 8080

write_config() { # PIN_PATH [MAX_PEERS]
  cat >"$SW_TMP/synwatch.toml" <<TOML
[xdp]
interfaces = ["sw-srv"]
pin_path = "$1"
[rules]
dry_run = false
allow = ["192.0.2.12/32"]
deny = ["192.0.2.66/32"]
[peers]
max_entries = ${2:-65536}
[port_scan]
max_ports = 3
window = "60s"
block_duration = "60s"
TOML
}

syn() { metric "$1" synwatch_syn_packets_total "interface=\"sw-srv\",outcome=\"$2\",action=\"$3\""; }
peer() { metric "$1" synwatch_peer_syn_packets_total "interface=\"sw-srv\",peer=\"$2\",outcome=\"unmatched\",action=\"pass\""; }
attached() { srv ip link show dev sw-srv | head -n1 | grep -q ' xdp'; }
connects() { # N SRC: N real connections, each must succeed
  local i ok=0
  for i in $(seq 1 "$1"); do
    if connect_from "$2" 192.0.2.1 8080; then ok=$((ok + 1)); fi
  done
  echo "$ok"
}
log_count() { grep -c "$1" "$SW_TMP/synwatch.log"; }

# --- 1. first start: counts, and the pins it makes --------------------------
write_config "$PIN"
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }
check_eq "connects from .11" "$(connects 3 192.0.2.11)" 3
check_eq "connects from .12 (allow-listed)" "$(connects 2 192.0.2.12)" 2
text="$(scrape)"
check_eq "unmatched SYNs" "$(syn "$text" unmatched pass)" 3
check_eq "allowed SYNs" "$(syn "$text" allowed pass)" 2
ifindex="$(srv cat /sys/class/net/sw-srv/ifindex)"
check "maps pinned" test -e "$PIN/peers" -a -e "$PIN/if_stats" -a -e "$PIN/config" -a -e "$PIN/blocked"
check "the XDP link is pinned as link_$ifindex" test -e "$PIN/link_$ifindex"
check "logged where it pins" grep -q "Pinned maps and XDP links in $PIN" "$SW_TMP/synwatch.log"

# --- 2. SIGTERM: the program stays attached and keeps counting -------------
stop_pid "$SYNWATCH_PID"
check_eq "SIGTERM exits 0" "$STOP_RC" 0
check "still attached after the exporter exited" attached
check_eq "connects while no exporter runs" "$(connects 4 192.0.2.11)" 4
connect_from 192.0.2.66 192.0.2.1 8080
check_eq "the deny rule still acts while no exporter runs" "$?" 1

# --- 3. restart: the same counters, plus what came in meanwhile ------------
prog_before="$(srv ip link show dev sw-srv | grep -o 'prog/xdp id [0-9]*')"
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }
text="$(scrape)"
check_eq "unmatched SYNs continue (3 before + 4 while stopped)" "$(syn "$text" unmatched pass)" 7
check_eq "allowed SYNs continue" "$(syn "$text" allowed pass)" 2
check_eq "per-peer count of .11 continues" "$(peer "$text" 192.0.2.11)" 7
denied="$(syn "$text" denied drop)"
check "the denied SYNs sent while stopped are counted ($denied)" test "$denied" -ge 1
check "logged the reuse" grep -q "Reusing pinned state in $PIN (layout version" "$SW_TMP/synwatch.log"
check "took the pinned link over in place" grep -Eq "Took over pinned XDP link on sw-srv \(ifindex $ifindex, native mode\): program id [0-9]+ replaced by [0-9]+ in place" "$SW_TMP/synwatch.log"
prog_after="$(srv ip link show dev sw-srv | grep -o 'prog/xdp id [0-9]*')"
check "the new program is the one attached ($prog_before -> $prog_after)" test "$prog_before" != "$prog_after"

# --- 4. a port-scan block survives a restart -------------------------------
for port in 9001 9002 9003 9004 9005; do connect_from 192.0.2.13 192.0.2.1 "$port"; done
wait_until 5 grep -q "Port scan detected: 192.0.2.13" "$SW_TMP/synwatch.log"
check "scan by .13 detected" grep -q "Port scan detected: 192.0.2.13" "$SW_TMP/synwatch.log"
stop_pid "$SYNWATCH_PID"
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }
connect_from 192.0.2.13 192.0.2.1 8080
check_eq "the scanner is still blocked after the restart" "$?" 1
check_eq "others still connect" "$(connects 1 192.0.2.14)" 1
check_eq "synwatch_blocked_peers after the restart" "$(scrape | grep '^synwatch_blocked_peers ' | cut -d' ' -f2)" 1

# --- 5. kill -9: counting goes on, the next start serves the same counters -
before="$(syn "$(scrape)" unmatched pass)"
kill -KILL "$SYNWATCH_PID"
stop_pid "$SYNWATCH_PID"
check "still attached after kill -9" attached
check_eq "connects after kill -9" "$(connects 3 192.0.2.11)" 3
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }
check_eq "after kill -9 the counters continue" "$(syn "$(scrape)" unmatched pass)" "$((before + 3))"

# --- 6. a second synwatch on the same pin path is refused ------------------
rc=0
srv timeout 10 "$BIN" --config "$SW_TMP/synwatch.toml" --web.listen-address 127.0.0.1:9633 >"$SW_TMP/out" 2>"$SW_TMP/err" || rc=$?
check_eq "second instance: exit status" "$rc" 1
check "second instance: says why ($(grep -v "^20" "$SW_TMP/err" | head -c 200))" grep -q "another synwatch is running with this pin path" "$SW_TMP/err"
check "first instance still serves" srv curl -fsS -o /dev/null http://127.0.0.1:9632/-/ready

# --- 7. a resized peer table keeps its entries -----------------------------
stop_pid "$SYNWATCH_PID"
write_config "$PIN" 1024
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }
check "resize logged" grep -Eq "Resized pinned map peers from 65536 to 1024 entries: [0-9]+ entries carried over" "$SW_TMP/synwatch.log"
text="$(scrape)"
check_eq "peer table capacity is the new size" "$(grep '^synwatch_peer_table_capacity ' <<<"$text" | cut -d' ' -f2)" 1024
check_eq "per-peer count of .11 carried over" "$(peer "$text" 192.0.2.11)" 10
check_eq "interface totals continue" "$(syn "$text" unmatched pass)" "$((before + 3))"

# --- 8. a pinned map of another layout is replaced, never read -------------
stop_pid "$SYNWATCH_PID"
rm "$PIN/blocked"
bpftool map create "$PIN/blocked" type hash key 8 value 8 entries 16 name blocked
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }
check_eq "one line says the pinned state does not match" "$(log_count 'does not match this synwatch')" 1
check "it names the map and both layouts" grep -q "map blocked is type 1, key 8 B, value 8 B, 16 entries" "$SW_TMP/synwatch.log"
text="$(scrape)"
check_eq "counters start from zero with the new layout" "$(syn "$text" unmatched pass)" 0
check "attached all along" attached
check_eq "and count again" "$(connects 2 192.0.2.11)" 2
check_eq "new counters" "$(syn "$(scrape)" unmatched pass)" 2

# --- 9. --detach removes synwatch's pins and only those --------------------
stop_pid "$SYNWATCH_PID"
bpftool map create "$PIN/foreign" type array key 4 value 4 entries 1 name other
out="$(srv "$BIN" --detach --config "$SW_TMP/synwatch.toml" 2>&1)"
check "--detach reports what it removed ($out)" grep -Eq "detached 1 XDP link\(s\) and removed [0-9]+ map\(s\) from $PIN; left alone \(not synwatch's\): foreign" <<<"$out"
check "nothing attached after --detach" bash -c "! ip netns exec $SW_SRV ip link show dev sw-srv | head -n1 | grep -q ' xdp'"
check_eq "only the foreign pin is left" "$(ls "$PIN")" foreign
rm "$PIN/foreign"
out="$(srv "$BIN" --detach --config "$SW_TMP/synwatch.toml" 2>&1)"
check "--detach again removes the empty directory ($out)" test ! -e "$PIN"
out="$(srv "$BIN" --detach --config "$SW_TMP/synwatch.toml" 2>&1)"
check "--detach with nothing pinned says so ($out)" grep -q "nothing pinned at $PIN" <<<"$out"

# --- 10. pin_path = "": nothing pinned, every exit detaches ----------------
write_config ""
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }
check "nothing pinned" test ! -e "$PIN"
check "says that exiting detaches" grep -q 'xdp.pin_path is "": nothing pinned, exiting detaches' "$SW_TMP/synwatch.log"
stop_pid "$SYNWATCH_PID"
check "SIGTERM without pinning: nothing attached" bash -c "! ip netns exec $SW_SRV ip link show dev sw-srv | head -n1 | grep -q ' xdp'"
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }
kill -KILL "$SYNWATCH_PID"
stop_pid "$SYNWATCH_PID"
wait_until 5 bash -c "! ip netns exec $SW_SRV ip link show dev sw-srv | head -n1 | grep -q ' xdp'"
check "kill -9 without pinning: nothing attached" bash -c "! ip netns exec $SW_SRV ip link show dev sw-srv | head -n1 | grep -q ' xdp'"

finish
