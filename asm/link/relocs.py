"""Applying i386 relocations in a static link, and the GOT they may need.

S is the symbol's address, A the addend (REL: read from the patched field, sign-extended),
P the address of the field, GOT the address of ``_GLOBAL_OFFSET_TABLE_``, G the address of
the symbol's GOT entry. In a static link there is no PLT, so R_386_PLT32 is S + A - P.
R_386_GOT32/GOT32X are G + A - GOT, or G + A when the instruction has no base register
(ModRM ``mod=00 r/m=101``), as ld computes them; pyld does not relax GOT loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from formats.elf.constants import (
    R_386_8,
    R_386_16,
    R_386_32,
    R_386_GOT32,
    R_386_GOT32X,
    R_386_GOTOFF,
    R_386_GOTPC,
    R_386_NAMES,
    R_386_NONE,
    R_386_PC8,
    R_386_PC16,
    R_386_PC32,
    R_386_PLT32,
    R_386_SIZE32,
    RELOC_WIDTH,
    STB_LOCAL,
    STB_WEAK,
    STT_FILE,
    STT_SECTION,
)
from formats.elf.tables import Relocation

from .objects import UNDEF, GlobalSymbol, InputObject, InputSection

GOT_TYPES = (R_386_GOT32, R_386_GOT32X)
USES_GOT_ADDRESS = (R_386_GOT32, R_386_GOT32X, R_386_GOTOFF, R_386_GOTPC)
GOT_RESERVED = 3          # words before the entries, like ld's .got.plt (GOT[0..2])
PC_RELATIVE = {R_386_PC32, R_386_PLT32, R_386_PC16, R_386_PC8}
# Allowed range of the computed value: bitfield fields accept signed or unsigned values,
# R_386_PC8 only signed ones (as in binutils' elf32-i386 howto table).
RANGES = {
    R_386_16: (-0x8000, 0xFFFF), R_386_PC16: (-0x8000, 0xFFFF),
    R_386_8: (-0x80, 0xFF), R_386_PC8: (-0x80, 0x7F),
}
SUPPORTED = {R_386_NONE, R_386_32, R_386_PC32, R_386_GOT32, R_386_PLT32, R_386_GOTOFF,
             R_386_GOTPC, R_386_16, R_386_PC16, R_386_8, R_386_PC8, R_386_SIZE32,
             R_386_GOT32X}


def reloc_name(type_: int) -> str:
    return R_386_NAMES.get(type_, f"type {type_}")


@dataclass
class Got:
    """The synthesised global offset table: one word per symbol loaded through it."""

    entries: dict = field(default_factory=dict)       # key -> entry index
    targets: list = field(default_factory=list)       # (obj, symbol index) per entry
    address: int = 0

    def key(self, obj: InputObject, index: int):
        entry = obj.globals.get(index)
        return ("g", id(entry)) if entry is not None else ("l", id(obj), index)

    def add(self, obj: InputObject, index: int) -> None:
        k = self.key(obj, index)
        if k not in self.entries:
            self.entries[k] = GOT_RESERVED + len(self.targets)
            self.targets.append((obj, index))

    def entry_address(self, obj: InputObject, index: int) -> int:
        return self.address + 4 * self.entries[self.key(obj, index)]

    @property
    def size(self) -> int:
        return 4 * (GOT_RESERVED + len(self.targets))


def scan_got(sections: list[InputSection]) -> tuple[Got, bool]:
    """Collect GOT entries; also say whether anything needs the GOT's address."""
    got = Got()
    needed = False
    for sec in sections:
        for rel in sec.relocs:
            if rel.type in USES_GOT_ADDRESS:
                needed = True
            if rel.type in GOT_TYPES:
                got.add(sec.obj, rel.symbol)
    return got, needed


@dataclass
class Relocator:
    got: Got
    got_address: Optional[int]
    errors: list[str] = field(default_factory=list)
    _reported: set = field(default_factory=set)

    def symbol(self, obj: InputObject, index: int, where: str) -> tuple[int, str, int]:
        """(address, name, size) of symbol ``index`` of ``obj``; report if undefined."""
        sym = obj.symbols[index]
        if sym.bind == STB_LOCAL:
            if sym.index == 0:
                return 0, "", 0
            if sym.is_absolute or sym.type == STT_FILE:
                return sym.value, sym.name, sym.size
            sec = obj.sections.get(sym.shndx)
            if sec is None or sec.discarded or sec.output is None:
                reason = f" ({sec.discarded})" if sec is not None and sec.discarded else ""
                self._error(("d", id(obj), index),
                            f"{where}: relocation refers to '{sym.name}' in a discarded "
                            f"section{reason}")
                return 0, sym.name, 0
            return sec.address + sym.value, sym.name, sym.size
        entry: GlobalSymbol = obj.globals[index]
        if entry.kind == UNDEF:
            if sym.bind != STB_WEAK:
                self._error(("u", entry.name, id(obj)),
                            f"undefined symbol '{entry.name}', referenced in {where}"
                            f"{_context(obj, where)}")
            return 0, entry.name, 0
        return entry.address, entry.name, entry.size

    def _error(self, key, message: str) -> None:
        if key not in self._reported:
            self._reported.add(key)
            self.errors.append(message)

    def apply(self, sec: InputSection) -> None:
        for rel in sec.relocs:
            self._apply_one(sec, rel)

    def _apply_one(self, sec: InputSection, rel: Relocation) -> None:
        t = rel.type
        if t == R_386_NONE:
            return
        where = sec.where(rel.offset)
        sym_name = sec.obj.symbols[rel.symbol].name if rel.symbol < len(sec.obj.symbols) else "?"
        if t not in SUPPORTED:
            self.errors.append(f"{where}: unsupported relocation type {reloc_name(t)} ({t}) "
                               f"against '{sym_name}'")
            return
        width = RELOC_WIDTH[t]
        if sec.data is None or rel.offset + width > len(sec.data):
            self.errors.append(f"{where}: {reloc_name(t)} lies outside the section's contents")
            return
        data = sec.data
        A = rel.addend if rel.addend is not None else int.from_bytes(
            data[rel.offset:rel.offset + width], "little", signed=True)
        S, name, size = self.symbol(sec.obj, rel.symbol, where)
        P = sec.address + rel.offset
        GOT = self.got_address or 0
        if t in (R_386_32, R_386_16, R_386_8):
            value = S + A
        elif t in PC_RELATIVE:
            value = S + A - P
        elif t == R_386_GOTOFF:
            value = S + A - GOT
        elif t == R_386_GOTPC:
            value = GOT + A - P
        elif t in GOT_TYPES:
            entry = self.got.entry_address(sec.obj, rel.symbol)
            no_base = rel.offset >= 2 and (data[rel.offset - 1] & 0xC7) == 0x05
            value = entry + A if no_base else entry + A - GOT
        else:                                               # R_386_SIZE32
            value = size + A
        bits = 8 * width
        value = ((value + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)   # 32-bit address arithmetic
        low, high = RANGES.get(t, (-(1 << 31), (1 << 32) - 1))
        if not low <= value <= high:
            shown = f"'{name}'" if name else "a section"
            self.errors.append(
                f"{where}: relocation {reloc_name(t)} against {shown} out of range: "
                f"value {value:#x} does not fit in {bits} bits")
            return
        data[rel.offset:rel.offset + width] = (value & ((1 << bits) - 1)).to_bytes(width, "little")


def _context(obj: InputObject, where: str) -> str:
    """`` (in function f)``: the nearest symbol at or before the reference, if any."""
    try:
        sec_name, offset_text = where[len(obj.name) + 1:-1].rsplit("+", 1)
        offset = int(offset_text, 16)
    except ValueError:
        return ""
    best = None
    for sym in obj.symbols:
        if sym.type in (STT_SECTION, STT_FILE) or not sym.name or sym.is_undefined:
            continue
        sec = obj.sections.get(sym.shndx)
        if sec is None or sec.name != sec_name or sym.value > offset:
            continue
        if best is None or sym.value > best.value:
            best = sym
    return f" (in {best.name})" if best is not None else ""
