"""DOS .COM programs (``pyvm prog.com [ARGS]``): the PC's real-mode machine with DOS's
int 20h/21h services (vm/dos/kernel.py) over the BIOS.

Memory: the program's environment at 0FE0:0000 and its PSP at 1000:0000 with the program
at 1000:0100 (CS = DS = ES = SS, SP = FFFE over a zero word, so ``ret`` reaches the PSP's
``int 20h``). The run ends and reports as vm/pc/runner.py describes.
"""

from __future__ import annotations

from vm.dos.kernel import TABLES as DOS_TABLES
from vm.dos.kernel import DOSSystem, build_environment, build_psp, command_tail
from vm.options import RunOptions
from vm.pc.bios import BIOS
from vm.pc.bios import TABLES as BIOS_TABLES
from vm.pc.ivt import InterruptRouter
from vm.pc.runner import START_FLAGS, console_for, execute, fail
from vm.x86.machine import Machine

COM_PSP = 0x1000
COM_ENV = 0x0FE0
MAX_COM = 0x10000 - 0x100           # 65280 bytes: the PSP takes the first 256


class SetupError(ValueError):
    """A .COM program that cannot be started; the message says why."""


def setup_com(path: str, data: bytes, opts: RunOptions, stdin=None, stdout=None,
              stderr=None) -> tuple:
    """The machine of a .COM program, ready at 1000:0100: (machine, BIOS, DOS, output
    budget). Shared by the runner and the debugger (vm/debug/targets.py)."""
    if not data:
        raise SetupError("empty file: nothing to run")
    if len(data) > MAX_COM:
        raise SetupError(f"{len(data)} bytes is too large for a .COM program "
                         f"(at most {MAX_COM})")
    try:
        tail = command_tail(opts.args)
    except ValueError as e:
        raise SetupError(str(e)) from None
    m = Machine("real")
    console, budget = console_for(m, opts, stdin, stdout, stderr)
    bios = BIOS(m, console)
    dos = DOSSystem(m, console, bios, COM_PSP, budget=budget)
    dos.env = COM_ENV
    InterruptRouter(m, [(BIOS_TABLES, bios), (DOS_TABLES, dos)]).install()
    bios.install()
    m.write(COM_ENV * 16, build_environment(path))
    m.write(COM_PSP * 16, build_psp(COM_PSP, COM_ENV, tail))
    m.load(COM_PSP * 16 + 0x100, data)
    m.write(COM_PSP * 16 + 0xFFFE, b"\0\0")        # ret -> PSP:0000, int 20h
    for seg in ("cs", "ds", "es", "ss"):
        m.set_segment(seg, COM_PSP)
    for reg, value in (("ax", 0), ("bx", 0), ("cx", 0x00FF), ("dx", COM_PSP),
                       ("si", 0x0100), ("di", 0xFFFE), ("bp", 0x091C), ("sp", 0xFFFE),
                       ("ip", 0x0100), ("flags", START_FLAGS)):
        m.set_reg(reg, value)
    return m, bios, dos, budget


def run_com(path: str, data: bytes, opts: RunOptions, stdin=None, stdout=None,
            stderr=None) -> int:
    """Run a DOS .COM program; returns the exit status."""
    try:
        m, bios, dos, budget = setup_com(path, data, opts, stdin, stdout, stderr)
    except SetupError as e:
        return fail(path, str(e))
    try:
        return execute(m, path, opts, bios, budget)
    finally:
        dos.close_all()
