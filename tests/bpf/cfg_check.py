#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks a BPF object against the control-flow rule of older verifiers.

Linux up to 6.3 (Debian 12 ships 6.1) rejects, before verifying anything, a
loop whose closing edge is the fall-through of a non-jump instruction
("back-edge from insn X to Y"), even for CAP_BPF loaders; only jump edges may
close a loop. Newer kernels accept both, so tests on a new host kernel cannot
see the problem. This walks every function of the object the way 6.1's
check_cfg() does (a depth-first search where fall-through edges of non-jump
instructions may not reach an instruction still on the stack) and fails with
the offending instructions and source lines.

usage: cfg_check.py OBJECT.bpf.o
"""
import re
import subprocess
import sys

INSN = re.compile(r"^\s*(\d+):\s+(.*)$")
GOTO = re.compile(r"goto ([+-]\d+)")


def functions(obj):
    """Yields (name, [(index, text)]) per function of the executable sections."""
    out = subprocess.run(
        ["llvm-objdump", "-d", "-l", "--no-show-raw-insn", obj],
        check=True, capture_output=True, text=True).stdout
    name, insns, line = None, [], ""
    for raw in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.+)>:$", raw)
        if m and m.group(1).startswith("LBB"):
            continue  # a branch label inside the current function
        if m:
            if name is not None:
                yield name, insns
            name, insns = m.group(1), []
            continue
        if raw.startswith(";") and name is not None:
            line = raw.strip()
            continue
        m = INSN.match(raw)
        if m and name is not None:
            insns.append((int(m.group(1)), m.group(2).strip(), line))
    if name is not None:
        yield name, insns


def edges(idx, text, nxt):
    """(target, loop_ok) pairs of one instruction, as 6.1's visit_insn()."""
    if text == "exit":
        return []
    m = GOTO.search(text)
    if m:
        target = idx + int(m.group(1)) + 1
        if text.startswith("goto"):
            return [(target, True)]
        return [(nxt, True), (target, True)]
    return [(nxt, False)]  # ALU, loads, stores, calls: plain fall-through


def check(name, insns):
    by_index = {i: (t, l) for i, t, l in insns}
    order = [i for i, _, _ in insns]
    following = {order[k]: (order[k + 1] if k + 1 < len(order) else None)
                 for k in range(len(order))}
    state = {}  # index -> 1 on stack, 2 done
    problems = []
    stack = [(order[0], iter(edges(order[0], by_index[order[0]][0],
                                   following[order[0]])))]
    state[order[0]] = 1
    while stack:
        t, it = stack[-1]
        advanced = False
        for w, loop_ok in it:
            if w is None or w not in by_index:
                continue
            if state.get(w) == 1 and not loop_ok:
                problems.append((t, w))
            elif w not in state:
                state[w] = 1
                stack.append((w, iter(edges(w, by_index[w][0], following[w]))))
                advanced = True
                break
        if not advanced:
            state[t] = 2
            stack.pop()
    for t, w in problems:
        print(f"{name}: back-edge from insn {t} to {w} by fall-through "
              f"(rejected by Linux < 6.4):\n  {t}: {by_index[t][0]}   {by_index[t][1]}"
              f"\n  {w}: {by_index[w][0]}   {by_index[w][1]}")
    return not problems


def main():
    ok = True
    count = 0
    for name, insns in functions(sys.argv[1]):
        if insns:
            count += 1
            ok &= check(name, insns)
    print(f"cfg_check: {count} functions, {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
