"""Writer for relocatable objects (ET_REL), laid out the way ``nasm -f elf32`` lays them out.

The assembler describes what it assembled and gets the bytes of a ``.o``:

    data = write_relocatable(
        sections=[ObjSection(".text", code, *section_defaults(".text")),
                  ObjSection(".bss", b"", *section_defaults(".bss"), size=64), ...],
        symbols=[ObjSymbol("_start", ".text", 0, bind="global"),
                 ObjSymbol("puts")],                       # undefined
        relocs=[ObjReloc(".text", 1, R_386_PC32, "puts", addend=-4)],
        file_name="hello.asm")

NASM's conventions, reproduced so that ``readelf -a`` shows what it shows for NASM's object:
section headers right after the ELF header (at 64); section contents from there on, each
at a 16-byte aligned offset; sections in the caller's order, then ``.shstrtab``, ``.symtab``,
``.strtab`` and one ``.rel<name>`` per section with relocations (a debug section's
``.rel`` instead follows the section its ``rel_after`` names, as NASM places
``.rel.debug_info`` and ``.rel.stab``). From 0xff00 sections on, ELF's extended numbering
as NASM writes it: ``e_shnum`` 0 and the count in section 0's ``sh_size``, ``e_shstrndx``
``SHN_XINDEX`` and the index in section 0's ``sh_link``, and a ``.symtab_shndx`` (after
``.strtab``) holding the index of every symbol whose ``st_shndx`` says ``SHN_XINDEX``.
The symbol table is the null symbol, the file symbol, one section symbol per section,
then the caller's locals and then its globals, each group in the caller's order; names go
into ``.strtab`` in the caller's order. Relocations against a local symbol are rewritten, as NASM does, against
its section symbol with the symbol's value added to the addend, which REL keeps in place.
"""

from __future__ import annotations

from typing import Iterable, Optional, Union

from formats.plainrecord import record

from .constants import (
    ET_REL,
    R_386_GOT32,
    R_386_GOT32X,
    R_386_NAMES,
    RELOC_WIDTH,
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHF_TLS,
    SHF_WRITE,
    SHN_ABS,
    SHN_COMMON,
    SHN_LORESERVE,
    SHN_UNDEF,
    SHN_XINDEX,
    SHT_FINI_ARRAY,
    SHT_INIT_ARRAY,
    SHT_NOBITS,
    SHT_NOTE,
    SHT_NULL,
    SHT_PREINIT_ARRAY,
    SHT_PROGBITS,
    SHT_REL,
    SHT_STRTAB,
    SHT_SYMTAB,
    SHT_SYMTAB_SHNDX,
    STB_GLOBAL,
    STB_LOCAL,
    STB_WEAK,
    STT_FILE,
    STT_NOTYPE,
    STT_SECTION,
    STV_DEFAULT,
)
from .elffile import ElfFile, Section, new_header
from .structs import Elf32_Ehdr, Elf32_Rel, Elf32_Shdr, Elf32_Sym, r_info
from .tables import ElfError, StringTable

ABS = "*ABS*"       # ObjSymbol.section of an absolute symbol (``equ`` made global)
COMMON = "*COM*"    # ObjSymbol.section of a common symbol; its value is the alignment
FILE_ALIGN = 16     # NASM starts the header table and every section on a 16-byte boundary

BINDINGS = {"local": STB_LOCAL, "global": STB_GLOBAL, "weak": STB_WEAK}


@record
class ObjSection:
    """One section the assembler produced."""

    name: str
    data: bytes = b""                 # contents; for SHT_NOBITS leave empty and set size
    type: int = SHT_PROGBITS          # type .. entsize: as section_defaults(name) gives them
    flags: int = SHF_ALLOC
    align: int = 1
    entsize: int = 0
    size: Optional[int] = None        # SHT_NOBITS size (default: len(data))
    # debug-format sections (NASM's .debug_*, .stab): their .rel section comes right
    # after the section named by ``rel_after`` instead of after .strtab, ``link`` names
    # the section sh_link points to, and only some get a section symbol (after the user
    # sections' ones)
    rel_after: Optional[str] = None
    link: Optional[str] = None
    section_symbol: bool = True
    empty_rel: bool = False           # a .rel section even with no relocations (NASM does)

    @property
    def byte_size(self) -> int:
        return self.size if self.size is not None else len(self.data)


@record
class ObjSymbol:
    """A symbol: ``section`` is a section name, ``ABS``, ``COMMON`` or None (undefined)."""

    name: str
    section: Optional[str] = None
    value: int = 0
    size: int = 0
    bind: Union[int, str] = STB_LOCAL  # STB_* or "local" / "global" / "weak"
    type: int = STT_NOTYPE
    visibility: int = STV_DEFAULT


@record
class ObjReloc:
    """Patch ``section`` at ``offset`` with relocation ``type`` against ``symbol``.

    ``symbol`` names an ObjSymbol (or is one), or names a section for its section symbol;
    None is symbol 0 (an absolute address). ``addend`` is written into the patched field
    (REL keeps addends in place); None leaves the bytes the assembler put there.
    """

    section: str
    offset: int
    type: int
    symbol: Union[str, ObjSymbol, None]
    addend: Optional[int] = None


# NASM's table of known section names: (type, flags, alignment, entry size).
_KNOWN_SECTIONS = {
    ".text": (SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, 16, 0),
    ".rodata": (SHT_PROGBITS, SHF_ALLOC, 4, 0),
    ".lrodata": (SHT_PROGBITS, SHF_ALLOC, 4, 0),
    ".data": (SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, 4, 0),
    ".ldata": (SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, 4, 0),
    ".bss": (SHT_NOBITS, SHF_ALLOC | SHF_WRITE, 4, 0),
    ".lbss": (SHT_NOBITS, SHF_ALLOC | SHF_WRITE, 4, 0),
    ".tdata": (SHT_PROGBITS, SHF_ALLOC | SHF_WRITE | SHF_TLS, 4, 0),
    ".tbss": (SHT_NOBITS, SHF_ALLOC | SHF_WRITE | SHF_TLS, 4, 0),
    ".comment": (SHT_PROGBITS, 0, 1, 0),
    ".preinit_array": (SHT_PREINIT_ARRAY, SHF_ALLOC, 4, 4),
    ".init_array": (SHT_INIT_ARRAY, SHF_ALLOC, 4, 4),
    ".fini_array": (SHT_FINI_ARRAY, SHF_ALLOC, 4, 4),
    ".note": (SHT_NOTE, 0, 4, 0),
}
_OTHER_SECTION = (SHT_PROGBITS, SHF_ALLOC, 1, 0)


def section_defaults(name: str) -> tuple[int, int, int, int]:
    """``(type, flags, align, entsize)`` NASM gives a section named ``name`` by default."""
    return _KNOWN_SECTIONS.get(name, _OTHER_SECTION)


def _binding(sym: ObjSymbol) -> int:
    if isinstance(sym.bind, str):
        try:
            return BINDINGS[sym.bind]
        except KeyError:
            raise ElfError(f"symbol {sym.name!r}: unknown binding {sym.bind!r}") from None
    return sym.bind


def build_relocatable(sections: Iterable[ObjSection], symbols: Iterable[ObjSymbol],
                      relocs: Iterable[ObjReloc] = (), file_name: Optional[str] = None,
                      *, section_symbols: bool = True) -> ElfFile:
    """Build the ET_REL ElfFile (see the module docstring); ``write_relocatable`` serialises it."""
    sections = list(sections)
    symbols = list(symbols)
    relocs = list(relocs)

    sec_index: dict[str, int] = {}
    patched = {rel.section for rel in relocs} | {s.name for s in sections if s.empty_rel}
    rels_after: dict[str, list] = {}        # section name -> sections whose .rel follow it
    for sec in sections:
        if sec.rel_after is not None and sec.name in patched:
            rels_after.setdefault(sec.rel_after, []).append(sec)
    i = 1
    for sec in sections:
        if sec.name in sec_index:
            raise ElfError(f"section {sec.name!r} is given twice")
        sec_index[sec.name] = i
        i += 1 + len(rels_after.get(sec.name, ()))

    # ---- symbol table: null, file, section symbols, locals, globals ----
    # Each entry is packed as it is made, in as few loops as possible (under PyPy each
    # loop is a JIT trace of its own, compiled for one run). A section index past
    # SHN_LORESERVE is written as SHN_XINDEX, the real one kept in ``escaped``.
    strtab = StringTable()
    if file_name:
        strtab.add_unshared(file_name)
    pack_sym = Elf32_Sym.struct.pack
    entries: list[bytes] = [pack_sym(0, 0, 0, 0, 0, SHN_UNDEF)]
    if file_name:
        entries.append(pack_sym(1, 0, 0, (STB_LOCAL << 4) | STT_FILE, 0, SHN_ABS))
    escaped: dict[int, int] = {}        # symbol position -> its real section index
    section_symbol: dict[str, int] = {}
    if section_symbols:
        for sec in sections:
            if sec.section_symbol:
                shndx = sec_index[sec.name]
                section_symbol[sec.name] = len(entries)
                if shndx >= SHN_LORESERVE:
                    escaped[len(entries)] = shndx
                    shndx = SHN_XINDEX
                entries.append(pack_sym(0, 0, 0, STT_SECTION, 0, shndx))

    # names go into .strtab in the caller's order, symbols into the table locals first
    add_name = strtab.add_unshared
    bind: dict[int, int] = {}
    ordered: list[tuple] = []           # (symbol, binding, name offset): the locals
    later: list[tuple] = []             # the same for the others
    for sym in symbols:
        b = bind[id(sym)] = _binding(sym)
        (ordered if b == STB_LOCAL else later).append((sym, b, add_name(sym.name)))
    first_global = len(entries) + len(ordered)
    ordered += later
    by_name: dict[str, ObjSymbol] = {}
    symbol_index: dict[int, int] = {}
    for sym, b, name_off in ordered:
        section = sym.section
        if section is None:
            shndx = SHN_UNDEF
        elif section == ABS:
            shndx = SHN_ABS
        elif section == COMMON:
            shndx = SHN_COMMON
        elif section in sec_index:
            shndx = sec_index[section]
            if shndx >= SHN_LORESERVE:
                escaped[len(entries)] = shndx
                shndx = SHN_XINDEX
        else:
            raise ElfError(f"symbol {sym.name!r} is in unknown section {section!r}")
        symbol_index[id(sym)] = len(entries)
        by_name.setdefault(sym.name, sym)
        entries.append(pack_sym(name_off, sym.value & 0xFFFFFFFF, sym.size,
                                (b << 4) | (sym.type & 0xF), sym.visibility & 3, shndx))

    # ---- relocations, grouped by the section they patch ----
    contents = {sec.name: bytearray(sec.data) for sec in sections}
    # section name -> its Elf32_Rel records, packed (the REL entries: offset, info)
    per_section: dict[str, list[bytes]] = {}
    pack_rel = Elf32_Rel.struct.pack
    for rel in relocs:
        if rel.section not in sec_index:
            raise ElfError(f"relocation in unknown section {rel.section!r}")
        sym = rel.symbol if isinstance(rel.symbol, ObjSymbol) else by_name.get(rel.symbol)
        addend = rel.addend
        if rel.symbol is None:
            index = 0               # no symbol: an absolute address (S = 0)
        elif sym is None:
            if rel.symbol not in section_symbol:
                raise ElfError(f"relocation against unknown symbol {rel.symbol!r}")
            index = section_symbol[rel.symbol]
        else:
            b = bind.get(id(sym))       # (the binding worked out above, most symbols)
            if b is None:
                b = _binding(sym)
            if (b == STB_LOCAL and sym.section in section_symbol
                    and rel.type not in (R_386_GOT32, R_386_GOT32X)):
                index = section_symbol[sym.section]
                field = contents[rel.section]
                base = addend if addend is not None else _read_field(field, rel)
                addend = base + sym.value
            else:
                if id(sym) not in symbol_index:
                    raise ElfError(f"relocation against symbol {sym.name!r} that is not "
                                   "in the table")
                index = symbol_index[id(sym)]
        if addend is not None:
            _write_field(contents[rel.section], rel, addend)
        records = per_section.get(rel.section)
        if records is None:
            records = per_section[rel.section] = []
        records.append(pack_rel(rel.offset, r_info(index, rel.type)))

    # ---- sections: user sections, .shstrtab, .symtab, .strtab, .rel* ----
    # (a debug section's .rel follows it; more than 0xff00 sections: extended numbering)
    shstrtab = StringTable()
    out: list[Section] = [Section("", Elf32_Shdr(), b"", 0)]
    inline_rels = []
    for sec in sections:
        nobits = sec.type == SHT_NOBITS
        body = b"" if nobits else bytes(contents[sec.name])
        size = sec.byte_size if nobits else len(body)
        out.append(Section(sec.name, Elf32_Shdr(
            sh_name=shstrtab.add_unshared(sec.name), sh_type=sec.type, sh_flags=sec.flags,
            sh_size=size, sh_addralign=sec.align, sh_entsize=sec.entsize), body))
        if sec.link is not None:
            out[-1].header.sh_link = sec_index[sec.link]
        for target in rels_after.get(sec.name, ()):
            body = b"".join(per_section.get(target.name, ()))
            inline_rels.append(len(out))
            out.append(Section(".rel" + target.name, Elf32_Shdr(
                sh_name=shstrtab.add_unshared(".rel" + target.name), sh_type=SHT_REL,
                sh_size=len(body), sh_info=sec_index[target.name], sh_addralign=4,
                sh_entsize=Elf32_Rel.size), body))
    shstr_index = len(out)
    symtab_index, strtab_index = shstr_index + 1, shstr_index + 2
    for i in inline_rels:
        out[i].header.sh_link = symtab_index
    extended = bool(escaped)
    names = [".shstrtab", ".symtab", ".strtab"] + ([".symtab_shndx"] if extended else [])
    rel_names = [".rel" + sec.name for sec in sections
                 if sec.name in per_section and sec.rel_after is None]
    offsets = [shstrtab.add_unshared(n) for n in names + rel_names]
    out.append(Section(".shstrtab", Elf32_Shdr(sh_name=offsets[0], sh_type=SHT_STRTAB,
                                               sh_addralign=1)))
    symtab_data = b"".join(entries)
    out.append(Section(".symtab", Elf32_Shdr(
        sh_name=offsets[1], sh_type=SHT_SYMTAB, sh_size=len(symtab_data), sh_link=strtab_index,
        sh_info=first_global, sh_addralign=4, sh_entsize=Elf32_Sym.size), symtab_data))
    strtab_data = strtab.to_bytes()
    out.append(Section(".strtab", Elf32_Shdr(sh_name=offsets[2], sh_type=SHT_STRTAB,
                                             sh_size=len(strtab_data), sh_addralign=1),
                       strtab_data))
    if extended:
        # NASM's .symtab_shndx: one word per symbol, 0 unless its st_shndx is escaped
        xindex = [0] * len(entries)
        for i, x in escaped.items():
            xindex[i] = x
        shndx_data = b"".join(x.to_bytes(4, "little") for x in xindex)
        out.append(Section(".symtab_shndx", Elf32_Shdr(
            sh_name=offsets[3], sh_type=SHT_SYMTAB_SHNDX, sh_size=len(shndx_data),
            sh_link=symtab_index, sh_addralign=1), shndx_data))
    rel_offsets = iter(offsets[len(names):])
    for sec in sections:
        if sec.name not in per_section or sec.rel_after is not None:
            continue
        body = b"".join(per_section[sec.name])
        out.append(Section(".rel" + sec.name, Elf32_Shdr(
            sh_name=next(rel_offsets), sh_type=SHT_REL, sh_size=len(body), sh_link=symtab_index,
            sh_info=sec_index[sec.name], sh_addralign=4, sh_entsize=Elf32_Rel.size), body))
    shstr = shstrtab.to_bytes()
    out[shstr_index].data = shstr
    out[shstr_index].header.sh_size = len(shstr)

    # ---- file layout: header, header table at 64, then each section 16-aligned ----
    header = new_header(ET_REL)
    header.e_shoff = _align(Elf32_Ehdr.size, FILE_ALIGN)
    header.e_shstrndx = shstr_index
    if shstr_index >= SHN_LORESERVE:
        header.e_shstrndx = SHN_XINDEX      # the real index is section 0's sh_link
        out[0].header.sh_link = shstr_index
    header.e_phentsize = 0
    pos = _align(header.e_shoff + len(out) * Elf32_Shdr.size, FILE_ALIGN)
    for i, sec in enumerate(out):
        sec.index = i
        if sec.type == SHT_NULL:
            continue
        sec.header.sh_offset = pos
        if sec.type != SHT_NOBITS:
            pos += _align(len(sec.data), FILE_ALIGN)
    return ElfFile(header, out, [], min_size=pos)


def write_relocatable(sections: Iterable[ObjSection], symbols: Iterable[ObjSymbol],
                      relocs: Iterable[ObjReloc] = (), file_name: Optional[str] = None,
                      *, section_symbols: bool = True) -> bytes:
    """The bytes of an ET_REL object for the given sections, symbols and relocations."""
    elf = build_relocatable(sections, symbols, relocs, file_name, section_symbols=section_symbols)
    return elf.to_bytes()


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to if to > 1 else value


def _field_span(data: bytearray, rel: ObjReloc) -> int:
    width = RELOC_WIDTH.get(rel.type)
    if width is None:
        raise ElfError(f"relocation type {R_386_NAMES.get(rel.type, rel.type)} cannot carry "
                       f"an addend in place")
    if rel.offset < 0 or rel.offset + width > len(data):
        raise ElfError(f"relocation at {rel.offset:#x} of {rel.section!r} is outside the section")
    return width


def _read_field(data: bytearray, rel: ObjReloc) -> int:
    width = _field_span(data, rel)
    return int.from_bytes(data[rel.offset:rel.offset + width], "little", signed=True)


def _write_field(data: bytearray, rel: ObjReloc, value: int) -> None:
    width = _field_span(data, rel)
    data[rel.offset:rel.offset + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
