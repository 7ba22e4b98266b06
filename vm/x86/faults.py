"""What can stop an instruction: CPU exceptions (delivered through the IVT in real mode,
turned into signals by the Linux personality) and the emulator's own stop reasons."""

from __future__ import annotations

from typing import Optional

# exception vectors
DE, DB, BP, OF, BR, UD, NM, SS, GP, PF, MF = 0, 1, 3, 4, 5, 6, 7, 12, 13, 14, 16
XM = 19              # SIMD floating-point exception (vm/x86/simd_fp.py)
DF, TS, NP, AC = 8, 10, 11, 17

VECTOR_NAMES = {DE: "divide error", DB: "debug trap", BP: "breakpoint", OF: "overflow",
                BR: "bound range exceeded", UD: "invalid opcode", NM: "no coprocessor",
                SS: "stack fault", GP: "general protection fault", PF: "memory fault",
                MF: "x87 floating-point error", DF: "double fault", TS: "invalid TSS",
                NP: "segment not present", AC: "alignment check"}
VECTOR_NAMES[XM] = "SIMD floating-point exception"


class CPUException(Exception):
    """A fault raised by an instruction before it completes: state is as it was before
    the instruction (the pushed IP in real mode is the faulting instruction's)."""
    completed = False

    def __init__(self, vector: int, message: str = "", code: Optional[int] = None):
        super().__init__(message or VECTOR_NAMES.get(vector, f"exception {vector}"))
        self.vector = vector
        self.code = code


class MemoryFault(CPUException):
    """An access to unmapped memory or a write to a read-only page; ``fetch``: an
    instruction fetch (an unmapped or no-execute page: the page fault's err bit 0x10)."""

    def __init__(self, address: int, write: bool, size: int = 1, fetch: bool = False):
        kind = "executing" if fetch else "writing" if write else "reading"
        super().__init__(PF, f"memory fault {kind} 0x{address & 0xFFFFFFFF:08x}")
        self.address = address & 0xFFFFFFFF
        self.write = write
        self.size = size
        self.fetch = fetch


class TripleFault(CPUException):
    """Protected mode: an exception while delivering a double fault (a real PC would
    reset). ``chain`` lists the exceptions that led to it."""

    def __init__(self, chain: list):
        text = " -> ".join(f"{VECTOR_NAMES.get(e.vector, e.vector)}"
                           f"{'' if e.code is None else f'({e.code:#x})'}" for e in chain)
        super().__init__(GP, f"triple fault: {text}")
        self.chain = chain


class SoftwareInterrupt(CPUException):
    """INT n / INT3 / INTO / INT1 with no handler able to service it (flat mode): the
    instruction completed; the pushed/return address is the next instruction."""
    completed = True


class StopMachine(Exception):
    """Raised by an instruction that completed and wants the run loop to return."""
    completed = True


class Halted(StopMachine):
    """HLT executed (and nothing is going to wake the CPU)."""


class MachineExit(StopMachine):
    """The guest asked to end (a Linux exit system call)."""

    def __init__(self, status: int):
        super().__init__(f"exit {status}")
        self.status = status


class StepLimit(Exception):
    """The --max-steps budget ran out before the next instruction."""


class Unsupported(Exception):
    """A valid instruction this emulator does not implement (e.g. entering protected
    mode): reported to the user as an emulator limitation, not a guest fault."""
