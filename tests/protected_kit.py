"""Protected-mode test machines: a GDT, an IDT and (optionally) identity page tables
built in memory, and a 32-bit test body assembled by NASM at 0x10000, run

- under pyvm: from real mode, a stub (assembled by NASM) loads GDTR/IDTR/CR3 and sets
  CR0, then jumps to 08:10000 (the CPU's own mode switch is part of what runs);
- under Unicorn (UC_MODE_32): GDTR, IDTR, CR3, CR0 and CS written with reg_write.

Unicorn stops at the first exception (it reports the vector to an interrupt hook and
does not go through the IDT), so bodies compared with it end in `hlt` or fault once.
pyvm's IDT sends every vector to a handler that stores the vector, the error code (for
the vectors that push one), the pushed EIP and CR2 at FAULT_INFO, then halts.

Layout: GDT 0x800, IDT 0x1000, TSS 0x3000, page directory 0x100000, page table 0
0x101000 (the first 4 MiB identity mapped, user + writable unless changed), stack top
0x9000, body 0x10000, fault record 0x8000 (vector, error code, EIP, CR2, CS, the
handler's ESP, EFLAGS, and the outer ESP and SS a privilege change pushed).
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path
from typing import Optional

GDT, IDT, TSS, PD, PT0, BODY, FAULT_INFO = 0x800, 0x1000, 0x3000, 0x100000, 0x101000, \
    0x10000, 0x8000
HANDLERS = 0x20000
MEMORY = 0x400000
ERROR_CODE = (8, 10, 11, 12, 13, 14, 17)


def desc(base: int, limit: int, acc: int, flags: int = 0xC) -> bytes:
    """An 8-byte segment descriptor (flags: G D/B L AVL, high nibble of byte 6)."""
    return struct.pack("<HHBBBB", limit & 0xFFFF, base & 0xFFFF, base >> 16 & 0xFF, acc,
                       flags << 4 | limit >> 16 & 0xF, base >> 24 & 0xFF)


def gate(sel: int, off: int, typ: int = 0x8E, count: int = 0) -> bytes:
    return struct.pack("<HHBBH", off & 0xFFFF, sel, count, typ, off >> 16)


# selectors of the standard GDT
CODE0, DATA0, CODE3, DATA3, TSS_SEL = 0x08, 0x10, 0x1B, 0x23, 0x28
# the start of most protected-mode probes: flat data segments and a stack below the code
FLAT_SEGMENTS = f"""mov ax, {DATA0:#x}
mov ds, ax
mov es, ax
mov ss, ax
mov esp, 0x9000
"""
STANDARD_GDT = [b"\0" * 8, desc(0, 0xFFFFF, 0x9A), desc(0, 0xFFFFF, 0x92),
                desc(0, 0xFFFFF, 0xFA), desc(0, 0xFFFFF, 0xF2), desc(TSS, 0x67, 0x89, 0)]


def nasm(tmp: Path, source: str, name: str) -> bytes:
    from conftest import require_tool
    exe = require_tool("nasm")
    src = tmp / f"{name}.asm"
    src.write_text(source)
    out = tmp / f"{name}.bin"
    r = subprocess.run([exe, "-f", "bin", str(src), "-o", str(out)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


def handlers_source() -> str:
    """One stub per vector: record vector, error code, EIP, CR2, CS at FAULT_INFO."""
    lines = ["bits 32", f"org {HANDLERS:#x}"]
    for v in range(32):
        lines.append(f"h{v}:")
        if v not in ERROR_CODE:
            lines.append("push strict dword 0xFFFFFFFF")
        lines += [f"push strict dword {v}", "jmp near hcommon"]
    lines += ["hcommon:", f"pop dword [ss:{FAULT_INFO:#x}]", f"pop dword [ss:{FAULT_INFO + 4:#x}]",
              f"pop dword [ss:{FAULT_INFO + 8:#x}]", f"pop dword [ss:{FAULT_INFO + 16:#x}]",
              "push eax", "mov eax, cr2", f"mov [ss:{FAULT_INFO + 12:#x}], eax",
              "lea eax, [esp + 4]", f"mov [ss:{FAULT_INFO + 20:#x}], eax",
              "mov eax, [esp + 4]", f"mov [ss:{FAULT_INFO + 24:#x}], eax",
              "mov eax, [esp + 8]", f"mov [ss:{FAULT_INFO + 28:#x}], eax",
              "mov eax, [esp + 12]", f"mov [ss:{FAULT_INFO + 32:#x}], eax",
              "pop eax", "hlt", "table:"] + [f"dd h{v}" for v in range(32)]
    return "\n".join(lines) + "\n"


class Setup:
    """What a test machine starts with."""

    def __init__(self, body: str, gdt: Optional[list] = None, paging: bool = False,
                 cr0_extra: int = 0, pte: Optional[dict] = None, memory: Optional[dict] = None,
                 tss: bytes = b""):
        self.body = body
        self.gdt = gdt if gdt is not None else list(STANDARD_GDT)
        self.paging = paging
        self.cr0 = 0x11 | (0x80000000 if paging else 0) | cr0_extra
        self.pte = pte or {}            # page number -> PTE value (else identity, U/W/P)
        self.memory = memory or {}      # address -> bytes
        self.tss = tss                  # the TSS's first bytes (ESP0, SS0...)

    def image(self, tmp: Path) -> dict:
        """address -> bytes for everything but the stub."""
        body = nasm(tmp, f"bits 32\norg {BODY:#x}\n{self.body}\nhlt\n", "body")
        handlers = nasm(tmp, handlers_source(), "handlers")
        idt = b""
        table = struct.unpack("<32I", handlers[-128:])      # the stubs' addresses
        for v in range(32):
            idt += gate(CODE0, table[v])
        out = {GDT: b"".join(self.gdt), IDT: idt, BODY: body, HANDLERS: handlers,
               TSS: (self.tss + bytes(0x68))[:0x68]}
        if self.paging:
            out[PD] = struct.pack("<I", PT0 | 7) + bytes(4092)
            out[PT0] = b"".join(struct.pack("<I", self.pte.get(p, p << 12 | 7))
                                for p in range(1024))
        out.update(self.memory)
        self.body_end = BODY + len(body) - 1         # the final hlt
        return out


def run_pyvm(tmp: Path, setup: Setup, max_steps: int = 200_000):
    """Boot the image under pyvm; returns the Machine after it halted."""
    from vm.x86.machine import Machine
    image = setup.image(tmp)
    stub = nasm(tmp, f"""bits 16
org 0x7c00
cli
lgdt [cs:gdtr]
lidt [cs:idtr]
mov eax, {PD:#x}
mov cr3, eax
mov eax, {setup.cr0:#x}
mov cr0, eax
jmp dword {CODE0:#x}:{BODY:#x}
gdtr: dw {len(image[GDT]) - 1}
      dd {GDT:#x}
idtr: dw {len(image[IDT]) - 1}
      dd {IDT:#x}
""", "stub")
    m = Machine("real", memory_size=MEMORY)
    for addr, data in image.items():
        m.load(addr, data)
    m.load(0x7C00, stub)
    m.set_segment("cs", 0)
    m.set_reg("eip", 0x7C00)
    stop = m.run(max_steps=max_steps)
    assert stop.reason == "halt", stop
    return m


class UnicornResult:
    def __init__(self, uc, vector: Optional[int]):
        self.uc, self.vector = uc, vector


def run_unicorn(tmp: Path, setup: Setup) -> UnicornResult:
    from conftest import require_module
    require_module("unicorn")
    from unicorn import UC_ARCH_X86, UC_HOOK_INTR, UC_MODE_32, Uc, UcError
    from unicorn import x86_const as X
    image = setup.image(tmp)
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0, MEMORY)
    for addr, data in image.items():
        uc.mem_write(addr, data)
    uc.reg_write(X.UC_X86_REG_GDTR, (0, GDT, len(image[GDT]) - 1, 0))
    uc.reg_write(X.UC_X86_REG_IDTR, (0, IDT, len(image[IDT]) - 1, 0))
    uc.reg_write(X.UC_X86_REG_CR3, PD)
    uc.reg_write(X.UC_X86_REG_CR0, setup.cr0)
    uc.reg_write(X.UC_X86_REG_CS, CODE0)
    seen: list = []

    def intr(u, intno, _):
        seen.append(intno)
        u.emu_stop()

    uc.hook_add(UC_HOOK_INTR, intr)
    try:
        uc.emu_start(BODY, setup.body_end, count=200_000)
    except UcError:
        pass
    return UnicornResult(uc, seen[0] if seen else None)


GPRS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")


def uc_regs(res: UnicornResult) -> dict:
    from unicorn import x86_const as X
    return {n: res.uc.reg_read(getattr(X, f"UC_X86_REG_{n.upper()}")) for n in GPRS}


def fault_record(m) -> dict:
    vec, code, eip, cr2, cs, esp, flags, old_esp, old_ss = struct.unpack(
        "<9I", m.read(FAULT_INFO, 36))
    return {"vector": vec, "code": None if code == 0xFFFFFFFF else code, "eip": eip,
            "cr2": cr2, "cs": cs, "esp": esp, "eflags": flags, "old_esp": old_esp,
            "old_ss": old_ss & 0xFFFF}
