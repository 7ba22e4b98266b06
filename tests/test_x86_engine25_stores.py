"""A run of stack accesses through one page check (vm/x86/emit.py,
Builder._merge_accesses) tests the check once: when it fails, each access takes the
checked path on a line of its own instruction, so a fault in the middle of a push or
pop chain is that push's or pop's, with the registers before it. The loops below run
their pushes (pops) as a compiled loop block on a good stack, then once more with ESP
just above a read-only or unmapped page (below an unmapped one), where the second,
third or fourth access faults. Oracle: Unicorn (registers, flags, the faulting instruction, the stack page)."""

from __future__ import annotations

import pytest
from test_x86_stackpath import nasm, ours, run_uc, state, state_uc, unicorn

CHAIN = """
start:  mov ecx, 300
        mov eax, 0x11111111
        mov ebx, 0x22222222
        mov edx, 0x44444444
top:    push eax
        push ebx
        push ecx
        push edx
        add esp, 16
        dec ecx
        jnz top
        mov esp, {esp:#x}
        add eax, ebx
        jmp top
"""


@pytest.mark.parametrize("esp", [0x9004, 0x9008, 0x900C])
@pytest.mark.parametrize("readonly,unmapped", [((0x8000,), ()), ((), (0x8000,))])
def test_fault_inside_a_run_of_pushes_is_that_push(tmp_path, esp, readonly, unmapped):
    code = nasm(CHAIN.format(esp=esp), tmp_path)
    emu, X = unicorn(code, 0xA000, readonly, unmapped)
    m = ours(code, 0xA000, readonly, unmapped)
    m.tr.tier0 = None       # (compiled blocks from the start)
    stop = m.run(100_000)
    assert stop.reason == "fault"
    assert any(fn.meta.loop for fn in m.tr.cache.values()), "no loop block"
    assert run_uc(emu, X, 0xFFFFFFF0) is not None
    assert state(m) == state_uc(emu, X)
    assert m.read(0x9000, 0x1000) == bytes(emu.mem_read(0x9000, 0x1000))


POPS = """
start:  mov edx, 300
top:    pop eax
        pop ebx
        pop ecx
        pop esi
        sub esp, 16
        add edi, ecx
        dec edx
        jnz top
        mov esp, {esp:#x}
        jmp top
"""


@pytest.mark.parametrize("esp", [0x8FFC, 0x8FF8, 0x8FF4])
def test_fault_inside_a_run_of_pops_is_that_pop(tmp_path, esp):
    code = nasm(POPS.format(esp=esp), tmp_path)
    emu, X = unicorn(code, 0xA000, (), (0x9000,))
    m = ours(code, 0xA000, (), (0x9000,))
    m.tr.tier0 = None
    stop = m.run(100_000)
    assert stop.reason == "fault"
    assert any(fn.meta.loop for fn in m.tr.cache.values()), "no loop block"
    assert run_uc(emu, X, 0xFFFFFFF0) is not None
    assert state(m) == state_uc(emu, X)
