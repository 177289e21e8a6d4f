#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End to end, in namespaces this test creates: synwatch attached natively and
# generically to a veth, real connect() from several sources, a denied source
# whose connections really fail, exact counts in the scrape, promtool, and a
# real Prometheus server scraping it. Bounded: about 60 s.
set -uo pipefail
BIN="$(realpath "${1:?usage: core_test.sh path/to/synwatch}")"
HERE="$(dirname "$(realpath "$0")")"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"

sandbox_up
start_listener 8080

cat >"$SW_TMP/synwatch.toml" <<'TOML'
[xdp]
interfaces = ["sw-srv"]

[rules]
dry_run = false
allow = ["192.0.2.10/32", "2001:db8::10"]
deny = ["192.0.2.66/32", "2001:db8::66/128"]

[peers]
ipv4_prefix_length = 32
ipv6_prefix_length = 128

[port_scan]
enabled = false
TOML

run_mode() {
  local mode="$1"
  log "--- mode $mode"
  start_synwatch "$BIN" "$SW_TMP/synwatch.toml" --log.level debug
  [ -n "${SYNWATCH_PID:-}" ] || return 1
  local xdp
  # The link line says "xdp" for the driver hook, "xdpgeneric" for the skb one.
  xdp="$(srv ip link show dev sw-srv | head -n1)"
  if [ "$mode" = native ]; then
    check "attached natively (ip link shows xdp)" grep -q " xdp " <<<"$xdp"
  else
    check "attached generically (ip link shows xdpgeneric)" grep -q " xdpgeneric " <<<"$xdp"
  fi

  local i ok=0 fail=0
  for i in 1 2; do connect_from 192.0.2.10 192.0.2.1 8080 && ok=$((ok + 1)); done
  for i in 1 2 3; do connect_from 192.0.2.11 192.0.2.1 8080 && ok=$((ok + 1)); done
  connect_from 192.0.2.12 192.0.2.1 8080 && ok=$((ok + 1))
  connect_from 2001:db8::11 2001:db8::1 8080 && ok=$((ok + 1))
  connect_from 2001:db8::10 2001:db8::1 8080 && ok=$((ok + 1))
  check_eq "$mode: connections from allowed and unmatched peers that succeeded" "$ok" 8
  # 192.0.2.66 keeps coming: three attempts, two SYNs or more each.
  for i in 1 2 3; do connect_from 192.0.2.66 192.0.2.1 8080 || fail=$((fail + 1)); done
  connect_from 2001:db8::66 2001:db8::1 8080 || fail=$((fail + 1))
  check_eq "$mode: connections from denied peers that failed" "$fail" 4
  # Non-SYN traffic: ICMP echo and the ARP/ND that comes with it.
  cli ping -c 2 -i 0.2 -W 1 -I 192.0.2.12 192.0.2.1 >/dev/null 2>&1

  local text
  text="$(scrape)"
  check_eq "$mode: allowed SYNs" \
    "$(metric "$text" synwatch_syn_packets_total 'interface="sw-srv",outcome="allowed",action="pass"')" 3
  check_eq "$mode: unmatched SYNs" \
    "$(metric "$text" synwatch_syn_packets_total 'interface="sw-srv",outcome="unmatched",action="pass"')" 5
  check_eq "$mode: nothing allowed was dropped" \
    "$(metric "$text" synwatch_syn_packets_total 'interface="sw-srv",outcome="allowed",action="drop"')" 0
  local denied
  denied="$(metric "$text" synwatch_syn_packets_total 'interface="sw-srv",outcome="denied",action="drop"')"
  # A dropped SYN is retransmitted by the client's TCP: at least one per attempt.
  check "$mode: denied SYNs dropped (got $denied)" test "$denied" -ge 4
  check_eq "$mode: peer 192.0.2.11" \
    "$(metric "$text" synwatch_peer_syn_packets_total 'interface="sw-srv",peer="192.0.2.11",outcome="unmatched",action="pass"')" 3
  check_eq "$mode: peer 192.0.2.10" \
    "$(metric "$text" synwatch_peer_syn_packets_total 'interface="sw-srv",peer="192.0.2.10",outcome="allowed",action="pass"')" 2
  # Every SYN in its peer's series, from the first: one SYN is a series of 1.
  check_eq "$mode: peer 2001:db8::11 (one SYN)" \
    "$(metric "$text" synwatch_peer_syn_packets_total 'interface="sw-srv",peer="2001:db8::11",outcome="unmatched",action="pass"')" 1
  check_eq "$mode: peer 192.0.2.12 (one SYN)" \
    "$(metric "$text" synwatch_peer_syn_packets_total 'interface="sw-srv",peer="192.0.2.12",outcome="unmatched",action="pass"')" 1
  local d4 d6
  d4="$(metric "$text" synwatch_peer_syn_packets_total 'interface="sw-srv",peer="192.0.2.66",outcome="denied",action="drop"')"
  d6="$(metric "$text" synwatch_peer_syn_packets_total 'interface="sw-srv",peer="2001:db8::66",outcome="denied",action="drop"')"
  # Denied peers too, every SYN (the client's retransmissions included).
  check "$mode: the denied IPv4 peer's series (got $d4)" test "$d4" -ge 3
  check "$mode: the denied IPv6 peer's series (got $d6)" test "$d6" -ge 1
  check_eq "$mode: denied peers' series add up to the denied total" \
    "$((d4 + d6))" "$denied"
  check_eq "$mode: no SYN without a peer series" \
    "$(grep -c '^synwatch_syn_packets_without_peer_total{.*} [1-9]' <<<"$text")" 0
  check "$mode: peer series + SYNs without a peer = totals, for every outcome and action" \
    peer_identity "$text" sw-srv
  check_eq "$mode: no flood admission" \
    "$(grep '^synwatch_peer_flood_admission ' <<<"$text" | cut -d' ' -f2)" 0
  check_eq "$mode: SYN class equals the SYN outcome totals" \
    "$(metric "$text" synwatch_packets_total 'interface="sw-srv",class="syn"')" "$((8 + denied))"
  local other
  other="$(metric "$text" synwatch_packets_total 'interface="sw-srv",class="tcp_other"')"
  check "$mode: handshake ACKs and FINs counted as tcp_other (got $other)" test "$other" -ge 16
  other="$(metric "$text" synwatch_packets_total 'interface="sw-srv",class="other_ip"')"
  check "$mode: ICMP counted as other_ip (got $other)" test "$other" -ge 2
  check_eq "$mode: xdp_attached" \
    "$(metric "$text" synwatch_xdp_attached "interface=\"sw-srv\",mode=\"$mode\"")" 1
  check_eq "$mode: dry_run" "$(grep '^synwatch_dry_run ' <<<"$text" | cut -d' ' -f2)" 0
  check "$mode: promtool check metrics" bash -c "promtool check metrics <<<\"\$1\"" _ "$text"
  # Without TLS or basic auth OpenSSL is never loaded (exporter/web/openssl_lazy.cc).
  check "$mode: libssl and libcrypto not mapped after scrapes" \
    bash -c "grep -q 'libbpf\.so' /proc/$SYNWATCH_PID/maps && ! grep -Eq 'lib(ssl|crypto)\.so' /proc/$SYNWATCH_PID/maps"

  stop_pid "$SYNWATCH_PID"
  check_eq "$mode: exit status on SIGTERM" "$STOP_RC" 0
  check "$mode: nothing left attached" bash -c "! ip netns exec $SW_SRV ip -d link show dev sw-srv | grep -q 'prog/xdp'"
}

sed -i 's/^\[xdp\]/[xdp]\nmode = "native"/' "$SW_TMP/synwatch.toml"
run_mode native
sed -i 's/^mode = "native"/mode = "generic"/' "$SW_TMP/synwatch.toml"
run_mode generic

finish
