"""An ELF32 file as headers plus bytes: validated parsing, queries, and exact serialisation.

``read_elf(data)`` checks everything it reads and raises ``ElfError`` with a readable reason.
``ElfFile.to_bytes()`` writes the same records back at the offsets they carry, so parsing and
re-serialising an untouched file gives the identical bytes; the writers in ``relocatable``
and ``executable`` build an ``ElfFile`` with offsets of their choosing.
"""

from __future__ import annotations

from typing import Optional

from formats.plainrecord import field, record

from .constants import (
    ELFCLASS32,
    ELFCLASS64,
    ELFDATA2LSB,
    ELFDATA2MSB,
    ELFMAG,
    EM_386,
    ET_NAMES,
    EV_CURRENT,
    PT_LOAD,
    PT_NOTE,
    SHN_LORESERVE,
    SHN_UNDEF,
    SHN_XINDEX,
    SHT_DYNSYM,
    SHT_GROUP,
    SHT_NOBITS,
    SHT_NOTE,
    SHT_NULL,
    SHT_REL,
    SHT_RELA,
    SHT_STRTAB,
    SHT_SYMTAB,
    SHT_SYMTAB_SHNDX,
    type_name,
)
from .records import TruncatedError
from .structs import (
    Elf32_Ehdr,
    Elf32_Ident,
    Elf32_Phdr,
    Elf32_Rel,
    Elf32_Rela,
    Elf32_Shdr,
    Elf32_Sym,
)
from .tables import ElfError, Note, Relocation, Symbol, c_string, parse_notes


@record
class Section:
    """A section header, its name and its bytes (empty for SHT_NOBITS)."""

    name: str
    header: Elf32_Shdr
    data: bytes = b""
    index: int = 0

    type = property(lambda self: self.header.sh_type)
    flags = property(lambda self: self.header.sh_flags)
    addr = property(lambda self: self.header.sh_addr)
    offset = property(lambda self: self.header.sh_offset)
    size = property(lambda self: self.header.sh_size)
    link = property(lambda self: self.header.sh_link)
    info = property(lambda self: self.header.sh_info)
    align = property(lambda self: self.header.sh_addralign)
    entsize = property(lambda self: self.header.sh_entsize)

    @property
    def has_file_data(self) -> bool:
        return self.type not in (SHT_NOBITS, SHT_NULL)

    def __repr__(self) -> str:
        return f"<Section [{self.index}] {self.name} type={self.type} size={self.size:#x}>"


@record
class Segment:
    """A program header and the file bytes it covers (``p_filesz`` of them)."""

    header: Elf32_Phdr
    data: bytes = b""

    type = property(lambda self: self.header.p_type)
    offset = property(lambda self: self.header.p_offset)
    vaddr = property(lambda self: self.header.p_vaddr)
    paddr = property(lambda self: self.header.p_paddr)
    filesz = property(lambda self: self.header.p_filesz)
    memsz = property(lambda self: self.header.p_memsz)
    flags = property(lambda self: self.header.p_flags)
    align = property(lambda self: self.header.p_align)


class _FileBytes:
    """A section's or segment's bytes as read_elf found them: sliced from the file each
    time they are asked for, never kept. Headers may name one area many times: a copy
    per header made ``pyvm-tools info`` of a 2.7 MB file with 300 such section headers
    take 832 MB (and ``pyvm --debug`` of an untrusted program, pyld); what a reader keeps
    is the file, once. The range is fixed when read (relayout moves offsets); assigning
    ``data`` replaces it, as for a record made by a writer."""

    def __init__(self, source: bytes, start: int, stop: int) -> None:
        self.range = (source, start, stop)


class _ReadSection(Section):
    """A Section of a file read by read_elf (its bytes: the file's, on demand)."""

    @property
    def data(self) -> bytes:
        d = self.__dict__["data"]
        if type(d) is _FileBytes:
            source, start, stop = d.range
            return source[start:stop]
        return d

    @data.setter
    def data(self, value) -> None:
        self.__dict__["data"] = value


class _ReadSegment(Segment):
    """A Segment of a file read by read_elf (its bytes: the file's, on demand)."""

    data = _ReadSection.data


def _notes_of(part, where: str, parsed: dict) -> list[Note]:
    """The notes of a section's or segment's bytes; those read from a file: parsed
    once per (offset, end) into ``parsed``, descriptors viewing the file's bytes."""
    d = part.__dict__.get("data")
    if type(d) is not _FileBytes or not isinstance(d.range[0], bytes):
        return parse_notes(part.data, where)        # (a writer's, or a mutable buffer)
    source, start, stop = d.range
    if (start, stop) not in parsed:
        parsed[start, stop] = parse_notes(memoryview(source)[start:stop], where)
    return parsed[start, stop]


@record
class ElfFile:
    """Headers and contents of one ELF32 file (reader output and writer input)."""

    header: Elf32_Ehdr
    sections: list[Section] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    min_size: int = 0       # writers may ask for trailing padding (NASM pads to 16)

    # -- header shorthands ---------------------------------------------------------------
    type = property(lambda self: self.header.e_type)
    machine = property(lambda self: self.header.e_machine)
    entry = property(lambda self: self.header.e_entry)

    @property
    def type_name(self) -> str:
        return type_name(ET_NAMES, self.type)

    def require(self, e_type: int, what: str, machine: int = EM_386) -> None:
        """Raise ElfError unless this is an i386 file of the given type."""
        if self.type != e_type:
            raise ElfError(f"not an ELF32 {what} (e_type is {self.type_name})")
        if self.machine != machine:
            raise ElfError(f"not an i386 file (e_machine is {self.machine})")

    # -- sections --------------------------------------------------------------------------
    def section(self, name: str) -> Optional[Section]:
        for sec in self.sections:
            if sec.name == name:
                return sec
        return None

    def section_at(self, index: int, what: str = "section") -> Section:
        if not 0 <= index < len(self.sections):
            raise ElfError(f"{what} index {index} is out of range "
                           f"(the file has {len(self.sections)} sections)")
        return self.sections[index]

    # -- symbols -----------------------------------------------------------------------------
    def symbol_table(self) -> Optional[Section]:
        """The static symbol table (``.symtab``), else the dynamic one, else None."""
        for kind in (SHT_SYMTAB, SHT_DYNSYM):
            for sec in self.sections:
                if sec.type == kind:
                    return sec
        return None

    def symbols(self, table: Optional[Section] = None) -> list[Symbol]:
        """Decoded entries of a symbol table (default: ``symbol_table()``), index 0 included."""
        table = table or self.symbol_table()
        if table is None:
            return []
        where = f"symbol table '{table.name}'"
        if table.entsize not in (0, Elf32_Sym.size) or table.size % Elf32_Sym.size:
            raise ElfError(f"{where}: bad entry size {table.entsize} or size {table.size}")
        strtab = self.section_at(table.link, f"{where}: string table").data
        xindex = self._xindex_table(table)
        symbols = []
        for i, rec in enumerate(Elf32_Sym.unpack_table(table.data, 0, table.size // Elf32_Sym.size)):
            sym = Symbol.from_record(rec, c_string(strtab, rec.st_name, f"string table of {where}"), i)
            if sym.shndx == SHN_XINDEX and xindex is not None:
                sym.shndx = int.from_bytes(xindex[4 * i:4 * i + 4], "little")
            if sym.is_section and not sym.name and 0 < sym.shndx < len(self.sections):
                sym.name = self.sections[sym.shndx].name
            symbols.append(sym)
        return symbols

    def _xindex_table(self, table: Section) -> Optional[bytes]:
        for sec in self.sections:
            if sec.type == SHT_SYMTAB_SHNDX and sec.link == table.index:
                return sec.data
        return None

    # -- relocations -------------------------------------------------------------------------
    def relocation_sections(self) -> list[Section]:
        return [s for s in self.sections if s.type in (SHT_REL, SHT_RELA)]

    def relocations(self, rel_section: Section) -> list[Relocation]:
        """Decoded entries of a SHT_REL / SHT_RELA section (REL entries have addend None)."""
        rec = Elf32_Rela if rel_section.type == SHT_RELA else Elf32_Rel
        where = f"relocation section '{rel_section.name}'"
        if rel_section.size % rec.size:
            raise ElfError(f"{where}: size {rel_section.size} is not a multiple of {rec.size}")
        table = self.section_at(rel_section.link, f"{where}: symbol table")
        count = table.size // Elf32_Sym.size
        relocs = [Relocation.from_record(r) for r in
                  rec.unpack_table(rel_section.data, 0, rel_section.size // rec.size)]
        for r in relocs:
            if r.symbol >= count:
                raise ElfError(f"{where}: entry at {r.offset:#x} refers to symbol {r.symbol}, "
                               f"the symbol table has {count}")
        return relocs

    def group_members(self, group: Section) -> tuple[int, list[int]]:
        """A SHT_GROUP section's flag word and member section indices."""
        data = group.data           # (once: a read section's bytes are sliced per access)
        words = [int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data) - 3, 4)]
        if not words:
            raise ElfError(f"group section '{group.name}' is empty")
        return words[0], words[1:]

    # -- notes -------------------------------------------------------------------------------
    def notes(self) -> list[Note]:
        """Notes of every SHT_NOTE section, else of every PT_NOTE segment. A file's
        area is parsed once however many headers name it, and a read note's descriptor
        is a view of the file: a copy per header made ``pyvm-tools info`` of a 2.7 MB
        file with 300 such headers take 818 MB."""
        found: list[Note] = []
        parsed: dict = {}
        for sec in self.sections:
            if sec.type == SHT_NOTE:
                found += _notes_of(sec, f"note section '{sec.name}'", parsed)
        if not found:
            for seg in self.segments:
                if seg.type == PT_NOTE:
                    found += _notes_of(seg, "PT_NOTE segment", parsed)
        return found

    # -- writing -----------------------------------------------------------------------------
    def relayout(self) -> None:
        """Give a file without segments fresh, compact offsets: the header, each section's
        bytes in section order at its alignment, then the section header table."""
        if self.segments:
            raise ElfError("cannot re-lay out a file with program headers")
        pos = Elf32_Ehdr.size
        for sec in self.sections[1:]:
            align = max(sec.align, 1)
            pos = (pos + align - 1) // align * align
            sec.header.sh_offset = pos
            if sec.has_file_data:
                pos += len(sec.data)
        self.header.e_shoff = (pos + 3) & ~3
        self.min_size = 0

    def to_bytes(self) -> bytes:
        """Serialise headers and section bytes at the offsets the records carry.

        The header's table counts are taken from the lists; everything else is written as is.
        """
        hdr = self.header
        hdr.e_phnum = len(self.segments)
        count = len(self.sections)
        hdr.e_shnum = count if count < SHN_LORESERVE else 0
        if count >= SHN_LORESERVE:
            self.sections[0].header.sh_size = count
        end = max(hdr.e_ehsize or Elf32_Ehdr.size, self.min_size)
        if self.segments:
            end = max(end, hdr.e_phoff + len(self.segments) * Elf32_Phdr.size)
        if self.sections:
            end = max(end, hdr.e_shoff + count * Elf32_Shdr.size)
        for sec in self.sections:
            if sec.has_file_data:
                end = max(end, sec.offset + len(sec.data))
        out = bytearray(end)
        out[0:Elf32_Ehdr.size] = hdr.pack()
        for i, seg in enumerate(self.segments):
            pos = hdr.e_phoff + i * Elf32_Phdr.size
            out[pos:pos + Elf32_Phdr.size] = seg.header.pack()
        for sec in self.sections:
            if sec.has_file_data and sec.data:
                out[sec.offset:sec.offset + len(sec.data)] = sec.data
        for i, sec in enumerate(self.sections):
            pos = hdr.e_shoff + i * Elf32_Shdr.size
            out[pos:pos + Elf32_Shdr.size] = sec.header.pack()
        return bytes(out)


def new_header(e_type: int, machine: int = EM_386) -> Elf32_Ehdr:
    """An ELF32 little-endian System V header with the sizes filled in and no tables yet."""
    ident = Elf32_Ident(ELFMAG, ELFCLASS32, ELFDATA2LSB, EV_CURRENT).pack()
    return Elf32_Ehdr(e_ident=ident, e_type=e_type, e_machine=machine, e_version=EV_CURRENT,
                      e_ehsize=Elf32_Ehdr.size, e_shentsize=Elf32_Shdr.size)


def is_elf(data: bytes) -> bool:
    return data[:4] == ELFMAG


def read_elf(data: bytes) -> ElfFile:
    """Parse and validate an ELF32 little-endian file; raise ElfError saying what is wrong."""
    data = bytes(data)
    hdr = _read_header(data)
    try:
        segments = _read_segments(data, hdr)
        sections = _read_sections(data, hdr)
    except TruncatedError as e:   # a table the checks above let through; still the user's file
        raise ElfError(f"truncated file: {e}") from None
    return ElfFile(hdr, sections, segments, min_size=len(data))


def read_program_headers(data: bytes) -> ElfFile:
    """The ELF header and the program headers only, as a program loader reads a file
    (Linux's load_elf_binary looks at no section): no section is parsed, and segments
    carry no bytes (``Segment.data`` is empty: read ``data`` at ``Segment.offset``).
    Sections may be of any size and overlap at will (27 headers naming one 60 MB area
    made read_elf copy 1.6 GB of a 63 MB file); a loader keeps nothing of them."""
    data = bytes(data)
    hdr = _read_header(data)
    try:
        segments = _read_segments(data, hdr, bodies=False)
    except TruncatedError as e:
        raise ElfError(f"truncated file: {e}") from None
    return ElfFile(hdr, [], segments, min_size=len(data))


def _read_header(data: bytes) -> Elf32_Ehdr:
    """The checked ELF header of ``data``."""
    if data[:4] != ELFMAG:
        raise ElfError("not an ELF32 file (bad magic)" if len(data) >= 4
                       else f"not an ELF32 file (only {len(data)} bytes)")
    if len(data) < Elf32_Ehdr.size:
        raise ElfError(f"not an ELF32 file: truncated ELF header ({len(data)} bytes, "
                       f"need {Elf32_Ehdr.size})")
    ident = Elf32_Ident.unpack_from(data)
    if ident.ei_class == ELFCLASS64:
        raise ElfError("not an ELF32 file (it is ELF64)")
    if ident.ei_class != ELFCLASS32:
        raise ElfError(f"not an ELF32 file (bad class {ident.ei_class})")
    if ident.ei_data == ELFDATA2MSB:
        raise ElfError("big-endian ELF files are not supported")
    if ident.ei_data != ELFDATA2LSB:
        raise ElfError(f"bad ELF data encoding {ident.ei_data}")
    if ident.ei_version != EV_CURRENT:
        raise ElfError(f"unsupported ELF version {ident.ei_version}")
    return Elf32_Ehdr.unpack_from(data)


def _read_segments(data: bytes, hdr, bodies: bool = True) -> list[Segment]:
    if hdr.e_phnum == 0:
        return []
    if hdr.e_phentsize != Elf32_Phdr.size:
        raise ElfError(f"bad program header entry size {hdr.e_phentsize} "
                       f"(expected {Elf32_Phdr.size})")
    if hdr.e_phoff + hdr.e_phnum * Elf32_Phdr.size > len(data):
        raise ElfError(f"truncated program header table ({hdr.e_phnum} entries at offset "
                       f"{hdr.e_phoff:#x}, the file has {len(data)} bytes)")
    segments = []
    for i, ph in enumerate(Elf32_Phdr.unpack_table(data, hdr.e_phoff, hdr.e_phnum)):
        if ph.p_filesz and ph.p_offset + ph.p_filesz > len(data):
            raise ElfError(f"program header {i}: {ph.p_filesz:#x} bytes at offset "
                           f"{ph.p_offset:#x} run past the end of the file ({len(data)} bytes)")
        if ph.p_filesz > ph.p_memsz and ph.p_type == PT_LOAD:
            raise ElfError(f"program header {i}: file size {ph.p_filesz:#x} exceeds "
                           f"memory size {ph.p_memsz:#x}")
        segments.append(_ReadSegment(ph, _FileBytes(data, ph.p_offset, ph.p_offset + ph.p_filesz)
                                     if bodies else b""))
    return segments


def _read_sections(data: bytes, hdr) -> list[Section]:
    if hdr.e_shoff == 0:
        return []
    if hdr.e_shentsize != Elf32_Shdr.size:
        raise ElfError(f"bad section header entry size {hdr.e_shentsize} "
                       f"(expected {Elf32_Shdr.size})")
    count = hdr.e_shnum
    if hdr.e_shoff + Elf32_Shdr.size > len(data):
        raise ElfError(f"truncated section header table (it starts at offset {hdr.e_shoff:#x}, "
                       f"the file has {len(data)} bytes)")
    first = Elf32_Shdr.unpack_from(data, hdr.e_shoff)
    if count == 0:          # extended numbering: the real count is in section 0
        count = first.sh_size
    strndx = first.sh_link if hdr.e_shstrndx == SHN_XINDEX else hdr.e_shstrndx
    if hdr.e_shoff + count * Elf32_Shdr.size > len(data):
        raise ElfError(f"truncated section header table ({count} entries at offset "
                       f"{hdr.e_shoff:#x}, the file has {len(data)} bytes)")
    headers = Elf32_Shdr.unpack_table(data, hdr.e_shoff, count)
    sections = []
    for i, sh in enumerate(headers):
        body = b""
        if sh.sh_type not in (SHT_NOBITS, SHT_NULL) and sh.sh_size:
            if sh.sh_offset + sh.sh_size > len(data):
                raise ElfError(f"section [{i}]: {sh.sh_size:#x} bytes at offset {sh.sh_offset:#x} "
                               f"run past the end of the file ({len(data)} bytes)")
            body = _FileBytes(data, sh.sh_offset, sh.sh_offset + sh.sh_size)
        sections.append(_ReadSection("", sh, body, i))
    if strndx != SHN_UNDEF:
        if strndx >= count:
            raise ElfError(f"section name string table index {strndx} is out of range "
                           f"({count} sections)")
        names = sections[strndx]
        if names.type != SHT_STRTAB:
            raise ElfError(f"section name string table [{strndx}] is not a string table")
        table = names.data          # (once: each access slices the file)
        for sec in sections:
            sec.name = c_string(table, sec.header.sh_name, "section name string table")
    for sec in sections:
        if sec.type in (SHT_REL, SHT_RELA, SHT_SYMTAB, SHT_DYNSYM, SHT_GROUP) and \
                sec.link >= count:
            raise ElfError(f"section [{sec.index}] '{sec.name}' links to section {sec.link}, "
                           f"the file has {count}")
    return sections
