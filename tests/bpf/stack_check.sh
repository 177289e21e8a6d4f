#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Linux 6.1 (Debian 12) refuses a program whose call chain needs more than
# 512 bytes of stack, counting every frame rounded up to 32 bytes ("combined
# stack size of N calls is M. Too large"); newer kernels count differently,
# so the host's verifier cannot see it. Loads the object with the verifier's
# log, reads the functions (func#N @insn), their stack depths and the calls
# between them (a BPF-to-BPF call, or a callback's address loaded for
# bpf_loop(), which runs while its caller's frame is live), and checks the
# deepest chain from the program's entry, each frame rounded as 6.1 does,
# against 512.
set -euo pipefail
OBJ="${1:?usage: stack_check.sh OBJECT.bpf.o}"
PIN="/sys/fs/bpf/synwatch-stack-check-$$"
LOG="$(mktemp)"
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
trap 'rm -f "$PIN" "$LOG"' EXIT
bpftool -d prog load "$OBJ" "$PIN" >"$LOG" 2>&1 || true
python3 - "$LOG" <<'PY'
import re, sys
log = open(sys.argv[1]).read()
starts = [int(m) for m in re.findall(r"^func#\d+ @(\d+)$", log, re.M)]
depths = re.findall(r"^stack depth ([0-9+]+)$", log, re.M)
if not starts or not depths:
    sys.exit("stack_check: no function list or 'stack depth' line in the "
             "verifier log (did the load fail?)")
frames = [int(d) for d in depths[-1].split("+")]
if len(frames) != len(starts):
    sys.exit("stack_check: %d functions but %d stack depths" % (len(starts), len(frames)))
def func_of(insn):
    return max(i for i, s in enumerate(starts) if s <= insn)
edges = {i: set() for i in range(len(starts))}
for insn, off in re.findall(r"^\s*(\d+): (?:\S+ )?\(85\) call pc([+-]\d+)", log, re.M):
    edges[func_of(int(insn))].add(func_of(int(insn) + int(off) + 1))
for insn, imm in re.findall(r"^\s*(\d+): (?:\S+ )?\(18\) r\d = (0x[0-9a-f]+)\s+; .*=func\(\)", log, re.M):
    edges[func_of(int(insn))].add(func_of(int(insn) + int(imm, 16) + 1))
rounded = [(max(d, 1) + 31) // 32 * 32 for d in frames]
def deepest(f, seen=()):
    if f in seen:
        sys.exit("stack_check: recursion through function %d" % f)
    below = [deepest(g, seen + (f,)) for g in edges[f]]
    best = max(below, key=lambda c: c[0], default=(0, []))
    return (rounded[f] + best[0], [f] + best[1])
total, chain = deepest(0)
print("stack_check: frames %s, deepest chain %s = %d bytes rounded "
      "(Linux 6.1 limit 512)" % (depths[-1], " -> ".join("func#%d(%d)" % (f, frames[f]) for f in chain), total))
sys.exit(0 if total <= 512 else 1)
PY
