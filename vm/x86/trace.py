"""``--trace``: one line per executed instruction (address, bytes, NASM-syntax text, the
registers it changed) and one per interrupt or system call."""

from __future__ import annotations

from typing import Optional, TextIO

from formats.outputs import CheckedOutput, OutputWriteError
from vm.x86.flags import flag_names
from vm.x86.state import GPR16, GPR32, SEL, SREGS


def disassemble(insn, bits: int) -> str:
    """NASM text for a decoded instruction (``db`` bytes when it has none)."""
    if insn is None:
        return "(bad)"
    from asm.x86.disasm import render
    try:
        text = render(insn, bits)
    except Exception:       # the disassembler must never take a trace down
        text = None
    return text or "db " + ", ".join(f"0x{b:02x}" for b in insn.raw)


def format_address(real: bool, cs: int, ip: int) -> str:
    return f"{cs:04x}:{ip:04x}" if real else f"{ip:08x}"


class TraceWriteError(OutputWriteError):
    """The trace could not be written (reported as any output pyvm cannot write)."""


class Tracer:
    """Writes the trace to a text stream."""

    def __init__(self, stream: TextIO):
        name = getattr(stream, "name", None)
        self.stream = CheckedOutput(stream, "the trace",
                                    name if isinstance(name, str) else "the trace stream",
                                    TraceWriteError)
        self.pending: Optional[list] = None     # events of the instruction being executed
        self.simd: Optional[tuple] = None       # XMM0-7 and MXCSR after the last instruction

    def begin(self) -> None:
        """An instruction starts: its events are printed under its line."""
        self.pending = []

    def instruction(self, machine, info, before: tuple, exc: Optional[BaseException]) -> None:
        cpu = machine.cpu
        regs0, flags0, eip0 = before
        real = cpu.real
        insn = info.insn
        raw = insn.raw if insn is not None else machine.mem.data[info.lin:info.lin + 1]
        text = disassemble(insn, cpu.bits)
        addr = format_address(real, regs0[SEL + 1], info.ip)
        changes = []
        if cpu.pm or getattr(self, "pm", None):     # protected mode: CS:EIP, CPL, CRn
            addr = f"{regs0[SEL + 1]:04x}:{info.ip:08x}"
            changes += self._pm_changes(cpu)
        names = GPR16 if real else GPR32
        r = cpu.r
        for n in range(8):
            if r[n] != regs0[n]:
                v = r[n]
                changes.append(f"{names[n]}={v & 0xFFFF:04x}" if real and v >> 16 == regs0[n] >> 16
                               else f"{GPR32[n]}={v:08x}")
        for n in range(6):
            if r[SEL + n] != regs0[SEL + n]:
                changes.append(f"{SREGS[n]}={r[SEL + n]:04x}")
        simd = self.simd
        if simd is None or simd[0] != cpu.xmm or simd[1] != cpu.mxcsr:
            if simd is not None:
                changes += simd_changes(simd, cpu)
            self.simd = (list(cpu.xmm), cpu.mxcsr)
        if exc is None:
            fl = cpu.get_eflags()
            if fl != flags0:
                changes.append(f"flags={fl:0{4 if real else 8}x} [{flag_names(fl)}]")
        elif not getattr(exc, "completed", False):
            changes.append(f"!! {exc}")
        hexb = " ".join(f"{b:02x}" for b in raw)
        lines = [f"{addr}  {hexb:<24} {text:<32} {' '.join(changes)}".rstrip() + "\n"]
        lines += [f"    {line}\n" for line in self.pending or ()]
        self.pending = None
        self.stream.write("".join(lines))

    def _pm_changes(self, cpu) -> list:
        """CPL, CR0, CR2, CR3, LDTR and TR when they changed (protected mode)."""
        from vm.x86.protected import state_items
        now = state_items(cpu)
        old = getattr(self, "pm", None) or {}
        self.pm = now
        return [f"{k}={v}" for k, v in now.items() if old.get(k) != v]

    def event(self, text: str) -> None:
        """An interrupt, exception or system call (under the instruction that made it)."""
        if self.pending is None:
            self.stream.write(f"    {text}\n")
        else:
            self.pending.append(text)

    def flush(self) -> None:
        """Writes what is pending; TraceWriteError when the stream fails."""
        lines = "".join(f"    {line}\n" for line in self.pending or ())
        self.pending = None
        self.stream.write(lines)
        try:
            self.stream.flush()
        except ValueError:      # (closed by its owner)
            pass


MXCSR_FLAGS = ("IE", "DE", "ZE", "OE", "UE", "PE")


def mxcsr_text(v: int) -> str:
    """MXCSR with its set exception flags, rounding mode and DAZ/FTZ named."""
    names = [n for k, n in enumerate(MXCSR_FLAGS) if v >> k & 1]
    names.append(("RN", "RD", "RU", "RZ")[v >> 13 & 3])
    names += [n for bit, n in ((0x40, "DAZ"), (0x8000, "FTZ")) if v & bit]
    return f"mxcsr={v:04x} [{' '.join(names)}]"


def simd_changes(before: tuple, cpu) -> list:
    """Trace items for the XMM registers and MXCSR an instruction changed."""
    out = [f"xmm{k}={v:032x}" for k, (v, w) in enumerate(zip(cpu.xmm, before[0])) if v != w]
    if cpu.mxcsr != before[1]:
        out.append(mxcsr_text(cpu.mxcsr))
    return out


def simd_dump(cpu) -> str:
    """XMM0-7 and MXCSR, when SSE was used (any register non-zero, or MXCSR changed)."""
    if not any(cpu.xmm) and cpu.mxcsr == 0x1F80:
        return ""
    lines = [f"  {mxcsr_text(cpu.mxcsr)}"]
    for k in range(0, 8, 2):
        lines.append(f"  xmm{k}={cpu.xmm[k]:032x} xmm{k + 1}={cpu.xmm[k + 1]:032x}")
    return "\n" + "\n".join(lines)


def register_dump(machine) -> str:
    """Two lines of registers, as printed after a fault and by --regs."""
    cpu = machine.cpu
    r = cpu.r
    fl = cpu.get_eflags()
    if cpu.real:
        line1 = " ".join(f"{n}={r[i] & 0xFFFF:04x}" for i, n in enumerate(GPR16))
        line2 = " ".join(f"{n}={r[SEL + i]:04x}" for i, n in enumerate(SREGS[:4]))
        line2 += f" ip={cpu.eip & 0xFFFF:04x} flags={fl & 0xFFFF:04x} [{flag_names(fl)}]"
    else:
        order = (0, 3, 1, 2, 6, 7, 5, 4)
        line1 = " ".join(f"{GPR32[i]}={r[i]:08x}" for i in order)
        line2 = f"eip={cpu.eip:08x} eflags={fl:08x} [{flag_names(fl)}]"
        segs = " ".join(f"{n}={r[SEL + i]:04x}" for i, n in enumerate(SREGS))
        line2 += " " + segs
    return f"  {line1}\n  {line2}" + simd_dump(cpu)
