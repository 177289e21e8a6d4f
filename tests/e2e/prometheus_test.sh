#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A real Prometheus server scrapes synwatch (text and OpenMetrics
# negotiation as Prometheus does it) and returns the series through its query
# API; curl checks gzip and the content types. Bounded: about 40 s.
set -uo pipefail
BIN="$(realpath "${1:?usage: prometheus_test.sh path/to/synwatch}")"
HERE="$(dirname "$(realpath "$0")")"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"

sandbox_up
start_listener 8080
cat >"$SW_TMP/synwatch.toml" <<'TOML'
[xdp]
interfaces = ["sw-srv"]
[rules]
deny = ["192.0.2.66/32"]
TOML
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }

for i in 1 2 3; do connect_from 192.0.2.13 192.0.2.1 8080; done
connect_from 192.0.2.66 192.0.2.1 8080 # dry run (the default): passes
check_eq "dry run lets a denied source connect" "$?" 0

# Content negotiation and compression, as clients ask for them.
hdr="$(srv curl -fsS -o /dev/null -D - http://127.0.0.1:9632/metrics)"
check "text format content type" grep -qi '^content-type: text/plain; version=0.0.4; charset=utf-8' <<<"$hdr"
hdr="$(srv curl -fsS -o "$SW_TMP/om.txt" -D - -H 'Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' http://127.0.0.1:9632/metrics)"
check "OpenMetrics content type" grep -qi '^content-type: application/openmetrics-text; version=1.0.0; charset=utf-8' <<<"$hdr"
check "OpenMetrics ends with # EOF" test "$(tail -n1 "$SW_TMP/om.txt")" = "# EOF"
check "OpenMetrics counter family without _total" grep -q '^# TYPE synwatch_syn_packets counter' "$SW_TMP/om.txt"
hdr="$(srv curl -fsS -o "$SW_TMP/gz" -D - -H 'Accept-Encoding: gzip' http://127.0.0.1:9632/metrics)"
check "gzip when accepted" grep -qi '^content-encoding: gzip' <<<"$hdr"
check "gzip body inflates to the exposition" bash -c "gzip -dc '$SW_TMP/gz' | grep -q '^synwatch_build_info'"
check "landing page links the metrics" bash -c "ip netns exec $SW_SRV curl -fsS http://127.0.0.1:9632/ | grep -Eq 'href=\"\.?/metrics\"'"
check "healthy" srv curl -fsS http://127.0.0.1:9632/-/healthy

# A real Prometheus, in the same namespace, scraping every second.
mkdir -p "$SW_TMP/prom"
cat >"$SW_TMP/prom/prometheus.yml" <<'YAML'
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: synwatch
    static_configs:
      - targets: ["127.0.0.1:9632"]
YAML
start_bg "$SW_SRV" "$SW_TMP/prometheus.log" prometheus \
  --config.file="$SW_TMP/prom/prometheus.yml" --storage.tsdb.path="$SW_TMP/prom/data" \
  --web.listen-address=127.0.0.1:19090
check "prometheus became ready" wait_until 30 srv curl -fsS http://127.0.0.1:19090/-/ready

query() {
  srv curl -fsS -G --data-urlencode "query=$1" http://127.0.0.1:19090/api/v1/query
}
up_ok() { query 'up{job="synwatch"}' | grep -q '"value":\[[0-9.]*,"1"\]'; }
check "prometheus scrapes synwatch (up == 1)" wait_until 20 up_ok
res="$(query 'synwatch_peer_syn_packets_total{peer="192.0.2.13",outcome="unmatched",action="pass"}')"
check_eq "prometheus returns the peer's SYN count" "$(grep -o '"value":\[[0-9.]*,"[0-9]*"\]' <<<"$res" | sed 's/.*,"\([0-9]*\)"\]/\1/')" 3
res="$(query 'synwatch_syn_packets_total{outcome="denied",action="pass"}')"
check "prometheus returns the dry-run denied count" grep -q '"value":\[[0-9.]*,"[1-9][0-9]*"\]' <<<"$res"
res="$(query 'scrape_samples_scraped{job="synwatch"}')"
check "prometheus scraped samples" grep -q '"value":\[[0-9.]*,"[1-9][0-9]*"\]' <<<"$res"
if [ "$SW_FAILURES" -gt 0 ]; then tail -n 20 "$SW_TMP/prometheus.log" >&2; fi

finish
