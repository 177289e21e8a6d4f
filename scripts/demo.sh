#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: synwatch doing its job in a sandbox. Two network namespaces
# joined by a veth pair (documentation addresses only), synwatch attached to
# the server side, real TCP connections from a few peers (one of them denied),
# non-SYN traffic, then the metrics it produced. Removes everything and stops
# by itself within about a minute.
set -euo pipefail
BIN="$(realpath "${1:-build/synwatch}")"
ROOT="$(dirname "$(realpath "$0")")/.."
# shellcheck source=tests/e2e/lib.sh
source "$ROOT/tests/e2e/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: needs root for namespaces and XDP: sudo make demo" >&2
  exit 1
fi

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

sandbox_up
start_listener 8080

cat >"$SW_TMP/synwatch.toml" <<'TOML'
[xdp]
interfaces = ["sw-srv"]

[rules]
dry_run = false                      # really drop denied SYNs
deny = ["192.0.2.66/32", "2001:db8::66"]
allow = ["192.0.2.10/32"]

[port_scan]
max_ports = 3                        # more than 3 ports ...
window = "60s"                       # ... within a minute is a scan
block_duration = "30s"
TOML

say "Sandbox: server $SW_SRV (192.0.2.1, 2001:db8::1) <-veth-> client $SW_CLI (192.0.2.10-19, .66)"
say "Config"
cat "$SW_TMP/synwatch.toml"

say "Starting synwatch on sw-srv"
start_synwatch "$BIN" "$SW_TMP/synwatch.toml"
sed 's/^/  | /' "$SW_TMP/synwatch.log"

say "Real TCP connections (the kernel's connect()) to 192.0.2.1:8080"
for src in 192.0.2.10 192.0.2.11 192.0.2.11 192.0.2.12 2001:db8::13 192.0.2.66 2001:db8::66; do
  dst=192.0.2.1
  [[ "$src" == *:* ]] && dst=2001:db8::1
  if connect_from "$src" "$dst" 8080; then r="connected"; else r="FAILED (SYN dropped at XDP)"; fi
  printf '  %-14s -> %-12s %s\n' "$src" "$dst" "$r"
done

say "A port scanner: nmap -sS from 192.0.2.14 against 20 ports"
cli timeout 30 nmap -sS -Pn -n -p 20-39 --max-retries 0 --host-timeout 20s \
  -e sw-cli -S 192.0.2.14 192.0.2.1 >/dev/null 2>&1 || true
grep 'Port scan detected' "$SW_TMP/synwatch.log" | sed 's/^/  | /'
if connect_from 192.0.2.14 192.0.2.1 8080; then r="connected"; else r="FAILED (blocked as a port scanner)"; fi
printf '  %-14s -> %-12s %s\n' 192.0.2.14 192.0.2.1 "$r"

say "Non-SYN traffic: ping"
cli ping -c 3 -i 0.2 -W 1 192.0.2.1 | tail -n 2 | sed 's/^/  /'

say "Scrape: curl http://127.0.0.1:9632/metrics (synwatch_ series)"
scrape | grep -E '^synwatch_(syn_packets|peer_syn_packets|packets|port_scans|blocked_peers|xdp_attached|rules|dry_run|peer_table)' | grep -v ' 0$' | sed 's/^/  /'

say "promtool check metrics"
if command -v promtool >/dev/null; then
  scrape | promtool check metrics && echo "  OK"
fi

say "Stopping synwatch (SIGTERM) and removing the sandbox"
stop_pid "$SYNWATCH_PID"
echo "  synwatch exited with status $STOP_RC"
