"""A trace's exits for self-modifying code (vm/x86/tracebuilder.py, vm/x86/smc.py): a
store into the trace's own code stops it before its next instruction (before the next
followed jump, which would leave a trace the store dropped through ``side_exit``); the
jumps after it check again only after another store. The loop below is a loop trace that stores
every iteration (to its data, and at iteration WRITE, some 6,500 instructions in, over
its own code: the immediate at ``patch``), with a flag-setting instruction between the
store and the jump after it, and a second jump with no store between. Oracle: Unicorn,
running the same bytes, compared at step counts before, around and after the write."""

from __future__ import annotations

import struct
import sys

import pytest
from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm

from vm.x86 import compiler, traces
from vm.x86.smc import stop_running

CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
DEFINED = 0xC5
WRITE = 300

LOOP = """
        xor esi, esi
        xor edi, edi
        mov ebx, 0x12345
top:    imul ebx, ebx, 1103515245
        add ebx, 12345
        cmp esi, {write}
        sete cl
        movzx ecx, cl
        imul ecx, ecx, patch + 2 - 0x9000
        mov [0x9000 + esi * 4 + 0x100], edi
        mov byte [0x9000 + ecx], 0x66
        add edi, ebx
        jmp .a
.a:     adc edi, 0
        mov eax, ebx
        jmp .b
.b:     shr eax, 16
        test eax, 0x100
        jz .c
        sub edi, eax
.c:     rol edi, 5
patch:  xor edi, 0x55
        inc esi
        cmp esi, 900
        jne top
done:   int3
labels: dd patch, done
"""


@pytest.fixture
def sampling(monkeypatch):
    monkeypatch.setattr(traces, "SAMPLE", 23)         # samples from the start, often
    monkeypatch.setattr(traces, "BACKOFF", 1)


def test_code_written_inside_a_trace_leaves_it_with_the_exact_state(sampling, monkeypatch):
    # (the write stops the trace before its next instruction, vm/x86/smc.py, before the
    # jump's ALIVE check could: the running blocks it stopped)
    stopped = []

    def spy(blocks, dead):
        f = sys._getframe(1)
        while f is not None and f.f_code.co_name != "_blk":
            f = f.f_back
        if f is not None:
            stopped.append(f.f_locals.get("META"))
        stop_running(blocks, dead)

    monkeypatch.setattr(compiler, "stop_running", spy)
    code = asm(LOOP.format(write=WRITE), 32, CODE)
    patch, done = struct.unpack_from("<2I", code, len(code) - 8)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None       # (cold) real blocks from the start
    steps = 0
    # step counts landing before, at and after the write, each compared with Unicorn
    for n in (2000, 3000, 1, 3, 7, 500, 700, 2000):
        assert m.run(n).reason == "limit"
        emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), 0xFFFFFFF0, count=m.steps - steps)
        steps = m.steps
        assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED), f"after {steps}"
        if n == 3000:
            assert any(fn.meta.trace and fn.meta.loop for fn in m.tr.cache.values()), \
                "no loop trace: the write would not land in one"
            monkeypatch.setattr(traces, "SAMPLE", 0)  # (no recording runs it instead)
    assert m.run(1_000_000).reason == "fault" and m.eip == done + 1
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), done)     # (Unicorn stops before int3)
    assert {**pyvm_state(m, DEFINED), "eip": done} == unicorn_state(emu, X, DEFINED)
    assert m.read(0x9000, 0x1000) == bytes(emu.mem_read(0x9000, 0x1000))
    assert m.read(patch + 2, 1) == b"\x66"
    assert any(meta is not None and meta.trace and meta.loop for meta in stopped), \
        "the write did not stop the loop trace"
