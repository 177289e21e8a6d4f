#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Live reload (SIGHUP) in namespaces this test owns: rules swapped without
# detaching or resetting a counter, a bad file keeps the running config,
# interfaces added and removed, and reloads during traffic drop no legitimate
# connection. Bounded: about 60 s.
set -uo pipefail
BIN="$(realpath "${1:?usage: reload_test.sh path/to/synwatch}")"
HERE="$(dirname "$(realpath "$0")")"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"

sandbox_up
start_listener 8080
# A second link between the namespaces, for adding and removing interfaces.
ip link add sw-srv2 netns "$SW_SRV" type veth peer name sw-cli2 netns "$SW_CLI"
srv ip link set sw-srv2 up
cli ip link set sw-cli2 up

config() { # DENY INTERFACES
  cat >"$SW_TMP/synwatch.toml" <<TOML
[xdp]
interfaces = [$2]
[rules]
dry_run = false
deny = [$1]
[port_scan]
enabled = false
TOML
}
gauge() { grep "^$1 " <<<"$2" | cut -d' ' -f2; }
reloads_above() { [ "$(grep -c 'Reload' "$SW_TMP/synwatch.log")" -gt "$1" ]; }
reload() { # waits for the reload to be logged
  local before
  before="$(grep -c 'Reload' "$SW_TMP/synwatch.log")"
  kill -HUP "$SYNWATCH_PID"
  wait_until 5 reloads_above "$before"
}

config '' '"sw-srv"'
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }
connect_from 192.0.2.66 192.0.2.1 8080
check_eq "before the reload .66 connects" "$?" 0
text="$(scrape)"
before="$(metric "$text" synwatch_syn_packets_total 'interface="sw-srv",outcome="unmatched",action="pass"')"
ts1="$(gauge synwatch_config_last_reload_success_timestamp_seconds "$text")"
prog1="$(srv ip link show dev sw-srv | grep -o 'prog/xdp id [0-9]*')"

sleep 1.1
config '"192.0.2.66/32"' '"sw-srv"'
reload
connect_from 192.0.2.66 192.0.2.1 8080
check_eq "after the reload .66 is denied" "$?" 1
connect_from 192.0.2.12 192.0.2.1 8080
check_eq "others still connect" "$?" 0
text="$(scrape)"
check_eq "counters kept across the reload" \
  "$(metric "$text" synwatch_syn_packets_total 'interface="sw-srv",outcome="unmatched",action="pass"')" "$((before + 1))"
check_eq "synwatch_rules{list=deny}" "$(metric "$text" synwatch_rules 'list="deny"')" 1
check_eq "reload successful" "$(gauge synwatch_config_last_reload_successful "$text")" 1
ts2="$(gauge synwatch_config_last_reload_success_timestamp_seconds "$text")"
check "reload timestamp moved ($ts1 -> $ts2)" awk -v a="$ts1" -v b="$ts2" 'BEGIN { exit !(b > a) }'
check_eq "same program, not re-attached" "$(srv ip link show dev sw-srv | grep -o 'prog/xdp id [0-9]*')" "$prog1"

# A bad file: refused with file:line, the running rules stay.
printf '[rules]\ndeny = ["192.0.2.0/33"]\n' >"$SW_TMP/synwatch.toml"
reload
check "bad reload logged with file:line" grep -q 'synwatch.toml:2: rules.deny\[0\]' "$SW_TMP/synwatch.log"
text="$(scrape)"
check_eq "reload unsuccessful" "$(gauge synwatch_config_last_reload_successful "$text")" 0
check_eq "timestamp unchanged" "$(gauge synwatch_config_last_reload_success_timestamp_seconds "$text")" "$ts2"
connect_from 192.0.2.66 192.0.2.1 8080
check_eq "the running deny rule still holds" "$?" 1

# Interfaces added and removed without a restart.
config '"192.0.2.66/32"' '"sw-srv", "sw-srv2"'
reload
text="$(scrape)"
check_eq "sw-srv2 attached by reload" "$(metric "$text" synwatch_xdp_attached 'interface="sw-srv2",mode="native"')" 1
check_eq "reload successful again" "$(gauge synwatch_config_last_reload_successful "$text")" 1
config '"192.0.2.66/32"' '"sw-srv"'
reload
text="$(scrape)"
check_eq "sw-srv2 gone from the metrics" "$(metric "$text" synwatch_xdp_attached 'interface="sw-srv2",mode="native"')" absent
check "sw-srv2 detached" bash -c "! ip netns exec $SW_SRV ip link show dev sw-srv2 | head -n1 | grep -q ' xdp'"

# Reloads during traffic: every legitimate connection succeeds.
ok=0
for i in $(seq 1 20); do
  if ((i % 4 == 0)); then
    config "\"192.0.2.$((60 + i))/32\"" '"sw-srv"'
    kill -HUP "$SYNWATCH_PID"
  fi
  connect_from 192.0.2.12 192.0.2.1 8080 && ok=$((ok + 1))
done
check_eq "connections during 5 reloads" "$ok" 20
check "promtool check metrics" bash -c "promtool check metrics <<<\"\$(ip netns exec $SW_SRV curl -fsS http://127.0.0.1:9632/metrics)\""

stop_pid "$SYNWATCH_PID"
check_eq "exit status" "$STOP_RC" 0
finish
