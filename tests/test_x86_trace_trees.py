"""Trace trees (vm/x86/traces.py, tracebuilder.py) with many paths: a switch of twelve
cases through a jump table in a loop, as a bytecode interpreter's dispatch, runs in one
trace (traces.MAX_PATHS), and step limits and single steps that land in any of its arms
stop with the exact state. Oracle: Unicorn."""

from __future__ import annotations

import struct

from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm

from vm.x86 import traces

CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
DEFINED = 0xC5


def _load(src: str, n: int) -> tuple:
    code = asm(src, 32, CODE)
    return code, struct.unpack_from(f"<{n}I", code, len(code) - 4 * n)


def _pair(code: bytes):
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None       # (cold) real blocks from the start
    emu.steps = 0
    return m, emu, X


def _same(m, emu, X) -> None:
    """Unicorn runs as many instructions as pyvm has (from its first run on), and their
    states agree."""
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), 0xFFFFFFF0, count=m.steps - emu.steps)
    emu.steps = m.steps
    assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED), f"after {m.steps}"


# a switch of twelve cases through a jump table in a loop (a bytecode interpreter's
# dispatch): every case is a path of the loop's trace tree, none left to the dispatcher
SWITCH = """
        xor esi, esi
        xor edi, edi
        mov ebx, 1
top:    mov eax, esi
        xor edx, edx
        mov ecx, 12
        div ecx
        jmp [table + edx * 4]
c0:     add edi, 1
        jmp next
c1:     sub edi, 3
        jmp next
c2:     xor edi, 0x55
        jmp next
c3:     rol edi, 3
        jmp next
c4:     imul edi, edi, 5
        jmp next
c5:     add edi, ebx
        jmp next
c6:     shr edi, 1
        jmp next
c7:     lea edi, [edi + esi * 2]
        jmp next
c8:     not edi
        jmp next
c9:     add ebx, edi
        jmp next
c10:    xor ebx, esi
        jmp next
c11:    neg edi
next:   mov [0x9000 + esi * 4], edi
        inc esi
        cmp esi, 1200
        jne top
done:   int3
table:  dd c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11
labels: dd top, done
"""


def test_a_switch_of_twelve_cases_runs_in_one_trace(monkeypatch):
    code, (top, done) = _load(SWITCH, 2)
    m, emu, X = _pair(code)
    monkeypatch.setattr(traces, "SAMPLE", 23)         # samples from the start, often
    monkeypatch.setattr(traces, "BACKOFF", 1)
    # runs of odd lengths (most end inside the tree, in one case's arm or another), and
    # single steps, each compared with Unicorn
    def most() -> int:
        return max(len(getattr(fn.meta, "paths", ())) for fn in m.tr.cache.values())

    assert m.run(3000).reason == "limit"
    assert most() >= 8, "the tree is not grown yet: the runs below would not test it"
    for n in [1, 5, 40, 3, 97, 13, 250, 7, 64, 31, 500, 11, 29, 120] + [1] * 40:
        assert m.run(n).reason == "limit"
        _same(m, emu, X)
    assert m.run(1_000_000).reason == "fault" and m.eip == done + 1
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), done)
    assert dict(pyvm_state(m, DEFINED), eip=done) == unicorn_state(emu, X, DEFINED)
    assert m.read(0x9000, 4800) == bytes(emu.mem_read(0x9000, 4800))
    assert most() >= 12, f"the loop's trace got {most()} paths"
