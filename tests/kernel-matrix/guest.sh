#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Runs inside a kernel matrix guest (started by /sbin/kmatrix-init, see
# rootfs.sh), as root, on the kernel under test. Parameters come from the
# kernel command line: km.tree (the source tree, read-only 9p), km.build
# (the build tree, read-only 9p tag "build", mounted here), km.e2e (e2e
# scripts to run, comma separated); the BPF tests to run from
# /out/bpf_tests.txt. Writes KEY=VALUE lines to /out/result.env, each BPF
# test's gtest JSON to /out/bpf/, each step's output to /out/*.log; the host
# (run.sh) reads them and prints the table.
#
# Steps, each bounded:
#   1. the binaries' libraries are all there (the same bookworm user space);
#   2. load and attach: synwatch on a veth in namespaces of its own
#      (tests/e2e/lib.sh), with xdp.mode native, then generic: "loads",
#      "native", "generic"; on a kernel that lacks a feature the program
#      needs, synwatch must exit with one line naming it (no verifier log,
#      nothing attached): "refused";
#   3. the BPF packet suite (the gtest binary of the ctest label bpf);
#   4. end-to-end scripts from tests/e2e (real connects, a denied source, a
#      scan, scrapes); a name bench_NAME runs tests/bench/NAME.sh instead
#      (tests/bench/run.sh's dispatcher row).
set -uo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
tree="" build="" e2e=""
# shellcheck disable=SC2013 # the command line is words
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    km.tree=*) tree=${arg#km.tree=} ;;
    km.build=*) build=${arg#km.build=} ;;
    km.e2e=*) e2e=${arg#km.e2e=} ;;
  esac
done
R=/out/result.env
: >"$R"
res() { echo "$1=$2" >>"$R"; }
say() { printf '[guest %(%H:%M:%S)T] %s\n' -1 "$*"; }
res kernel "$(uname -r)"
say "kernel $(uname -r), $(nproc) CPUs"

mkdir -p "$build"
if ! mountpoint -q "$build"; then
  mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 build "$build" || {
    res error "cannot mount the build tree at $build"
    exit 1
  }
fi
bin=$build/synwatch
suite=$build/tests/bpf_tests
# Emulated (TCG) guests run a process start or a verifier pass 10-30 times
# slower: longer bounds for readiness and for each connect (lib.sh).
export SW_READY_TIMEOUT=120 SW_TIME_SCALE=5

# --- 1. libraries ---------------------------------------------------------
missing=$(ldd "$bin" "$suite" 2>&1 | grep 'not found' | sort -u | tr -s ' \t' ' ')
if [ -n "$missing" ]; then
  res error "libraries missing in the guest: $missing"
  exit 1
fi

# --- 2. load and attach -----------------------------------------------------
# attach MODE: "yes" when synwatch became ready attached in MODE, "refused"
# when it exited with the one line naming a missing kernel feature, "no"
# otherwise. The log is /out/attach-MODE.log.
attach() {
  local mode=$1 verdict
  verdict=$(
    SW_ID=ka$$ # a namespace pair of its own, removed on exit (lib.sh)
    # shellcheck source=tests/e2e/lib.sh
    source "$tree/tests/e2e/lib.sh"
    sandbox_up >/dev/null 2>&1
    printf '[xdp]\ninterfaces = ["sw-srv"]\nmode = "%s"\npin_path = ""\n[port_scan]\nenabled = false\n' \
      "$mode" >"$SW_TMP/synwatch.toml"
    start_bg "$SW_SRV" "$SW_TMP/synwatch.log" "$bin" --config "$SW_TMP/synwatch.toml"
    pid=$LAST_PID
    state=starting
    for _ in $(seq 1 600); do
      if ! kill -0 "$pid" 2>/dev/null; then
        state=exited
        break
      fi
      if srv curl -fsS -o /dev/null http://127.0.0.1:9632/-/ready 2>/dev/null; then
        state=ready
        break
      fi
      sleep 0.2
    done
    link=$(srv ip -d link show dev sw-srv)
    if [ "$state" = ready ]; then
      want=" xdp "
      [ "$mode" = generic ] && want=" xdpgeneric "
      if grep -q "$want" <<<"$link" &&
        [ "$(srv curl -fsS http://127.0.0.1:9632/metrics | grep -c "^synwatch_xdp_attached{interface=\"sw-srv\",mode=\"$mode\"} 1")" = 1 ]; then
        echo yes
      else
        echo "no (ready, but not attached in $mode mode: $(head -n1 <<<"$link"))"
      fi
      stop_pid "$pid"
    elif [ "$state" = exited ]; then
      wait "$pid" 2>/dev/null
      rc=$?
      errors=$(grep -c '^synwatch: ' "$SW_TMP/synwatch.log")
      line=$(grep -m1 '^synwatch: ' "$SW_TMP/synwatch.log")
      if [ "$rc" != 0 ] && [ "$errors" = 1 ] && [[ "$line" == *"this kernel ("*") lacks "* ]] &&
        ! grep -q 'libbpf:' "$SW_TMP/synwatch.log" && ! grep -q 'prog/xdp' <<<"$link"; then
        echo "refused"
      else
        echo "no (exit status $rc; $errors error lines; attached: $(grep -c 'prog/xdp' <<<"$link"))"
      fi
    else
      echo "no (neither ready nor exited after 120 s)"
      stop_pid "$pid"
    fi
    cp "$SW_TMP/synwatch.log" "/out/attach-$mode.log"
  )
  echo "${verdict:-no (the attach check failed)}"
}
t=$SECONDS
native=$(attach native)
generic=$(attach generic)
res native "$native"
res generic "$generic"
if [ "$native" = refused ] && [ "$generic" = refused ]; then
  res loads refused
  res refusal "$(grep -m1 '^synwatch: ' /out/attach-native.log)"
elif [ "$native" = yes ] || [ "$generic" = yes ]; then
  res loads yes
else
  res loads no
fi
res attach_seconds $((SECONDS - t))
say "load and attach: native $native, generic $generic ($((SECONDS - t)) s)"

# --- 3. the BPF packet suite -----------------------------------------------
# One process per test, as ctest runs them (some tests leave the network
# namespace for one of their own), each test's JSON in /out/bpf/; the names
# come from the host (/out/bpf_tests.txt).
t=$SECONDS
mkdir -p /out/bpf
n=0
while read -r name; do
  n=$((n + 1))
  (cd "$build/tests" && timeout -k 10 900 "$suite" --gtest_filter="$name" \
    --gtest_output="json:/out/bpf/$n.json" --gtest_brief=1) >>/out/bpf.log 2>&1 ||
    echo "exit status $? of $name" >>/out/bpf.log
done </out/bpf_tests.txt
res bpf_tests "$n"
res bpf_seconds $((SECONDS - t))
say "BPF suite: $n tests in $((SECONDS - t)) s"

# --- 4. end to end ------------------------------------------------------------
for name in ${e2e//,/ }; do
  t=$SECONDS
  # bench_NAME: tests/bench/NAME.sh (a benchmark row that needs this
  # kernel), else tests/e2e/NAME.sh.
  script="$tree/tests/e2e/$name.sh"
  [[ "$name" == bench_* ]] && script="$tree/tests/bench/${name#bench_}.sh"
  # shellcheck disable=SC2031 # bin is set above, not in attach's subshell
  SW_ID=ke$$ timeout -k 10 600 bash "$script" "$bin" >"/out/e2e-$name.log" 2>&1
  rc=$?
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "/out/e2e-$name.log" | tail -n1)
  res "e2e_$name" "status $rc: ${summary:-no summary}"
  res "e2e_${name}_seconds" $((SECONDS - t))
  say "e2e $name: status $rc, ${summary:-no summary} ($((SECONDS - t)) s)"
done
res "done" 1
