#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Linux 6.1 (Debian 12) refuses a program whose call chain needs more than
# 512 bytes of stack, counting every frame rounded up to 32 bytes ("combined
# stack size of N calls is M. Too large"); newer kernels count differently,
# so the host's verifier cannot see it. Loads the object with the verifier's
# log, reads the per-function stack depths (in the order of the functions)
# and the calls between the functions (the translated program: a bpf_loop
# callback shows there as a call from the function that passes it, where
# 6.1 counts it too), and checks the rounded sum of every chain against 512.
set -euo pipefail
OBJ="${1:?usage: stack_check.sh OBJECT.bpf.o}"
PIN="/sys/fs/bpf/synwatch-stack-check-$$"
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
trap 'rm -f "$PIN"' EXIT
depths="$(bpftool -d prog load "$OBJ" "$PIN" 2>&1 | sed -n 's/^stack depth \([0-9+]*\)$/\1/p' | tail -n1)"
if [ -z "$depths" ]; then
  echo "stack_check: no 'stack depth' line in the verifier log (did the load fail?)" >&2
  exit 1
fi
# One line per function, in order: "name callee callee ...".
graph="$(bpftool prog dump xlated pinned "$PIN" | awk '
  /^[a-zA-Z_].*\(.*\):$/ { if (name != "") print name calls; sub(/\(.*/, ""); name = $NF; calls = ""; next }
  /\(85\) call pc[-+][0-9]+#/ { c = $0; sub(/.*#/, "", c); sub(/^bpf_prog_[0-9a-f]+_/, "", c); calls = calls " " c }
  END { if (name != "") print name calls }')"
echo "$graph" | awk -v depths="$depths" '
  BEGIN { n = split(depths, d, "+") }
  {
    f[NR] = $1
    for (i = 2; i <= NF; i++) callee[$1] = callee[$1] " " $i
  }
  function rounded(x) { if (x < 1) x = 1; return int((x + 31) / 32) * 32 }
  function deepest(fn, seen,   best, parts, k, c, s) {
    best = 0
    split(callee[fn], parts, " ")
    for (k in parts) {
      c = parts[k]
      if (c == "" || index(seen, " " c " ")) continue
      s = deepest(c, seen " " c " ")
      if (s > best) best = s
    }
    return frame[fn] + best
  }
  END {
    if (NR != n) { printf "stack_check: %d functions but %d stack depths\n", NR, n; exit 1 }
    for (i = 1; i <= NR; i++) frame[f[i]] = rounded(d[i])
    total = deepest(f[1], " " f[1] " ")
    printf "stack_check: frames %s (%s), deepest chain %d (Linux 6.1 limit 512)\n", depths, f[1], total
    for (i = 1; i <= NR; i++) printf "  %s: %d%s\n", f[i], frame[f[i]], callee[f[i]] == "" ? "" : ", calls" callee[f[i]]
    exit total > 512
  }'
