"""How a BIOS-personality run ends when ``Machine.run`` raises: one report line (with the
registers where they help) and the exit status, the same for boot sectors (vm/pc/runner)
and the PC (vm/pc/system)."""

from __future__ import annotations

from typing import Callable, Optional

from formats.envswitch import env_switch
from vm.options import EXIT_INTERNAL, EXIT_STEP_LIMIT, EXIT_TIMEOUT, Deadline, TimedOut
from vm.pc.ivt import GuestFault
from vm.pc.services import ServiceStop
from vm.x86.faults import Unsupported
from vm.x86.signals import SIGILL
from vm.x86.state import CS, SEL


def here(m) -> str:
    """CS:IP as the user reads it: 16-bit offsets in real mode, 32-bit otherwise."""
    if m.cpu.real:
        return f"{m.cpu.r[SEL + CS]:04x}:{m.eip & 0xFFFF:04x}"
    return f"{m.cpu.r[SEL + CS]:04x}:{m.eip:08x}"


def limit_status(m, path: str, max_steps: Optional[int], deadline: Deadline, say: Callable,
                 dump: Callable, next_insn: Optional[Callable] = None) -> Optional[int]:
    """The exit status of a run that reached --max-steps (reported with the registers
    and, given ``next_insn``, the instruction it stopped before) or its time limit, else
    None: the run goes on."""
    if max_steps is not None and m.steps >= max_steps:
        after = f": {next_insn(m)}" if next_insn is not None else ""
        say(f"pyvm: {path}: stopped after {m.steps} instructions (--max-steps "
            f"{max_steps}); next: {here(m)}{after}", dump(m))
        return EXIT_STEP_LIMIT
    if deadline.expired:
        say(f"pyvm: {path}: {deadline.message()}")
        return EXIT_TIMEOUT
    return None


def exception_status(e: BaseException, m, path: str, say: Callable, dump: Callable,
                     deadline: Deadline) -> int:
    """Report ``e`` (raised by ``m.run`` or between two runs) and return the exit
    status; anything that is not an Exception (SystemExit...) goes on, as does
    everything under PYVM_DEBUG=1."""
    if isinstance(e, TimedOut):
        say(f"pyvm: {path}: {deadline.message()}")
        return EXIT_TIMEOUT
    if isinstance(e, GuestFault):
        e.restore(m)
        say(f"pyvm: {path}: {e.message}", dump(m))
        return e.status
    if isinstance(e, ServiceStop):
        if e.message:
            say(f"pyvm: {path}: {e.message}")
        return e.status
    if isinstance(e, Unsupported):
        say(f"pyvm: {path}: {e} (at {here(m)}; not supported by this emulator)", dump(m))
        return 128 + SIGILL
    if isinstance(e, KeyboardInterrupt):
        say(f"pyvm: {path}: interrupted at {here(m)}", dump(m))
        return 130
    if not isinstance(e, Exception) or env_switch("PYVM_DEBUG"):
        raise e
    # a bug in the emulator: say so, in one line
    say(f"pyvm: {path}: internal error at {here(m)}: {type(e).__name__}: {e} "
        "(a bug in pyvm; PYVM_DEBUG=1 shows the traceback)")
    return EXIT_INTERNAL
