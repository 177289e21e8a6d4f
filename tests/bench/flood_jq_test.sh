#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# flood.jq, which turns the flood's runs into the medians and ratios that the
# issue's targets are judged on: a fixed set of runs in, known figures out.
# Three rounds, one of them in a slow spell; one configuration left out, as
# BENCH_FLOOD_CONFIGS allows; check lines from two rounds; lines without a
# source (trafgen) and a second source (frames) with its own baseline.
set -euo pipefail

JQ_PROG="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/flood.jq"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
failures=0

run() { # CONFIG REP CPU_NS [DELIVERED]
  jq -nc --arg c "$1" --argjson rep "$2" --argjson ns "$3" --argjson d "${4:-1000}" \
    '{config: $c, pool: 131072, rep: $rep, sent: 1000, delivered: $d, wall_s: 0.001,
      pps_wall: ($d / 0.001), task_ms: 1, ksoftirqd_ms: 0, cpu_ns_per_packet: $ns}'
}
frames() { # CONFIG REP CPU_NS
  run "$@" | jq -c '. + {source: "frames"}'
}

{
  # Round 2 is the slow spell: every configuration 500 ns slower.
  run none 1 1000; run none 2 1500; run none 3 1010
  run nft_drop 1 1100; run nft_drop 2 1600; run nft_drop 3 1090
  run xdp_drop_generic 1 700; run xdp_drop_generic 2 1210; run xdp_drop_generic 3 720
  run sw_drop_generic 1 950; run sw_drop_generic 2 1450; run sw_drop_generic 3 940
  run nft_count 1 1400; run nft_count 2 1900; run nft_count 3 1410
  run sw_count_generic 1 1200; run sw_count_generic 2 1700; run sw_count_generic 3 1190 990
  run sw_count_native 1 1300; run sw_count_native 2 1800; run sw_count_native 3 1310
  frames none 1 400; frames none 2 410; frames none 3 900
  frames nft_count 1 600; frames nft_count 2 610; frames nft_count 3 1100
  frames sw_count_native 1 450; frames sw_count_native 2 460; frames sw_count_native 3 950
} >"$TMP/flood.jsonl"
{
  echo '{"config":"sw_drop_generic","pool":131072,"hook_syn_packets":2000,"peer_entries":10,"insert_failures":0}'
  echo '{"config":"sw_drop_generic","pool":131072,"hook_syn_packets":2000,"peer_entries":12,"insert_failures":1}'
  echo '{"source":"frames","config":"sw_count_native","pool":131072,"hook_syn_packets":4000,"peer_entries":7,"insert_failures":0}'
  echo '{"source":"trafgen","config":"sw_count_native","pool":131072,"hook_syn_packets":3000,"peer_entries":5,"insert_failures":0}'
} >"$TMP/check.jsonl"

jq -s -f "$JQ_PROG" "$TMP/flood.jsonl" --slurpfile check "$TMP/check.jsonl" >"$TMP/flood.json"

expect() { # WHAT JQ_FILTER WANT
  local got
  got=$(jq -c "$2" "$TMP/flood.json")
  if [ "$got" = "$3" ]; then
    echo "ok: $1"
  else
    echo "FAIL: $1: got $got, want $3"
    failures=$((failures + 1))
  fi
}
row() { printf '.configs[] | select(.source == "%s" and .config == "%s")' "${2:-trafgen}" "$1"; }
cmp() { printf '.comparisons[] | select(.name | startswith("%s, pool 131072: %s"))' "${2:-trafgen}" "$1"; }

expect "sources, then configurations in the documented order" '[.configs[] | "\(.source) \(.config)"]' \
  '["trafgen none","trafgen nft_count","trafgen sw_count_generic","trafgen sw_count_native","trafgen nft_drop","trafgen xdp_drop_generic","trafgen sw_drop_generic","frames none","frames nft_count","frames sw_count_native"]'
expect "median over rounds, not the mean: the spell's round drops out" \
  "$(row nft_drop) | [.cpu_ns_per_packet, .cpu_ns_min, .cpu_ns_max, .runs]" '[1100,1090,1600,3]'
expect "added CPU against nothing attached of the same pool" \
  "$(row sw_drop_generic) | .added_cpu_ns_per_packet" '-60'
expect "delivered ratio is the median over rounds" \
  "$(row sw_count_generic) | .delivered_ratio" '1'
expect "check figures from the last round's line" \
  "$(row sw_drop_generic) | [.peer_entries, .insert_failures, .hook_syn_packets]" '[12,1,2000]'
expect "drop ratio: pps per core, synwatch over nftables" \
  "$(cmp "synwatch drop (generic) / nftables drop, pps per core") | [(.value * 1000 | round), .met]" \
  '[1158,false]'
expect "the bound of any XDP drop" \
  "$(cmp "an XDP program that drops every frame and reads none (generic)") | [(.value * 1000 | round), .info]" \
  '[1528,true]'
expect "counting ratio: added CPU over nftables' added CPU" \
  "$(cmp "synwatch counting (generic) added CPU") | [(.value * 1000 | round), .met]" \
  '[475,true]'
expect "a configuration left out gives a null value and no verdict" \
  "$(cmp "synwatch drop (native) / nftables drop, pps per core") | [.value, .met]" '[null,null]'
expect "a comparison that needs a left-out baseline is null too" \
  "$(cmp "synwatch program alone (counting, generic") | [.value, .met]" '[null,null]'
expect "each source's rows against its own baseline" \
  "$(row sw_count_native frames) | .added_cpu_ns_per_packet" '50'
expect "check lines matched by source" \
  "[($(row sw_count_native frames) | .hook_syn_packets), ($(row sw_count_native) | .hook_syn_packets)]" '[4000,3000]'
expect "native counting from a socket sender is information, with the reason" \
  "$(cmp "synwatch counting (native) added CPU") | [(.value * 1000 | round), .met, .info, (.name | test(\"copies\"))]" \
  '[750,false,true,true]'
expect "native counting from XDP frames is the target" \
  "$(cmp "synwatch counting (native) added CPU" frames) | [(.value * 1000 | round), .met, .info]" \
  '[250,true,null]'
expect "a source's comparisons need that source's rows" \
  "$(cmp "synwatch drop (generic)" frames) | [.value, .met]" '[null,null]'

if [ "$failures" -ne 0 ]; then
  echo "flood_jq_test: $failures failed"
  exit 1
fi
echo "flood_jq_test: all passed"
