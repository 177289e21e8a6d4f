#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Linux 6.1 (Debian 12) refuses a program whose call chain needs more than
# 512 bytes of stack, counting every frame rounded up to 32 bytes ("combined
# stack size of N calls is M. Too large"); newer kernels count differently,
# so the host's verifier cannot see it. Loads the object with the verifier's
# log, reads the per-function stack depths, and checks their rounded sum (an
# upper bound of any chain) against 512.
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
total=0
IFS=+ read -ra frames <<<"$depths"
for d in "${frames[@]}"; do
  [ "$d" -lt 1 ] && d=1
  total=$((total + (d + 31) / 32 * 32))
done
echo "stack_check: frames $depths, rounded sum $total (Linux 6.1 limit 512)"
[ "$total" -le 512 ]
