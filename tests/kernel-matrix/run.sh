#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The kernel matrix: boots each Debian kernel (5.10, 6.1, 6.12) under qemu on
# the same bookworm root file system (rootfs.sh), runs guest.sh there against
# the host's build tree (shared read-only over 9p), and prints a table:
# kernel x (loads, attaches native / generic, BPF suite passed / failed /
# skipped, end to end). Exit status 0 only when every kernel did what it must:
#
#   5.10  (older than synwatch needs) synwatch refuses with one line naming
#         the missing kernel features, attaches nothing; every BPF test that
#         loads the program is skipped with that line, none fails;
#   6.1, 6.12  loads, attaches natively and generically to a veth, the BPF
#         suite passes (0 failed), the end-to-end scripts pass.
#
# usage: tests/kernel-matrix/run.sh [--quick] [BUILD]
#   --quick  the budgeted subset `make test` runs (see README.md here)
# Knobs: SYNWATCH_KM_KERNELS ("5.10 6.1 6.12"), SYNWATCH_KM_TIMEOUT (s per
# guest; 14400, quick 720), SYNWATCH_KM_BPF_PER_SUITE (full run: only the
# first N BPF tests of each suite; 0, all), SYNWATCH_KM_BPF_ONLY (an awk
# regular expression: only the BPF tests whose full name matches, e.g. to
# repeat one test on one kernel), SYNWATCH_KM_E2E (comma-separated
# end-to-end scripts to run on each supported kernel instead), VM_ACCEL (kvm|tcg: forced),
# VM_MEM (MiB, 1536), VM_CPUS (2), SYNWATCH_KM_OUT (build/kernel-matrix).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
quick=0
if [ "${1:-}" = --quick ]; then
  quick=1
  shift
fi
build=$(realpath "${1:-$root/build}")
out=${SYNWATCH_KM_OUT:-$root/build/kernel-matrix}
kernels=${SYNWATCH_KM_KERNELS:-5.10 6.1 6.12}
# shellcheck source=scripts/image/accel.sh
source "$root/scripts/image/accel.sh"

log() { printf '[kernel-matrix %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "needs root (the root file system is built with mmdebstrap)"
  exit 1
fi
for f in "$build/synwatch" "$build/tests/bpf_tests"; do
  [ -x "$f" ] || {
    log "$f missing: build first (make build)"
    exit 1
  }
done

# bpf_tests N: the names of the BPF binary's tests, the first N of every
# test suite (each suite drives the program through another path:
# decisions, scans, tables, events, pinning, interface copies, ...); all
# with N = 0.
bpf_tests() {
  "$build/tests/bpf_tests" --gtest_list_tests | awk -v n="$1" -v only="${SYNWATCH_KM_BPF_ONLY:-}" '
    /^[^ ]/ { suite = $1; k = 0; next }
    /^  / && (only == "" || (suite $1) ~ only) { if (n == 0 || k++ < n) print suite $1 }'
}
if [ "$quick" = 1 ]; then
  # The budget of `make test` (README.md here): one test of every suite of
  # the BPF binary on each kernel (each test loads the program afresh:
  # about 15 s of verifier time under TCG, so all 400-odd take hours; on
  # 5.10 each skips, but a process still costs 1.5 s); core_test end to
  # end on the oldest supported kernel, whose verifier is the strictest.
  bpf_list_for() { bpf_tests 1; }
  # dispatcher_test on 6.12: libxdp's dispatcher needs freplace
  # programs, which the CI host's kernel refuses (the test skips there),
  # so a guest is where `make test` runs synwatch beside xdp-filter.
  e2e_for() { case "$1" in 6.1) echo core_test ;; 6.12) echo dispatcher_test ;; *) echo "" ;; esac; }
  timeout=${SYNWATCH_KM_TIMEOUT:-720}
else
  # SYNWATCH_KM_BPF_PER_SUITE=N: only the first N tests of each suite.
  bpf_list_for() { bpf_tests "${SYNWATCH_KM_BPF_PER_SUITE:-0}"; }
  e2e_for() { case "$1" in 5.10) echo "" ;; *) echo core_test,port_scan_test,dispatcher_test ;; esac; }
  timeout=${SYNWATCH_KM_TIMEOUT:-14400}
fi

# SYNWATCH_KM_E2E=a,b: these end-to-end scripts on every kernel instead.
if [ -n "${SYNWATCH_KM_E2E+set}" ]; then
  e2e_for() { case "$1" in 5.10) echo "" ;; *) echo "$SYNWATCH_KM_E2E" ;; esac; }
fi

t0=$SECONDS
sh "$root/scripts/kernel-matrix-deps.sh"
bash "$here/rootfs.sh" "$build" "$out"
log "root file system ready in $((SECONDS - t0)) s"

QEMU_PID=""
cleanup() {
  if accel_is_qemu "$QEMU_PID"; then
    log "killing qemu (pid $QEMU_PID)"
    kill -KILL "$QEMU_PID" 2>/dev/null || true
  fi
  QEMU_PID=""
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

accel=$(accel_auto log)
accel_auto_chosen=1
if [ -n "${VM_ACCEL:-}" ]; then
  accel=$VM_ACCEL
  accel_auto_chosen=0
  log "accelerator $accel (VM_ACCEL: no fallback)"
fi

# boot LABEL DIR ACCEL: one guest, bounded by $timeout; 0 when guest.sh ran
# to its end (DIR/result.env has done=1).
boot() {
  local label=$1 dir=$2 acc=$3 release cpu start reason
  release=$(awk -v l="$label" '$1 == l { print $2 }' "$out/kernels.txt")
  [ -n "$release" ] || {
    log "$label: no such kernel in $out/kernels.txt"
    return 1
  }
  rm -rf "$dir"
  mkdir -p "$dir"
  # Too long for the kernel command line: the guest reads it from out.
  bpf_list_for "$label" >"$dir/bpf_tests.txt"
  if [ "$acc" = kvm ]; then cpu=host; else cpu=max acc=tcg,thread=multi; fi
  log "$label: boot $release ($acc, at most $timeout s)"
  start=$SECONDS
  # The guest has no NIC: its test traffic stays in its own namespaces.
  qemu-system-x86_64 \
    -accel "$acc" -cpu "$cpu" -smp "${VM_CPUS:-2}" -m "${VM_MEM:-1536}" \
    -kernel "$out/boot/vmlinuz-$release" -initrd "$out/boot/initrd.img-$release" \
    -append "root=/dev/vda rw console=ttyS0 loglevel=4 panic=-1 init=/sbin/kmatrix-init km.tree=$root km.build=$build km.e2e=$(e2e_for "$label")" \
    -drive "file=$out/rootfs.img,if=virtio,format=raw,snapshot=on" \
    -virtfs "local,path=$root,mount_tag=tree,security_model=none,readonly=on" \
    -virtfs "local,path=$build,mount_tag=build,security_model=none,readonly=on" \
    -virtfs "local,path=$dir,mount_tag=out,security_model=none" \
    -nic none -device virtio-rng-pci \
    -display none -monitor none -serial "file:$dir/console.log" -no-reboot \
    </dev/null >"$dir/qemu.log" 2>&1 &
  QEMU_PID=$!
  disown "$QEMU_PID"
  # Our own child: kill -0 until it exits (accel_is_qemu, which also checks
  # the command line, could still see bash before the exec).
  while kill -0 "$QEMU_PID" 2>/dev/null; do
    if [ "$acc" = kvm ] && reason=$(accel_kvm_error "$dir/qemu.log"); then
      log "$label: qemu reports a KVM failure ($reason)"
      echo "$reason" >"$dir/kvm-failed"
      break
    fi
    if [ $((SECONDS - start)) -ge "$timeout" ]; then
      log "$label: guest still running after $timeout s: killing it"
      break
    fi
    sleep 2
  done
  cleanup
  echo "$((SECONDS - start))" >"$dir/seconds"
  if grep -qx 'done=1' "$dir/result.env" 2>/dev/null; then
    log "$label: guest done in $((SECONDS - start)) s"
    return 0
  fi
  log "$label: guest did not finish ($((SECONDS - start)) s)"
  accel_tail "$label: guest serial console" "$dir/console.log" 30
  accel_tail "$label: guest.sh output" "$dir/guest.log" 30
  accel_tail "$label: qemu stderr" "$dir/qemu.log" 10
  return 1
}

# get DIR KEY: a value from DIR/result.env.
get() { { sed -n "s/^$2=//p" "$1/result.env" 2>/dev/null || true; } | head -n1; }

# bpf_results DIR: one line per BPF test, "passed|failed|skipped NAME"; a
# test that left no JSON (it crashed or hung) is failed.
bpf_results() {
  local name n=0
  while read -r name; do
    n=$((n + 1))
    if [ -s "$1/bpf/$n.json" ]; then
      jq -r --arg name "$name" '[.testsuites[].testsuite[]] | .[0] |
        (if ((.failures // []) | length) > 0 then "failed"
         elif .result == "SKIPPED" then "skipped" else "passed" end) + " " + $name' \
        "$1/bpf/$n.json"
    else
      echo "failed $name"
    fi
  done <"$1/bpf_tests.txt"
}

# known LABEL TEST: TEST is listed as failing on LABEL in known-failures.txt.
known() { grep -v '^#' "$here/known-failures.txt" | awk -v l="$1" -v t="$2" '$1 == l && $2 == t { f = 1 } END { exit !f }'; }

failures=0
rows=()
for label in $kernels; do
  dir=$out/runs/$label
  ok=0
  boot "$label" "$dir" "$accel" && ok=1
  if [ "$ok" = 0 ] && [ "$accel" = kvm ] && [ "$accel_auto_chosen" = 1 ] &&
    { [ -s "$dir/kvm-failed" ] || ! grep -q 'done=1' "$dir/result.env" 2>/dev/null; }; then
    log "$(accel_fallback_line "$(cat "$dir/kvm-failed" 2>/dev/null || echo "guest did not finish")")"
    accel=tcg
    boot "$label" "$dir" tcg && ok=1
  fi
  release=$(get "$dir" kernel)
  loads=$(get "$dir" loads)
  native=$(get "$dir" native)
  generic=$(get "$dir" generic)
  bpf_results "$dir" >"$dir/bpf-results.txt" 2>/dev/null || true
  passed=$(grep -c '^passed ' "$dir/bpf-results.txt" || true)
  skipped=$(grep -c '^skipped ' "$dir/bpf-results.txt" || true)
  failed=0 known_failed=0
  while read -r _ name; do
    if known "$label" "$name"; then
      known_failed=$((known_failed + 1))
      log "$label: known failure (known-failures.txt): $name"
    else
      failed=$((failed + 1))
      log "$label: BPF test failed: $name"
    fi
  done < <(grep '^failed ' "$dir/bpf-results.txt")
  failed_cell=$failed
  [ "$known_failed" = 0 ] || failed_cell="$failed (+$known_failed known)"
  e2e=""
  for name in $(e2e_for "$label" | tr , ' '); do
    e2e+="${e2e:+; }${name%_test}: $(get "$dir" "e2e_$name" | sed 's/^status [0-9]*: //')"
  done
  verdict=ok why=()
  if [ "$ok" = 0 ]; then
    why+=("the guest did not finish")
  elif [ "$label" = 5.10 ]; then
    # Older than synwatch needs: refuse, name the feature, attach nothing.
    [ "$loads" = refused ] || why+=("synwatch did not refuse with one line: native $native, generic $generic")
    refusal=$(get "$dir" refusal)
    [[ "$refusal" == *bpf_loop* ]] || why+=("the refusal does not name bpf_loop: $refusal")
    # Every test that loads the program skips with that line (the few
    # that load nothing pass); none fails.
    [ "$failed" = 0 ] && [ "$skipped" -gt 0 ] ||
      why+=("BPF suite: want the tests that load the program skipped and none failed, got $passed passed, $failed failed, $skipped skipped")
  else
    [ "$loads" = yes ] || why+=("does not load")
    [ "$native" = yes ] || why+=("native attach: $native")
    [ "$generic" = yes ] || why+=("generic attach: $generic")
    [ "$failed" = 0 ] && [ "$passed" -gt 0 ] ||
      why+=("BPF suite: $passed passed, $failed failed, $skipped skipped")
    for name in $(e2e_for "$label" | tr , ' '); do
      [[ "$(get "$dir" "e2e_$name")" == "status 0: "* ]] || why+=("e2e $name: $(get "$dir" "e2e_$name")")
    done
  fi
  if [ "${#why[@]}" -gt 0 ]; then
    verdict=FAIL
    failures=$((failures + 1))
    for w in "${why[@]}"; do log "$label: FAIL: $w"; done
    for f in "$dir"/bpf.log "$dir"/e2e-*.log "$dir"/attach-*.log; do
      [ -s "$f" ] && accel_tail "$label: $(basename "$f")" "$f" 25
    done
  fi
  rows+=("| $label | ${release:-?} | ${loads:-?} | ${native%% *} | ${generic%% *} | $passed / $failed_cell / $skipped | ${e2e:--} | $(cat "$dir/seconds" 2>/dev/null || echo ?) s | $verdict |")
done

mode=full
[ "$quick" = 1 ] && mode="quick (make test)"
{
  echo "Kernel matrix, $mode, accelerator $accel, $(date -u +%Y-%m-%d)"
  echo
  echo "| kernel | release | loads | native | generic | BPF suite passed / failed / skipped | end to end passed | time | verdict |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  refusal=$(get "$out/runs/5.10" refusal)
  if [ -n "$refusal" ] && [[ " $kernels " == *" 5.10 "* ]]; then
    echo
    echo "5.10: \`$refusal\`"
  fi
} >"$out/table.md"
echo
cat "$out/table.md"
log "kernel matrix ($mode): $failures of $(wc -w <<<"$kernels") kernels failed, $((SECONDS - t0)) s in all"
[ "$failures" = 0 ]
