"""What a block's source loads at its entry (vm/x86/compiler.py ``_source``): the lazy
flags an earlier block left (``cpu.lz``) when its code reads them, e.g. a block that
starts with ``adc``/``sbb``/``jcc`` after an indirect jump. Oracle: Unicorn, running
the same bytes."""

from __future__ import annotations

from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm

CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
DEFINED = 0xC5

# each block ends in an indirect jump after setting the flags; the next one reads them
# first thing (CF through adc/sbb, ZF/SF/OF through a jcc and setcc)
PROGRAM = """
        xor esi, esi
        xor edi, edi
        mov ebx, 0x12345
top:    imul ebx, ebx, 1103515245
        add ebx, 12345
        mov eax, ebx
        shr eax, 7
        cmp eax, 0x00c00000
        jmp [t1]
b1:     adc edi, 0
        sbb edx, edx
        xor edi, edx
        sub eax, 0x00a00000
        jmp [t2]
b2:     jl .neg
        setg cl
        add edi, ecx
.neg:   seto cl
        lea edi, [edi + ecx * 4 + 1]
        inc esi
        cmp esi, 400
        jne top
        int3
t1:     dd b1
t2:     dd b2
"""


def test_blocks_that_start_by_reading_the_flags_match_unicorn():
    code = asm(PROGRAM, 32, CODE)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None       # real blocks from the start
    done = CODE + len(code) - 9         # (the int3 before the two jump targets)
    assert code[done - CODE] == 0xCC
    steps = 0
    for n in (50, 1, 7, 300, 2000):
        assert m.run(n).reason == "limit"
        emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), 0xFFFFFFF0, count=m.steps - steps)
        steps = m.steps
        assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED), f"after {steps}"
    assert m.run(1_000_000).reason == "fault" and m.eip == done + 1
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), done)
    assert {**pyvm_state(m, DEFINED), "eip": done} == unicorn_state(emu, X, DEFINED)


# a bit test whose loop runs thousands of times with no other flag writer between: each
# block starts from the flags of the bit test before (a KEEP_CF state) and must replace
# its CF, not nest another state over it (a RecursionError after ~1000 iterations)
BTS_LOOP = """
        xor eax, eax
top:    bts [0x10000], eax
        lea eax, [eax + 1]
        jc top
        lahf
        int3
"""


def test_a_long_run_of_bit_tests_matches_unicorn():
    code = asm(BTS_LOOP, 32, CODE)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    m = pyvm(code, CODE, STACK, MEMORY)
    ones = b"\xff" * 2000
    m.load(0x10000, ones)
    emu.mem_write(0x10000, ones)
    done = CODE + len(code) - 1
    assert m.run(1_000_000).reason == "fault" and m.eip == done + 1
    emu.emu_start(CODE, done)
    assert {**pyvm_state(m, DEFINED), "eip": done} == unicorn_state(emu, X, DEFINED)
    assert m.reg("eax") & 0xFFFF00FF == 2000 * 8 + 1 & 0xFFFF00FF    # (AH: lahf)
