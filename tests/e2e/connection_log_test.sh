#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# log.connections: each connection attempt logged through the ring buffer,
# at most connections_per_second lines; the rest counted in
# synwatch_events_dropped_total{reason="rate_limit"}. Bounded: about 20 s.
set -uo pipefail
BIN="$(realpath "${1:?usage: connection_log_test.sh path/to/synwatch}")"
HERE="$(dirname "$(realpath "$0")")"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"

sandbox_up
start_listener 8080
cat >"$SW_TMP/synwatch.toml" <<'TOML'
[xdp]
interfaces = ["sw-srv"]
[port_scan]
enabled = false
[log]
connections = true
connections_per_second = 1
TOML
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }

connect_from 2001:db8::15 2001:db8::1 8080
wait_until 5 grep -q 'New connection: \[2001:db8::15\]:[0-9]* -> \[2001:db8::1\]:8080' "$SW_TMP/synwatch.log"
check "IPv6 connection logged as [addr]:port" grep -Eq \
  'New connection: \[2001:db8::15\]:[0-9]+ -> \[2001:db8::1\]:8080 interface=sw-srv outcome=unmatched action=pass' \
  "$SW_TMP/synwatch.log"
sleep 1.1 # refill the bucket
for i in $(seq 1 12); do connect_from 192.0.2.12 192.0.2.1 8080; done
sleep 0.5
logged="$(grep -c 'New connection: 192\.0\.2\.12:[0-9]* -> 192\.0\.2\.1:8080 interface=sw-srv outcome=unmatched action=pass' "$SW_TMP/synwatch.log")"
text="$(scrape)"
dropped="$(metric "$text" synwatch_events_dropped_total 'reason="rate_limit"')"
check "a burst is rate-limited (logged $logged of 12)" test "$logged" -ge 1 -a "$logged" -lt 12
check_eq "every SYN is either logged or counted as dropped" "$((logged + dropped))" 12
check_eq "nothing lost to a full ring" "$(metric "$text" synwatch_events_dropped_total 'reason="ring_full"')" 0

stop_pid "$SYNWATCH_PID"
check_eq "exit status" "$STOP_RC" 0
finish
