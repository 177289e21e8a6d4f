#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The whole loop, with Debian's real crowdsec (1.4.6) agent and LAPI in the
# server namespace, offline (crowdsec_lib.sh): synwatch detects a real nmap
# scan and logs it; the agent, reading synwatch's log with the parser and
# scenario this package ships (ops/crowdsec), raises an alert; the LAPI's
# profile turns it into a ban; synwatch, as the bouncer, enforces that ban
# after its own port-scan block has ended (counted banned). Once with
# log.format = "text" and an IPv4 scanner, once with "json" and an IPv6 one.
# Bounded: about 60 s.
set -uo pipefail
BIN="$(realpath "${1:?usage: crowdsec_agent_test.sh path/to/synwatch}")"
HERE="$(dirname "$(realpath "$0")")"
ITEMS="$(realpath "$HERE/../../ops/crowdsec")"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"

sandbox_up
bpffs_up
start_listener 8080
# shellcheck source=tests/e2e/crowdsec_lib.sh
source "$HERE/crowdsec_lib.sh"
lapi_setup 18090
LAPI_ARGS=()
KEY="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$KEY" >"$SW_TMP/crowdsec.key"
chmod 600 "$SW_TMP/crowdsec.key"

# The agent's items: Debian's hub for s00-raw and dateparse, ours copied as
# a user would (README: crowdsec 1.4 ignores a link that leads outside its
# hub), its grok patterns from the crowdsec package.
HUB=/var/lib/crowdsec/hub
mkdir -p "$CS/parsers/s00-raw" "$CS/parsers/s01-parse" "$CS/parsers/s02-enrich" "$CS/scenarios"
ln -s "$HUB/parsers/s00-raw/crowdsecurity/syslog-logs.yaml" "$CS/parsers/s00-raw/"
ln -s "$HUB/parsers/s02-enrich/crowdsecurity/dateparse-enrich.yaml" "$CS/parsers/s02-enrich/"
cp "$ITEMS/parsers/s01-parse/synwatch-logs.yaml" "$CS/parsers/s01-parse/"
cp "$ITEMS/scenarios/synwatch-port-scan.yaml" "$CS/scenarios/"
ln -s /etc/crowdsec/patterns "$CS/patterns"
: >"$SW_TMP/synwatch-json.log"
cat >"$CS/acquis.yaml" <<YAML
filenames:
  - $SW_TMP/synwatch.log
  - $SW_TMP/synwatch-json.log
labels:
  type: synwatch
YAML
: >"$SW_TMP/synwatch.log"

check "cscli machines add" lapi_cli machines add synwatch-e2e --auto -f "$CS/local_api_credentials.yaml"
check "cscli bouncers add" lapi_cli bouncers add synwatch-e2e -k "$KEY"
start_lapi || { log "crowdsec did not start:"; cat "$CS/crowdsec.out" "$CS"/log/* >&2; finish; exit 1; }
check "the agent loaded synwatch's parser and scenario" wait_until 15 bash -c \
  "grep -q 'Loaded [0-9]* parser nodes.*s01-parse/synwatch-logs.yaml' '$CS/log/crowdsec.log' &&
   grep -q 'Loading 1 scenario files' '$CS/log/crowdsec.log' && ! grep -q 'Ignoring file' '$CS/log/crowdsec.log'"
check "the agent reads synwatch's log" wait_until 10 grep -q "$SW_TMP/synwatch.log" "$CS/log/crowdsec.log"

BLOCK=$((3 * ${SW_TIME_SCALE:-1}))
sw_config() { # FORMAT
  cat >"$SW_TMP/synwatch.toml" <<TOML
[xdp]
interfaces = ["sw-srv"]
pin_path = "$SW_BPFFS/synwatch"
[rules]
dry_run = false
[peers]
ipv6_prefix_length = 128
[port_scan]
max_ports = 3
window = "60s"
block_duration = "${BLOCK}s"
[log]
format = "$1"
[crowdsec]
enabled = true
lapi_url = "http://127.0.0.1:$LAPI_PORT/"
api_key_file = "$SW_TMP/crowdsec.key"
update_interval = "1s"
TOML
}
# scan SRC DST: a SYN scan of 20 ports, bounded by nmap's own host timeout.
scan() {
  local src="$1" dst="$2" six=()
  [[ "$dst" == *:* ]] && six=(-6)
  cli timeout 30 nmap "${six[@]}" -sS -Pn -n -p 20-39 --max-retries 0 \
    --host-timeout 20s -e sw-cli -S "$src" "$dst" >/dev/null 2>&1
}
decision_for() { # IP: the LAPI holds a ban on IP from the synwatch scenario
  ip netns exec "$SW_SRV" cscli -c "$CS/config.yaml" decisions list -o json 2>/dev/null |
    jq -e --arg ip "$1" 'any(.[]?; .scenario == "synwatch/port-scan" and
      any(.decisions[]?; .value == $ip and .type == "ban"))' >/dev/null
}
banned_peer() { # IP: its SYNs counted banned
  local n
  n="$(metric "$(scrape)" synwatch_peer_syn_packets_total "interface=\"sw-srv\",peer=\"$1\",outcome=\"banned\",action=\"drop\"")"
  [ "$n" != absent ] && [ "$n" -ge 1 ]
}

# loop NAME FORMAT LOG SCANNER TARGET
loop() {
  local name=$1 format=$2 logfile=$3 src=$4 dst=$5
  sw_config "$format"
  start_bg "$SW_SRV" "$logfile" "$BIN" --config "$SW_TMP/synwatch.toml"
  SYNWATCH_PID="$LAST_PID"
  check "$name: synwatch ready" wait_until 15 srv curl -fsS http://127.0.0.1:9632/-/ready || return
  scan "$src" "$dst"
  check "$name: synwatch logged the scan" wait_until 5 grep -q "Port scan detected: $src -> " "$logfile"
  check "$name: the agent's alert became a ban on the LAPI" wait_until 20 decision_for "$src"
  sleep "$BLOCK" # synwatch's own block ends; the CrowdSec ban stays
  connect_from "$src" "$dst" 8080
  check_eq "$name: the scanner still cannot connect" "$?" 1
  check "$name: ... counted banned, not blocked" banned_peer "$src"
  stop_pid "$SYNWATCH_PID"
  check_eq "$name: exit status" "$STOP_RC" 0
}
loop text text "$SW_TMP/synwatch.log" 192.0.2.14 192.0.2.1
check "the text line is the text form" grep -Eq \
  '^[0-9-]+T[0-9:.+]+ [a-z]+ Port scan detected: 192\.0\.2\.14 -> 192\.0\.2\.1 on ports' "$SW_TMP/synwatch.log"
loop json json "$SW_TMP/synwatch-json.log" 2001:db8::13 2001:db8::1
check "the JSON line is the JSON form" grep -q \
  '^{"time":"[^"]*","level":"[a-z]*","msg":"Port scan detected: 2001:db8::13 -> 2001:db8::1 on ports' "$SW_TMP/synwatch-json.log"
no_decision_for() { ! decision_for "$1"; }
check "no ban on an address that did not scan" no_decision_for 192.0.2.12
connect_from 192.0.2.12 192.0.2.1 8080
check_eq "another address connects" "$?" 0

stop_pid "$LAPI_PID"
if [ "$SW_FAILURES" -ne 0 ]; then
  echo "crowdsec's log, last 30 lines:"
  tail -n 30 "$CS/log/crowdsec.log"
  grep -h 'Port scan detected' "$SW_TMP"/synwatch*.log
fi
finish
