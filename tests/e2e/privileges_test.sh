#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Least privilege, in namespaces this test owns: once attached, every thread
# of synwatch has exactly CAP_BPF and CAP_NET_ADMIN (effective, permitted and
# bounding; nothing inheritable or ambient), whether started as root or, as
# the systemd unit does, as an unprivileged user with ambient capabilities;
# and what still needs them (scrapes, attaching on reload) keeps working.
# Bounded: about 30 s.
set -uo pipefail
BIN="$(realpath "${1:?usage: privileges_test.sh path/to/synwatch}")"
HERE="$(dirname "$(realpath "$0")")"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"

sandbox_up
bpffs_up
chmod 0755 "$SW_TMP"
ip link add sw-srv2 netns "$SW_SRV" type veth peer name sw-cli2 netns "$SW_CLI"
srv ip link set sw-srv2 up
cli ip link set sw-cli2 up

# CAP_NET_ADMIN (12) and CAP_BPF (39).
WANT=0000008000001000

write_config() { # PIN_PATH INTERFACES
  cat >"$SW_TMP/synwatch.toml" <<TOML
[xdp]
interfaces = [$2]
pin_path = "$1"
[rules]
dry_run = true
TOML
  chmod 0644 "$SW_TMP/synwatch.toml"
}

# every_thread PID FIELD VALUE: FIELD of /proc/PID/task/*/status is VALUE in
# every thread (and there is more than one thread to look at).
every_thread() {
  local pid="$1" field="$2" want="$3" n=0 bad=0 f v
  for f in /proc/"$pid"/task/*/status; do
    v="$(awk -v k="$field:" '$1 == k { print $2 }' "$f")"
    n=$((n + 1))
    if [ "$v" != "$want" ]; then bad=$((bad + 1)); fi
  done
  log "  $field: $n threads, $bad differ from $want"
  [ "$n" -gt 1 ] && [ "$bad" -eq 0 ]
}

caps_checks() { # WHO BOUNDING_SET
  # ip netns exec and setpriv exec: the PID start_bg saw is synwatch's.
  local pid="$SYNWATCH_PID"
  check "$1: effective set is CAP_BPF + CAP_NET_ADMIN in every thread" every_thread "$pid" CapEff "$WANT"
  check "$1: permitted set likewise" every_thread "$pid" CapPrm "$WANT"
  check "$1: bounding set $2" every_thread "$pid" CapBnd "$2"
  check "$1: nothing inheritable" every_thread "$pid" CapInh 0000000000000000
  check "$1: nothing ambient" every_thread "$pid" CapAmb 0000000000000000
  check "$1: says what it kept and dropped" grep -Eq \
    'Capabilities now CAP_NET_ADMIN CAP_BPF \(dropped: .*CAP_PERFMON' "$SW_TMP/synwatch.log"
  check "$1: scrapes still read the maps" bash -c \
    "ip netns exec $SW_SRV curl -fsS http://127.0.0.1:9632/metrics | grep -q '^synwatch_syn_packets_total{interface=\"sw-srv\"'"
}

# --- as root ------------------------------------------------------------------
write_config "$SW_BPFFS/root" '"sw-srv"'
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }
caps_checks root "$WANT"
# Attaching on reload needs CAP_NET_ADMIN (kept) and no CAP_PERFMON (dropped).
write_config "$SW_BPFFS/root" '"sw-srv", "sw-srv2"'
kill -HUP "$SYNWATCH_PID"
wait_until 5 grep -q 'Attached XDP program (id [0-9]*) to sw-srv2' "$SW_TMP/synwatch.log"
check_eq "root: a reload attaches another interface with the reduced set" \
  "$(metric "$(scrape)" synwatch_xdp_attached 'interface="sw-srv2",mode="native"')" 1
# sw-srv got a copy of the program of its own at start; a copy cannot be
# loaded without CAP_PERFMON, so sw-srv2 runs the one that looks slots up.
prog_of() { sed -n "s/.*Attached XDP program (id \([0-9]*\)) to $1 .*/\1/p" "$SW_TMP/synwatch.log"; }
check "root: the two interfaces run different programs ($(prog_of sw-srv) and $(prog_of sw-srv2))" \
  test -n "$(prog_of sw-srv)" -a -n "$(prog_of sw-srv2)" -a "$(prog_of sw-srv)" != "$(prog_of sw-srv2)"
check "root: the one attached on reload says why it runs the shared program" grep -q \
  'sw-srv2 .*: the interface runs the program that looks its slot up .*: a copy of its own cannot be loaded' \
  "$SW_TMP/synwatch.log"
stop_pid "$SYNWATCH_PID"
check_eq "root: exits 0" "$STOP_RC" 0
srv "$BIN" --detach --config "$SW_TMP/synwatch.toml" >/dev/null

# --- as an unprivileged user with ambient capabilities (the systemd unit) ----
mkdir -p "$SW_BPFFS/user"
chown nobody:nogroup "$SW_BPFFS/user"
write_config "$SW_BPFFS/user" '"sw-srv"'
start_bg "$SW_SRV" "$SW_TMP/synwatch.log" setpriv --reuid=nobody --regid=nogroup \
  --clear-groups --bounding-set=-all,+bpf,+net_admin,+perfmon \
  --inh-caps=-all,+bpf,+net_admin,+perfmon \
  --ambient-caps=-all,+bpf,+net_admin,+perfmon "$BIN" --config "$SW_TMP/synwatch.toml"
SYNWATCH_PID="$LAST_PID"
if ! wait_until 15 srv curl -fsS -o /dev/null http://127.0.0.1:9632/-/ready; then
  cat "$SW_TMP/synwatch.log" >&2
fi
check_eq "user: runs as nobody" "$(ps -o user= -p "$SYNWATCH_PID")" nobody
# Without CAP_SETPCAP it cannot shrink its bounding set; the unit's
# CapabilityBoundingSet (here setpriv's) already did.
caps_checks user 000000c000001000
check_eq "user: its pins are its own" "$(stat -c %U "$SW_BPFFS/user/peers")" nobody
stop_pid "$SYNWATCH_PID"

finish
