"""A flush of the translations while a block runs stops that block before its next
instruction (vm/x86/compiler.py, Translator.flush through smc.stop_running), as a write
over its code does: flat-mode blocks check no ``ALIVE`` cell (emit.py), so nothing else
would make the rest of the block run as retranslated. The flush here comes from a write
hook's callback that adds a read hook (hooks.py: compiled loads must then report their
reads, and the blocks compiled before cannot). Expected: every read the instructions
after the hooked write make, in program order, with the values Unicorn's registers end
with (the oracle runs the same bytes)."""

from __future__ import annotations

import pytest
from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm

from vm.x86 import traces

CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
WATCHED, DATA = 0x6000, 0x5000
DEFINED = 0x8D5

PROGRAM = f"""
        mov dword [{DATA}], 0x11111111
        mov dword [{DATA + 4}], 0x22222222
        mov dword [{DATA + 8}], 0x33333333
        mov ecx, 3
top:    mov dword [{WATCHED}], ecx      ; the write hook adds the read hook (once)
        mov eax, [{DATA}]
        mov ebx, [{DATA + 4}]
        add eax, ebx
        jmp .a
.a:     mov edx, [{DATA + 8}]
        dec ecx
        jnz top
        int3
"""
# (address, value) of each read after the hooked write: three per iteration
READS = [(DATA, 0x11111111), (DATA + 4, 0x22222222), (DATA + 8, 0x33333333)] * 3


@pytest.mark.parametrize("sample", [0, 23])
def test_a_flush_from_a_hook_stops_the_running_block(sample, monkeypatch):
    monkeypatch.setattr(traces, "SAMPLE", sample)
    code = asm(PROGRAM, 32, CODE)
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None           # (compiled blocks from the start)
    reads = []

    def on_write(machine, addr, data):
        if not reads:
            reads.append(None)  # (a mark: the reads from here on)
            machine.hook_mem_read(lambda mm, a, n, v: reads.append((a, v)), DATA, DATA + 12)

    m.hook_mem_write(on_write, WATCHED, WATCHED + 4)
    assert m.run(10_000).reason == "fault"
    assert reads[1:] == READS
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    done = CODE + len(code) - 1
    emu.emu_start(CODE, done)       # (Unicorn stops before int3)
    assert {**pyvm_state(m, DEFINED), "eip": done} == unicorn_state(emu, X, DEFINED)
