"""The si_code and si_addr Linux puts in the siginfo of a signal a CPU exception in user
mode raises (arch/x86/kernel/traps.c, arch/x86/mm/fault.c, fpu__exception_code):

- a page fault: SEGV_ACCERR when a mapping covers the page (a write to a read-only
  page, any access to a PROT_NONE one), SEGV_MAPERR when none does; si_addr is the
  address faulted on. A shared file page past the file's end is SIGBUS BUS_ADRERR.
- #UD: ILL_ILLOPN, #DE: FPE_INTDIV, at the instruction; #MF (x87) and #XM (SSE): the
  first unmasked exception (invalid, divide, overflow, underflow/denormal, precision).
- a single step (#DB): TRAP_TRACE, INT1 (icebp): TRAP_BRKPT, at the next instruction.
- the others (#GP from a privileged instruction, a bad selector or INT n; INT3, INTO,
  BOUND): force_sig, si_code SI_KERNEL and no address.

The sigcontext's trapno and err (fault_frame): INT n other than INT3/INTO/INT1 (and
int 0x80) is #GP, err n*8+2, with EIP on the INT (a fault, not a trap); a page fault's
err is user|write|present (|instr for a fetch: a no-execute page, PT_GNU_STACK's stack),
present taken as "mapped and readable" for a write or fetch (Linux's bit says whether
the page was touched before: an untouched read-only page gives 6).
"""

from __future__ import annotations

from typing import Tuple

from vm.x86.faults import BP, DB, DE, GP, MF, OF, UD, MemoryFault, SoftwareInterrupt

SI_KERNEL = 0x80
SEGV_MAPERR, SEGV_ACCERR = 1, 2
BUS_ADRERR = 2
ILL_ILLOPN = 2
FPE_INTDIV = 1
FPE_FLTDIV, FPE_FLTOVF, FPE_FLTUND, FPE_FLTRES, FPE_FLTINV = 3, 4, 5, 6, 7
TRAP_BRKPT = 1


def fault_siginfo(proc, m, exc: BaseException, bus: bool) -> Tuple[int, int]:
    """(si_code, si_addr) of the signal for ``exc`` in ``proc`` (``bus``: a SIGBUS for
    a shared file page past the file's end)."""
    eip = m.cpu.eip
    if isinstance(exc, MemoryFault):
        addr = exc.address
        if bus:
            return BUS_ADRERR, addr
        asp = proc.aspace
        mapped = asp is not None and asp.is_mapped(addr, addr + 1)
        return (SEGV_ACCERR if mapped else SEGV_MAPERR), addr
    code = getattr(exc, "si_code", None)        # #XM (simd_fp), a single step's #DB
    if code is not None:
        return code, eip
    vector = getattr(exc, "vector", None)
    if isinstance(exc, SoftwareInterrupt):
        return (TRAP_BRKPT, eip) if vector == DB else (SI_KERNEL, 0)
    if vector == UD:
        return ILL_ILLOPN, eip
    if vector == DE:
        return FPE_INTDIV, eip
    if vector == MF:
        return _x87_code(m), eip
    return SI_KERNEL, 0


def _x87_code(m) -> int:
    """fpu__exception_code for #MF: from the status word's unmasked exceptions."""
    fpu = m.fpu()
    if fpu is None:
        return 0
    err = fpu.status & ~fpu.control & 0x3F
    if err & 0x01:
        return FPE_FLTINV
    if err & 0x04:
        return FPE_FLTDIV
    if err & 0x08:
        return FPE_FLTOVF
    if err & 0x12:
        return FPE_FLTUND
    return FPE_FLTRES if err & 0x20 else 0


def fault_frame(proc, m, exc: BaseException) -> Tuple[int, int]:
    """(trapno, err) of the sigcontext for ``exc``; an INT n taken as #GP puts EIP back
    on the instruction."""
    vector = getattr(exc, "vector", 0)
    if isinstance(exc, SoftwareInterrupt) and vector not in (BP, OF, DB):
        lin = getattr(exc, "lin", None)
        m.cpu.eip = (m.cpu.eip - 2 if lin is None else lin) & 0xFFFFFFFF   # (CD ib)
        return GP, vector << 3 | 2
    if isinstance(exc, MemoryFault):
        fetch = getattr(exc, "fetch", False)
        err = 4 | (2 if exc.write else 0) | (0x10 if fetch else 0)  # USER, WRITE, INSTR
        asp = proc.aspace
        if (exc.write or fetch) and asp is not None and \
                asp.is_mapped(exc.address, exc.address + 1) and asp.prot[exc.address >> 12] & 7:
            err |= 1                            # X86_PF_PROT (see the module's note)
        return vector, err
    code = getattr(exc, "code", None)           # #GP(selector) and the like
    return vector, code or 0
