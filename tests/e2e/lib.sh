#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Shared pieces of the end-to-end tests and the demo: a sandbox of two network
# namespaces joined by a veth pair, on documentation addresses only, and
# helpers to run synwatch there, drive real TCP, and read its metrics.
#
#   server namespace $SW_SRV: veth "sw-srv", 192.0.2.1/24, 2001:db8::1/64
#   client namespace $SW_CLI: veth "sw-cli", 192.0.2.10-.19 and .66/24,
#                             2001:db8::10-::19 and ::66/64
#
# Everything is removed by sandbox_down (installed as an EXIT trap by
# sandbox_up); processes are ended by the PIDs this script started.

SW_ID="${SW_ID:-$$}"
SW_SRV="swsrv$SW_ID"
SW_CLI="swcli$SW_ID"
SW_TMP=""
SW_BPFFS=""
SW_PIDS=()
SW_FAILURES=0
SW_PASSES=0

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

sandbox_down() {
  local pid
  for pid in "${SW_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${SW_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  SW_PIDS=()
  # Unmounting drops whatever is still pinned there (links detach).
  if [ -n "$SW_BPFFS" ]; then umount "$SW_BPFFS" 2>/dev/null || true; fi
  ip netns del "$SW_SRV" 2>/dev/null || true
  ip netns del "$SW_CLI" 2>/dev/null || true
  if [ -n "$SW_TMP" ]; then rm -rf "$SW_TMP"; fi
}

# sandbox_up [EXTRA_CLIENT_V4_HOSTS...]
sandbox_up() {
  trap sandbox_down EXIT
  trap 'exit 130' INT TERM
  SW_TMP="$(mktemp -d /tmp/synwatch-e2e.XXXXXX)"
  ip netns add "$SW_SRV"
  ip netns add "$SW_CLI"
  ip link add sw-srv netns "$SW_SRV" type veth peer name sw-cli netns "$SW_CLI"
  local ns
  for ns in "$SW_SRV" "$SW_CLI"; do
    ip -n "$ns" link set lo up
    # No DAD delay: IPv6 addresses are usable at once.
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  done
  ip -n "$SW_SRV" addr add 192.0.2.1/24 dev sw-srv
  ip -n "$SW_SRV" addr add 2001:db8::1/64 dev sw-srv nodad
  local h
  for h in 10 11 12 13 14 15 16 17 18 19 66; do
    ip -n "$SW_CLI" addr add "192.0.2.$h/24" dev sw-cli
    ip -n "$SW_CLI" addr add "2001:db8::$h/64" dev sw-cli nodad
  done
  # veth native XDP passes frames up only when GRO... is not needed; checksum
  # offload is irrelevant to XDP, which never verifies checksums.
  ip -n "$SW_SRV" link set sw-srv up
  ip -n "$SW_CLI" link set sw-cli up
  ip -n "$SW_SRV" route add default via 192.0.2.10 dev sw-srv
  ip -n "$SW_SRV" -6 route add default via 2001:db8::10 dev sw-srv
}

# bpffs_up: a BPF filesystem of the test's own at $SW_BPFFS, for xdp.pin_path.
# It is mounted in this mount namespace, which `ip netns exec` copies into
# the server namespace's view: pins made there are seen here and by the next
# synwatch. sandbox_down unmounts it.
bpffs_up() {
  SW_BPFFS="$SW_TMP/bpffs"
  mkdir -p "$SW_BPFFS"
  mount -t bpf bpf "$SW_BPFFS"
}

srv() { ip netns exec "$SW_SRV" "$@"; }
cli() { ip netns exec "$SW_CLI" "$@"; }

# start_bg NS LOGFILE CMD...: starts CMD in namespace NS, records its PID.
start_bg() {
  local ns="$1" logfile="$2"
  shift 2
  ip netns exec "$ns" "$@" >"$logfile" 2>&1 &
  SW_PIDS+=("$!")
  LAST_PID="$!"
}

# stop_pid PID: SIGTERM, wait at most 10 s, report the exit status in $STOP_RC.
stop_pid() {
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  # shellcheck disable=SC2034 # read by the caller
  STOP_RC=0
  # shellcheck disable=SC2034 # read by the caller
  wait "$pid" 2>/dev/null || STOP_RC=$?
  local kept=()
  for i in "${SW_PIDS[@]}"; do
    if [ "$i" != "$pid" ]; then kept+=("$i"); fi
  done
  SW_PIDS=("${kept[@]}")
}

# A TCP listener on the server side: ncat accepts and closes connections.
start_listener() {
  local port="$1"
  start_bg "$SW_SRV" "$SW_TMP/ncat-$port.log" ncat -lk --no-shutdown -m 200 "$port"
  wait_until 10 srv bash -c "ss -Htln | grep -q ':$port '"
}

# connect_from SRC DST PORT: a real connect() by the kernel's TCP stack from
# SRC; succeeds if the handshake completes within 2 s (times SW_TIME_SCALE,
# 1: the kernel matrix's emulated guests start ncat slowly).
connect_from() {
  local src="$1" dst="$2" port="$3" scale=${SW_TIME_SCALE:-1}
  local wait=$((2 * scale))
  # ncat's own start counts against the outer bound: 1 s, 2 s more per
  # unit of scale beyond 1 (a failed connect must end as ncat's 1, not 124).
  cli timeout $((wait + 1 + 2 * (scale - 1))) ncat --source "$src" -w "$wait" "$dst" "$port" </dev/null >/dev/null 2>&1
}

# wait_until SECONDS CMD...: polls CMD every 0.2 s until it succeeds.
wait_until() {
  local limit="$1" i
  shift
  for i in $(seq 1 $((limit * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  return 1
}

# start_synwatch BINARY CONFIG [ARGS...]: runs synwatch in the server
# namespace, waits until /-/ready answers 200 (at most SW_READY_TIMEOUT s,
# 15; the kernel matrix's emulated guests verify the program more slowly).
# Sets SYNWATCH_PID.
start_synwatch() {
  local bin="$1" config="$2"
  shift 2
  start_bg "$SW_SRV" "$SW_TMP/synwatch.log" "$bin" --config "$config" "$@"
  # shellcheck disable=SC2034 # read by the caller
  SYNWATCH_PID="$LAST_PID"
  if ! wait_until "${SW_READY_TIMEOUT:-15}" srv curl -fsS http://127.0.0.1:9632/-/ready; then
    log "synwatch did not become ready; its log:"
    cat "$SW_TMP/synwatch.log" >&2
    return 1
  fi
}

scrape() { srv curl -fsS "$@" http://127.0.0.1:9632/metrics; }

# peer_table_config FILE: a config for tests of a large per-peer table:
# sw-srv, one series per IPv6 address, no port-scan tracking, no pinning.
peer_table_config() {
  cat >"$1" <<TOML
[xdp]
interfaces = ["sw-srv"]
pin_path = ""
[peers]
ipv6_prefix_length = 128
[port_scan]
enabled = false
TOML
}

# ipv6_peers N PREFIX: two SYNs from each of N addresses PREFIX::1, ::2, ...
# (e.g. PREFIX 2001:db8:5), written as raw frames on the client's end of
# the veth to sw-srv, for a large per-peer table (bounded: one pass).
ipv6_peers() {
  local mac
  mac="$(srv cat /sys/class/net/sw-srv/address)"
  cli timeout 30 python3 - "$mac" "$1" "$2" <<'PY'
import socket, struct, sys
dst_mac = bytes.fromhex(sys.argv[1].replace(":", ""))
peers, prefix = int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("sw-cli", 0))
src_mac = s.getsockname()[4]
dst = socket.inet_pton(socket.AF_INET6, "2001:db8::1")
for i in range(2 * peers):
    src = socket.inet_pton(socket.AF_INET6, "%s::%x" % (prefix, (i >> 1) + 1))
    tcp = struct.pack("!HHIIBBHHH", 40000, 8080, i, 0, 5 << 4, 0x02, 65535, 0, 0)
    ip6 = struct.pack("!IHBB", 6 << 28, len(tcp), 6, 64) + src + dst
    s.send(dst_mac + src_mac + struct.pack("!H", 0x86DD) + ip6 + tcp)
PY
}

# metric TEXT NAME LABELS: the value of the sample NAME{LABELS} (labels in
# the order synwatch writes them), or "absent".
metric() {
  local text="$1" name="$2" labels="$3" line
  line="$(grep -F "$name{$labels} " <<<"$text" | head -n1)"
  if [ -z "$line" ]; then echo absent; else echo "${line##* }"; fi
}

# peer_identity TEXT INTERFACE: for every outcome and action of INTERFACE,
# the peer series plus synwatch_syn_packets_without_peer_total equal
# synwatch_syn_packets_total (true until a peer is evicted). Prints each
# difference; fails if there is one or if the totals are missing.
peer_identity() {
  local text="$1" ifname="$2"
  awk -v ifname="$ifname" '
    function labels(s,   l) { l = s; sub(/^[^{]*\{/, "", l); sub(/\}.*/, "", l); return l }
    function get(l, k,   m) { if (match(l, k "=\"[^\"]*\"")) { m = substr(l, RSTART, RLENGTH); sub(/^[^"]*"/, "", m); sub(/"$/, "", m); return m } return "" }
    /^synwatch_(peer_syn_packets|syn_packets|syn_packets_without_peer)_total\{/ {
      l = labels($1)
      if (get(l, "interface") != ifname) next
      k = get(l, "outcome") "." get(l, "action")
      name = $1; sub(/\{.*/, "", name)
      if (name == "synwatch_syn_packets_total") { total[k] += $2; seen++ }
      else part[k] += $2
    }
    END {
      if (seen == 0) { print "no synwatch_syn_packets_total for " ifname; exit 1 }
      bad = 0
      for (k in total) if (total[k] != part[k] + 0) { printf "%s: series + without a peer %d, total %d\n", k, part[k], total[k]; bad = 1 }
      for (k in part) if (!(k in total)) { printf "%s: series without a total\n", k; bad = 1 }
      exit bad
    }' <<<"$text"
}

check() {
  local what="$1"
  shift
  if "$@"; then
    SW_PASSES=$((SW_PASSES + 1))
    log "ok: $what"
  else
    SW_FAILURES=$((SW_FAILURES + 1))
    log "FAIL: $what"
  fi
}

check_eq() {
  local what="$1" got="$2" want="$3"
  if [ "$got" = "$want" ]; then
    SW_PASSES=$((SW_PASSES + 1))
    log "ok: $what = $got"
  else
    SW_FAILURES=$((SW_FAILURES + 1))
    log "FAIL: $what: got '$got', want '$want'"
  fi
}

finish() {
  echo "$SW_PASSES passed, $SW_FAILURES failed"
  if [ "$SW_FAILURES" -ne 0 ] && [ -n "$SW_TMP" ] && [ -s "$SW_TMP/synwatch.log" ]; then
    echo "the last synwatch's log, last 40 lines:"
    tail -n 40 "$SW_TMP/synwatch.log"
  fi
  [ "$SW_FAILURES" -eq 0 ]
}
