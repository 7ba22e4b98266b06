"""Code that writes just ahead of itself, instruction after instruction, costs a block
per pass, not a block per instruction (vm/x86/compiler.py ``Translator.fence``).

Each instruction of the loop body stores into the instruction at ``patch`` further down
the same block (smc.py stops the block before its next instruction): the block then made
where it stops must end before the bytes written, or it is stopped again at once and the
run translates one long block per instruction executed (random bytes run as a .COM took
a minute for 20,000 instructions); and the block at the loop's start, made again each
pass, must end before them too, or it is two or three blocks a pass. Oracle: Unicorn running the same bytes (registers,
memory, instruction count); the translations are counted by a spy on ``_build``."""

from __future__ import annotations

import pytest
from conftest import require_module
from test_x86_cpu_asm import asm
from test_x86_smc26 import _both, _compare

from vm.x86 import compiler

STORES, PASSES = 30, 40

# each pass adds STORES to the immediate at patch + 2 (one store per instruction, all
# into the same byte ahead), then runs the patched instruction
BODY = """
        mov ecx, {passes}
        xor eax, eax
top:{stores}
patch:  db 0x83, 0xC0, 1          ; add {a}, strict byte 1
        dec ecx
        jnz top
"""


def _src(bits: int) -> str:
    a = "eax" if bits == 32 else "ax"
    # (83 C0 ib: `add eax/ax, imm8`, its immediate at patch + 2; raw bytes, as the test
    # helper assembler takes no `strict byte`)
    return BODY.format(passes=PASSES, a=a,
                       stores="\n        add byte [patch + 2], 1" * STORES)


@pytest.fixture
def builds(monkeypatch):
    """The plain blocks translated (traces are not counted)."""
    n = [0]
    real = compiler.Translator._build

    def spy(self, key, single, loop_mode, *a, **k):
        if not loop_mode and k.get("path") is None and (len(a) < 3 or a[2] is None):
            n[0] += 1
        return real(self, key, single, loop_mode, *a, **k)

    monkeypatch.setattr(compiler.Translator, "_build", spy)
    return n


def _expected_eax() -> int:
    # pass p (from 1) runs `add eax, 1 + STORES * p` (a byte, sign-extended)
    return sum((1 + STORES * p + 0x80 & 0xFF) - 0x80 for p in range(1, PASSES + 1))


def _few(n: int) -> None:
    # a block per instruction would be ~STORES * PASSES (1,200); the patched instruction's
    # block each pass is what it takes (the stores' block, ending before it, is kept)
    assert n <= PASSES + 10, f"{n} blocks translated for {PASSES} passes"


def test_flat32_writing_ahead_each_instruction(builds):
    m, emu, X, code = _both(_src(32))
    _compare(m, emu, X, code)
    assert m.reg("eax") == _expected_eax() & 0xFFFFFFFF
    _few(builds[0])


def test_real_mode_writing_ahead_each_instruction(builds):
    uc = require_module("unicorn")
    from unicorn import x86_const as X

    from vm.x86.machine import Machine
    code = asm(_src(16) + "\n        hlt\n", 16, 0x7C00)
    done = 0x7C00 + len(code) - 1
    emu = uc.Uc(uc.UC_ARCH_X86, uc.UC_MODE_16)
    emu.mem_map(0, 1 << 20)
    emu.mem_write(0x7C00, code)
    seen = [-1]     # (a store into later code of its block shows twice in the hook)
    emu.hook_add(uc.UC_HOOK_CODE,
                 lambda u, addr, size, _: seen.append(addr) if addr != seen[-1] else None)
    emu.emu_start(0x7C00, done)
    m = Machine("real")
    m.load(0x7C00, code)
    m.set_segment("cs", 0)
    m.set_reg("eip", 0x7C00)
    assert m.run(100_000).reason == "halt"
    assert m.steps == len(seen)         # (the hlt too)
    regs = ("eax", "ebx", "ecx", "edx", "esi", "edi")
    assert {n: m.reg(n) for n in regs} == \
        {n: emu.reg_read(getattr(X, f"UC_X86_REG_{n.upper()}")) for n in regs}
    assert m.read(0x7C00, len(code)) == bytes(emu.mem_read(0x7C00, len(code))) != code
    assert m.reg("eax") == _expected_eax() & 0xFFFF
    _few(builds[0])
