#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Hostile HTTP clients, all on loopback inside the test's own namespace
# (http_abuse.py): malformed and oversized requests, 1,000 slowloris heads,
# 1,100 idle connections (over the 1,024 limit), 40 scrapes that never read
# a multi-megabyte answer, and good and bad requests back to back. Through
# all of it a real scrape is answered within 2 s, memory stays within the
# documented bound, and nothing crashes.
# Bounded: about 90 s. SW_SOAK_SECONDS (make soak) lengthens the last phase
# and then also checks that memory does not grow over it.
set -uo pipefail
BIN="$(realpath "${1:?usage: hostile_http_test.sh path/to/synwatch}")"
HERE="$(dirname "$(realpath "$0")")"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"
SOAK="${SW_SOAK_SECONDS:-0}"
# Resident memory means nothing under AddressSanitizer (shadow memory, a
# quarantine of freed blocks): the memory checks need a plain build.
MEMORY_CHECKS=1
if ldd "$BIN" | grep -q libasan; then MEMORY_CHECKS=0; fi
ABUSE=(python3 "$HERE/http_abuse.py")

sandbox_up
peer_table_config "$SW_TMP/synwatch.toml"
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }

rss() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$SYNWATCH_PID/status"; }
# A scrape from a well-behaved client: 200 within 2 s, complete.
good_scrape() {
  srv curl -fsS -m 2 -o "$SW_TMP/good" http://127.0.0.1:9632/metrics &&
    tail -n 1 "$SW_TMP/good" | grep -q '^synwatch_'
}
# good_scrapes N: N scrapes a quarter second apart; prints how many passed.
good_scrapes() {
  local ok=0 i
  for i in $(seq 1 "$1"); do
    good_scrape && ok=$((ok + 1))
    sleep 0.25
  done
  echo "$ok"
}
alive() { kill -0 "$SYNWATCH_PID" 2>/dev/null; }

# --- malformed, oversized and odd requests: each gets its status -----------
while read -r name want got; do
  check_eq "request '$name' is answered $want" "$got" "$want"
done < <(srv timeout 60 "${ABUSE[@]}" cases 9632)
check "still answering after the malformed requests" good_scrape

# A multi-megabyte answer: 20,000 IPv6 peers, two SYNs each.
ipv6_peers 20000 2001:db8:6
size="$(srv curl -fsS http://127.0.0.1:9632/metrics | wc -c)"
check "a large response (more than 1.5 MB: $size bytes)" test "$size" -gt 1500000
# Warm-up: concurrent scrapes, so that each worker thread's heap has held a
# response before the baseline is taken.
for _ in 1 2; do
  pids=()
  for _ in 1 2 3 4; do
    srv curl -fsS -m 10 -o /dev/null http://127.0.0.1:9632/metrics &
    pids+=("$!")
  done
  wait "${pids[@]}"
done
base="$(rss)"
log "RSS after warm-up: $base bytes"

# --- 1,000 slowloris heads, a byte a second, for 14 s ----------------------
srv timeout 60 "${ABUSE[@]}" slowloris 9632 1000 14 >"$SW_TMP/slowloris" &
abuse=$!
sleep 3
ok="$(good_scrapes 12)"
check_eq "12 scrapes answered within 2 s each during the slowloris" "$ok" 12
wait "$abuse"
log "slowloris: $(cat "$SW_TMP/slowloris")"
check "the server closed the slow heads at the request timeout" \
  grep -Eq 'closed_by_server (9[0-9]{2}|1000)$' "$SW_TMP/slowloris"
timeouts="$(metric "$(scrape)" synwatch_http_connections_dropped_total 'reason="request_timeout"')"
check "counted in synwatch_http_connections_dropped_total{reason=\"request_timeout\"} ($timeouts)" \
  test "${timeouts%.*}" -ge 900

# --- 1,100 idle connections: past the limit, the oldest make room ----------
srv timeout 60 "${ABUSE[@]}" idle 9632 1100 8 >"$SW_TMP/idle" &
abuse=$!
sleep 4
ok="$(good_scrapes 8)"
check_eq "8 scrapes answered within 2 s each with 1,100 idle connections" "$ok" 8
text="$(scrape)"
open="$(grep '^synwatch_http_connections_open ' <<<"$text" | cut -d' ' -f2)"
check "at most 1,024 connections open ($open)" test "${open%.*}" -le 1024
limited="$(metric "$text" synwatch_http_connections_dropped_total 'reason="connection_limit"')"
check "the excess counted as connection_limit ($limited)" test "${limited%.*}" -ge 76
wait "$abuse"
log "idle: $(cat "$SW_TMP/idle")"

# --- 40 scrapes that never read their answer ---------------------------------
# 16 metrics responses at most are held; the others wait for a slot (or get
# 503 past their address's share), and a held response that has stalled for
# 1 s gives its slot up to a waiting scrape, so memory stays near 16
# responses and scrapes go on.
write_failures() { scrape | grep '^synwatch_http_response_write_failures_total ' | cut -d' ' -f2; }
failures_before="$(write_failures)"
srv timeout 60 "${ABUSE[@]}" slowread 9632 40 10 >/dev/null &
abuse=$!
peak=0
for _ in $(seq 1 8); do
  sleep 1
  r="$(rss)"
  [ "$r" -gt "$peak" ] && peak="$r"
done
ok="$(good_scrapes 4)"
check_eq "4 scrapes answered within 2 s each with 40 stuck readers" "$ok" 4
wait "$abuse"
bound=$((base + 17 * size + 24 * 1024 * 1024))
log "RSS peak with stuck readers: $peak bytes (bound $bound = base + 17 responses + 24 MiB)"
if [ "$MEMORY_CHECKS" -eq 1 ]; then
  check "memory stays within 16 held responses" test "$peak" -le "$bound"
else
  log "skipped under ASan: memory stays within 16 held responses"
fi
# The 16 held answers fail when their readers go away; the good scrapes
# above each replaced one that had stalled.
enough_failures() { [ "$(($(write_failures) - failures_before))" -ge 16 ]; }
wait_until 10 enough_failures
failures="$(write_failures)"
check "stuck answers were given up and counted ($failures_before -> $failures)" enough_failures

# --- good and bad requests back to back ----------------------------------------
seconds=$((SOAK > 0 ? SOAK : 20))
start_rss="$(rss)"
srv timeout $((seconds + 60)) "${ABUSE[@]}" flood 9632 "$seconds" 8 >"$SW_TMP/flood" &
abuse=$!
minute_rss=""
elapsed=0
while kill -0 "$abuse" 2>/dev/null && [ "$elapsed" -lt $((seconds + 60)) ]; do
  sleep 5
  elapsed=$((elapsed + 5))
  [ "$elapsed" -eq 60 ] && minute_rss="$(rss)"
  alive || break
done
ok="$(good_scrapes 2)"
wait "$abuse"
log "flood for $seconds s: $(cat "$SW_TMP/flood"); RSS $start_rss -> $(rss)"
check "the flood got answers (200, 400, 404, 405, 414)" \
  grep -Eq '^200=[0-9]+ 400=[0-9]+ 404=[0-9]+ 405=[0-9]+ 414=[0-9]+$' "$SW_TMP/flood"
check_eq "scrapes answered after the flood" "$ok" 2
check "synwatch is still running" alive
if [ -n "$minute_rss" ] && [ "$MEMORY_CHECKS" -eq 1 ]; then
  end_rss="$(rss)"
  log "soak: RSS at 1 min $minute_rss, at the end $end_rss"
  check "no growth over the soak (at most 8 MiB after the first minute)" \
    test "$end_rss" -le $((minute_rss + 8 * 1024 * 1024))
fi
check "still ready" srv curl -fsS -o /dev/null http://127.0.0.1:9632/-/ready

finish
