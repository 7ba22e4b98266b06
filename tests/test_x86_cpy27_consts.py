"""A register holding a constant is that constant in flat-mode blocks (vm/x86/emit.py,
Builder.set), and a sum of constants is folded (Builder._narrow): a position-independent
base (``call``/``pop`` or a thunk's ``mov ebx, [esp]``, forwarded from the pushed return
address) plus an offset becomes a literal address, and the loads, stores and flags
through it are over literals. The loop below takes such a base each iteration, loads,
stores (aligned, misaligned, bytes, a scaled index that is constant too), wraps a
constant sum past 2**32 (its carry read by ADC), and writes its own code through a
constant address; it ends with a load past memory (a fault) with constant registers.
Run as plain blocks, as traces, and under step limits that stop it mid-block (there
writing data, not code).
Oracle: Unicorn running the same bytes (registers, flags, memory)."""

from __future__ import annotations

import pytest
from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm

from vm.x86 import traces

CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
DATA = 0x3000
ROUNDS = 60
DEFINED = 0x8D5     # OF SF ZF AF PF CF

# (an f-string with one field left for _run: what the byte store writes)
PROGRAM = f"""
        mov dword [{DATA}], 0x01020304
        mov dword [{DATA + 4}], 0x7ffffff0
top:    call .pc
.pc:    pop ebx                         ; ebx: the return address (a constant)
        add ebx, {DATA} - .pc           ; a constant sum: DATA
        mov eax, [ebx]
        add eax, [ebx + 4]
        mov [ebx + 8], eax
        movzx edx, byte [ebx + 1]
        mov [ebx + 25], eax             ; misaligned
        add edx, [ebx + 25]
        mov edi, 0xfffffff0
        add edi, 0x20                   ; wraps to 0x10, CF set
        adc edx, 0
        lea ebp, [edi + 0xfffffff8]     ; 8
        mov [ebx + ebp * 4 + 16], edx   ; DATA + 48
        call thunk
        add esi, {DATA} + 64 - .back
.back:  mov [esi + 4], ebx
        mov al, [ebx + 12]
        mov [ebx + {{target}}], al       ; this iteration's immediate below (or data)
patch:  add edx, strict byte 0x11
        mov [ebx + 20], edx
        inc dword [ebx + 12]
        cmp dword [ebx + 12], {ROUNDS}
        jne top
        mov ecx, 0x12345678
        mov eax, [ebx + 0x200000]       ; past memory: a fault
        int3

thunk:  mov esi, [esp]
        ret
"""


def _compare(m, emu, X, steps: int) -> None:
    assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED), f"after {steps}"
    assert m.read(DATA, 128) == bytes(emu.mem_read(DATA, 128)), f"after {steps}"


def _run(chunks, smc: bool = True) -> None:
    target = f"patch + 2 - {DATA}" if smc else "24"
    code = asm(PROGRAM.format(target=target), 32, CODE)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None           # (compiled blocks from the start)
    steps = 0
    for n in chunks:
        assert m.run(n).reason == "limit"
        emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), 0xFFFFFFF0, count=m.steps - steps)
        steps = m.steps
        _compare(m, emu, X, steps)
    assert m.run(1_000_000).reason == "fault"
    try:
        emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), 0xFFFFFFF0)
    except Exception:           # unicorn.UcError: the registers are at the fault
        pass
    _compare(m, emu, X, m.steps)
    assert m.reg("ecx") == 0x12345678 and m.reg("ebx") == DATA
    assert m.read(DATA + 12, 4) == ROUNDS.to_bytes(4, "little")


def test_constant_registers_in_plain_blocks(monkeypatch):
    monkeypatch.setattr(traces, "SAMPLE", 0)          # no traces
    _run([])


def test_constant_registers_in_traces(monkeypatch):
    monkeypatch.setattr(traces, "SAMPLE", 23)         # samples from the start, often
    monkeypatch.setattr(traces, "BACKOFF", 1)
    _run([])


@pytest.mark.parametrize("first", [3, 17, 250, 401])
def test_constant_registers_under_step_limits(first, monkeypatch):
    monkeypatch.setattr(traces, "SAMPLE", 0)
    # (no code written: Unicorn's count of instructions goes wrong where a write
    # restarts its translation block)
    _run([first, 5, 1, 29, 300, 7], smc=False)
