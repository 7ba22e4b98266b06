"""A register version nothing reads is not computed (vm/x86/emit.py, Builder._drop_dead):
SETcc's byte merged into EAX, which MOVZX overwrites. A fault between the two must
still report EAX with the byte merged in: the fault record holds the expression.
The loop runs as a compiled block, then once more with its load's pointer unmapped.
Oracle: Unicorn (registers and flags at the faulting load)."""

from __future__ import annotations

import pytest
from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm

CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
DEFINED = 0x8D5

PROGRAM = """
        mov esi, 40
        mov ebx, 0x4000
top:    mov eax, [0x3000 + esi * 4]
        cmp eax, 0x10101010
        {setcc} al
        mov ecx, [ebx]
        movzx eax, al
        add edi, eax
        dec esi
        jnz top
        mov esi, 40
        mov ebx, {far:#x}
        jmp top
"""


@pytest.mark.parametrize("setcc", ["sete", "setne", "setl", "setbe"])
def test_fault_after_a_dead_setcc_merge_reports_the_merged_register(setcc):
    code = asm(PROGRAM.format(setcc=setcc, far=MEMORY + 0x1000), 32, CODE)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None       # (compiled blocks from the start)
    for i in range(41):
        data = (0x01010101 * i).to_bytes(4, "little")
        m.write(0x3000 + 4 * i, data)
        emu.mem_write(0x3000 + 4 * i, data)
    stop = m.run(100_000)
    assert stop.reason == "fault"
    try:
        emu.emu_start(CODE, 0xFFFFFFF0)
    except Exception:       # unicorn.UcError: the registers are at the fault
        pass
    assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED)
    assert m.reg("eax") >> 8 == 0x282828    # (the loaded 0x28282828, SETcc's byte merged)
