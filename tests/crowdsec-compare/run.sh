#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Side by side: synwatch and Debian's crowdsec-firewall-bouncer (nftables
# mode) against the same real crowdsec LAPI (Debian 1.4.6, offline), with
# real TCP from a client namespace. A comparison for README.md, not a
# regression test (not part of `make test`).
#
#   sudo bash tests/crowdsec-compare/run.sh [path/to/synwatch]
#
# Everything runs inside two network namespaces this script creates and
# removes (tests/e2e/lib.sh), on documentation addresses only: the LAPI and
# each bouncer in the server namespace, one bouncer at a time (synwatch
# first, then the nftables bouncer with its own config, tables and log under
# the temp dir, so the host's nftables are never touched). Processes are
# ended by their PIDs. Bounded: about 4 minutes (timeouts on every wait).
# Prints a table and writes it to $RESULTS (default
# /tmp/crowdsec-compare-results.txt).
#
# Checks, per bouncer: (a) --ip IPv4/IPv6 dropped; (b) --range /24 and /48
# dropped; (c) two decisions on one address, one deleted by id; (d) the
# bouncer stopped (SIGTERM, then SIGKILL): does the ban hold, does a 25 s
# ban expire; restart to enforcement; (e) what counters it exposes;
# (f) 10,000 IPv6 decisions from `cscli decisions import` to enforcement.
set -uo pipefail
HERE="$(dirname "$(realpath "$0")")"
ROOT="$(realpath "$HERE/../..")"
BIN="$(realpath "${1:-$ROOT/build/synwatch}")"
RESULTS="${RESULTS:-/tmp/crowdsec-compare-results.txt}"
[ -x "$BIN" ] || { echo "no synwatch binary at $BIN (make build)" >&2; exit 1; }

# Debian 12 packages the firewall bouncer as crowdsec-firewall-bouncer
# (nftables and iptables modes in one binary). Note: its postinst enables
# its own systemd unit for the host; this script never uses that unit.
if ! command -v crowdsec-firewall-bouncer >/dev/null || ! command -v nft >/dev/null; then
  echo "installing crowdsec-firewall-bouncer and nftables (apt-get)" >&2
  DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y --no-install-recommends \
    crowdsec-firewall-bouncer nftables >&2 || exit 1
fi
FW_VERSION="$(dpkg-query -W -f '${Version}' crowdsec-firewall-bouncer 2>/dev/null)"
CS_VERSION="$(dpkg-query -W -f '${Version}' crowdsec 2>/dev/null)"

# shellcheck source=tests/e2e/lib.sh
source "$ROOT/tests/e2e/lib.sh"
sandbox_up
bpffs_up
start_listener 8080
# Extra client addresses outside 192.0.2.0/24 and 2001:db8::/64 for the
# ranges: the server answers them through its default routes (the client).
for a in 198.51.100.7/32 203.0.113.7/32; do ip -n "$SW_CLI" addr add "$a" dev sw-cli; done
for a in 2001:db8:5::7/128 2001:db8:6::7/128; do ip -n "$SW_CLI" addr add "$a" dev sw-cli nodad; done

# shellcheck source=tests/e2e/crowdsec_lib.sh
source "$ROOT/tests/e2e/crowdsec_lib.sh"
lapi_setup 18089
check "cscli machines add" lapi_cli machines add compare --auto -f "$CS/local_api_credentials.yaml"
SW_KEY="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$SW_KEY" >"$SW_TMP/synwatch.key"
chmod 600 "$SW_TMP/synwatch.key"
check "cscli bouncers add synwatch" lapi_cli bouncers add synwatch-compare -k "$SW_KEY"
FW_KEY="$(srv timeout 30 cscli -c "$CS/config.yaml" --error -oraw bouncers add fw-compare)"
check "cscli bouncers add fw-compare gave a key" test -n "$FW_KEY"
start_lapi || { lapi_logs; finish; exit 1; }

declare -A R # R[row,bouncer] = observed result
rec() { R["$1,$2"]="$3"; log "result: $1 / $2: $3"; }

# banned SRC DST: 0 if a real connect() from SRC fails (dropped).
banned() { ! connect_from "$1" "$2" 8080; }
v4() { echo 192.0.2.1; }
dst_of() { if [[ $1 == *:* ]]; then echo 2001:db8::1; else v4; fi; }
is_banned() { banned "$1" "$(dst_of "$1")"; }
yn() { if is_banned "$1"; then echo dropped; else echo connects; fi; }

# ---- the two bouncers: start, wait for state, stop ----
SW_CONF="$SW_TMP/synwatch.toml"
cat >"$SW_CONF" <<TOML
[xdp]
interfaces = ["sw-srv"]
pin_path = "$SW_BPFFS/synwatch"
[rules]
dry_run = false
[peers]
ipv6_prefix_length = 128
max_entries = 4096
[port_scan]
enabled = false
[crowdsec]
enabled = true
lapi_url = "http://127.0.0.1:$LAPI_PORT/"
api_key_file = "$SW_TMP/synwatch.key"
update_interval = "1s"
TOML

FW_DIR="$SW_TMP/fw"
mkdir -p "$FW_DIR/log" "$FW_DIR/run"
FW_CONF="$FW_DIR/crowdsec-firewall-bouncer.yaml"
FW_T4=swcmp4 FW_T6=swcmp6 FW_S4=swcmp4-blacklist FW_S6=swcmp6-blacklist
# The package's config with only what a test needs changed: our LAPI, key,
# tables, sets, log and pid dirs, a 1 s poll (the package has 10 s, as
# synwatch's default), no daemon, metrics on a port of its own.
cat >"$FW_CONF" <<YAML
mode: nftables
pid_dir: $FW_DIR/run/
update_frequency: 1s
daemonize: false
log_mode: file
log_dir: $FW_DIR/log/
log_level: info
api_url: http://127.0.0.1:$LAPI_PORT/
api_key: $FW_KEY
insecure_skip_verify: false
disable_ipv6: false
deny_action: DROP
deny_log: false
supported_decisions_types:
  - ban
blacklists_ipv4: $FW_S4
blacklists_ipv6: $FW_S6
nftables:
  ipv4:
    enabled: true
    set-only: false
    table: $FW_T4
    chain: swcmp4-chain
  ipv6:
    enabled: true
    set-only: false
    table: $FW_T6
    chain: swcmp6-chain
prometheus:
  enabled: true
  listen_addr: 127.0.0.1
  listen_port: 60609
YAML
chmod 600 "$FW_CONF"
check "the firewall bouncer accepts its config (-t)" srv timeout 30 crowdsec-firewall-bouncer -c "$FW_CONF" -t

BOUNCER_PID=""
sw_start() {
  start_synwatch "$BIN" "$SW_CONF" || return 1
  BOUNCER_PID="$SYNWATCH_PID"
  wait_until 15 bash -c "ip netns exec $SW_SRV curl -fsS http://127.0.0.1:9632/metrics | grep -q '^synwatch_crowdsec_polls_total{result=\"ok\"} [1-9]'"
}
fw_start() {
  start_bg "$SW_SRV" "$FW_DIR/stdout.log" crowdsec-firewall-bouncer -c "$FW_CONF"
  BOUNCER_PID="$LAST_PID"
  wait_until 15 srv nft list chain ip "$FW_T4" swcmp4-chain
}
sw_count() { srv curl -fsS http://127.0.0.1:9632/metrics | awk '$1 == "synwatch_crowdsec_prefixes" { print $2 }'; }
# fw_has ADDR: the address (or prefix) is an element of the bouncer's set.
fw_has() {
  if [[ $1 == *:* ]]; then
    srv nft get element ip6 "$FW_T6" "$FW_S6" "{ $1 }"
  else
    srv nft get element ip "$FW_T4" "$FW_S4" "{ $1 }"
  fi
}
# applied B ADDR N: bouncer B holds ADDR (fw) / at least N prefixes (synwatch).
applied() {
  if [ "$1" = synwatch ]; then [ "$(sw_count)" -ge "$3" ]; else fw_has "$2" >/dev/null 2>&1; fi
}
# lapi_db_count BASE: decisions on BASE:: addresses in the LAPI's database.
lapi_db_count() {
  if command -v sqlite3 >/dev/null; then
    sqlite3 -cmd '.timeout 5000' "$CS/data/crowdsec.db" "select count(*) from decisions where value like '$1::%'"
  else
    echo "no sqlite3"
  fi
}
# import_held B BASE: how many BASE:: addresses bouncer B holds.
import_held() {
  if [ "$1" = synwatch ]; then
    scrape | awk '$1 == "synwatch_crowdsec_decisions{origin=\"cscli-import\",scope=\"ip\",family=\"ipv6\"}" { print $2 }'
  else
    srv nft list set ip6 "$FW_T6" "$FW_S6" | grep -o "$2::[0-9a-f]*" | sort -u | wc -l
  fi
}
bstart() { if [ "$1" = synwatch ]; then sw_start; else fw_start; fi; }
bstop_term() { stop_pid "$BOUNCER_PID"; }
bstop_kill() {
  kill -KILL "$BOUNCER_PID" 2>/dev/null
  wait "$BOUNCER_PID" 2>/dev/null
  stop_pid "$BOUNCER_PID"
}
decisions_count() { lapi_json decisions list -l 0 | jq 'length'; }
# ms: now in milliseconds.
ms() { date +%s%3N; }

scenario() {
  local b="$1" n ids t0 t1 t2
  log "===== $b ====="
  lapi_cli decisions delete --all
  rec baseline "$b" "$(for a in 192.0.2.11 2001:db8::11 198.51.100.7 2001:db8:5::7 192.0.2.13 192.0.2.15; do printf '%s %s, ' "$a" "$(yn "$a")"; done)"
  bstart "$b" || { rec start "$b" "did not start"; return; }

  # (a) addresses.
  lapi_cli decisions add --ip 192.0.2.11 --duration 1h
  lapi_cli decisions add --ip 2001:db8::11 --duration 1h
  wait_until 10 applied "$b" 2001:db8::11 2
  rec ip4 "$b" "$(yn 192.0.2.11)"
  rec ip6 "$b" "$(yn 2001:db8::11)"
  rec control "$b" "192.0.2.12 $(yn 192.0.2.12), 2001:db8::12 $(yn 2001:db8::12)"
  if cli timeout 4 ping -c1 -W2 -I 192.0.2.11 192.0.2.1 >/dev/null 2>&1; then
    rec icmp "$b" "ping from the banned address answered (not dropped)"
  else
    rec icmp "$b" "ping from the banned address dropped"
  fi

  # (b) ranges.
  lapi_cli decisions add --range 198.51.100.0/24 --duration 1h
  lapi_cli decisions add --range 2001:db8:5::/48 --duration 1h
  wait_until 10 applied "$b" 2001:db8:5::/48 4
  rec range4 "$b" "198.51.100.7 $(yn 198.51.100.7), 203.0.113.7 $(yn 203.0.113.7)"
  rec range6 "$b" "2001:db8:5::7 $(yn 2001:db8:5::7), 2001:db8:6::7 $(yn 2001:db8:6::7)"
  if [ "$b" = fw ]; then
    rec range_store "$b" "$(srv nft list set ip "$FW_T4" "$FW_S4" | grep -o 'flags [a-z, ]*' | head -n1); elements: $(srv nft list set ip "$FW_T4" "$FW_S4" | tr -d '\n' | grep -o 'elements = {[^}]*}' | tr -s ' \t')"
  else
    rec range_store "$b" "one LPM trie entry per range (synwatch_crowdsec_prefixes=$(sw_count) for 2 addresses + 2 ranges)"
  fi

  # (c) two decisions on one address, one deleted by id.
  lapi_cli decisions add --ip 192.0.2.13 --duration 1h --reason first
  lapi_cli decisions add --ip 192.0.2.13 --duration 2h --reason second
  wait_until 10 applied "$b" 192.0.2.13 5
  ids="$(srv timeout 30 cscli -c "$CS/config.yaml" alerts list --ip 192.0.2.13 -o json 2>/dev/null |
    jq -r '.[].decisions[]?.id' | sort -n | tail -n2)"
  if [ "$(wc -w <<<"$ids")" != 2 ]; then
    rec two_one "$b" "could not set up (ids: $ids)"
  else
    local before
    before="$(yn 192.0.2.13)"
    lapi_cli decisions delete --id "$(tail -n1 <<<"$ids")"
    sleep 4 # four polls
    rec two_one "$b" "before: $before; one of two deleted: $(yn 192.0.2.13)"
    lapi_cli decisions delete --id "$(head -n1 <<<"$ids")"
    sleep 4
    rec two_both "$b" "both deleted: $(yn 192.0.2.13)"
  fi

  # (d) bouncer down: SIGKILL with a 25 s ban in force (does it hold, does
  # it end on time?), restart, SIGTERM, restart.
  lapi_cli decisions add --ip 192.0.2.15 --duration 25s
  t0="$(ms)"
  wait_until 10 applied "$b" 192.0.2.15 6
  rec short_on "$b" "$(yn 192.0.2.15)"
  bstop_kill
  n=$((($(ms) - t0) / 1000))
  rec kill "$b" "$n s after adding the 25 s ban: 192.0.2.15 $(yn 192.0.2.15), 192.0.2.11 $(yn 192.0.2.11), 2001:db8::11 $(yn 2001:db8::11)"
  # Until 3 s past the end of the 25 s ban.
  n=$((28000 - ($(ms) - t0)))
  if [ "$n" -gt 0 ]; then sleep "$((n / 1000)).$(printf %03d $((n % 1000)))"; fi
  rec expiry "$b" "28 s after adding the 25 s ban, bouncer killed: 192.0.2.15 $(yn 192.0.2.15), 192.0.2.11 (1 h) $(yn 192.0.2.11)"
  t1="$(ms)"
  bstart "$b" || { rec restart "$b" "did not restart"; return; }
  t2="$(ms)"
  rec restart "$b" "up in $(((t2 - t1) / 100))e-1 s; at once 192.0.2.11 $(yn 192.0.2.11)"
  bstop_term
  rec term "$b" "exit $STOP_RC; 192.0.2.11 $(yn 192.0.2.11), 2001:db8::11 $(yn 2001:db8::11)"

  # (e) counters, bouncer running again.
  bstart "$b" || { rec counters "$b" "did not restart"; return; }
  wait_until 10 is_banned 192.0.2.11
  if [ "$b" = synwatch ]; then
    rec counters "$b" "$(scrape | grep -E '^synwatch_crowdsec_(banned_syns_total|decisions|prefixes|polls_total)' | tr '\n' ';' | cut -c1-400)"
  else
    t1="$(ms)"
    wait_until 30 bash -c "ip netns exec $SW_SRV curl -fsS http://127.0.0.1:60609/metrics | grep -q '^fw_bouncer_banned_ips [1-9]'"
    rec counters "$b" "after $((($(ms) - t1) / 1000)) s, metrics: $(srv curl -fsS http://127.0.0.1:60609/metrics | grep -vE '^(#|go_|process_|promhttp_)' | tr '\n' ';' | cut -c1-300); nft counters in rules: $(srv nft list ruleset | grep -c 'counter')"
    rec rules "$b" "$(srv nft list chain ip "$FW_T4" swcmp4-chain | grep -E 'hook|saddr' | tr -s ' \t' ' ' | tr '\n' ';')"
  fi

  # (f) 10,000 IPv6 decisions from one import.
  local list="$SW_TMP/import-$b.csv" base
  if [ "$b" = synwatch ]; then base=2001:db8:a; else base=2001:db8:b; fi
  {
    echo duration,scope,value,reason
    for ((n = 1; n <= 10000; n++)); do printf '1h,ip,%s::%x,compare-import\n' "$base" "$n"; done
  } >"$list"
  ip -n "$SW_CLI" addr add "$base::2710/128" dev sw-cli nodad
  t0="$(ms)"
  srv timeout 120 cscli -c "$CS/config.yaml" decisions import -i "$list" >>"$CS/cscli.log" 2>&1
  t1="$(ms)"
  # The last address: in the set (fw), its SYN dropped (synwatch); the time
  # is when the check that saw it began.
  t2=""
  while [ $(($(ms) - t1)) -lt 60000 ]; do
    n="$(ms)"
    if if [ "$b" = synwatch ]; then is_banned "$base::2710"; else fw_has "$base::2710" >/dev/null 2>&1; fi; then
      t2="$n"
      break
    fi
    sleep 0.2
  done
  if [ -n "$t2" ]; then
    rec import "$b" "cscli import $(((t1 - t0) / 100))e-1 s; import start to the last address enforced $(((t2 - t0) / 100))e-1 s; $base::2710 $(yn "$base::2710")"
  else
    rec import "$b" "the last address not enforced within 60 s after the import ($(((t1 - t0) / 100))e-1 s)"
  fi
  # How many of the 10,000 the bouncer holds, 10 s later (10 polls).
  sleep 10
  rec import_held "$b" "$(import_held "$b" "$base") of 10000 (the LAPI's database: $(lapi_db_count "$base"))"
  if [ "$b" = fw ]; then
    srv nft list set ip6 "$FW_T6" "$FW_S6" | grep -o "$base::[0-9a-f]*" | sort -u >"$SW_TMP/held.txt"
    rec import_missing "$b" "$(tail -n +2 "$list" | cut -d, -f3 | sort -u | comm -23 - "$SW_TMP/held.txt" | sort -V | sed -n '1p;$p' | tr '\n' ' ')(first and last not held)"
  fi
  rec lapi_report "$b" "$(lapi_json bouncers list | jq -r --arg n "$([ "$b" = synwatch ] && echo synwatch-compare || echo fw-compare)" '.[] | select(.name == $n) | "last_pull \(.last_pull) type \(.type) version \(.version)"')"

  bstop_term
  rec stop_exit "$b" "exit $STOP_RC"
}

scenario synwatch
# Detach synwatch for good (its pinned link and maps), or the firewall
# bouncer's results would be synwatch's.
check "synwatch --detach" srv timeout 30 "$BIN" --detach --config "$SW_CONF"
if srv ip link show sw-srv | grep -q xdp; then
  log "an XDP program is still attached to sw-srv: stopping before the firewall bouncer"
  finish
  exit 1
fi
scenario fw
# Whatever the firewall bouncer left in this namespace (gone with it).
srv nft list tables >"$FW_DIR/tables-left.txt" 2>&1
rec tables_left fw "$(tr '\n' ' ' <"$FW_DIR/tables-left.txt")"
log "firewall bouncer log:"
tail -n 30 "$FW_DIR"/log/*.log >&2 2>/dev/null || true

{
  echo "crowdsec-compare $(date -u +%Y-%m-%dT%H:%MZ), kernel $(uname -r), $(nproc) CPUs (times indicative)"
  echo "crowdsec $CS_VERSION, crowdsec-firewall-bouncer $FW_VERSION (nftables), synwatch $("$BIN" --version 2>/dev/null | head -n1)"
  echo
  printf '| check | synwatch | crowdsec-firewall-bouncer (nftables) |\n|---|---|---|\n'
  for row in baseline ip4 ip6 control icmp range4 range6 range_store two_one two_both short_on kill expiry restart term counters rules import import_held import_missing lapi_report stop_exit tables_left; do
    printf '| %s | %s | %s |\n' "$row" "${R[$row,synwatch]:--}" "${R[$row,fw]:--}"
  done
} | tee "$RESULTS"
echo "written to $RESULTS" >&2
finish
