#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Start-up paths, in namespaces this test creates: "auto" picks the
# default-route interface; every refusal (no such interface, another XDP
# program already attached, a bad config, missing capabilities) is one clear
# line, a non-zero exit, and nothing left attached; a loopback listener works
# where loopback is the only address. Bounded: about 40 s.
set -uo pipefail
BIN="$(realpath "${1:?usage: startup_test.sh path/to/synwatch}")"
HERE="$(dirname "$(realpath "$0")")"
BUILD="$(dirname "$BIN")"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"

sandbox_up

# Lines on stderr that are not timestamped log lines.
error_lines() { grep -Evc '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$SW_TMP/err"; }

no_xdp() { ! srv ip link show dev sw-srv | head -n1 | grep -q ' xdp'; }

# run_fail NAME WANT_REGEX ARGS...: synwatch must exit 1 within 10 s with
# exactly one line on stderr matching WANT_REGEX, and leave nothing attached.
run_fail() {
  local name="$1" want="$2" rc=0
  shift 2
  srv timeout 10 "$BIN" "$@" >"$SW_TMP/out" 2>"$SW_TMP/err" || rc=$?
  check_eq "$name: exit status" "$rc" 1
  check_eq "$name: one error line on stderr (besides log lines)" "$(error_lines)" 1
  check "$name: says why ($(head -c 160 "$SW_TMP/err"))" grep -Eq "$want" "$SW_TMP/err"
  check "$name: nothing attached" no_xdp
}

# --- auto: the interface that carries the default route ---------------------
printf '[rules]\ndry_run = true\n' >"$SW_TMP/auto.toml"
start_synwatch "$BIN" "$SW_TMP/auto.toml"
text="$(scrape)"
check_eq "auto attaches to the default-route interface" \
  "$(metric "$text" synwatch_xdp_attached 'interface="sw-srv",mode="native"')" 1
check "auto logged what it attached" grep -Eq 'Attached XDP program \(id [0-9]+\) to sw-srv \(ifindex [0-9]+\) in native mode' "$SW_TMP/synwatch.log"
stop_pid "$SYNWATCH_PID"
check_eq "SIGTERM exits 0" "$STOP_RC" 0
check "nothing attached after exit" no_xdp

# --- refusals ---------------------------------------------------------------
run_fail "no such interface" "no such interface" --config /dev/null --interface sw-nope0
printf '[xdp]\ninterfaces = ["sw-srv"]\n\n[rules]\ndeny = ["192.0.2.0/33"]\n' >"$SW_TMP/bad.toml"
run_fail "bad CIDR" "bad.toml:5: rules.deny\[0\]" --config "$SW_TMP/bad.toml"
run_fail "missing config file" "nonexistent.toml" --config "$SW_TMP/nonexistent.toml"
rc=0
srv "$BIN" --check-config --config "$SW_TMP/bad.toml" >/dev/null 2>&1 || rc=$?
check_eq "--check-config on a bad file exits 1" "$rc" 1
check "--check-config on a good file exits 0" srv "$BIN" --check-config --config "$SW_TMP/auto.toml"
check "--print-default-config is a valid config" bash -c \
  "'$BIN' --print-default-config > '$SW_TMP/default.toml' && ip netns exec $SW_SRV '$BIN' --check-config --config '$SW_TMP/default.toml'"

# Another XDP program already on the interface: refused, and it stays.
# (ip netns exec gives each command a fresh /sys without bpffs: mount one for
# the pin that bpftool needs, in the same command; the attachment outlives it.)
srv sh -c "mount -t bpf bpf /sys/fs/bpf && bpftool prog load '$BUILD/bpf/floor.bpf.o' /sys/fs/bpf/other && bpftool net attach xdpgeneric pinned /sys/fs/bpf/other dev sw-srv"
run_fail_other() {
  local rc=0
  srv timeout 10 "$BIN" --config /dev/null --interface sw-srv >"$SW_TMP/out" 2>"$SW_TMP/err" || rc=$?
  check_eq "other XDP program: exit status" "$rc" 1
  check "other XDP program: says so ($(head -c 200 "$SW_TMP/err"))" grep -q "another XDP program" "$SW_TMP/err"
  check "other XDP program: still attached" bash -c "ip netns exec $SW_SRV ip link show dev sw-srv | head -n1 | grep -q xdpgeneric"
}
run_fail_other
srv bpftool net detach xdpgeneric dev sw-srv

# Without the capabilities: one line that names them.
rc=0
srv setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
  --bounding-set=-all timeout 10 "$BIN" --config /dev/null --interface sw-srv \
  >"$SW_TMP/out" 2>"$SW_TMP/err" || rc=$?
check_eq "unprivileged: exit status" "$rc" 1
check_eq "unprivileged: one error line on stderr (besides log lines)" "$(error_lines)" 1
check "unprivileged: names the capabilities ($(head -c 200 "$SW_TMP/err"))" grep -q "CAP_BPF" "$SW_TMP/err"
check "unprivileged: nothing attached" no_xdp

# --- a loopback listener where loopback is the only address -----------------
# As at early boot before DHCP. getaddrinfo's AI_ADDRCONFIG refused [::1]
# with no other address, and 127.0.0.1 with only an IPv6 link-local one.
printf '[rules]\ndry_run = true\n' >"$SW_TMP/lo.toml"
srv ip addr flush dev sw-srv
for addresses in "none" "link-local only"; do
  if [ "$addresses" != "none" ]; then
    srv ip addr add fe80::1/64 dev sw-srv nodad
  fi
  for listen in 127.0.0.1:9632 '[::1]:9632'; do
    start_bg "$SW_SRV" "$SW_TMP/lo.log" "$BIN" --config "$SW_TMP/lo.toml" \
      --interface sw-srv --web.listen-address "$listen"
    pid="$LAST_PID"
    check "sw-srv with $addresses: listens on $listen" \
      wait_until 15 srv curl -fsS -g "http://${listen}/-/ready"
    stop_pid "$pid"
    check_eq "sw-srv with $addresses, $listen: SIGTERM exits 0" "$STOP_RC" 0
  done
done

finish
