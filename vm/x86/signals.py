"""How a CPU fault ends a program: the signal a Unix kernel would send for each exception
vector (the exit status is 128 + that signal, as a shell reports a killed process) and
the one-line report that names it. Every x86 personality (Linux, flat, DOS, BIOS) uses
these."""

from __future__ import annotations

from vm.x86.faults import (
    AC,
    BP,
    BR,
    DB,
    DE,
    GP,
    MF,
    NP,
    OF,
    PF,
    SS,
    TS,
    UD,
    XM,
    MemoryFault,
    SoftwareInterrupt,
)
from vm.x86.machine import Machine
from vm.x86.trace import disassemble

SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV = 4, 5, 7, 8, 11

# fault vector -> (signal, what the message calls it): Linux's arch/x86/kernel/traps.c
# (#NP, #SS and #AC are SIGBUS there, #TS SIGSEGV)
SIGNALS = {DE: (SIGFPE, "divide error"), UD: (SIGILL, "invalid opcode"),
           BP: (SIGTRAP, "breakpoint"), DB: (SIGTRAP, "debug trap"),
           MF: (SIGFPE, "x87 floating-point error"),
           XM: (SIGFPE, "SIMD floating-point exception"), OF: (SIGSEGV, "overflow trap (into)"),
           BR: (SIGSEGV, "bound range exceeded"), GP: (SIGSEGV, "general protection fault"),
           TS: (SIGSEGV, "invalid TSS"), NP: (SIGBUS, "segment not present"),
           SS: (SIGBUS, "stack segment fault"), AC: (SIGBUS, "alignment check"),
           PF: (SIGSEGV, "memory fault")}
SIGNAL_NAMES = {SIGILL: "SIGILL", SIGTRAP: "SIGTRAP", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE",
                SIGSEGV: "SIGSEGV"}


def fault_report(m: Machine, e: BaseException) -> tuple:
    """(exit status, message line) for a fault that ends the process."""
    cpu = m.cpu
    insn = getattr(e, "insn", None)
    if insn is None:
        try:
            from asm.x86.decoder import decode
            insn = decode(m.mem.data, cpu.eip, 32, cpu.eip)
        except Exception:
            insn = None
    text = disassemble(insn, 32)
    if isinstance(e, SoftwareInterrupt):
        sig = SIGTRAP if e.vector in (BP, DB) else SIGSEGV
        what = {BP: "breakpoint (int3)", DB: "debug trap (int1)",
                OF: "overflow trap (into)"}.get(e.vector, f"int 0x{e.vector:02x} has no handler")
        at = getattr(e, "lin", None)
        at = cpu.eip if at is None else at
    else:
        sig, what = SIGNALS.get(e.vector, (SIGSEGV, str(e)))
        at = cpu.eip
        if isinstance(e, MemoryFault):
            what = str(e)
        elif e.vector in (UD, GP) and str(e) and str(e) not in what:
            what = f"{what}: {e}"
    line = f"{what} ({SIGNAL_NAMES[sig]}) at 0x{at:08x}: {text}"
    return 128 + sig, line
