#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Dressed-up SYNs against the real kernel, in namespaces this test owns:
# fragments that split the TCP header (IPv4 and IPv6, either order), more
# VLAN priority tags and more IPv6 extension headers than a parser unrolls.
# From a denied client no SYN-ACK may leave the server (a bounded capture on
# the server's veth) and synwatch must count each attempt; the same frames
# from an allowed and from an unmatched client must get a SYN-ACK, which
# proves the kernel accepts them. Native and generic mode. Then real nmap
# runs with evasion options and stealth scans from unmatched clients: each
# is counted, logged, detected and blocked. Bounded: about 90 s.
set -uo pipefail
BIN="$(realpath "${1:?usage: evasion_test.sh path/to/synwatch}")"
HERE="$(dirname "$(realpath "$0")")"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"
FRAMES="$HERE/evasion_frames.py"

sandbox_up
start_listener 8080
SRV_MAC="$(srv cat /sys/class/net/sw-srv/address)"
read -ra ALL_CASES <<<"$(python3 "$FRAMES" list)"
ACCEPTED=("${ALL_CASES[@]:0:12}") # the kernel answers these
REFUSED=("${ALL_CASES[@]:12}")    # the kernel itself drops these

write_config() { # MODE
  cat >"$SW_TMP/synwatch.toml" <<TOML
[xdp]
interfaces = ["sw-srv"]
mode = "$1"
pin_path = ""
[rules]
dry_run = false
deny = ["192.0.2.15/32", "2001:db8::15/128"]
allow = ["192.0.2.16/32", "2001:db8::16/128"]
[port_scan]
max_ports = 3
window = "60s"
block_duration = "60s"
TOML
}

# send_cases SRC4 SRC6 SPORT_BASE CASE...: sends the cases' frames from the
# client while the server's veth is captured for 3 s; SYN-ACKs seen go to
# $SW_TMP/synacks.
send_cases() {
  local src4="$1" src6="$2" base="$3"
  shift 3
  start_bg "$SW_SRV" "$SW_TMP/synacks" timeout 10 python3 "$FRAMES" watch sw-srv 3
  local watcher="$LAST_PID"
  wait_until 5 grep -q ready "$SW_TMP/synacks"
  cli timeout 10 python3 "$FRAMES" send sw-cli "$SRV_MAC" "$src4" "$src6" "$base" "$@"
  stop_pid_after "$watcher"
}

# stop_pid_after PID: waits for a process that ends by itself (at most 10 s).
stop_pid_after() {
  wait_until 10 bash -c "! kill -0 $1 2>/dev/null"
  stop_pid "$1"
}

# synack_for CASE SRC4 SRC6 BASE: 0 when the capture saw a SYN-ACK to it.
synack_for() {
  local case="$1" src4="$2" src6="$3" base="$4" i dst
  for i in "${!ALL_CASES[@]}"; do
    if [ "${ALL_CASES[$i]}" = "$case" ]; then break; fi
  done
  dst="$src4"
  [[ "$case" == v6_* ]] && dst="$src6"
  grep -qx "synack $dst $((base + i))" "$SW_TMP/synacks"
}

value() { # TEXT NAME LABELS: the sample's value, 0 when absent
  local v
  v="$(metric "$1" "$2" "$3")"
  [ "$v" = absent ] && v=0
  echo "$v"
}

run_mode() { # MODE SPORT_OFFSET
  local mode="$1" off="$2" before after c
  write_config "$mode"
  start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || return 1
  check "attached in $mode mode" grep -q "xdp_attached{interface=\"sw-srv\",mode=\"$mode\"} 1" <(scrape)

  before="$(scrape)"
  send_cases 192.0.2.15 2001:db8::15 $((41000 + off)) "${ACCEPTED[@]}"
  for c in "${ACCEPTED[@]}"; do
    if synack_for "$c" 192.0.2.15 2001:db8::15 $((41000 + off)); then
      check "$mode: denied $c gets no SYN-ACK" false
    else
      check "$mode: denied $c gets no SYN-ACK" true
    fi
  done
  after="$(scrape)"
  local l='interface="sw-srv",outcome="denied",action="drop"'
  check_eq "$mode: denied attempts counted as SYNs" \
    $(($(value "$after" synwatch_syn_packets_total "$l") - $(value "$before" synwatch_syn_packets_total "$l"))) \
    "${#ACCEPTED[@]}"
  local f='interface="sw-srv",fragment="first",outcome="denied",action="drop"'
  check_eq "$mode: first fragments of split headers counted" \
    $(($(value "$after" synwatch_split_tcp_fragments_total "$f") - $(value "$before" synwatch_split_tcp_fragments_total "$f"))) 8
  f='interface="sw-srv",fragment="later",outcome="denied",action="drop"'
  check_eq "$mode: later fragments of split headers counted" \
    $(($(value "$after" synwatch_split_tcp_fragments_total "$f") - $(value "$before" synwatch_split_tcp_fragments_total "$f"))) 8

  local who src4 src6 base
  for who in allowed unmatched; do
    if [ "$who" = allowed ]; then src4=192.0.2.16 src6=2001:db8::16 base=$((42000 + off)); else
      src4=192.0.2.17 src6=2001:db8::17 base=$((43000 + off)); fi
    send_cases "$src4" "$src6" "$base" "${ALL_CASES[@]}"
    for c in "${ACCEPTED[@]}"; do
      check "$mode: $who $c: the kernel answers (SYN-ACK)" synack_for "$c" "$src4" "$src6" "$base"
    done
    for c in "${REFUSED[@]}"; do
      if synack_for "$c" "$src4" "$src6" "$base"; then
        check "$mode: $who $c: the kernel itself refuses it" false
      else
        check "$mode: $who $c: the kernel itself refuses it" true
      fi
    done
  done
  text="$(scrape)"
  check "$mode: allowed attempts counted" test \
    "$(value "$text" synwatch_syn_packets_total 'interface="sw-srv",outcome="allowed",action="pass"')" -ge "${#ACCEPTED[@]}"
  stop_pid "$SYNWATCH_PID"
}

run_mode native 0
run_mode generic 100

# Real scanners from unmatched clients: each scan is counted, logged,
# detected, and the scanner is blocked (its real connect() fails).
write_config native
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }
nmap_scan() { # SRC NMAP_ARGS...
  local src="$1"
  shift
  cli timeout 40 nmap -Pn -n -p 8075-8090 --max-retries 0 --host-timeout 30s \
    -e sw-cli -S "$src" "$@" 192.0.2.1 >"$SW_TMP/nmap.out" 2>&1
  check "nmap $* from $src: detected and logged" \
    wait_until 5 grep -q "Port scan detected: ${src//./\\.} -> 192\.0\.2\.1" "$SW_TMP/synwatch.log"
  connect_from "$src" 192.0.2.1 8080
  check_eq "nmap $* from $src: the scanner is blocked" "$?" 1
}
nmap_scan 192.0.2.11 -sS -f
nmap_scan 192.0.2.12 -sS --mtu 8
nmap_scan 192.0.2.13 -sS --data-length 40
nmap_scan 192.0.2.14 -sS -D 192.0.2.77,192.0.2.78,ME
nmap_scan 192.0.2.18 -sN
nmap_scan 192.0.2.19 -sF
nmap_scan 192.0.2.66 -sX
text="$(scrape)"
# Decoys' spoofed probes scan as well: seven scanners and two decoys.
check_eq "nine scans detected" "$(value "$text" synwatch_port_scans_detected_total 'interface="sw-srv"')" 9
check "the decoys are logged as scanners too" grep -q "Port scan detected: 192\.0\.2\.77 -> 192\.0\.2\.1" "$SW_TMP/synwatch.log"
check "fragmented scans counted as split first fragments" test \
  "$(value "$text" synwatch_split_tcp_fragments_total 'interface="sw-srv",fragment="first",outcome="unmatched",action="pass"')" -ge 8
check "stealth probes counted" test \
  "$(value "$text" synwatch_stealth_probes_total 'interface="sw-srv",outcome="unmatched",action="pass"')" -ge 12
check "blocked scanners' frames dropped" test \
  "$(value "$text" synwatch_syn_packets_total 'interface="sw-srv",outcome="blocked",action="drop"')" -ge 7
connect_from 192.0.2.10 192.0.2.1 8080
check_eq "a client that did not scan still connects" "$?" 0
check "promtool check metrics" bash -c "promtool check metrics <<<\"\$1\"" _ "$text"
stop_pid "$SYNWATCH_PID"
check_eq "exit status" "$STOP_RC" 0
finish
