#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The CrowdSec bouncer against Debian's real crowdsec LAPI (1.4.6), run by
# this test in its server namespace on loopback, offline (no Central API),
# with its own config, database and port under the test's temp dir, ended
# by its PID. cscli adds and deletes decisions; a real connect() from the
# client namespace shows each one enforced within a poll and lifted after:
# an address, ranges, IPv6, allow and deny before a ban, two decisions on
# one address, expiry in the kernel with the LAPI down, a restart of
# synwatch with the LAPI down. Bounded: about 60 s.
set -uo pipefail
BIN="$(realpath "${1:?usage: crowdsec_test.sh path/to/synwatch}")"
HERE="$(dirname "$(realpath "$0")")"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"

sandbox_up
bpffs_up
start_listener 8080

# shellcheck source=tests/e2e/crowdsec_lib.sh
source "$HERE/crowdsec_lib.sh"
lapi_setup 18088
KEY="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$KEY" >"$SW_TMP/crowdsec.key"
chmod 600 "$SW_TMP/crowdsec.key"

check "cscli machines add" lapi_cli machines add synwatch-e2e --auto -f "$CS/local_api_credentials.yaml"
check "cscli bouncers add" lapi_cli bouncers add synwatch-e2e -k "$KEY"

start_lapi || { log "the LAPI did not start:"; cat "$CS/crowdsec.out" "$CS"/log/* >&2; finish; exit 1; }
code="$(srv curl -s -o /dev/null -w '%{http_code}' -H 'X-Api-Key: wrong' \
  "http://127.0.0.1:$LAPI_PORT/v1/decisions/stream?startup=true")"
check_eq "the LAPI refuses a wrong key" "$code" 403

cat >"$SW_TMP/synwatch.toml" <<TOML
[xdp]
interfaces = ["sw-srv"]
pin_path = "$SW_BPFFS/synwatch"
[rules]
dry_run = false
allow = ["192.0.2.10/32"]
deny = ["192.0.2.19/32"]
[peers]
ipv6_prefix_length = 128
[port_scan]
enabled = false
[crowdsec]
enabled = true
lapi_url = "http://127.0.0.1:$LAPI_PORT/"
api_key_file = "$SW_TMP/crowdsec.key"
update_interval = "1s"
TOML
check "--check-config accepts the section" srv "$BIN" --check-config --config "$SW_TMP/synwatch.toml"
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }

sample() { metric "$(scrape)" "$1" "$2"; }
banned() { sample synwatch_syn_packets_total 'interface="sw-srv",outcome="banned",action="drop"'; }
# wait_prefixes N: the bouncer holds N prefixes (a poll is 1 s, plus jitter).
wait_prefixes() { wait_until 10 bash -c "[ \"\$(ip netns exec $SW_SRV curl -fsS http://127.0.0.1:9632/metrics | grep -E '^synwatch_crowdsec_prefixes ' | cut -d' ' -f2)\" = $1 ]"; }

check "first poll succeeded" wait_until 10 bash -c "ip netns exec $SW_SRV curl -fsS http://127.0.0.1:9632/metrics | grep -q '^synwatch_crowdsec_polls_total{result=\"ok\"} [1-9]'"
check "User-Agent seen by the LAPI" wait_until 5 grep -rq 'crowdsec-synwatch-bouncer/v' "$CS/log"

# An address.
check "decisions add --ip" lapi_cli decisions add --ip 192.0.2.11 --duration 1h
check "one prefix after a poll" wait_prefixes 1
connect_from 192.0.2.11 192.0.2.1 8080
check_eq "a banned address cannot connect" "$?" 1
connect_from 192.0.2.12 192.0.2.1 8080
check_eq "another address connects" "$?" 0
text="$(scrape)"
check "its SYNs counted as banned" test "$(banned)" -ge 1
check "its peer series says banned" test \
  "$(metric "$text" synwatch_peer_syn_packets_total 'interface="sw-srv",peer="192.0.2.11",outcome="banned",action="drop"')" -ge 1
check "decisions by origin, scope, family" grep -q \
  'synwatch_crowdsec_decisions{origin="cscli",scope="ip",family="ipv4"} 1' <<<"$text"
check "its SYNs counted under the decision's origin" test \
  "$(metric "$text" synwatch_crowdsec_banned_syns_total 'origin="cscli",action="drop"')" -ge 1
lacks_key() { ! grep -qF "$KEY" "$@"; }
check "the API key appears in no metric" lacks_key <<<"$text"
check "the API key appears in no log line" lacks_key "$SW_TMP/synwatch.log"
page="$(srv curl -fsS http://127.0.0.1:9632/)"
check "the status page shows the ban in force" grep -qE \
  '<tr><td>CrowdSec bans</td><td>1 decision on 1 prefix from http://127\.0\.0\.1:[0-9]+/ \(last good poll [0-9]+ s ago\)</td></tr>' <<<"$page"
check "the status page shows the decision table's fill" grep -qF \
  '<tr><td>CrowdSec decisions</td><td>1</td><td>131072</td>' <<<"$page"
check "the API key appears not on the status page" lacks_key <<<"$page"

# Delete: connects again.
check "decisions delete --ip" lapi_cli decisions delete --ip 192.0.2.11
check "no prefix after a poll" wait_prefixes 0
connect_from 192.0.2.11 192.0.2.1 8080
check_eq "after the delete it connects again" "$?" 0

# A range; the deny list comes first, the allow list wins.
check "decisions add --range" lapi_cli decisions add --range 192.0.2.16/30 --duration 1h
check "decisions add --ip of an allowed address" lapi_cli decisions add --ip 192.0.2.10 --duration 1h
check "two prefixes after a poll" wait_prefixes 2
connect_from 192.0.2.17 192.0.2.1 8080
check_eq "an address in a banned range cannot connect" "$?" 1
connect_from 192.0.2.10 192.0.2.1 8080
check_eq "an allowed address connects despite a ban" "$?" 0
denied_before="$(sample synwatch_syn_packets_total 'interface="sw-srv",outcome="denied",action="drop"')"
connect_from 192.0.2.19 192.0.2.1 8080
check_eq "a denied address in the banned range cannot connect" "$?" 1
text="$(scrape)"
check "... and counts as denied, not banned" test \
  "$(metric "$text" synwatch_syn_packets_total 'interface="sw-srv",outcome="denied",action="drop"')" -gt "${denied_before/absent/0}"
check_eq "no banned series for the denied address" \
  "$(metric "$text" synwatch_peer_syn_packets_total 'interface="sw-srv",peer="192.0.2.19",outcome="banned",action="drop"')" absent

# IPv6: an address and a range.
check "decisions add --ip (IPv6)" lapi_cli decisions add --ip 2001:db8::14 --duration 1h
check "decisions add --range (IPv6)" lapi_cli decisions add --range 2001:db8::18/125 --duration 1h
check "four prefixes after a poll" wait_prefixes 4
connect_from 2001:db8::14 2001:db8::1 8080
check_eq "a banned IPv6 address cannot connect" "$?" 1
connect_from 2001:db8::18 2001:db8::1 8080
check_eq "an address in a banned IPv6 range cannot connect" "$?" 1
connect_from 2001:db8::15 2001:db8::1 8080
check_eq "another IPv6 address connects" "$?" 0

# Two decisions on one address: deleting one keeps the ban.
check "first decision on 192.0.2.13" lapi_cli decisions add --ip 192.0.2.13 --duration 1h
check "second decision on 192.0.2.13" lapi_cli decisions add --ip 192.0.2.13 --duration 2h
check "five prefixes after a poll" wait_prefixes 5
# `decisions list` shows one decision per address; the alerts have both.
ids="$(srv timeout 30 cscli -c "$CS/config.yaml" alerts list --ip 192.0.2.13 -o json 2>/dev/null |
  jq -r '[.[].decisions[]?.id] | sort | .[]')"
check_eq "two decisions listed" "$(wc -w <<<"$ids")" 2
check "delete one of them" lapi_cli decisions delete --id "$(head -n1 <<<"$ids")"
sleep 3  # three polls
connect_from 192.0.2.13 192.0.2.1 8080
check_eq "one of two deleted: still banned" "$?" 1
check "delete the other" lapi_cli decisions delete --id "$(tail -n1 <<<"$ids")"
check "four prefixes again" wait_prefixes 4
connect_from 192.0.2.13 192.0.2.1 8080
check_eq "both deleted: connects" "$?" 0

# Expiry with the LAPI down: the kernel ends the ban by itself.
check "a 6 s decision" lapi_cli decisions add --ip 192.0.2.15 --duration 6s
check "five prefixes" wait_prefixes 5
stop_pid "$LAPI_PID"
connect_from 192.0.2.15 192.0.2.1 8080
check_eq "LAPI down: still banned" "$?" 1
check "poll errors counted" wait_until 10 bash -c "ip netns exec $SW_SRV curl -fsS http://127.0.0.1:9632/metrics | grep -q '^synwatch_crowdsec_polls_total{result=\"transport_error\"} [1-9]'"
sleep 5
connect_from 192.0.2.15 192.0.2.1 8080
check_eq "after its duration it connects, LAPI down" "$?" 0

# Restart of synwatch with the LAPI down: the pinned decisions hold; once
# the LAPI is back the first poll (startup=true) resyncs, lifting a range
# deleted while synwatch was away.
stop_pid "$SYNWATCH_PID"
check_eq "exit status" "$STOP_RC" 0
start_lapi
check "the range deleted while synwatch is away" lapi_cli decisions delete --range 192.0.2.16/30
stop_pid "$LAPI_PID"
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }
connect_from 192.0.2.17 192.0.2.1 8080
check_eq "restarted, LAPI down: the range is still banned" "$?" 1
connect_from 2001:db8::14 2001:db8::1 8080
check_eq "restarted, LAPI down: the IPv6 ban holds" "$?" 1
start_lapi
check "resynced: three prefixes" wait_prefixes 3
connect_from 192.0.2.17 192.0.2.1 8080
check_eq "resynced: the deleted range is lifted" "$?" 0
connect_from 2001:db8::14 2001:db8::1 8080
check_eq "resynced: the IPv6 ban holds" "$?" 1
text="$(scrape)"
check "promtool check metrics" promtool check metrics <<<"$text"

stop_pid "$SYNWATCH_PID"
check_eq "exit status" "$STOP_RC" 0
stop_pid "$LAPI_PID"
finish
