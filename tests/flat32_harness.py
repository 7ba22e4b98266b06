"""One flat 32-bit program in pyvm and in Unicorn, and their registers side by side:
the set-up the x86 engine tests that compare the two share (tier0, traces, stack path)."""

from __future__ import annotations

from conftest import require_module

from vm.x86.machine import Machine

REGS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip")


def unicorn(code: bytes, code_at: int, esp: int, memory: int):
    """Unicorn with ``memory`` bytes mapped from 0 and ``code`` at ``code_at``: (emu, its
    x86 constants)."""
    uc = require_module("unicorn")
    from unicorn import x86_const as X
    emu = uc.Uc(uc.UC_ARCH_X86, uc.UC_MODE_32)
    emu.mem_map(0, memory)
    emu.mem_write(code_at, code)
    emu.reg_write(X.UC_X86_REG_ESP, esp)
    emu.reg_write(X.UC_X86_REG_EIP, code_at)
    return emu, X


def pyvm(code: bytes, code_at: int, esp: int, memory: int) -> Machine:
    """The same program in a flat 32-bit Machine."""
    m = Machine("flat32", memory)
    m.load(code_at, code)
    m.set_reg("esp", esp)
    m.set_reg("eip", code_at)
    return m


def unicorn_state(emu, X, defined: int) -> dict:
    """The registers and the ``defined`` flags of Unicorn."""
    out = {n: emu.reg_read(getattr(X, f"UC_X86_REG_{n.upper()}")) for n in REGS}
    out["flags"] = emu.reg_read(X.UC_X86_REG_EFLAGS) & defined
    return out


def pyvm_state(m: Machine, defined: int) -> dict:
    """The registers and the ``defined`` flags of pyvm."""
    out = {n: m.reg(n) for n in REGS}
    out["flags"] = m.reg("eflags") & defined
    return out
