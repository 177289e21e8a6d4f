#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The CrowdSec reporter, end to end, against Debian's real crowdsec LAPI
# (1.4.6): a real SYN scan (nmap, 20 ports, bounded) against synwatch on
# host 1 becomes an alert (scenario synwatch/port-scan, source the scanner)
# that host 1 sends as a machine; the LAPI's default profile turns it into
# a ban, which synwatch on host 2 (another namespace pair, bouncer mode)
# enforces: the scanner's SYNs to host 2 are dropped and counted as banned,
# another client passes. With the LAPI down an alert waits and is sent when
# it is back. An IPv6 scan, tracked by /64, is a Range alert
# that the default profile does not ban. Then dry run: the alert and its
# profile ban are simulated and host 2 bans nothing. Bounded: about 60 s.
#
#   host 1: $SW_SRV (sw-srv 192.0.2.1, scanner side $SW_CLI), the LAPI on
#           203.0.113.1 (veth sw-lapi)
#   host 2: $H2 (sw-h2 192.0.2.1; sw-lapi2 203.0.113.2 to the LAPI),
#           its clients in $C2 (sw-c2: 192.0.2.11-.13), the same addresses
#           as host 1's: another host that the same scanner reaches.
set -uo pipefail
BIN="$(realpath "${1:?usage: crowdsec_report_test.sh path/to/synwatch}")"
HERE="$(dirname "$(realpath "$0")")"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"

H2="swh2$SW_ID"
C2="swc2$SW_ID"
host2_down() {
  ip netns del "$H2" 2>/dev/null || true
  ip netns del "$C2" 2>/dev/null || true
}

sandbox_up
trap 'sandbox_down; host2_down' EXIT
start_listener 8080

# Host 2 and its clients; a link from host 2 to the LAPI on host 1.
ip netns add "$H2"
ip netns add "$C2"
ip link add sw-h2 netns "$H2" type veth peer name sw-c2 netns "$C2"
ip link add sw-lapi netns "$SW_SRV" type veth peer name sw-lapi2 netns "$H2"
for ns in "$H2" "$C2"; do ip -n "$ns" link set lo up; done
ip -n "$H2" addr add 192.0.2.1/24 dev sw-h2
for h in 11 12 13; do ip -n "$C2" addr add "192.0.2.$h/24" dev sw-c2; done
ip -n "$SW_SRV" addr add 203.0.113.1/24 dev sw-lapi
ip -n "$H2" addr add 203.0.113.2/24 dev sw-lapi2
ip -n "$H2" link set sw-h2 up
ip -n "$C2" link set sw-c2 up
ip -n "$SW_SRV" link set sw-lapi up
ip -n "$H2" link set sw-lapi2 up
start_bg "$H2" "$SW_TMP/ncat-h2.log" ncat -lk --no-shutdown -m 200 8080
wait_until 10 ip netns exec "$H2" bash -c "ss -Htln | grep -q ':8080 '"
h2() { ip netns exec "$H2" "$@"; }
# connect2 SRC: a real connect() from host 2's client SRC to host 2.
connect2() {
  ip netns exec "$C2" timeout 3 ncat --source "$1" -w 2 192.0.2.1 8080 </dev/null >/dev/null 2>&1
}

LAPI_ADDR=203.0.113.1 # host 2 reaches it from its own namespace
# shellcheck source=tests/e2e/crowdsec_lib.sh
source "$HERE/crowdsec_lib.sh"
lapi_setup 18089
PASSWORD="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$PASSWORD" >"$SW_TMP/machine.password"
chmod 600 "$SW_TMP/machine.password"
KEY="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$KEY" >"$SW_TMP/bouncer.key"
chmod 600 "$SW_TMP/bouncer.key"
check "cscli machines add (cscli's own)" lapi_cli machines add cscli-e2e --auto -f "$CS/local_api_credentials.yaml"
check "cscli machines add synwatch-test -p" lapi_cli machines add synwatch-test -p "$PASSWORD" -f /dev/null
check "cscli bouncers add (host 2)" lapi_cli bouncers add synwatch-host2 -k "$KEY"
start_lapi || { log "the LAPI did not start:"; lapi_logs; finish; exit 1; }

# write_host1 DRY_RUN: the reporter alone (no bouncer key), scans by address.
write_host1() {
  cat >"$SW_TMP/host1.toml" <<TOML
[xdp]
interfaces = ["sw-srv"]
pin_path = ""
[rules]
dry_run = $1
[port_scan]
max_ports = 3
window = "60s"
block_duration = "30s"
[crowdsec]
report = true
lapi_url = "$LAPI_URL/"
machine_id = "synwatch-test"
machine_password_file = "$SW_TMP/machine.password"
TOML
}
cat >"$SW_TMP/host2.toml" <<TOML
[xdp]
interfaces = ["sw-h2"]
pin_path = ""
[rules]
dry_run = false
[port_scan]
enabled = false
[crowdsec]
enabled = true
lapi_url = "$LAPI_URL/"
api_key_file = "$SW_TMP/bouncer.key"
update_interval = "1s"
TOML

lacks_secret() { ! grep -qF -e "$PASSWORD" -e "$KEY" "$@"; }
write_host1 false
check "--check-config accepts the reporter" srv "$BIN" --check-config --config "$SW_TMP/host1.toml"
chmod 644 "$SW_TMP/machine.password"
out="$(srv timeout 20 "$BIN" --config "$SW_TMP/host1.toml" 2>&1)"
check_eq "synwatch refuses to start with a password file others can read" "$?" 1
check "... saying why" grep -q "has mode 0644" <<<"$out"
check "... without the password" lacks_secret <<<"$out"
chmod 600 "$SW_TMP/machine.password"

start_synwatch "$BIN" "$SW_TMP/host1.toml" || { finish; exit 1; }
start_bg "$H2" "$SW_TMP/host2.log" "$BIN" --config "$SW_TMP/host2.toml"
HOST2_PID="$LAST_PID"
if ! wait_until 15 h2 curl -fsS http://127.0.0.1:9632/-/ready; then
  log "host 2 did not become ready:"
  cat "$SW_TMP/host2.log" >&2
  finish
  exit 1
fi
scrape2() { h2 curl -fsS http://127.0.0.1:9632/metrics; }
check "host 2's first poll succeeded" wait_until 10 bash -c "ip netns exec $H2 curl -fsS http://127.0.0.1:9632/metrics | grep -q '^synwatch_crowdsec_polls_total{result=\"ok\"} [1-9]'"
connect2 192.0.2.11
check_eq "before the scan the scanner connects to host 2" "$?" 0

# scan SRC [DST]: a SYN scan of 20 ports of host 1, bounded by nmap's own
# timeout.
scan() {
  local six=()
  [[ "$1" == *:* ]] && six=(-6)
  cli timeout 30 nmap "${six[@]}" -sS -Pn -n -p 20-39 --max-retries 0 \
    --host-timeout 20s -e sw-cli -S "$1" "${2:-192.0.2.1}" >/dev/null 2>&1
}
scan 192.0.2.11
check_eq "host 1 detected the scan" "$(metric "$(scrape)" synwatch_port_scans_detected_total 'interface="sw-srv"')" 1
check "host 1 sent the alert" wait_until 10 bash -c "ip netns exec $SW_SRV curl -fsS http://127.0.0.1:9632/metrics | grep -q '^synwatch_crowdsec_alerts_total{result=\"sent\"} 1$'"
alerts="$(lapi_json alerts list -a)"
# alert VALUE JQ: JQ of the synwatch/port-scan alert whose source is VALUE.
alert() { jq -r "[.[] | select(.scenario == \"synwatch/port-scan\" and .source.value == \"$1\")][0] | $2" <<<"$alerts"; }
check_eq "the LAPI has the alert (scope)" "$(alert 192.0.2.11 .source.scope)" Ip
check_eq "... its machine" "$(alert 192.0.2.11 .machine_id)" synwatch-test
check_eq "... not simulated" "$(alert 192.0.2.11 .simulated)" false
check "... the ports in its message" grep -Eq 'on [0-9]+ ports \(([0-9]+,){3,}[0-9]+\)' <<<"$(alert 192.0.2.11 .message)"
check_eq "... the ports in its event meta" \
  "$(jq -r '[.[] | select(.scenario == "synwatch/port-scan" and .source.value == "192.0.2.11")][0].events[0].meta[] | select(.key == "ports") | .value | split(",") | length >= 4' <<<"$alerts")" true
check_eq "the default profile made a ban of it" "$(alert 192.0.2.11 '.decisions[0].type')" ban
check_eq "... on the scanner's address" "$(alert 192.0.2.11 '.decisions[0].value')" 192.0.2.11

check "host 2 holds the ban after a poll" wait_until 10 bash -c "[ \"\$(ip netns exec $H2 curl -fsS http://127.0.0.1:9632/metrics | grep -E '^synwatch_crowdsec_prefixes ' | cut -d' ' -f2)\" = 1 ]"
connect2 192.0.2.11
check_eq "host 2 drops the scanner's SYNs" "$?" 1
connect2 192.0.2.12
check_eq "another client reaches host 2" "$?" 0
check "host 2 counts them as banned" test \
  "$(metric "$(scrape2)" synwatch_syn_packets_total 'interface="sw-h2",outcome="banned",action="drop"')" -ge 1

# IPv6, tracked by /64 (the default): scope Range, which the default
# profile (scope Ip only) does not ban. cscli 1.4.6 lists an alert without
# a decision only with -a, and not at all with --scenario.
scan 2001:db8::14 2001:db8::1
check "host 1 sent the IPv6 alert" wait_until 10 bash -c "ip netns exec $SW_SRV curl -fsS http://127.0.0.1:9632/metrics | grep -q '^synwatch_crowdsec_alerts_total{result=\"sent\"} 2$'"
alerts="$(lapi_json alerts list -a)"
check_eq "the IPv6 alert's source is the /64 (scope)" "$(alert 2001:db8::/64 .source.scope)" Range
check_eq "... and the default profile made no decision of it" "$(alert 2001:db8::/64 '.decisions | length')" 0

# The LAPI down: the alert waits in the queue, retried with back-off, and
# is sent once the LAPI is back.
stop_pid "$LAPI_PID"
scan 192.0.2.14
check "LAPI down: the send fails and is retried" wait_until 10 bash -c "ip netns exec $SW_SRV curl -fsS http://127.0.0.1:9632/metrics | grep -q '^synwatch_crowdsec_alert_request_failures_total [1-9]'"
check_eq "LAPI down: the alert waits in the queue" \
  "$(scrape | grep -E '^synwatch_crowdsec_alerts_queued ' | cut -d' ' -f2)" 1
start_lapi || { log "the LAPI did not restart:"; lapi_logs; }
check "LAPI back: the alert is sent" wait_until 30 bash -c "ip netns exec $SW_SRV curl -fsS http://127.0.0.1:9632/metrics | grep -q '^synwatch_crowdsec_alerts_total{result=\"sent\"} 3$'"
alerts="$(lapi_json alerts list -a)"
check_eq "... and banned by the profile" "$(alert 192.0.2.14 '.decisions[0].type')" ban
check "host 2 holds both bans" wait_until 10 bash -c "[ \"\$(ip netns exec $H2 curl -fsS http://127.0.0.1:9632/metrics | grep -E '^synwatch_crowdsec_prefixes ' | cut -d' ' -f2)\" = 2 ]"

# Dry run: the alert is simulated, host 2 bans nothing more.
stop_pid "$SYNWATCH_PID"
check_eq "host 1 exit status" "$STOP_RC" 0
write_host1 true
start_synwatch "$BIN" "$SW_TMP/host1.toml" || { finish; exit 1; }
scan 192.0.2.13
check "dry run: the alert is sent" wait_until 10 bash -c "ip netns exec $SW_SRV curl -fsS http://127.0.0.1:9632/metrics | grep -q '^synwatch_crowdsec_alerts_total{result=\"sent\"} 1$'"
alerts="$(lapi_json alerts list -a)"
check_eq "dry run: the LAPI stores it simulated" "$(alert 192.0.2.13 .simulated)" true
check_eq "dry run: the profile's ban on it is simulated too" \
  "$(alert 192.0.2.13 '[.decisions[]? | "\(.type):\(.simulated)"] | join(",")')" ban:true
sleep 3  # three polls of host 2
check_eq "dry run: host 2 still holds two prefixes" \
  "$(scrape2 | grep -E '^synwatch_crowdsec_prefixes ' | cut -d' ' -f2)" 2
connect2 192.0.2.13
check_eq "dry run: the scanner still reaches host 2" "$?" 0

check "the password is in no metric" lacks_secret <<<"$(scrape)"
check "the password is in no log line" lacks_secret "$SW_TMP/synwatch.log" "$SW_TMP/host2.log"
check "promtool check metrics" promtool check metrics <<<"$(scrape)"

stop_pid "$SYNWATCH_PID"
check_eq "host 1 exit status" "$STOP_RC" 0
stop_pid "$HOST2_PID"
check_eq "host 2 exit status" "$STOP_RC" 0
stop_pid "$LAPI_PID"
finish
