#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Port scans against a real scanner (nmap -sS) in namespaces this test owns:
# the detection, its log line, the block (a real connect() from the scanner
# fails, one from another peer succeeds), the expiry, the allow-list
# exemption, dry run, IPv6. Bounded: about 60 s.
set -uo pipefail
BIN="$(realpath "${1:?usage: port_scan_test.sh path/to/synwatch}")"
HERE="$(dirname "$(realpath "$0")")"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"

sandbox_up
start_listener 8080

# The block lasts 5 s (times SW_TIME_SCALE, as connect_from's wait: a
# connect that waits longer than the block would outlast it).
BLOCK=$((5 * ${SW_TIME_SCALE:-1}))

write_config() { # DRY_RUN
  cat >"$SW_TMP/synwatch.toml" <<TOML
[xdp]
interfaces = ["sw-srv"]
[rules]
dry_run = $1
allow = ["192.0.2.10/32"]
[peers]
ipv6_prefix_length = 128
[port_scan]
max_ports = 3
window = "60s"
block_duration = "${BLOCK}s"
TOML
}

# scan SRC DST: a SYN scan of 20 ports, bounded by nmap's own host timeout.
scan() {
  local src="$1" dst="$2" six=()
  [[ "$dst" == *:* ]] && six=(-6)
  cli timeout 30 nmap "${six[@]}" -sS -Pn -n -p 20-39 --max-retries 0 \
    --host-timeout 20s -e sw-cli -S "$src" "$dst" >/dev/null 2>&1
}

write_config false
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }

scan 192.0.2.11 192.0.2.1
text="$(scrape)"
check_eq "one scan detected" "$(metric "$text" synwatch_port_scans_detected_total 'interface="sw-srv"')" 1
check_eq "one peer blocked" "$(grep '^synwatch_blocked_peers ' <<<"$text" | cut -d' ' -f2)" 1
check "log line names scanner, target, ports, interface, action" grep -Eq \
  "Port scan detected: 192\\.0\\.2\\.11 -> 192\\.0\\.2\\.1 on ports [0-9]+(,[0-9]+){3} interface=sw-srv action=drop blocked_for=${BLOCK}s" \
  "$SW_TMP/synwatch.log"
blocked="$(metric "$text" synwatch_syn_packets_total 'interface="sw-srv",outcome="blocked",action="drop"')"
check "the scanner's later SYNs were blocked (got $blocked)" test "$blocked" -ge 10
connect_from 192.0.2.11 192.0.2.1 8080
check_eq "a real connect() from the scanner fails" "$?" 1
connect_from 192.0.2.12 192.0.2.1 8080
check_eq "a real connect() from another peer succeeds" "$?" 0

# Expiry: the kernel stops blocking by itself.
sleep "$BLOCK.5"
connect_from 192.0.2.11 192.0.2.1 8080
check_eq "after block_duration the scanner connects again" "$?" 0
check_eq "no peer blocked after expiry" "$(scrape | grep '^synwatch_blocked_peers ' | cut -d' ' -f2)" 0

# Allow-listed sources are never tracked or blocked.
scan 192.0.2.10 192.0.2.1
text="$(scrape)"
check_eq "allow-listed scanner: no new detection" "$(metric "$text" synwatch_port_scans_detected_total 'interface="sw-srv"')" 1
connect_from 192.0.2.10 192.0.2.1 8080
check_eq "allow-listed scanner still connects" "$?" 0

# IPv6, compressed in the log.
scan 2001:db8::14 2001:db8::1
check "IPv6 scan logged in compressed form" grep -Eq \
  'Port scan detected: 2001:db8::14 -> 2001:db8::1 on ports' "$SW_TMP/synwatch.log"
connect_from 2001:db8::14 2001:db8::1 8080
check_eq "IPv6 scanner is blocked" "$?" 1

# Dry run (applied by SIGHUP): detected and logged, nothing dropped.
write_config true
kill -HUP "$SYNWATCH_PID"
wait_until 5 grep -q 'Reloaded config' "$SW_TMP/synwatch.log"
scan 192.0.2.13 192.0.2.1
check "dry run: detection logged with action=pass" grep -Eq \
  'Port scan detected: 192\.0\.2\.13 -> .* action=pass' "$SW_TMP/synwatch.log"
connect_from 192.0.2.13 192.0.2.1 8080
check_eq "dry run: the scanner still connects" "$?" 0
text="$(scrape)"
check "dry run: blocked SYNs counted with action=pass" test \
  "$(metric "$text" synwatch_syn_packets_total 'interface="sw-srv",outcome="blocked",action="pass"')" -ge 1
check "promtool check metrics" bash -c "promtool check metrics <<<\"\$1\"" _ "$text"

stop_pid "$SYNWATCH_PID"
check_eq "exit status" "$STOP_RC" 0
finish
