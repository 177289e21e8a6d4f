#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Floods that must not keep Prometheus from scraping, each with a
# well-behaved scraper measured throughout (20 scrapes, a complete 200
# within 2 s each, from its own address 127.0.0.2; the floods come from
# 127.0.0.1), all on loopback inside the test's own namespace:
#   no auth:    ab -c 32 on the metrics path
#   basic auth: 16 clients making up a new password each request,
#               ab -c 16 with one wrong password, ab -c 32 without any
# Each flood is bounded (ab -t 8, the guesser 8 s) and stops by itself.
# Bounded: about 90 s.
#
# SW_NODE_EXPORTER=/usr/bin/prometheus-node-exporter runs the same floods
# against node_exporter (same web config, port 9100, same namespace) and
# prints both side by side; only synwatch's figures are checked.
set -uo pipefail
BIN="$(realpath "${1:?usage: scrape_flood_test.sh path/to/synwatch}")"
HERE="$(dirname "$(realpath "$0")")"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"
NODE_EXPORTER="${SW_NODE_EXPORTER:-}"
SCRAPES=20
FLOOD_SECONDS=8
declare -A RESULTS

sandbox_up
# A response of some size, as on a busy host: 2,000 IPv6 peers.
peer_table_config "$SW_TMP/synwatch.toml"
cp "$SW_TMP/synwatch.toml" "$SW_TMP/auth.toml"
printf '[web]\nconfig_file = "%s"\n' "$SW_TMP/web.yml" >>"$SW_TMP/auth.toml"
# Cost 10, as `htpasswd -nBC 10` writes and the README suggests.
# A second user for the readiness probe, so that the scraper's (alice's)
# first password check happens during a flood.
hash() { htpasswd -nbB -C 10 "$1" "$2" | cut -d: -f2-; }
printf 'basic_auth_users:\n  alice: %s\n  probe: %s\n' \
  "$(hash alice wonderland)" "$(hash probe probe)" >"$SW_TMP/web.yml"

# good_scrapes PORT [CURL ARGS...]: SCRAPES scrapes from 127.0.0.2, a
# fifth of a second apart; prints how many were a complete 200 in 2 s.
good_scrapes() {
  local port="$1" ok=0 i code rc
  shift
  for i in $(seq 1 "$SCRAPES"); do
    # curl exits 0 only with the whole body (28: too slow, 18: cut short).
    code="$(srv curl -s -m 2 --interface 127.0.0.2 -o /dev/null \
      -w '%{http_code}' "$@" "http://127.0.0.1:$port/metrics")"
    rc=$?
    if [ "$code" = 200 ] && [ "$rc" -eq 0 ]; then
      ok=$((ok + 1))
    else
      log "scrape $i: status ${code:-none}, curl exit $rc"
    fi
    sleep 0.2
  done
  echo "$ok"
}

# flood NAME PORT KIND: runs one flood against PORT with the scraper
# measured throughout; records "ok/total" as RESULTS[NAME,PORT].
flood() {
  local name="$1" port="$2" kind="$3" pid ok
  local url="http://127.0.0.1:$port/metrics" out="$SW_TMP/flood.$1.$2"
  local ab=(timeout $((FLOOD_SECONDS + 20)) ab -q -r -s 5 -t "$FLOOD_SECONDS" -n 1000000)
  case "$kind" in
    scrapes) srv "${ab[@]}" -c 32 "$url" >"$out" 2>&1 & ;;
    guesses)
      srv timeout $((FLOOD_SECONDS + 20)) python3 "$HERE/http_abuse.py" \
        guess "$port" "$FLOOD_SECONDS" 16 >"$out" 2>&1 &
      ;;
    wrong) srv "${ab[@]}" -c 16 -A alice:wrong "$url" >"$out" 2>&1 & ;;
    none) srv "${ab[@]}" -c 32 "$url" >"$out" 2>&1 & ;;
  esac
  pid=$!
  sleep 1
  if [ "$kind" = scrapes ]; then
    ok="$(good_scrapes "$port")"
  else
    ok="$(good_scrapes "$port" -u alice:wonderland)"
  fi
  wait "$pid"
  log "$name on port $port: scraper $ok/$SCRAPES; flood: $(grep -E 'Complete requests|Non-2xx|^[0-9]+=' "$out" | tr -s ' \n' ' ')"
  RESULTS["$name,$port"]="$ok/$SCRAPES"
}

start_node_exporter() { # start_node_exporter [--web.config.file=FILE]
  start_bg "$SW_SRV" "$SW_TMP/node_exporter.log" "$NODE_EXPORTER" \
    --web.listen-address=127.0.0.1:9100 "$@"
  NODE_EXPORTER_PID="$LAST_PID"
  wait_until 15 srv curl -s -o /dev/null http://127.0.0.1:9100/
}

# --- no auth: a flood of scrapes -------------------------------------------
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }
ipv6_peers 2000 2001:db8:7
flood scrapes 9632 scrapes
check_eq "scrapes answered during ab -c 32 on /metrics" "${RESULTS[scrapes,9632]}" "$SCRAPES/$SCRAPES"
check "synwatch is still running" kill -0 "$SYNWATCH_PID"
stop_pid "$SYNWATCH_PID"

# --- basic auth: bad credentials ----------------------------------------------
start_bg "$SW_SRV" "$SW_TMP/synwatch.log" "$BIN" --config "$SW_TMP/auth.toml"
SYNWATCH_PID="$LAST_PID"
if ! wait_until 15 srv curl -fsS -o /dev/null -u probe:probe http://127.0.0.1:9632/-/ready; then
  cat "$SW_TMP/synwatch.log" >&2
  check "synwatch with basic auth became ready" false
  finish
  exit 1
fi
code="$(srv curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9632/metrics)"
check_eq "basic auth is on" "$code" 401
ipv6_peers 2000 2001:db8:7
# The scraper's first check is a bcrypt of its own, during the flood.
flood guesses 9632 guesses
flood wrong 9632 wrong
flood none 9632 none
check_eq "scrapes answered during 16 password guessers" "${RESULTS[guesses,9632]}" "$SCRAPES/$SCRAPES"
check_eq "scrapes answered during ab -c 16 with a wrong password" "${RESULTS[wrong,9632]}" "$SCRAPES/$SCRAPES"
check_eq "scrapes answered during ab -c 32 without credentials" "${RESULTS[none,9632]}" "$SCRAPES/$SCRAPES"
check "the guessers were refused with 401" grep -Eq '(^| )401=[0-9]+' "$SW_TMP/flood.guesses.9632"
check "and never let in" bash -c "! grep -Eq '(^| )200=' '$SW_TMP/flood.guesses.9632'"
check "synwatch is still running" kill -0 "$SYNWATCH_PID"
stop_pid "$SYNWATCH_PID"

# --- the same against node_exporter, for comparison only ------------------
if [ -n "$NODE_EXPORTER" ]; then
  start_node_exporter
  flood scrapes 9100 scrapes
  stop_pid "$NODE_EXPORTER_PID"
  start_node_exporter --web.config.file="$SW_TMP/web.yml"
  flood guesses 9100 guesses
  flood wrong 9100 wrong
  flood none 9100 none
  stop_pid "$NODE_EXPORTER_PID"
  log "well-behaved scraper, complete 200s within 2 s (node_exporter $("$NODE_EXPORTER" --version 2>&1 | head -n 1 | awk '{print $3}')):"
  printf '%-48s %10s %14s\n' flood synwatch node_exporter >&2
  for row in "scrapes:ab -c 32 /metrics, no auth" \
    "guesses:16 clients, a new wrong password each" \
    "wrong:ab -c 16, one wrong password" \
    "none:ab -c 32, no credentials"; do
    printf '%-48s %10s %14s\n' "${row#*:}" "${RESULTS[${row%%:*},9632]}" \
      "${RESULTS[${row%%:*},9100]}" >&2
  done
fi

finish
