"""A switch dispatch loop's trace starts where its cases join, not in a case (traces._closed).

An interpreter's loop comes back to its dispatch by an indirect jump (jmp [table + eax*4]),
and its cases join at one label before it. A sample landing in a case body that runs
again before long (the same opcode twice) found a loop from that case back to itself:
the trace was headed there, entered only when the dispatch chose that case, and the other
cases left it at once (interp with the bench's input: 28k dispatches or 241k, by where
the guest's environment size made the samples land). Such a loop starts at the first
direct branch's target of its path instead: the join. The run stays exact: Unicorn."""

from __future__ import annotations

import struct

from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm

from vm.x86 import codecache, traces

CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
DEFINED = 0xC5

# a bytecode of 0..3 (mostly 1: the same case twice in a row, often); esi the pc
SWITCH = """
        xor esi, esi
        xor edi, edi
        mov ebx, 7
disp:   movzx eax, byte [prog + esi]
        inc esi
        cmp eax, 4
        jae done
        jmp [table + eax * 4]
c0:     add edi, ebx
        rol edi, 1
        jmp join
c1:     lea edi, [edi + edi * 2 + 1]
        xor edi, 0x55
        jmp join
c2:     sub edi, esi
        ror edi, 3
        jmp join
c3:     xor esi, esi
join:   mov [0x9000 + eax * 4], edi
        dec ebx
        jnz disp
        mov ebx, 7
        jmp disp
done:   int3
table:  dd c0, c1, c2, c3
labels: dd c0, c1, c2, c3
prog:   db 1, 1, 0, 1, 1, 2, 1, 1, 1, 0, 1, 2, 1, 1, 0, 1, 1, 1, 2, 1, 3, 4
"""


def test_a_switch_loop_trace_starts_at_the_join_not_in_a_case(monkeypatch):
    monkeypatch.setattr(codecache, "_opened", True)     # (no warm cache: traces built)
    monkeypatch.setattr(codecache, "_cache", None)
    code = asm(SWITCH, 32, CODE)
    cases = set(struct.unpack_from("<4I", code, len(code) - 22 - 16))   # (labels)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None       # (cold) real blocks from the start
    monkeypatch.setattr(traces, "BACKOFF", 1)
    heads = set()
    # samples at many points of the program's period: none heads a loop in a case
    for every in (19, 23, 29, 31, 37, 41, 43, 47, 53, 59):
        monkeypatch.setattr(traces, "SAMPLE", every)
        m.tr.flush()
        for _ in range(20):
            assert m.run(211).reason == "limit"
        heads |= {fn.meta.key for fn in m.tr.cache.values()
                  if fn.meta.trace and fn.meta.loop}
    assert heads, "no loop trace"
    assert not heads & cases, f"loop traces headed in a case: {sorted(map(hex, heads & cases))}"
    emu.emu_start(CODE, 0xFFFFFFF0, count=m.steps)
    assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED)
