#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Scrapers that misbehave, in namespaces this test owns: with a large peer
# table (30,000 IPv6 peers, a multi-megabyte response), a scraper that asks
# for /metrics and never reads, and 16 scrapes at once. The exporter keeps
# answering every other request, and both show in synwatch_http_* metrics.
# Bounded: about 45 s.
set -uo pipefail
BIN="$(realpath "${1:?usage: scrape_faults_test.sh path/to/synwatch}")"
HERE="$(dirname "$(realpath "$0")")"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"

sandbox_up
peer_table_config "$SW_TMP/synwatch.toml"
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }

# 60,000 SYNs, two from each of 30,000 addresses in 2001:db8:5::/48.
ipv6_peers 30000 2001:db8:5
check_eq "60,000 SYNs counted" "$(metric "$(scrape)" synwatch_packets_total 'interface="sw-srv",class="syn"')" 60000
size="$(srv curl -fsS http://127.0.0.1:9632/metrics | wc -c)"
log "response: $size bytes"
check "a large response (more than 2 MB: $size bytes)" test "$size" -gt 2000000

# A scraper that sends its request and then never reads (a 2 KiB receive
# buffer): the response cannot be written, a worker waits on it until the
# request timeout (10 s).
srv timeout 40 python3 - <<'PY' &
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
s.connect(("127.0.0.1", 9632))
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: stuck\r\nConnection: close\r\n\r\n")
time.sleep(30)
s.close()
PY
stuck_pid=$!
SW_PIDS+=("$stuck_pid")
in_flight() { scrape | grep '^synwatch_http_requests_in_flight ' | cut -d' ' -f2; }
# Polled: under load the stuck request may take a moment to reach a worker.
for _ in $(seq 1 30); do
  n="$(in_flight)"
  [ "$n" -ge 2 ] && break
  sleep 0.5
done
n="$(in_flight)"
check "the stuck scraper shows in synwatch_http_requests_in_flight ($n, this scrape included)" test "$n" -ge 2
# Its response stops making progress once the server's send buffer is full
# (a non-empty Send-Q on the server's side). With 16 scrape responses held,
# a new scrape takes the place of one without progress for 1 s
# (kStalledAfter); the 16 below need that place whatever order they arrive
# in, so wait until the stuck one is surely past it.
send_queue_full() {
  srv ss -Htn state established '( sport = :9632 )' | awk '$2 > 0 { found = 1 } END { exit !found }'
}
check "the stuck response fills the server's send buffer" wait_until 30 send_queue_full
sleep 2

# 16 scrapes at once while the stuck one holds its worker: every one is
# answered, completely (bounded by curl -m 30).
for i in $(seq 1 16); do
  srv curl -fsS -m 30 -o "$SW_TMP/c$i" -w '%{http_code}\n' http://127.0.0.1:9632/metrics >"$SW_TMP/code$i" 2>&1 &
  SW_PIDS+=("$!")
done
ok=0
for i in $(seq 1 16); do
  wait "${SW_PIDS[-1]}" 2>/dev/null
  unset 'SW_PIDS[-1]'
done
for i in $(seq 1 16); do
  if [ "$(cat "$SW_TMP/code$i")" = 200 ] && tail -n 1 "$SW_TMP/c$i" | grep -q '^synwatch_http_password_checks_waiting '; then
    ok=$((ok + 1))
  else
    log "scrape $i: $(tr '\n' ' ' <"$SW_TMP/code$i"), body ends: $(tail -c 120 "$SW_TMP/c$i" 2>/dev/null)"
  fi
done
check_eq "16 concurrent scrapes, all answered in full" "$ok" 16

# The stuck scraper's request times out: counted, and its worker is free.
wait_until 30 bash -c "ip netns exec $SW_SRV curl -fsS http://127.0.0.1:9632/metrics | grep -q '^synwatch_http_response_write_failures_total [1-9]'"
text="$(scrape)"
check "the stuck response is counted in synwatch_http_response_write_failures_total" \
  grep -q '^synwatch_http_response_write_failures_total [1-9]' <<<"$text"
check_eq "nothing in flight but this scrape" "$(grep '^synwatch_http_requests_in_flight ' <<<"$text" | cut -d' ' -f2)" 1
twoxx="$(metric "$text" synwatch_http_responses_total 'code="2xx"')"
check "2xx responses counted ($twoxx)" test "$twoxx" -ge 20
kill "$stuck_pid" 2>/dev/null
wait "$stuck_pid" 2>/dev/null
check "still ready" srv curl -fsS -o /dev/null http://127.0.0.1:9632/-/ready

finish
