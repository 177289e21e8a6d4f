#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The monitoring mixin on real data: synwatch in the test's own namespaces,
# real traffic (allowed, denied and unmatched connections, an nmap port scan,
# a peer under the scan threshold, stealth probes, malformed frames), and a real Prometheus loaded with the
# rendered alerting and recording rules. Through Prometheus's API, every
# rule must be healthy, every recording rule and every dashboard query must
# return data without error or warning, every alert expression must evaluate
# without error, and the alerts that this traffic should raise do.
# Prometheus scrapes the one synwatch as three hosts (three scrape configs,
# instance relabelled host-a, host-b, host-c), so the fleet rules see a peer
# on several hosts. Bounded: about 60 s.
set -uo pipefail
BIN="$(realpath "${1:?usage: ops_test.sh path/to/synwatch [rendered ops dir]}")"
OPS="$(realpath "${2:-$(dirname "$BIN")/ops}")"
HERE="$(dirname "$(realpath "$0")")"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"
ARTIFACTS="$(dirname "$BIN")/test-artifacts"

for f in synwatch-alerts.yml synwatch-rules.yml synwatch-host.json synwatch-fleet.json; do
  if [ ! -s "$OPS/$f" ]; then
    echo "ops_test: $OPS/$f missing: build first (the synwatch_ops target)" >&2
    exit 1
  fi
done

sandbox_up
start_listener 8080

# A stand-in for a CrowdSec LAPI (the real one is tested in crowdsec_test.sh):
# the decision stream with two bans (one of them on 192.0.2.18, which then
# connects), nothing new after that, 403 for a wrong key.
LAPI_PORT=18089
KEY="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$KEY" >"$SW_TMP/crowdsec.key"
chmod 600 "$SW_TMP/crowdsec.key"
cat >"$SW_TMP/lapi-answer.json" <<'JSON'
{"new": [
  {"id": 1, "origin": "cscli", "type": "ban", "scope": "Ip", "value": "192.0.2.18",
   "duration": "3h59m", "scenario": "ops test"},
  {"id": 2, "origin": "lists", "type": "ban", "scope": "Range", "value": "2001:db8:66::/48",
   "duration": "23h", "scenario": "ops test list"}],
 "deleted": []}
JSON
start_bg "$SW_SRV" "$SW_TMP/fake_lapi.log" python3 "$HERE/fake_lapi.py" "$LAPI_PORT" \
  "$SW_TMP/lapi-answer.json" "$SW_TMP/crowdsec.key"
check "the stand-in LAPI answers" wait_until 10 srv curl -fsS -o /dev/null \
  -H "X-Api-Key: $KEY" "http://127.0.0.1:$LAPI_PORT/v1/decisions/stream?startup=true"

cat >"$SW_TMP/synwatch.toml" <<TOML
[xdp]
interfaces = ["sw-srv"]
pin_path = ""
[rules]
allow = ["192.0.2.11/32"]
deny = ["192.0.2.66/32"]
[port_scan]
max_ports = 3
block_duration = "60s"
[log]
connections = true
connections_per_second = 5
[crowdsec]
enabled = true
lapi_url = "http://127.0.0.1:$LAPI_PORT/"
api_key_file = "$SW_TMP/crowdsec.key"
update_interval = "1s"
TOML
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }

mkdir -p "$SW_TMP/prom"
cp "$OPS/synwatch-alerts.yml" "$OPS/synwatch-rules.yml" "$SW_TMP/prom/"
{
  cat <<'YAML'
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [synwatch-rules.yml, synwatch-alerts.yml]
scrape_configs:
YAML
  for h in host-a host-b host-c; do
    cat <<YAML
  - job_name: synwatch-$h
    static_configs:
      - targets: ["127.0.0.1:9632"]
    relabel_configs:
      - {target_label: job, replacement: synwatch}
      - {target_label: instance, replacement: $h}
YAML
  done
} >"$SW_TMP/prom/prometheus.yml"
check "promtool accepts the Prometheus config" promtool check config "$SW_TMP/prom/prometheus.yml"
start_bg "$SW_SRV" "$SW_TMP/prometheus.log" prometheus \
  --config.file="$SW_TMP/prom/prometheus.yml" --storage.tsdb.path="$SW_TMP/prom/data" \
  --web.listen-address=127.0.0.1:19090
check "prometheus became ready" wait_until 30 srv curl -fsS http://127.0.0.1:19090/-/ready

api() { # PATH [curl args...]
  local path="$1"
  shift
  srv curl -fsS -G "$@" "http://127.0.0.1:19090/api/v1/$path"
}
query() { api query --data-urlencode "query=$1"; }
up_all() { [ "$(query 'count(up{job="synwatch"} == 1)' | jq -r '.data.result[0].value[1]')" = 3 ]; }
check "prometheus scrapes synwatch as three hosts" wait_until 20 up_all

# Real traffic, after the first scrapes, so that rates see it grow.
for _ in 1 2 3; do
  connect_from 192.0.2.11 192.0.2.1 8080 # allowed
  connect_from 192.0.2.12 192.0.2.1 8080 # unmatched
  connect_from 192.0.2.13 192.0.2.1 8080
done
connect_from 192.0.2.66 192.0.2.1 8080 # denied (dry run: passes)
connect_from 192.0.2.18 192.0.2.1 8080 # banned by the LAPI (dry run: passes)
# Three ports, under port_scan.max_ports: tracked, not detected.
for port in 8080 8081 8082; do connect_from 192.0.2.17 192.0.2.1 "$port"; done
cli timeout 30 nmap -sS -Pn -n -p 20-29 --max-retries 0 --host-timeout 20s \
  -e sw-cli -S 192.0.2.14 192.0.2.1 >/dev/null 2>&1
cli timeout 30 nmap -sF -Pn -n -p 8080 --max-retries 0 --host-timeout 10s \
  -e sw-cli -S 192.0.2.16 192.0.2.1 >/dev/null 2>&1
# Malformed: 20 TCP segments with a data offset of 4 (shorter than the
# header), from 192.0.2.15, written on the client's end of the veth.
mac="$(srv cat /sys/class/net/sw-srv/address)"
cli timeout 10 python3 - "$mac" <<'PY'
import socket, struct, sys
dst_mac = bytes.fromhex(sys.argv[1].replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("sw-cli", 0))
src_mac = s.getsockname()[4]
for i in range(20):
    tcp = struct.pack("!HHIIBBHHH", 40000 + i, 8080, i, 0, 4 << 4, 0x02, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i, 0, 64, 6, 0,
                     socket.inet_aton("192.0.2.15"), socket.inet_aton("192.0.2.1"))
    s.send(dst_mac + src_mac + struct.pack("!H", 0x0800) + ip + tcp)
PY
text="$(scrape)"
check "the traffic was counted: a scan detected" test "$(metric "$text" synwatch_port_scans_detected_total 'interface="sw-srv"')" -ge 1
check "the traffic was counted: a banned SYN" test "$(metric "$text" synwatch_syn_packets_total 'interface="sw-srv",outcome="banned",action="pass"')" -ge 1
check "the traffic was counted: malformed packets" test "$(metric "$text" synwatch_packets_total 'interface="sw-srv",class="malformed"')" -ge 20

# Let the rules see the traffic: rates over at least two scrapes after it.
denied_rate() {
  query 'instance_outcome:synwatch_syn_packets:rate5m{job="synwatch", instance="host-a", outcome="denied"} > 0' |
    jq -e '.data.result | length == 1'
}
check "the recorded denied rate rises above zero" wait_until 20 denied_rate
sleep 3

mkdir -p "$ARTIFACTS"
report="$ARTIFACTS/ops-queries.txt"
: >"$report"
# evaluate KIND QUERY [MIN_RESULTS]: the query must succeed without warnings
# and return at least MIN_RESULTS series (1 unless given).
evaluated=0
evaluate() {
  local kind="$1" q="$2" min="${3:-1}" res n
  evaluated=$((evaluated + 1))
  if ! res="$(query "$q")"; then
    check "$kind evaluates: $q" false
    return
  fi
  n="$(jq -r 'if .status == "success" and ((.warnings // []) | length) == 0 then (.data.result | length) else -1 end' <<<"$res")"
  printf '%s\t%s series\t%s\n' "$kind" "$n" "$q" >>"$report"
  if [ "$n" -lt 0 ]; then
    check "$kind evaluates without error or warning: $q ($(jq -c '{error, warnings}' <<<"$res"))" false
  elif [ "$n" -lt "$min" ]; then
    check "$kind returns data: $q (got $n series)" false
  else
    SW_PASSES=$((SW_PASSES + 1))
  fi
}

# Prometheus loaded every rule and evaluates it without error.
rules="$(api rules)"
alerts_loaded="$(jq '[.data.groups[].rules[] | select(.type == "alerting")] | length' <<<"$rules")"
records_loaded="$(jq '[.data.groups[].rules[] | select(.type == "recording")] | length' <<<"$rules")"
check_eq "alerting rules loaded" "$alerts_loaded" "$(grep -c '^      - alert:' "$OPS/synwatch-alerts.yml")"
check_eq "recording rules loaded" "$records_loaded" "$(grep -c '^        record:' "$OPS/synwatch-rules.yml")"
check_eq "rules that are not healthy" "$(jq -c '[.data.groups[].rules[] | select(.health != "ok") | {name, health, lastError}]' <<<"$rules")" "[]"

# Every recording rule returns data, for every host.
while read -r name; do
  evaluate "recording rule" "$name{job=\"synwatch\"}"
done < <(jq -r '[.data.groups[].rules[] | select(.type == "recording") | .name] | unique[]' <<<"$rules")
# Every dashboard query (template variables too), on host-a.
while read -r q; do
  evaluate "dashboard query" "$q"
done < <(bash "$HERE/../../ops/mixin/dashboard_queries.sh" "$OPS" synwatch host-a)
# Every alert expression evaluates (most are quiet, as they should be).
while read -r q; do
  evaluate "alert expression" "$q" 0
done < <(jq -r '.data.groups[].rules[] | select(.type == "alerting") | .query' <<<"$rules")

# What the traffic should show.
value() { query "$1" | jq -r '.data.result[0].value[1] // "none"'; }
check_eq "the fleet rule sees the scanner on all three hosts" \
  "$(value 'job_peer:synwatch_peer_hosts:count5m{peer="192.0.2.14"}')" 3
check "the recorded scan rate is above zero" \
  test "$(value 'instance:synwatch_port_scans_detected:rate5m{instance="host-a"} > 0')" != none
check "the recorded malformed rate is above zero" \
  test "$(value 'instance_class:synwatch_packets:rate5m{instance="host-a", class="malformed"} > 0')" != none
check "the dry-run host shows in the fleet rule" test "$(value 'job:synwatch_dry_run:sum')" = 3
check_eq "ports across hosts: 3 ports on each of 3 hosts" \
  "$(value 'job_peer:synwatch_port_scan_tracked_peer_ports:sum{peer="192.0.2.17"}')" 9

# Alerts this traffic raises (neither has a `for`), and one it must not.
firing() {
  api alerts | jq -e --arg a "$1" '[.data.alerts[] | select(.labels.alertname == $a and .state == "firing")] | length == 3'
}
check "SynwatchPortScanDetected fires for the three hosts" wait_until 10 firing SynwatchPortScanDetected
check "SynwatchDryRunWouldDrop fires for the three hosts" wait_until 10 firing SynwatchDryRunWouldDrop
check_eq "no SynwatchDown, SynwatchInterfaceDetached or SynwatchCrowdsecStale" \
  "$(api alerts | jq '[.data.alerts[] | select(.labels.alertname | IN("SynwatchDown", "SynwatchInterfaceDetached", "SynwatchCrowdsecStale"))] | length')" 0
check_eq "the decision table's fill is recorded: 2 prefixes of 131072" \
  "$(value 'instance_table:synwatch_table_fill:ratio{instance="host-a", table="decisions"} * 131072')" 2
check_eq "the recorded banned rate is there" \
  "$(query 'instance_outcome:synwatch_syn_packets:rate5m{instance="host-a", outcome="banned"} > 0' | jq '.data.result | length')" 1

log "evaluated $evaluated queries through Prometheus; list in $report"
if [ "$SW_FAILURES" -gt 0 ]; then tail -n 20 "$SW_TMP/prometheus.log" >&2; fi
finish
