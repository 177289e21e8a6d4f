#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The dispatcher row of `make bench`: per-packet cost through libxdp's
# dispatcher against direct attach, in one run (tests/bench/tools/
# dispatcher_bench.cc), in namespaces and a BPF filesystem of its own.
# Run by tests/bench/run.sh on the host, or, where the host kernel refuses
# the dispatcher's extension programs, inside a kernel matrix guest
# (tests/kernel-matrix/guest.sh runs it as "bench_dispatcher").
#
#   tests/bench/dispatcher.sh path/to/synwatch
#
# Prints "dispatcher_bench: {JSON}" on stdout; exit status 77 when the kernel
# refuses libxdp's dispatcher. Knobs: BENCH_DISPATCHER_RUNS (11),
# BENCH_DISPATCHER_REPEAT (1000000; 200000 in a kernel matrix guest).
set -uo pipefail
BIN="$(realpath "${1:?usage: dispatcher.sh path/to/synwatch}")"
HERE="$(dirname "$(realpath "$0")")"
TOOL="$(dirname "$BIN")/tests/bench/dispatcher_bench"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/../e2e/lib.sh"

runs=11 repeat=1000000
if grep -q 'km\.tree=' /proc/cmdline; then repeat=200000; fi
runs="${BENCH_DISPATCHER_RUNS:-$runs}"
repeat="${BENCH_DISPATCHER_REPEAT:-$repeat}"

if [ ! -x "$TOOL" ]; then
  echo "dispatcher.sh: $TOOL missing (tests/bench/run.sh builds it: SYNWATCH_BENCH=ON)" >&2
  exit 1
fi
sandbox_up
bpffs_up
rc=0
srv env LIBXDP_BPFFS="$SW_BPFFS" "$TOOL" --direct lo --dispatcher sw-srv \
  --runs "$runs" --repeat "$repeat" >"$SW_TMP/out.json" 2>"$SW_TMP/err" || rc=$?
cat "$SW_TMP/err" >&2
if [ "$rc" -eq 0 ]; then
  echo "dispatcher_bench: $(cat "$SW_TMP/out.json")"
  echo "1 passed, 0 failed"
fi
exit "$rc"
