#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The live status page at "/" in a real browser: headless Chromium loads it
# from synwatch in the test's own namespaces after real traffic (connections,
# a denied source, an nmap port scan) and the rendered DOM must show the
# version, the interface with its XDP mode and attach state, the rules in
# force, dry run, the port scan, the top peers and the table fills; no
# script and no external asset. A screenshot is kept in
# build/test-artifacts/status-page.png. Then basic auth is turned on: "/"
# needs the password, as the metrics do. Bounded: about 60 s.
set -uo pipefail
BIN="$(realpath "${1:?usage: status_page_test.sh path/to/synwatch}")"
HERE="$(dirname "$(realpath "$0")")"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"
ARTIFACTS="$(dirname "$BIN")/test-artifacts"
CHROMIUM="$(command -v chromium || true)"
if [ -z "$CHROMIUM" ]; then
  echo "status_page_test: chromium is missing: sudo make deps" >&2
  exit 1
fi

sandbox_up
start_listener 8080
cat >"$SW_TMP/synwatch.toml" <<TOML
[web]
config_file = "$SW_TMP/web.yml"
[xdp]
interfaces = ["sw-srv"]
pin_path = ""
[rules]
allow = ["192.0.2.11/32"]
deny = ["192.0.2.66/32", "198.51.100.0/24"]
[port_scan]
max_ports = 3
block_duration = "60s"
TOML
: >"$SW_TMP/web.yml"
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }

for _ in 1 2 3 4 5; do connect_from 192.0.2.12 192.0.2.1 8080; done
connect_from 192.0.2.13 192.0.2.1 8080
connect_from 192.0.2.66 192.0.2.1 8080
# Three ports, one under port_scan.max_ports: tracked, not detected.
for port in 8080 8081 8082; do connect_from 192.0.2.15 192.0.2.1 "$port"; done
cli timeout 30 nmap -sS -Pn -n -p 20-29 --max-retries 0 --host-timeout 20s \
  -e sw-cli -S 192.0.2.14 192.0.2.1 >/dev/null 2>&1
check "synwatch logged the scan" wait_until 5 grep -q 'Port scan detected: 192.0.2.14' "$SW_TMP/synwatch.log"

# The bounded detail the fleet views use: the scanner's block and its ports.
text="$(scrape)"
now="$(date +%s)"
expiry="$(metric "$text" synwatch_port_scan_block_expiry_timestamp_seconds 'peer="192.0.2.14"')"
check "the scanner's block ends within block_duration ($expiry, now $now)" \
  awk -v e="$expiry" -v n="$now" 'BEGIN { exit !(e != "absent" && e > n && e <= n + 61) }'
check_eq "a peer under the scan threshold: its distinct ports within the window" \
  "$(metric "$text" synwatch_port_scan_tracked_peer_ports 'peer="192.0.2.15"')" 3
check_eq "the scanner's ports were cleared at its detection (it is blocked)" \
  "$(metric "$text" synwatch_port_scan_tracked_peer_ports 'peer="192.0.2.14"')" absent
check_eq "a peer that kept to one port is not tracked" \
  "$(metric "$text" synwatch_port_scan_tracked_peer_ports 'peer="192.0.2.12"')" absent

mkdir -p "$ARTIFACTS"
browse() { # ARGS...: headless Chromium in the server namespace, bounded
  srv timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
    --no-first-run --disable-extensions --user-data-dir="$SW_TMP/chromium" \
    --window-size=1280,1700 "$@" 2>>"$SW_TMP/chromium.log"
}
browse --dump-dom http://127.0.0.1:9632/ >"$SW_TMP/dom.html"
check "chromium rendered the page" test -s "$SW_TMP/dom.html"
cp "$SW_TMP/dom.html" "$ARTIFACTS/status-page.html"
browse --screenshot="$ARTIFACTS/status-page.png" http://127.0.0.1:9632/ >/dev/null
check "chromium took a screenshot ($ARTIFACTS/status-page.png)" \
  bash -c "[ \"\$(head -c 8 '$ARTIFACTS/status-page.png' | od -An -tx1 | tr -d ' \n')\" = 89504e470d0a1a0a ]"

dom="$(cat "$SW_TMP/dom.html")"
version="$("$BIN" --version | awk '{print $2}')"
has() { grep -Eq "$1" <<<"$dom"; }
check "title" has '<title>synwatch status</title>'
check "version $version" has "Version <code>$version</code>"
check "interface sw-srv, its XDP mode, direct attach, attached" \
  has '<tr><td>sw-srv</td><td>[0-9]+</td><td>(native|generic)</td><td>direct</td><td class="ok">yes</td>'
check "dry run on" has 'dry run</td><td class="bad">on: nothing is dropped'
check "rules in force: 1 allow, 2 deny" \
  bash -c "grep -q '<td>allow prefixes</td><td>1</td>' <<<'$dom' && grep -q '<td>deny prefixes</td><td>2</td>' <<<'$dom'"
check "the port scan, with the scanner and its ports" \
  has '<td>[0-9-]+ [0-9:]+ UTC</td><td>Port scan detected: 192\.0\.2\.14 -&gt; 192\.0\.2\.1 on ports [0-9]+(,[0-9]+){3}'
check "the interface counted the scan" has '<td>sw-srv</td>.*<td>1</td></tr>'
peer_syns="$(tr -d '\n' <"$SW_TMP/dom.html" | sed 's/.*<h2 id="peers">//; s/<h2 id="scans">.*//' |
  grep -o '<tr><td>[^<]*</td><td>sw-srv</td><td>[a-z]*</td><td>[a-z]*</td><td>[0-9]*</td></tr>' |
  sed 's/.*<td>\([0-9]*\)<\/td><\/tr>$/\1/' | paste -sd ' ' -)"
check "top peers: six rows, most SYNs first ($peer_syns)" \
  bash -c "[ \$(wc -w <<<'$peer_syns') -eq 6 ] && [ \"\$(tr ' ' '\n' <<<'$peer_syns' | sort -rn | paste -sd ' ' -)\" = '$peer_syns' ]"
check "top peers: 192.0.2.12 with its 5 SYNs" has '<td>192\.0\.2\.12</td><td>sw-srv</td><td>unmatched</td><td>pass</td><td>5</td>'
check "top peers: the scanner, blocked (dry run: passed)" has '<td>192\.0\.2\.14</td><td>sw-srv</td><td>blocked</td><td>pass</td><td>[1-9]'
check "top peers: the denied source" has '<td>192\.0\.2\.66</td><td>sw-srv</td><td>denied</td><td>pass</td><td>1</td>'
check "table fill: per-peer table" has '<td>per-peer</td><td>[1-9][0-9]*</td><td>65536</td><td>[0-9.]+ %</td>'
check "table fill: blocks in force" has '<td>blocks in force</td><td>1</td><td>16384</td>'
check "no script" bash -c "! grep -qi '<script' '$SW_TMP/dom.html'"
check "no external asset" bash -c "! grep -Eqi '(src|href)=\"(https?:)?//' '$SW_TMP/dom.html'"

# The same auth as the metrics: basic auth on (SIGHUP reads the web config).
hash="$(htpasswd -nbBC 4 ops s3cret | cut -d: -f2-)"
printf 'basic_auth_users:\n  ops: %s\n' "$hash" >"$SW_TMP/web.yml"
kill -HUP "$SYNWATCH_PID"
code() { srv curl -s -o /dev/null -w '%{http_code}' "$@" http://127.0.0.1:9632/; }
refused() { [ "$(code)" = 401 ]; }
check "after the reload, / without a password: 401" wait_until 5 refused
check_eq "/ with a wrong password" "$(code -u ops:wrong)" 401
check_eq "/ with the password" "$(code -u ops:s3cret)" 200
check_eq "the metrics need it too" "$(srv curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9632/metrics)" 401
check "the page with the password is the status page" \
  bash -c "ip netns exec $SW_SRV curl -fsS -u ops:s3cret http://127.0.0.1:9632/ | grep -q 'Top peers by SYNs'"

if [ "$SW_FAILURES" -gt 0 ]; then tail -n 20 "$SW_TMP/chromium.log" >&2; fi
finish
