# SPDX-License-Identifier: Apache-2.0
# Folds the per-run lines of the flood section (flood.jsonl, slurped) into
# medians per pool and configuration, and the ratios the issue sets targets
# for. $check holds what each hook counted (synwatch, nftables).
# A configuration left out (BENCH_FLOOD_CONFIGS) leaves its figures null.
def sub($a; $b): if $a == null or $b == null then null else $a - $b end;
def div($a; $b): if $a == null or $b == null then null else $a / $b end;
def median: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
def order: {none: 0, xdp_floor_generic: 1, xdp_floor_native: 2, nft_count: 3,
             sw_count_generic: 4, sw_count_native: 5, sw_count_noscan_generic: 6,
             sw_count_noscan_native: 7, nft_drop: 8, xdp_drop_generic: 9,
             xdp_drop_native: 10, sw_drop_generic: 11, sw_drop_native: 12}[.];

. as $runs
| [$runs | group_by([.pool, .config])[]
   | {pool: .[0].pool, config: .[0].config, runs: length, sent_per_run: .[0].sent,
      pps_wall: (map(.pps_wall) | median),
      cpu_ns_per_packet: (map(.cpu_ns_per_packet) | median),
      cpu_ns_min: (map(.cpu_ns_per_packet) | min),
      cpu_ns_max: (map(.cpu_ns_per_packet) | max),
      delivered_ratio: (map(.delivered / .sent) | median)}
   | . + {pps_per_core: (1e9 / .cpu_ns_per_packet)}]
| map(. as $r | . + (($check | map(select(.pool == $r.pool and .config == $r.config)) | last // {})
                     | del(.pool, .config)))
| . as $rows
| def row($p; $c): $rows | map(select(.pool == $p and .config == $c)) | first;
  def added($p; $c): sub(row($p; $c).cpu_ns_per_packet; row($p; "none").cpu_ns_per_packet);
  map(. + {added_cpu_ns_per_packet: sub(.cpu_ns_per_packet; row(.pool; "none").cpu_ns_per_packet)})
| sort_by([.pool, (.config | order)])
| {method: "trafgen (TX ring, 1 process) in the client netns -> veth -> server netns; SYNs to a non-local IPv6 address (no forwarding: dropped by IPv6 input). cpu_ns_per_packet = (perf task-clock of trafgen, which runs the receive softirq inline, + ksoftirqd on-CPU time) / packets sent: sender and receive path on one core. pps_per_core = 1e9 / cpu_ns_per_packet. pps_wall = packets received / trafgen's send time (shared machine: contended).",
   configs: .,
   comparisons: ([.[].pool] | unique | map(. as $p |
     {name: "pool \($p): synwatch drop (native) / nftables drop, pps per core",
      value: div(row($p; "sw_drop_native").pps_per_core; row($p; "nft_drop").pps_per_core),
      op: ">=", target: 1.25},
     {name: "pool \($p): synwatch drop (generic) / nftables drop, pps per core",
      value: div(row($p; "sw_drop_generic").pps_per_core; row($p; "nft_drop").pps_per_core),
      op: ">=", target: 1.25},
     {name: "pool \($p): an XDP program that drops every frame and reads none (generic) / nftables drop, pps per core: the most any XDP drop reaches here (info)",
      value: div(row($p; "xdp_drop_generic").pps_per_core; row($p; "nft_drop").pps_per_core),
      op: ">=", target: 1.25, info: true},
     {name: "pool \($p): an XDP program that drops every frame and reads none (native) / nftables drop, pps per core: the most any XDP drop reaches here (info)",
      value: div(row($p; "xdp_drop_native").pps_per_core; row($p; "nft_drop").pps_per_core),
      op: ">=", target: 1.25, info: true},
     {name: "pool \($p): synwatch drop (native) / nftables drop, pps wall (info)",
      value: div(row($p; "sw_drop_native").pps_wall; row($p; "nft_drop").pps_wall),
      op: ">=", target: 1.25, info: true},
     {name: "pool \($p): synwatch counting (native) added CPU / nftables'",
      value: div(added($p; "sw_count_native"); added($p; "nft_count")),
      op: "<=", target: 0.6},
     {name: "pool \($p): synwatch counting (generic) added CPU / nftables'",
      value: div(added($p; "sw_count_generic"); added($p; "nft_count")),
      op: "<=", target: 0.6},
     {name: "pool \($p): synwatch counting without port-scan tracking, the job nftables does (native) added CPU / nftables' (info)",
      value: div(added($p; "sw_count_noscan_native"); added($p; "nft_count")),
      op: "<=", target: 0.6, info: true},
     {name: "pool \($p): synwatch counting without port-scan tracking, the job nftables does (generic) added CPU / nftables' (info)",
      value: div(added($p; "sw_count_noscan_generic"); added($p; "nft_count")),
      op: "<=", target: 0.6, info: true},
     {name: "pool \($p): synwatch program alone (counting, generic: minus an empty XDP program) / nftables' added CPU (info)",
      value: div(sub(row($p; "sw_count_generic").cpu_ns_per_packet; row($p; "xdp_floor_generic").cpu_ns_per_packet); added($p; "nft_count")),
      op: "<=", target: 0.6, info: true},
     {name: "pool \($p): synwatch program alone (counting, native: minus an empty XDP program) / nftables' added CPU (info)",
      value: div(sub(row($p; "sw_count_native").cpu_ns_per_packet; row($p; "xdp_floor_native").cpu_ns_per_packet); added($p; "nft_count")),
      op: "<=", target: 0.6, info: true})
     | flatten
     | map(. + {met: (if .value == null then null
                      elif .op == ">=" then .value >= .target else .value <= .target end)}))}
