"""Writer for static executables (ET_EXEC).

The linker decides the layout (addresses, file offsets, segments); this module turns it into
an ELF file: header, program headers right after it (offset 52, as ld does), the sections at
the offsets given, then ``.symtab``, ``.strtab``, ``.shstrtab`` and the section header table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from .constants import (
    ET_EXEC,
    PF_R,
    PT_LOAD,
    SHF_ALLOC,
    SHN_ABS,
    SHN_UNDEF,
    SHT_NOBITS,
    SHT_PROGBITS,
    SHT_STRTAB,
    SHT_SYMTAB,
    STB_LOCAL,
)
from .elffile import ElfFile, Section, Segment, new_header
from .relocatable import ABS, BINDINGS, ObjSymbol
from .structs import Elf32_Ehdr, Elf32_Phdr, Elf32_Shdr, Elf32_Sym
from .tables import ElfError, StringTable, Symbol

PAGE = 0x1000


@dataclass
class ExecSection:
    """An output section placed by the linker."""

    name: str
    addr: int
    offset: int                    # file offset (for NOBITS: where it would start)
    data: bytes = b""              # contents; empty for SHT_NOBITS
    type: int = SHT_PROGBITS
    flags: int = SHF_ALLOC
    align: int = 1
    size: Optional[int] = None     # SHT_NOBITS size (default len(data))
    entsize: int = 0

    @property
    def byte_size(self) -> int:
        return self.size if self.size is not None else len(self.data)


@dataclass
class ExecSegment:
    """A program header: ``offset``/``filesz`` in the file, ``vaddr``/``memsz`` in memory."""

    type: int
    flags: int = PF_R
    vaddr: int = 0
    offset: int = 0
    filesz: int = 0
    memsz: int = 0
    align: int = PAGE
    paddr: Optional[int] = None


def headers_size(segment_count: int) -> int:
    """Bytes taken by the ELF header and ``segment_count`` program headers."""
    return Elf32_Ehdr.size + segment_count * Elf32_Phdr.size


def build_executable(entry: int, sections: Iterable[ExecSection],
                     segments: Iterable[ExecSegment],
                     symbols: Optional[Iterable[ObjSymbol]] = None) -> ElfFile:
    """An ET_EXEC ElfFile; ``symbols=None`` writes no symbol table (``-s``).

    Symbols use ObjSymbol: ``section`` names one of ``sections`` (or is ABS / None).
    """
    sections = list(sections)
    segments = list(segments)
    header = new_header(ET_EXEC)
    header.e_entry = entry
    header.e_phoff = Elf32_Ehdr.size if segments else 0
    header.e_phentsize = Elf32_Phdr.size
    first_free = headers_size(len(segments))

    out: list[Section] = [Section("", Elf32_Shdr(), b"", 0)]
    index: dict[str, int] = {}
    end = first_free
    for sec in sections:
        nobits = sec.type == SHT_NOBITS
        if not nobits and sec.data and sec.offset < first_free:
            raise ElfError(f"section {sec.name} at file offset {sec.offset:#x} overlaps the "
                           f"ELF and program headers")
        index[sec.name] = len(out)
        out.append(Section(sec.name, Elf32_Shdr(
            sh_type=sec.type, sh_flags=sec.flags, sh_addr=sec.addr, sh_offset=sec.offset,
            sh_size=sec.byte_size, sh_addralign=sec.align, sh_entsize=sec.entsize),
            b"" if nobits else bytes(sec.data), len(out)))
        if not nobits:
            end = max(end, sec.offset + len(sec.data))

    def place(sec: Section, align: int) -> None:
        nonlocal end
        end = (end + align - 1) // align * align
        sec.header.sh_offset = end
        sec.header.sh_size = len(sec.data)
        sec.header.sh_addralign = align
        sec.index = len(out)
        out.append(sec)
        end += len(sec.data)

    if symbols is not None:
        symtab, strtab = _symbol_table(list(symbols), index)
        symtab_index = len(out)
        place(Section(".symtab", Elf32_Shdr(sh_type=SHT_SYMTAB, sh_link=symtab_index + 1,
                                            sh_info=symtab[1], sh_entsize=Elf32_Sym.size),
                      symtab[0]), 4)
        place(Section(".strtab", Elf32_Shdr(sh_type=SHT_STRTAB), strtab), 1)
    names = StringTable()
    shstrtab = Section(".shstrtab", Elf32_Shdr(sh_type=SHT_STRTAB))
    place(shstrtab, 1)
    for sec in out[1:]:
        sec.header.sh_name = names.add(sec.name)
    shstrtab.data = names.to_bytes()
    shstrtab.header.sh_size = len(shstrtab.data)
    end += len(shstrtab.data)
    header.e_shoff = (end + 3) & ~3
    header.e_shstrndx = shstrtab.index

    elf_segments = []
    for seg in segments:
        ph = Elf32_Phdr(seg.type, seg.offset, seg.vaddr,
                        seg.vaddr if seg.paddr is None else seg.paddr,
                        seg.filesz, seg.memsz, seg.flags, seg.align)
        if seg.type == PT_LOAD and seg.align > 1 and \
                (seg.offset - seg.vaddr) % seg.align:
            raise ElfError(f"segment at {seg.vaddr:#x}: file offset {seg.offset:#x} is not "
                           f"congruent to the address modulo {seg.align:#x}")
        elf_segments.append(Segment(ph, b""))
    elf = ElfFile(header, out, elf_segments)
    image = elf.to_bytes()
    for seg in elf_segments:       # give readers of the model the bytes they would read
        seg.data = image[seg.offset:seg.offset + seg.filesz]
    return elf


def _symbol_table(symbols: list[ObjSymbol], index: dict[str, int]) -> tuple[tuple[bytes, int], bytes]:
    strtab = StringTable()
    entries = [Elf32_Sym().pack()]

    def bind_of(sym: ObjSymbol) -> int:
        return BINDINGS[sym.bind] if isinstance(sym.bind, str) else sym.bind

    ordered = ([s for s in symbols if bind_of(s) == STB_LOCAL] +
               [s for s in symbols if bind_of(s) != STB_LOCAL])
    first_global = 1 + sum(1 for s in symbols if bind_of(s) == STB_LOCAL)
    for sym in ordered:
        if sym.section is None:
            shndx = SHN_UNDEF
        elif sym.section == ABS:
            shndx = SHN_ABS
        elif sym.section in index:
            shndx = index[sym.section]
        else:
            raise ElfError(f"symbol {sym.name!r} is in unknown section {sym.section!r}")
        entries.append(Symbol(sym.name, sym.value, sym.size, bind_of(sym), sym.type,
                              sym.visibility & 3, shndx).to_record(strtab.add(sym.name)).pack())
    return (b"".join(entries), first_global), strtab.to_bytes()
