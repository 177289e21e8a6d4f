# SPDX-License-Identifier: Apache-2.0
# Folds the per-run lines of the flood section (flood.jsonl, slurped) into
# medians per traffic source, pool and configuration, and the ratios the
# issue sets targets for. $check holds what each hook counted (synwatch,
# nftables). A configuration left out (BENCH_FLOOD_CONFIGS) leaves its
# figures null. A line without a source is from trafgen.
#
# Sources (README, section 2): "trafgen" sends from a socket, so every frame
# reaches the server's veth as a socket buffer; "frames" redirects XDP frames
# into the veth, as a NIC driver hands pages to its XDP program. A native
# XDP program on veth fed by a socket first pays veth's copy of every frame
# into a page, a cost no NIC has: with trafgen the native comparisons are
# shown for information, and the frames source measures native mode.
def sub($a; $b): if $a == null or $b == null then null else $a - $b end;
def div($a; $b): if $a == null or $b == null then null else $a / $b end;
def median: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
def order: {none: 0, xdp_floor_generic: 1, xdp_floor_native: 2, nft_count: 3,
             sw_count_generic: 4, sw_count_native: 5, sw_count_noscan_generic: 6,
             sw_count_noscan_native: 7, nft_drop: 8, xdp_drop_generic: 9,
             xdp_drop_native: 10, sw_drop_generic: 11, sw_drop_native: 12}[.];
def source_order: {trafgen: 0, frames: 1}[.] // 2;
def native_note($s):
  if $s == "trafgen" then " (info: veth copies each socket-sent frame into a page before a native program runs; the frames source measures native mode)" else "" end;

map(.source //= "trafgen") as $runs
| [$runs | group_by([.source, .pool, .config])[]
   | {source: .[0].source, pool: .[0].pool, config: .[0].config, runs: length, sent_per_run: .[0].sent,
      pps_wall: (map(.pps_wall) | median),
      cpu_ns_per_packet: (map(.cpu_ns_per_packet) | median),
      cpu_ns_min: (map(.cpu_ns_per_packet) | min),
      cpu_ns_max: (map(.cpu_ns_per_packet) | max),
      delivered_ratio: (map(.delivered / .sent) | median)}
   | . + {pps_per_core: (1e9 / .cpu_ns_per_packet)}]
| map(. as $r | . + (($check | map(select((.source // "trafgen") == $r.source
                                           and .pool == $r.pool and .config == $r.config)) | last // {})
                     | del(.source, .pool, .config)))
| . as $rows
| def row($s; $p; $c): $rows | map(select(.source == $s and .pool == $p and .config == $c)) | first;
  def added($s; $p; $c): sub(row($s; $p; $c).cpu_ns_per_packet; row($s; $p; "none").cpu_ns_per_packet);
  map(. + {added_cpu_ns_per_packet: sub(.cpu_ns_per_packet; row(.source; .pool; "none").cpu_ns_per_packet)})
| sort_by([(.source | source_order), .pool, (.config | order)])
| {method: {trafgen: "trafgen (TX ring, 1 process) in the client netns -> veth -> server netns: the server's veth receives socket buffers. cpu_ns_per_packet = (perf task-clock of trafgen, which runs the receive softirq inline, + ksoftirqd on-CPU time) / packets sent: sender and receive path on one core.",
            frames: "frame_flood (BPF_PROG_RUN, live XDP frames, 1 process) in the client netns, redirected out of the client's veth: the server's veth (GRO on, so NAPI) receives XDP frames, as a NIC driver hands pages to native XDP, and builds socket buffers after XDP. cpu_ns_per_packet = (perf task-clock of frame_flood, which runs the receive softirq inline, + ksoftirqd on-CPU time) / packets sent.",
            both: "SYNs to a non-local IPv6 address (no forwarding: dropped by IPv6 input). pps_per_core = 1e9 / cpu_ns_per_packet. pps_wall = packets received / the sender's send time (shared machine: contended)."},
   configs: .,
   comparisons: ([.[] | {source, pool}] | unique | sort_by([(.source | source_order), .pool]) | map(.source as $s | .pool as $p |
     "\($s), pool \($p): " as $n |
     ($s == "trafgen") as $skb |
     {name: "\($n)synwatch drop (native) / nftables drop, pps per core\(native_note($s))",
      value: div(row($s; $p; "sw_drop_native").pps_per_core; row($s; $p; "nft_drop").pps_per_core),
      op: ">=", target: 1.25, info: $skb},
     {name: "\($n)synwatch drop (generic) / nftables drop, pps per core",
      value: div(row($s; $p; "sw_drop_generic").pps_per_core; row($s; $p; "nft_drop").pps_per_core),
      op: ">=", target: 1.25},
     {name: "\($n)an XDP program that drops every frame and reads none (generic) / nftables drop, pps per core: the most any XDP drop reaches here (info)",
      value: div(row($s; $p; "xdp_drop_generic").pps_per_core; row($s; $p; "nft_drop").pps_per_core),
      op: ">=", target: 1.25, info: true},
     {name: "\($n)an XDP program that drops every frame and reads none (native) / nftables drop, pps per core: the most any XDP drop reaches here (info)",
      value: div(row($s; $p; "xdp_drop_native").pps_per_core; row($s; $p; "nft_drop").pps_per_core),
      op: ">=", target: 1.25, info: true},
     {name: "\($n)synwatch drop (native) / nftables drop, pps wall (info)",
      value: div(row($s; $p; "sw_drop_native").pps_wall; row($s; $p; "nft_drop").pps_wall),
      op: ">=", target: 1.25, info: true},
     {name: "\($n)synwatch counting (native) added CPU / nftables'\(native_note($s))",
      value: div(added($s; $p; "sw_count_native"); added($s; $p; "nft_count")),
      op: "<=", target: 0.6, info: $skb},
     {name: "\($n)synwatch counting (generic) added CPU / nftables'",
      value: div(added($s; $p; "sw_count_generic"); added($s; $p; "nft_count")),
      op: "<=", target: 0.6},
     {name: "\($n)synwatch counting without port-scan tracking, the job nftables does (native) added CPU / nftables' (info)",
      value: div(added($s; $p; "sw_count_noscan_native"); added($s; $p; "nft_count")),
      op: "<=", target: 0.6, info: true},
     {name: "\($n)synwatch counting without port-scan tracking, the job nftables does (generic) added CPU / nftables' (info)",
      value: div(added($s; $p; "sw_count_noscan_generic"); added($s; $p; "nft_count")),
      op: "<=", target: 0.6, info: true},
     {name: "\($n)synwatch program alone (counting, generic: minus an empty XDP program) / nftables' added CPU (info)",
      value: div(sub(row($s; $p; "sw_count_generic").cpu_ns_per_packet; row($s; $p; "xdp_floor_generic").cpu_ns_per_packet); added($s; $p; "nft_count")),
      op: "<=", target: 0.6, info: true},
     {name: "\($n)synwatch program alone (counting, native: minus an empty XDP program) / nftables' added CPU (info)",
      value: div(sub(row($s; $p; "sw_count_native").cpu_ns_per_packet; row($s; $p; "xdp_floor_native").cpu_ns_per_packet); added($s; $p; "nft_count")),
      op: "<=", target: 0.6, info: true})
     | flatten
     | map(if .info then . else del(.info) end)
     | map(. + {met: (if .value == null then null
                      elif .op == ">=" then .value >= .target else .value <= .target end)}))}
