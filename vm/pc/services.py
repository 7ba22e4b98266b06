"""Interrupt services of the real-mode personalities (BIOS, DOS).

Each interrupt vector has one :class:`ServiceTable`, filled by a decorator per AH
function (as py65 registers its opcodes), so dispatch, ``--trace`` and the "unsupported
service" message all name a call the same way. A service is ``fn(personality, machine)``
working on the registers; it may return a short note for the trace (a string it printed,
a file name). Services declared with ``carry=True`` report failure DOS-style: they raise
:class:`DosError` and the dispatcher sets CF=1 and AX=code; success clears CF.
"""

from __future__ import annotations

from typing import Callable, Optional

from vm.x86 import flags as F
from vm.x86.state import BASE, SEL, SREGS

# DOS error codes (also used by the few BIOS services that fail with CF set)
DOS_ERRORS = {1: "invalid function", 2: "file not found", 3: "path not found",
              4: "too many open files", 5: "access denied", 6: "invalid handle",
              8: "insufficient memory", 9: "invalid memory block address",
              0x0C: "invalid access code", 0x0F: "invalid drive", 0x19: "seek error"}


class DosError(Exception):
    """A service failed: CF=1, AX=code."""

    def __init__(self, code: int):
        super().__init__(DOS_ERRORS.get(code, f"error {code}"))
        self.code = code
        self.ax = code
        self.note = f"error {code}: {self}"


class DiskError(DosError):
    """A disk service failed: CF=1, AH=status, AL=0."""

    def __init__(self, status: int, message: str):
        Exception.__init__(self, message)
        self.code = status
        self.ax = status << 8
        self.note = f"status {status:02X}h: {message}"


class ServiceStop(Exception):
    """Ends the run from inside a service: ``message`` (one line, or empty) on stderr and
    exit ``status``. Raised out of Machine.run() and caught by the runner."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.message = message
        self.status = status


class Service:
    __slots__ = ("ah", "name", "args", "results", "carry", "fn")

    def __init__(self, ah: Optional[int], name: str, args: str, results: str, carry: bool,
                 fn: Callable):
        self.ah, self.name, self.carry, self.fn = ah, name, carry, fn
        self.args = args.split()
        self.results = results.split()


class ServiceTable:
    """The services of one interrupt vector, by AH (``None``: the vector has no
    functions, e.g. int 11h or int 20h)."""

    def __init__(self, vector: int, owner: str):
        self.vector = vector
        self.owner = owner          # "BIOS" or "DOS": names the service in messages
        self.by_ah: dict = {}

    def service(self, ah: Optional[int], name: str, args: str = "", results: str = "",
                carry: bool = False) -> Callable:
        """Register ``fn`` for AH=ah; ``args``/``results`` are the registers the trace
        shows before and after the call (``al``, ``cx``, ``ds:dx``, ``cf``, ``zf``...)."""
        def register(fn: Callable) -> Callable:
            if ah in self.by_ah:
                raise ValueError(f"int {self.vector:02X}h AH={ah:02X}h registered twice")
            self.by_ah[ah] = Service(ah, name, args, results, carry, fn)
            return fn
        return register

    def lookup(self, ah: int) -> Optional[Service]:
        if None in self.by_ah:
            return self.by_ah[None]
        return self.by_ah.get(ah)

    def label(self, ah: Optional[int]) -> str:
        """``int 21h AH=09h`` (``int 20h`` for a vector without functions)."""
        text = f"int {self.vector:02X}h"
        return text if ah is None or None in self.by_ah else f"{text} AH={ah:02X}h"


# ---- register access for services --------------------------------------------------------

def linear(m, seg: str, off: int) -> int:
    """The linear address of seg:off (seg names a segment register)."""
    return m.cpu.r[BASE + SREGS.index(seg)] + (off & 0xFFFF)


def set_flag(m, flag: int, on: bool) -> None:
    """Set or clear one EFLAGS bit (CF, ZF...) as an interrupt service returns it."""
    fl = m.cpu.get_eflags()
    m.cpu.set_eflags(fl | flag if on else fl & ~flag)


def set_cf(m, on: bool) -> None:
    set_flag(m, F.CF, on)


def read_asciz(m, seg: str, off: int, limit: int = 128) -> bytes:
    """A NUL-terminated string at seg:off (at most ``limit`` bytes, wrapping in the
    segment as the CPU would)."""
    base = m.cpu.r[BASE + SREGS.index(seg)]
    data = m.mem.data
    out = bytearray()
    for k in range(limit):
        b = data[base + ((off + k) & 0xFFFF)]
        if b == 0:
            break
        out.append(b)
    return bytes(out)


def read_bytes(m, seg: str, off: int, n: int) -> bytes:
    """n bytes at seg:off, wrapping at the end of the segment."""
    base = m.cpu.r[BASE + SREGS.index(seg)]
    off &= 0xFFFF
    first = min(n, 0x10000 - off)
    data = m.mem.read(base + off, first)
    return data + m.mem.read(base, n - first) if n > first else data


def write_bytes(m, seg: str, off: int, data: bytes) -> None:
    base = m.cpu.r[BASE + SREGS.index(seg)]
    off &= 0xFFFF
    first = min(len(data), 0x10000 - off)
    m.mem.write(base + off, data[:first])
    if len(data) > first:
        m.mem.write(base, data[first:])


def show_regs(m, names: list) -> str:
    """``al=41 ds:dx=1000:0110 cf=0`` for the trace."""
    out = []
    r = m.cpu.r
    for name in names:
        if ":" in name:
            seg, off = name.split(":")
            out.append(f"{name}={r[SEL + SREGS.index(seg)]:04x}:{m.reg(off):04x}")
        elif name in ("cf", "zf"):
            bit = F.CF if name == "cf" else F.ZF
            out.append(f"{name}={int(bool(m.cpu.get_eflags() & bit))}")
        else:
            width = 2 if name[1] in "lh" else 4
            out.append(f"{name}={m.reg(name):0{width}x}")
    return " ".join(out)


def quote(data: bytes, limit: int = 48) -> str:
    """Bytes as a short, escaped string for the trace."""
    text = "".join(chr(b) if 32 <= b < 127 and b != 0x22 and b != 0x5C else
                   {10: "\\n", 13: "\\r", 9: "\\t"}.get(b, f"\\x{b:02x}") for b in data[:limit])
    return f'"{text}"' + ("..." if len(data) > limit else "")
