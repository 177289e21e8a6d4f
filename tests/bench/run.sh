#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# synwatch benchmarks (issue 7). Measures, side by side in one run:
#   xdp     per-packet cost of the XDP program vs an empty one (BPF_PROG_TEST_RUN)
#   flood   a bounded SYN flood over veth (trafgen, and XDP frames as a NIC
#           delivers them): synwatch vs nftables
#   scrape  scrape time and RSS as the per-peer table grows; node_exporter
#   idle    CPU used by an idle exporter over 60 s
#   dispatcher  per-packet cost through libxdp's dispatcher vs direct attach;
#           where this kernel refuses the dispatcher, in a kernel matrix
#           guest (Debian's 6.12, emulated: ratios only)
#   crowdsec per-SYN cost with 100,000 decisions loaded, their load time and
#           kernel memory, idle RSS and CPU with [crowdsec] off and on (a
#           fake LAPI on loopback serving the 100,000)
# Prints a table per section and a summary of the targets, and writes every
# figure to BUILD_DIR/bench/results.json (keys: tests/bench/README.md).
#
#   tests/bench/run.sh BUILD_DIR [xdp|flood|scrape|idle|dispatcher|crowdsec ...]   (root)
#
# All traffic stays inside two network namespaces this script creates and
# removes (documentation addresses only); every loop is bounded in count and
# time; processes are ended by the PIDs this script started.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_ARG="${1:?usage: tests/bench/run.sh BUILD_DIR [xdp|flood|scrape|idle|dispatcher|crowdsec ...]}"
shift
SECTIONS=("$@")
if [ ${#SECTIONS[@]} -eq 0 ]; then SECTIONS=(xdp flood scrape idle dispatcher crowdsec); fi

# Knobs (environment), defaults sized for `make bench` in well under 15 min.
XDP_RUNS="${BENCH_XDP_RUNS:-11}"
XDP_REPEAT="${BENCH_XDP_REPEAT:-1000000}"
FLOOD_PACKETS="${BENCH_FLOOD_PACKETS:-2000000}"
FLOOD_REPS="${BENCH_FLOOD_REPS:-3}"
FLOOD_TIMEOUT="${BENCH_FLOOD_TIMEOUT:-60}"
FLOOD_POOLS="${BENCH_FLOOD_POOLS:-256 131072}"
FLOOD_SOURCES="${BENCH_FLOOD_SOURCES:-trafgen frames}"
FLOOD_CONFIGS="${BENCH_FLOOD_CONFIGS:-none xdp_floor_generic xdp_floor_native nft_count \
sw_count_generic sw_count_native sw_count_noscan_generic sw_count_noscan_native nft_drop \
xdp_drop_generic xdp_drop_native sw_drop_generic sw_drop_native}"
SCRAPE_PEERS="${BENCH_SCRAPE_PEERS:-1000 10000 65536 1000000}"
SCRAPES="${BENCH_SCRAPES:-11}"
SCRAPES_LARGE="${BENCH_SCRAPES_LARGE:-5}"
IDLE_SECONDS="${BENCH_IDLE_SECONDS:-60}"
CROWDSEC_DECISIONS="${BENCH_CROWDSEC_DECISIONS:-100000}"

if [ "$(id -u)" -ne 0 ]; then
  echo "bench: needs root (BPF, namespaces, nftables)" >&2
  exit 1
fi
if [ ! -f "$BUILD_ARG/CMakeCache.txt" ]; then
  echo "bench: $BUILD_ARG is not a configured build directory (run make build)" >&2
  exit 1
fi
BUILD="$(cd "$BUILD_ARG" && pwd)"
OUT="$BUILD/bench"
mkdir -p "$OUT"

sh "$ROOT/scripts/bench-deps.sh"
# The benchmark objects and tools exist only with SYNWATCH_BENCH=ON (off in
# `make build`); turning it on keeps every other setting of the build.
cmake -S "$ROOT" -B "$BUILD" -DSYNWATCH_BENCH=ON >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target synwatch bench_tools >/dev/null
SYNWATCH="$BUILD/synwatch"
XDP_BENCH="$BUILD/tests/bench/xdp_bench"
PEER_FILL="$BUILD/tests/bench/peer_fill"
CROWDSEC_BENCH="$BUILD/tests/bench/crowdsec_bench"
FRAME_FLOOD="$BUILD/tests/bench/frame_flood"

# Namespaces, veth, helpers (log, wait_until, start_bg, stop_pid, srv, cli).
SW_ID="bench$$"
# shellcheck source=tests/e2e/lib.sh
source "$ROOT/tests/e2e/lib.sh"
BENCH_START=$(date +%s)

# ---------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------

# Writes a synwatch config: MODE (generic|native) DRY_RUN (true|false)
# MAX_ENTRIES, with the benchmark rule set (1,000 deny, 100 allow).
# write_config FILE MODE DRY_RUN MAX_ENTRIES [SCAN]: SCAN "false" turns
# port-scan tracking off (default: on, as in synwatch's defaults).
write_config() {
  local file="$1" mode="$2" dry_run="$3" max_entries="$4" scan="${5:-true}"
  {
    printf '[web]\nlisten_address = "127.0.0.1:9632"\n'
    printf '[xdp]\ninterfaces = ["sw-srv"]\nmode = "%s"\npin_path = ""\n' "$mode"
    printf '[peers]\nmax_entries = %s\n' "$max_entries"
    printf '[port_scan]\nenabled = %s\n' "$scan"
    printf '[rules]\ndry_run = %s\ndefault_action = "pass"\n' "$dry_run"
    "$XDP_BENCH" --print-rules toml
  } >"$file"
}

# rss_kb PID FIELD: VmRSS or VmHWM in kB.
rss_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }

# cpu_ns PID: on-CPU time of every thread of PID, in ns (schedstat).
cpu_ns() {
  local t=0 f v
  for f in /proc/"$1"/task/*/schedstat; do
    read -r v _ <"$f" 2>/dev/null || continue
    t=$((t + v))
  done
  echo "$t"
}

# ticks_ms PID: utime + stime of PID from /proc/PID/stat, in ms.
ticks_ms() {
  local hz
  hz=$(getconf CLK_TCK)
  awk -v hz="$hz" '{print ($14 + $15) * 1000 / hz}' "/proc/$1/stat"
}

# Softirq work the flood pushes out of the sender's context runs in
# ksoftirqd; it belongs to the packets too.
ksoftirqd_ns() {
  local t=0 p v
  for p in $(pgrep -x 'ksoftirqd/[0-9]+'); do
    read -r v _ <"/proc/$p/schedstat" 2>/dev/null || continue
    t=$((t + v))
  done
  echo "$t"
}

median() { sort -g | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]; else print "null"}'; }

# metric_sum FILE NAME: the sum of every sample of NAME (any labels) in a
# text-format scrape.
metric_sum() {
  awk -v n="$2" '$1 == n || index($1, n "{") == 1 {s += $NF} END {printf "%.0f\n", s}' "$1"
}

start_exporter() {
  local config="$1"
  start_synwatch "$SYNWATCH" "$config"
  if [ "$(cat "/proc/$SYNWATCH_PID/comm")" != "synwatch" ]; then
    log "bench: PID $SYNWATCH_PID is not synwatch"
    return 1
  fi
}

stop_exporter() {
  if [ -n "${SYNWATCH_PID:-}" ]; then
    stop_pid "$SYNWATCH_PID"
    SYNWATCH_PID=""
  fi
}

elapsed() { echo $(($(date +%s) - BENCH_START)); }

# ---------------------------------------------------------------------------
# 1. Per-packet cost through BPF_PROG_TEST_RUN
# ---------------------------------------------------------------------------
section_xdp() {
  log "xdp: $XDP_RUNS runs x $XDP_REPEAT repeats per case"
  srv "$XDP_BENCH" --runs "$XDP_RUNS" --repeat "$XDP_REPEAT" --json "$OUT/xdp.json"
}

# ---------------------------------------------------------------------------
# 2. SYN flood over veth: synwatch vs nftables
# ---------------------------------------------------------------------------

# The IPv6 flood: sources walk POOL /64s of 2001:db8:e000::/47 in order
# (source bytes 4..7 from 0xe0000000), destination a non-local address, so
# a passed SYN ends in the server's IPv6 input (no forwarding: dropped and
# counted as Ip6InAddrErrors, no ICMP) and nothing answers.
write_trafgen() {
  local file="$1" pool="$2" mac="$3"
  local last
  last=$(printf '0x%08x' $((0xe0000000 + pool - 1)))
  cat >"$file" <<EOF
{
  eth(da=$mac),
  ipv6(sa=2001:db8:e000::1, sa[4:4]=dinc(0xe0000000, $last), da=2001:db8:ffff::2, hl=64),
  tcp(sp=40000, dp=80, seq=1, syn, window=65535)
}
EOF
}

nft_count_rules() {
  cat <<EOF
table netdev swbench {
  set peers4 { type ipv4_addr; size 65536; flags dynamic; }
  set peers6 { type ipv6_addr; size 65536; flags dynamic; }
  chain ingress {
    type filter hook ingress device "sw-srv" priority 0; policy accept;
    meta protocol ip meta l4proto tcp tcp flags & (syn | ack) == syn counter update @peers4 { ip saddr counter }
    meta protocol ip6 meta l4proto tcp tcp flags & (syn | ack) == syn counter update @peers6 { ip6 saddr & ffff:ffff:ffff:ffff:: counter }
  }
}
EOF
}

nft_drop_rules() {
  local lists allow4 allow6 deny4 deny6
  mapfile -t lists < <("$XDP_BENCH" --print-rules nft)
  allow4="${lists[0]}" allow6="${lists[1]}" deny4="${lists[2]}" deny6="${lists[3]}"
  cat <<EOF
table netdev swbench {
  set allow4 { type ipv4_addr; flags interval; auto-merge; elements = { $allow4 } }
  set allow6 { type ipv6_addr; flags interval; auto-merge; elements = { $allow6 } }
  set deny4 { type ipv4_addr; flags interval; auto-merge; elements = { $deny4 } }
  set deny6 { type ipv6_addr; flags interval; auto-merge; elements = { $deny6 } }
  chain ingress {
    type filter hook ingress device "sw-srv" priority 0; policy accept;
    meta protocol ip meta l4proto tcp tcp flags & (syn | ack) == syn ip saddr @allow4 accept
    meta protocol ip meta l4proto tcp tcp flags & (syn | ack) == syn ip saddr @deny4 counter drop
    meta protocol ip6 meta l4proto tcp tcp flags & (syn | ack) == syn ip6 saddr @allow6 accept
    meta protocol ip6 meta l4proto tcp tcp flags & (syn | ack) == syn ip6 saddr @deny6 counter drop
  }
}
EOF
}

# send_flood SOURCE POOL: one bounded flood from the client namespace under
# perf; leaves sent packets and send time (us) in SENT and WALL_US.
send_flood() {
  local source="$1" pool="$2"
  SENT="" WALL_US=""
  case "$source" in
    trafgen)
      if ! perf stat -o "$SW_TMP/perf.txt" -x, -e task-clock -- \
          timeout "$FLOOD_TIMEOUT" ip netns exec "$SW_CLI" \
          trafgen -o sw-cli -i "$SW_TMP/flood-$pool.cfg" -n "$FLOOD_PACKETS" -P 1 -Q \
          >"$SW_TMP/sender.out" 2>&1; then
        grep -v 'socket memory' "$SW_TMP/sender.out" >&2 || true
        return 1
      fi
      # trafgen redraws its progress line with carriage returns.
      tr '\r' '\n' <"$SW_TMP/sender.out" >"$SW_TMP/sender.txt"
      SENT=$(awk '/packets outgoing/ {print $1}' "$SW_TMP/sender.txt")
      WALL_US=$(awk '/usec on CPU/ {s += $1 * 1000000 + $3} END {print s}' "$SW_TMP/sender.txt")
      ;;
    frames)
      if ! perf stat -o "$SW_TMP/perf.txt" -x, -e task-clock -- \
          timeout "$FLOOD_TIMEOUT" ip netns exec "$SW_CLI" \
          "$FRAME_FLOOD" --interface sw-cli --dst-mac "$FLOOD_MAC" \
          --count "$FLOOD_PACKETS" --pool "$pool" >"$SW_TMP/sender.txt" 2>&1; then
        cat "$SW_TMP/sender.txt" >&2
        return 1
      fi
      SENT=$(jq -r '.sent // empty' "$SW_TMP/sender.txt" 2>/dev/null || true)
      WALL_US=$(jq -r '.wall_us // empty' "$SW_TMP/sender.txt" 2>/dev/null || true)
      ;;
    *)
      log "flood: unknown source '$source' (BENCH_FLOOD_SOURCES)"
      return 1
      ;;
  esac
}

# flood_once SOURCE CONFIG POOL REP: one bounded flood; appends a JSON line
# (REP 0, a warm-up, to flood-warmup.jsonl).
flood_once() {
  local source="$1" config="$2" pool="$3" rep="$4" lines=flood
  local rx0 rx1 k0 k1 task_ms cpu_ns
  if [ "$rep" -eq 0 ]; then lines=flood-warmup; fi
  rx0=$(srv cat /sys/class/net/sw-srv/statistics/rx_packets)
  k0=$(ksoftirqd_ns)
  if ! send_flood "$source" "$pool"; then
    log "flood: $source failed ($config, pool $pool)"
    return 1
  fi
  k1=$(ksoftirqd_ns)
  rx1=$(srv cat /sys/class/net/sw-srv/statistics/rx_packets)
  task_ms=$(awk -F, '$3 == "task-clock" {print $1}' "$SW_TMP/perf.txt")
  if [ -z "$SENT" ] || [ "$SENT" -eq 0 ] || [ -z "$WALL_US" ] || [ -z "$task_ms" ]; then
    log "flood: could not read $source/perf output ($config, pool $pool):"
    cat "$SW_TMP/sender.txt" "$SW_TMP/perf.txt" >&2
    return 1
  fi
  cpu_ns=$(awk -v t="$task_ms" -v k=$((k1 - k0)) -v n="$SENT" \
    'BEGIN {printf "%.1f", (t * 1e6 + k) / n}')
  jq -nc --arg source "$source" --arg config "$config" --argjson pool "$pool" --argjson rep "$rep" \
    --argjson sent "$SENT" --argjson delivered $((rx1 - rx0)) \
    --argjson wall_us "$WALL_US" --argjson task_ms "$task_ms" \
    --argjson ksoftirqd_ns $((k1 - k0)) --argjson cpu_ns "$cpu_ns" \
    '{source: $source, config: $config, pool: $pool, rep: $rep, sent: $sent, delivered: $delivered,
      wall_s: ($wall_us / 1e6), pps_wall: ($delivered / ($wall_us / 1e6)),
      task_ms: $task_ms, ksoftirqd_ms: ($ksoftirqd_ns / 1e6),
      cpu_ns_per_packet: $cpu_ns}' >>"$OUT/$lines.jsonl"
}

# flood_check SOURCE CONFIG POOL: what the hook saw, as a JSON line (sanity).
flood_check() {
  local source="$1" config="$2" pool="$3" syn entries failures counted=null
  case "$config" in
    sw_*)
      scrape >"$SW_TMP/metrics.txt"
      syn=$(metric_sum "$SW_TMP/metrics.txt" synwatch_syn_packets_total)
      entries=$(metric_sum "$SW_TMP/metrics.txt" synwatch_peer_table_entries)
      failures=$(metric_sum "$SW_TMP/metrics.txt" synwatch_peer_table_insert_failures_total)
      jq -nc --arg s "$source" --arg c "$config" --argjson p "$pool" --argjson syn "$syn" \
        --argjson e "$entries" --argjson f "$failures" \
        '{source: $s, config: $c, pool: $p, hook_syn_packets: $syn, peer_entries: $e, insert_failures: $f}' \
        >>"$OUT/flood-check.jsonl"
      ;;
    nft_*)
      counted=$(srv nft list chain netdev swbench ingress |
        awk '/counter packets/ {for (i = 1; i < NF; i++) if ($i == "packets") s += $(i + 1)} END {print s + 0}')
      entries=$(srv nft list set netdev swbench peers6 2>/dev/null | grep -c 'counter packets' || true)
      jq -nc --arg s "$source" --arg c "$config" --argjson p "$pool" --argjson n "$counted" \
        --argjson e "${entries:-0}" \
        '{source: $s, config: $c, pool: $p, hook_syn_packets: $n, set_elements: $e}' >>"$OUT/flood-check.jsonl"
      ;;
  esac
}

# flood_config SOURCE CONFIG POOL REP: sets CONFIG up, floods, takes it down. A
# configuration that keeps per-source state (synwatch, nftables' counting
# set) starts from nothing every time, so it gets a warm-up run first: the
# measured run finds its tables as a long-running flood would.
flood_config() {
  local source="$1" config="$2" pool="$3" rep="$4"
  case "$config" in
    none) ;;
    xdp_floor_generic) srv ip link set dev sw-srv xdpgeneric obj "$BUILD/bpf/floor.bpf.o" sec xdp ;;
    xdp_floor_native) srv ip link set dev sw-srv xdpdrv obj "$BUILD/bpf/floor.bpf.o" sec xdp ;;
    xdp_drop_generic) srv ip link set dev sw-srv xdpgeneric obj "$BUILD/bpf/drop.bpf.o" sec xdp ;;
    xdp_drop_native) srv ip link set dev sw-srv xdpdrv obj "$BUILD/bpf/drop.bpf.o" sec xdp ;;
    nft_count) nft_count_rules | srv nft -f - ;;
    nft_drop) nft_drop_rules | srv nft -f - ;;
    sw_count_generic) write_config "$SW_TMP/flood.toml" generic true 65536 ;;
    sw_count_native) write_config "$SW_TMP/flood.toml" native true 65536 ;;
    sw_count_noscan_generic) write_config "$SW_TMP/flood.toml" generic true 65536 false ;;
    sw_count_noscan_native) write_config "$SW_TMP/flood.toml" native true 65536 false ;;
    sw_drop_generic) write_config "$SW_TMP/flood.toml" generic false 65536 ;;
    sw_drop_native) write_config "$SW_TMP/flood.toml" native false 65536 ;;
    *)
      log "flood: unknown configuration '$config' (BENCH_FLOOD_CONFIGS)"
      return 1
      ;;
  esac
  if [[ "$config" == sw_* ]]; then start_exporter "$SW_TMP/flood.toml"; fi
  if [[ "$config" == sw_* || "$config" == nft_count ]]; then flood_once "$source" "$config" "$pool" 0; fi
  flood_once "$source" "$config" "$pool" "$rep"
  flood_check "$source" "$config" "$pool"
  if [[ "$config" == sw_* ]]; then stop_exporter; fi
  if [[ "$config" == nft_* ]]; then srv nft delete table netdev swbench; fi
  case "$config" in
    xdp_*_generic) srv ip link set dev sw-srv xdpgeneric off ;;
    xdp_*_native) srv ip link set dev sw-srv xdpdrv off ;;
  esac
}

# frames_work: whether the frames source can run here: live-frames
# BPF_PROG_RUN (Linux 5.18) and XDP frames into a veth with GRO on (5.13).
# A probe of 64 frames must all reach sw-srv.
frames_work() {
  local rx0 rx1
  srv ethtool -K sw-srv gro on >/dev/null 2>&1 || return 1
  rx0=$(srv cat /sys/class/net/sw-srv/statistics/rx_packets)
  cli "$FRAME_FLOOD" --interface sw-cli --dst-mac "$FLOOD_MAC" --count 64 --pool 1 \
    >/dev/null 2>&1 || return 1
  rx1=$(srv cat /sys/class/net/sw-srv/statistics/rx_packets)
  [ $((rx1 - rx0)) -ge 64 ]
}

section_flood() {
  local pool config rep source
  : >"$OUT/flood.jsonl"
  : >"$OUT/flood-warmup.jsonl"
  : >"$OUT/flood-check.jsonl"
  srv sysctl -qw net.ipv6.conf.all.forwarding=0 net.ipv4.ip_forward=0
  FLOOD_MAC=$(srv cat /sys/class/net/sw-srv/address)
  for source in $FLOOD_SOURCES; do
    # XDP frames need the receiving veth's NAPI, which an XDP program or
    # GRO turns on: GRO on for every configuration of this source.
    if [ "$source" = frames ] && ! frames_work; then
      log "flood: the frames source does not work on this kernel ($(uname -r)): skipped; native comparisons stay null"
      srv ethtool -K sw-srv gro off >/dev/null 2>&1 || true
      continue
    fi
    for pool in $FLOOD_POOLS; do
      write_trafgen "$SW_TMP/flood-$pool.cfg" "$pool" "$FLOOD_MAC"
      # Round after round of every configuration rather than one
      # configuration's runs in a row: this machine has slow spells of minutes
      # (every configuration some 500 ns per packet slower), and a spell then
      # slows one run of each configuration instead of all of one.
      for rep in $(seq 1 "$FLOOD_REPS"); do
        for config in $FLOOD_CONFIGS; do
          log "flood: $source, pool $pool, round $rep/$FLOOD_REPS, $config ($FLOOD_PACKETS SYNs), t=$(elapsed)s"
          flood_config "$source" "$config" "$pool" "$rep"
        done
      done
    done
    if [ "$source" = frames ]; then srv ethtool -K sw-srv gro off >/dev/null; fi
  done
  jq -s -f "$ROOT/tests/bench/flood.jq" "$OUT/flood.jsonl" \
    --slurpfile check "$OUT/flood-check.jsonl" >"$OUT/flood.json"
  printf '\n== 2. SYN flood over veth (%s SYNs x %s, median; CPU = sender + receive path, one core) ==\n' \
    "$FLOOD_PACKETS" "$FLOOD_REPS"
  printf 'trafgen: socket buffers from a TX ring; frames: XDP frames redirected into the veth, as a NIC driver delivers them\n'
  jq -r '.configs[] | [.source, .pool, .config, (.pps_wall | floor), (.cpu_ns_per_packet | floor),
      (.added_cpu_ns_per_packet | if . == null then "-" else floor end), (.pps_per_core | floor), (.delivered_ratio * 1000 | round / 1000),
      (.hook_syn_packets // "-"), (.peer_entries // .set_elements // "-")] | @tsv' "$OUT/flood.json" |
    (printf 'source\tpool\tconfig\tpps(wall)\tcpu_ns/pkt\tadded_ns/pkt\tpps/core\tdelivered\thook_count\ttable\n'; cat) |
    column -t -s $'\t'
  jq -r '.comparisons[] | select(.value != null)
      | "\(.name): \(.value | . * 100 | round / 100)x (target \(.op) \(.target)x) \(if .info then "" elif .met then "met" else "MISSED" end)"' \
    "$OUT/flood.json"
}

# ---------------------------------------------------------------------------
# 3. Scrape cost as the peer table grows; node_exporter side by side
# ---------------------------------------------------------------------------

# time_scrapes N: N rounds over the four variants; one JSON object.
time_scrapes() {
  local n="$1" i variant accept enc
  : >"$SW_TMP/scrapes.tsv"
  for i in $(seq 1 "$n"); do
    for variant in text text_gzip openmetrics openmetrics_gzip; do
      accept="text/plain"
      enc="identity"
      case "$variant" in openmetrics*) accept="application/openmetrics-text; version=1.0.0" ;; esac
      case "$variant" in *_gzip) enc="gzip" ;; esac
      srv curl -sS -o /dev/null --max-time 30 -H "Accept: $accept" -H "Accept-Encoding: $enc" \
        -w "$variant\t%{time_total}\t%{size_download}\n" http://127.0.0.1:9632/metrics \
        >>"$SW_TMP/scrapes.tsv"
    done
  done
  local out="{}" t s
  for variant in text text_gzip openmetrics openmetrics_gzip; do
    t=$(awk -F'\t' -v v="$variant" '$1 == v {print $2 * 1000}' "$SW_TMP/scrapes.tsv" | median)
    s=$(awk -F'\t' -v v="$variant" '$1 == v {print $3}' "$SW_TMP/scrapes.tsv" | median)
    out=$(jq -c --arg v "$variant" --argjson t "$t" --argjson s "$s" \
      '. + {($v): {ms_median: $t, bytes: $s}}' <<<"$out")
  done
  echo "$out"
}

section_scrape() {
  local peers max idle_rss entries series fill_s scrapes rss hwm sd n
  : >"$OUT/scrape.jsonl"
  for peers in $SCRAPE_PEERS; do
    max=65536
    if [ "$peers" -gt 65536 ]; then max=$((1 << 20)); fi
    while [ "$max" -lt "$peers" ]; do max=$((max * 2)); done
    log "scrape: $peers peers (max_entries $max), t=$(elapsed)s"
    write_config "$SW_TMP/scrape.toml" generic true "$max"
    start_exporter "$SW_TMP/scrape.toml"
    idle_rss=$(rss_kb "$SYNWATCH_PID" VmRSS)
    fill_s=$(srv "$PEER_FILL" --interface sw-srv --count "$peers" | awk '{print $(NF - 1)}')
    # A million peers is ~100 MB of text: files, not shell variables.
    scrape >"$SW_TMP/metrics.txt"
    entries=$(awk '$1 == "synwatch_peer_table_entries" {print $2}' "$SW_TMP/metrics.txt")
    series=$(grep -c '^synwatch_peer_syn_packets_total{' "$SW_TMP/metrics.txt" || true)
    n="$SCRAPES"
    if [ "$peers" -gt 65536 ]; then n="$SCRAPES_LARGE"; fi
    scrapes=$(time_scrapes "$n")
    scrape >"$SW_TMP/metrics.txt"
    sd=$(awk '$1 == "synwatch_scrape_duration_seconds" {print $2 * 1000}' "$SW_TMP/metrics.txt")
    rss=$(rss_kb "$SYNWATCH_PID" VmRSS)
    hwm=$(rss_kb "$SYNWATCH_PID" VmHWM)
    jq -nc --argjson peers "$peers" --argjson max "$max" --argjson entries "$entries" \
      --argjson series "$series" --argjson fill_s "$fill_s" --argjson n "$n" \
      --argjson idle "$idle_rss" --argjson rss "$rss" --argjson hwm "$hwm" \
      --argjson sd "${sd:-null}" --argjson scrapes "$scrapes" \
      '{peers: $peers, max_entries: $max, table_entries: $entries, peer_series: $series,
        fill_seconds: $fill_s, scrapes: $n, rss_kb_before_fill: $idle, rss_kb: $rss,
        hwm_kb: $hwm, map_read_ms: $sd, variants: $scrapes,
        us_per_peer_text: ($scrapes.text.ms_median * 1000 / $entries)}' >>"$OUT/scrape.jsonl"
    stop_exporter
  done

  # node_exporter, as Debian ships it, default collectors, on a free
  # loopback port in the host namespace (it reports on the host).
  local port p ne_pid ne_idle ne_t ne_bytes ne_rss ne_hwm i
  for p in $(seq 19100 19199); do
    if ! ss -Htln | awk '{print $4}' | grep -q ":$p\$"; then port=$p; break; fi
  done
  log "scrape: node_exporter on 127.0.0.1:$port"
  prometheus-node-exporter --web.listen-address="127.0.0.1:$port" >"$SW_TMP/node_exporter.log" 2>&1 &
  ne_pid=$!
  SW_PIDS+=("$ne_pid")
  wait_until 15 curl -fsS -o /dev/null "http://127.0.0.1:$port/"
  sleep 1
  ne_idle=$(rss_kb "$ne_pid" VmRSS)
  : >"$SW_TMP/ne.tsv"
  for i in $(seq 1 "$SCRAPES"); do
    curl -sS -o /dev/null --max-time 30 -w '%{time_total}\t%{size_download}\n' \
      "http://127.0.0.1:$port/metrics" >>"$SW_TMP/ne.tsv"
  done
  ne_t=$(awk '{print $1 * 1000}' "$SW_TMP/ne.tsv" | median)
  ne_bytes=$(awk '{print $2}' "$SW_TMP/ne.tsv" | median)
  ne_rss=$(rss_kb "$ne_pid" VmRSS)
  ne_hwm=$(rss_kb "$ne_pid" VmHWM)
  stop_pid "$ne_pid"
  jq -nc --argjson idle "$ne_idle" --argjson t "$ne_t" --argjson b "$ne_bytes" \
    --argjson rss "$ne_rss" --argjson hwm "$ne_hwm" --arg v "$(prometheus-node-exporter --version 2>&1 | head -n1)" \
    '{version: $v, rss_kb_idle: $idle, scrape_ms_median: $t, scrape_bytes: $b, rss_kb_after: $rss, hwm_kb: $hwm}' \
    >"$OUT/node_exporter.json"

  jq -s '.' "$OUT/scrape.jsonl" >"$OUT/scrape.json"
  printf '\n== 3. Scrape cost (median of complete HTTP scrapes, ms; RSS in MB) ==\n'
  jq -r '.[] | [.peers, .table_entries, .variants.text.ms_median, .variants.text_gzip.ms_median,
      .variants.openmetrics.ms_median, .variants.openmetrics_gzip.ms_median,
      (.us_per_peer_text * 100 | round / 100), (.variants.text.bytes / 1048576 * 10 | round / 10),
      (.rss_kb_before_fill / 1024 * 10 | round / 10), (.rss_kb / 1024 * 10 | round / 10),
      (.hwm_kb / 1024 * 10 | round / 10), .fill_seconds] | @tsv' "$OUT/scrape.json" |
    (printf 'peers\tentries\ttext\ttext+gz\tOM\tOM+gz\tus/peer\ttext_MB\tRSS_idle\tRSS\tHWM\tfill_s\n'; cat) |
    column -t -s $'\t'
  jq -r '"node_exporter (\(.version)): idle RSS \(.rss_kb_idle / 1024 * 10 | round / 10) MB, default scrape \(.scrape_ms_median) ms (\(.scrape_bytes) bytes), RSS after \(.rss_kb_after / 1024 * 10 | round / 10) MB"' \
    "$OUT/node_exporter.json"
}

# ---------------------------------------------------------------------------
# 4. Idle cost: no scrapes, no traffic
# ---------------------------------------------------------------------------
# thread_stats PID: one line per thread: TID COMM ON_CPU_NS TIMES_SCHEDULED.
thread_stats() {
  local d v w
  for d in /proc/"$1"/task/*; do
    read -r v _ w <"$d/schedstat" 2>/dev/null || continue
    printf '%s %s %s %s\n' "${d##*/}" "$(tr ' ' '_' <"$d/comm")" "$v" "$w"
  done
}

section_idle() {
  local c0 c1 t0 t1 rss threads per_thread
  log "idle: ${IDLE_SECONDS}s with no scrapes and no traffic, t=$(elapsed)s"
  write_config "$SW_TMP/idle.toml" generic true 65536
  start_exporter "$SW_TMP/idle.toml"
  sleep 2
  thread_stats "$SYNWATCH_PID" >"$SW_TMP/threads0"
  c0=$(cpu_ns "$SYNWATCH_PID")
  t0=$(ticks_ms "$SYNWATCH_PID")
  sleep "$IDLE_SECONDS"
  c1=$(cpu_ns "$SYNWATCH_PID")
  t1=$(ticks_ms "$SYNWATCH_PID")
  thread_stats "$SYNWATCH_PID" >"$SW_TMP/threads1"
  rss=$(rss_kb "$SYNWATCH_PID" VmRSS)
  threads=$(awk '$1 == "Threads:" {print $2}' "/proc/$SYNWATCH_PID/status")
  stop_exporter
  # Per thread: CPU and wake-ups over the window (what to look at if the
  # total is over budget).
  per_thread=$(awk 'NR == FNR {c[$1] = $3; w[$1] = $4; next}
      {printf "{\"tid\": %s, \"comm\": \"%s\", \"cpu_ms\": %.3f, \"wakeups\": %d}\n",
       $1, $2, ($3 - c[$1]) / 1e6, $4 - w[$1]}' "$SW_TMP/threads0" "$SW_TMP/threads1" | jq -s '.')
  jq -nc --argjson s "$IDLE_SECONDS" --argjson c $((c1 - c0)) --argjson t0 "$t0" \
    --argjson t1 "$t1" --argjson rss "$rss" --argjson th "$threads" --argjson pt "$per_thread" \
    '{seconds: $s, cpu_ms: ($c / 1e6), cpu_ms_ticks: ($t1 - $t0), rss_kb: $rss, threads: $th,
      per_thread: $pt}' >"$OUT/idle.json"
  printf '\n== 4. Idle cost ==\n'
  jq -r '"synwatch idle \(.seconds) s: \(.cpu_ms * 1000 | round / 1000) ms CPU (schedstat; \(.cpu_ms_ticks) ms from /proc/PID/stat ticks), RSS \(.rss_kb / 1024 * 10 | round / 10) MB, \(.threads) threads",
      (.per_thread[] | "  thread \(.comm): \(.cpu_ms) ms, \(.wakeups) wake-ups")' "$OUT/idle.json"
}

# ---------------------------------------------------------------------------
# 5. Through libxdp's dispatcher vs direct attach
# ---------------------------------------------------------------------------
# tests/bench/dispatcher.sh here; where this kernel refuses the dispatcher's
# extension (freplace) programs (exit 77), in one kernel matrix guest
# (tests/kernel-matrix: Debian's 6.12, under qemu; BENCH_DISPATCHER_KERNEL).
# A guest under TCG emulates the CPU: its nanoseconds are not a machine's,
# only the ratio of the two attach modes in the same run is reported.
section_dispatcher() {
  local rc=0 where=host accel="" line
  log "dispatcher: direct attach against libxdp's dispatcher"
  bash "$ROOT/tests/bench/dispatcher.sh" "$SYNWATCH" >"$SW_TMP/dispatcher.out" || rc=$?
  if [ "$rc" -eq 77 ]; then
    local kernel="${BENCH_DISPATCHER_KERNEL:-6.12}" km="$OUT/kernel-matrix"
    log "dispatcher: this kernel refuses libxdp's dispatcher: in a $kernel guest"
    where="kernel matrix guest"
    rm -rf "$km/runs/$kernel"
    # The matrix's root file system, when `make kernel-matrix` built one
    # (rootfs.sh checks its stamp and rebuilds it if it is stale).
    if [ ! -s "$km/rootfs.img" ] && [ -s "$BUILD/kernel-matrix/rootfs.img" ]; then
      mkdir -p "$km"
      cp -r --reflink=auto "$BUILD/kernel-matrix"/{rootfs.img,rootfs.img.stamp,kernels.txt,boot} "$km/"
    fi
    # The guest's verdict is about the BPF suite it does not run here: only
    # the row's own output counts.
    SYNWATCH_KM_KERNELS="$kernel" SYNWATCH_KM_BPF_ONLY='^$' SYNWATCH_KM_E2E=bench_dispatcher \
      SYNWATCH_KM_OUT="$km" bash "$ROOT/tests/kernel-matrix/run.sh" "$BUILD" \
      >"$SW_TMP/km.out" 2>&1 || true
    accel=$(grep -o 'boot [^ ]* ([a-z]*' "$SW_TMP/km.out" | tail -n1 | sed 's/.*(//' || true)
    cp "$km/runs/$kernel/e2e-bench_dispatcher.log" "$SW_TMP/dispatcher.out" 2>/dev/null || true
  elif [ "$rc" -ne 0 ]; then
    log "dispatcher: failed (exit status $rc)"
    return 0
  fi
  line=$(sed -n 's/^dispatcher_bench: {/{/p' "$SW_TMP/dispatcher.out" | tail -n1)
  if [ -z "$line" ]; then
    log "dispatcher: no figures (see $SW_TMP/dispatcher.out, $OUT/kernel-matrix)"
    return 0
  fi
  jq -c --arg where "$where" --arg accel "$accel" \
    '. + {where: $where, accel: (if $accel == "" then null else $accel end),
          emulated: ($accel == "tcg")}' <<<"$line" >"$OUT/dispatcher.json"
  printf '\n== 5. Through the dispatcher vs direct attach (%s) ==\n' \
    "$(jq -r '"\(.where), kernel \(.kernel)\(if .emulated then ", TCG emulation: ratios only" else "" end)"' "$OUT/dispatcher.json")"
  jq -r '"non-SYN (TCP ACK):  dispatcher / direct \(.ratio_non_syn * 100 | round / 100)x (per run \(.ratio_non_syn_min)-\(.ratio_non_syn_max); \(.dispatcher_non_syn_ns * 10 | round / 10) / \(.direct_non_syn_ns * 10 | round / 10)\(if .emulated then " emulated" else "" end) ns)",
      "known-peer SYN:     dispatcher / direct \(.ratio_known_syn * 100 | round / 100)x (per run \(.ratio_known_syn_min)-\(.ratio_known_syn_max); \(.dispatcher_known_syn_ns * 10 | round / 10) / \(.direct_known_syn_ns * 10 | round / 10)\(if .emulated then " emulated" else "" end) ns)"' \
    "$OUT/dispatcher.json"
}

# ---------------------------------------------------------------------------
# 6. CrowdSec: per-SYN cost with decisions loaded, load, idle off vs on
# ---------------------------------------------------------------------------
# idle_window PID SECONDS: "cpu_ms rss_kb" of PID over SECONDS of idling.
idle_window() {
  local c0 c1
  c0=$(cpu_ns "$1")
  sleep "$2"
  c1=$(cpu_ns "$1")
  echo "$(((c1 - c0) / 1000))" "$(rss_kb "$1" VmRSS)"
}

section_crowdsec() {
  local port=18089 off on lapi_pid cpu_us rss prefixes
  log "crowdsec: $CROWDSEC_DECISIONS decisions; $XDP_RUNS runs x $XDP_REPEAT repeats, t=$(elapsed)s"
  srv "$CROWDSEC_BENCH" --runs "$XDP_RUNS" --repeat "$XDP_REPEAT" \
    --decisions "$CROWDSEC_DECISIONS" --json "$OUT/crowdsec_xdp.json"

  # Idle: the exporter with [crowdsec] off, then on against a fake LAPI on
  # the namespace's loopback that answers the startup poll with every
  # decision and each later poll with no change (what a quiet LAPI sends).
  "$CROWDSEC_BENCH" --lapi-answer "$CROWDSEC_DECISIONS" "$SW_TMP/answer.json"
  start_bg "$SW_SRV" "$SW_TMP/fake_lapi.log" python3 "$ROOT/tests/e2e/fake_lapi.py" "$port" "$SW_TMP/answer.json"
  lapi_pid="$LAST_PID"
  wait_until 10 srv bash -c "ss -Htln | grep -q ':$port '"

  write_config "$SW_TMP/cs-off.toml" generic true 65536
  start_exporter "$SW_TMP/cs-off.toml"
  sleep 2
  read -r cpu_us rss < <(idle_window "$SYNWATCH_PID" "$IDLE_SECONDS")
  off=$(jq -nc --argjson c "$cpu_us" --argjson r "$rss" '{cpu_ms: ($c / 1000), rss_kb: $r}')
  stop_exporter

  cp "$SW_TMP/cs-off.toml" "$SW_TMP/cs-on.toml"
  printf '[crowdsec]\nenabled = true\nlapi_url = "http://127.0.0.1:%s/"\napi_key = "bench"\n' \
    "$port" >>"$SW_TMP/cs-on.toml"
  start_exporter "$SW_TMP/cs-on.toml"
  for _ in $(seq 1 120); do
    prefixes=$(srv curl -s --max-time 10 http://127.0.0.1:9632/metrics |
      awk '$1 == "synwatch_crowdsec_prefixes" {print $2}')
    if [ "${prefixes:-0}" = "$CROWDSEC_DECISIONS" ]; then break; fi
    sleep 1
  done
  # The load's peak is over; the window sees the polls of no change.
  sleep 2
  read -r cpu_us rss < <(idle_window "$SYNWATCH_PID" "$IDLE_SECONDS")
  on=$(jq -nc --argjson c "$cpu_us" --argjson r "$rss" --argjson p "${prefixes:-0}" \
    --argjson hwm "$(rss_kb "$SYNWATCH_PID" VmHWM)" \
    '{cpu_ms: ($c / 1000), rss_kb: $r, hwm_kb: $hwm, prefixes: $p}')
  stop_exporter
  stop_pid "$lapi_pid"

  jq --argjson s "$IDLE_SECONDS" --argjson off "$off" --argjson on "$on" \
    '. + {idle: {seconds: $s, off: $off, on: $on}}' "$OUT/crowdsec_xdp.json" >"$OUT/crowdsec.json"
  jq -r '"idle \(.idle.seconds) s, [crowdsec] off: \(.idle.off.cpu_ms) ms CPU, RSS \(.idle.off.rss_kb / 1024 * 10 | round / 10) MB",
      "idle \(.idle.seconds) s, [crowdsec] on (\(.idle.on.prefixes) prefixes, fake LAPI polled every 10 s): \(.idle.on.cpu_ms) ms CPU, RSS \(.idle.on.rss_kb / 1024 * 10 | round / 10) MB (peak \(.idle.on.hwm_kb / 1024 * 10 | round / 10) MB)"' \
    "$OUT/crowdsec.json"
}

# ---------------------------------------------------------------------------
sandbox_up
for s in "${SECTIONS[@]}"; do
  case "$s" in
    xdp) section_xdp ;;
    flood) section_flood ;;
    scrape) section_scrape ;;
    idle) section_idle ;;
    dispatcher) section_dispatcher ;;
    crowdsec) section_crowdsec ;;
    *) echo "bench: unknown section $s" >&2; exit 2 ;;
  esac
done

# results.json: every section's figures plus the targets, in one file.
slurp() { if [ -s "$OUT/$1.json" ]; then cat "$OUT/$1.json"; else echo null; fi; }
jq -n \
  --argjson xdp "$(slurp xdp)" --argjson flood "$(slurp flood)" \
  --argjson scrape "$(slurp scrape)" --argjson node_exporter "$(slurp node_exporter)" \
  --argjson idle "$(slurp idle)" --argjson crowdsec "$(slurp crowdsec)" \
  --arg kernel "$(uname -r)" --argjson cpus "$(nproc)" --arg rev "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)" \
  --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson seconds "$(elapsed)" \
  -f "$ROOT/tests/bench/results.jq" >"$OUT/results.json"
jq --argjson d "$(slurp dispatcher)" '.dispatcher = $d' "$OUT/results.json" >"$OUT/results.json.new"
mv "$OUT/results.json.new" "$OUT/results.json"

printf '\n== Targets (issue 7) ==\n'
jq -r '.targets[] | [.name, (if .value == null then "n/a" else (.value * 1000 | round / 1000 | tostring) end),
    "\(.op) \(.target)", .unit, (if .met == null then "n/a" elif .met then "met" else "MISSED" end)] | @tsv' \
  "$OUT/results.json" | column -t -s $'\t'
log "bench: done in $(elapsed)s; figures in $OUT/results.json"
