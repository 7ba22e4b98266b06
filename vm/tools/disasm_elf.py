"""NASM-syntax disassembly of an ELF32 file's code sections, with symbol labels."""

from __future__ import annotations

from asm.x86.disasm import x86_listing
from formats.elf import ElfError, read_elf
from formats.elf.constants import SHF_EXECINSTR, STT_FILE, STT_SECTION


def elf_listing(data: bytes) -> list:
    """Source-like lines for every executable section (by section, with its symbols)."""
    try:
        elf = read_elf(data)
    except ElfError as e:
        raise ValueError(str(e)) from None
    symbols_by_section: dict = {}
    for sym in elf.symbols():
        if sym.name and sym.type not in (STT_FILE, STT_SECTION) and 0 < sym.shndx < 0xFF00:
            symbols_by_section.setdefault(sym.shndx, {}).setdefault(sym.value, sym.name)
    relocatable = elf.type == 1
    lines = [f"; {elf.type_name}, entry 0x{elf.entry:x}", "bits 32"]
    for sec in elf.sections:
        if not sec.flags & SHF_EXECINSTR or not sec.data:
            continue
        origin = 0 if relocatable else sec.addr
        names = symbols_by_section.get(sec.index, {})
        symbols = {(origin + v if relocatable else v): n for v, n in names.items()}
        lines += ["", f"section {sec.name}"]
        lines += x86_listing(sec.data, 32, origin, symbols)
    return lines
