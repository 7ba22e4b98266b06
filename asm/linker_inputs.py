"""pyld's inputs: relocatable objects and the sections, symbols and relocations they bring.

An input section is kept (and later placed in an output section) or discarded with a reason
the map file shows. Which sections are discarded follows what a static ``ld`` link of
freestanding code needs: non-allocated sections (``.comment``, ``.note.GNU-stack``, debug
info), unwind tables (``.eh_frame``: nothing unwinds in a freestanding program) and GNU
property notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from formats.elf import ElfError, ElfFile, Relocation, Symbol, read_elf
from formats.elf.constants import (
    ET_REL,
    GRP_COMDAT,
    SHF_ALLOC,
    SHF_EXCLUDE,
    SHF_EXECINSTR,
    SHT_FINI_ARRAY,
    SHT_GROUP,
    SHT_INIT_ARRAY,
    SHT_NOBITS,
    SHT_NOTE,
    SHT_PREINIT_ARRAY,
    SHT_PROGBITS,
    SHT_REL,
    SHT_RELA,
)

if TYPE_CHECKING:
    from .linker_layout import OutputSection
    from .linker_symbols import GlobalSymbol


class LinkError(Exception):
    """One or more user-facing link errors; each message becomes one ``pyld: error:`` line."""

    def __init__(self, messages):
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        super().__init__("\n".join(self.messages))


CONTENT_TYPES = (SHT_PROGBITS, SHT_NOBITS, SHT_NOTE, SHT_INIT_ARRAY, SHT_FINI_ARRAY,
                 SHT_PREINIT_ARRAY)
DISCARDED_NAMES = {
    ".eh_frame": "unwind tables are not kept",
    ".note.gnu.property": "GNU property notes are not kept",
    ".note.GNU-stack": "stack marker (sets PT_GNU_STACK)",
}


@dataclass(eq=False)
class InputSection:
    obj: InputObject
    index: int
    name: str
    type: int
    flags: int
    align: int
    size: int
    entsize: int
    data: Optional[bytearray]                 # None for SHT_NOBITS
    relocs: list[Relocation] = field(default_factory=list)
    discarded: str = ""                       # why it is not in the output ("" = kept)
    duplicate_group: bool = False             # a later copy of a COMDAT group already kept
    output: Optional[OutputSection] = None
    offset: int = 0                           # within the output section

    @property
    def address(self) -> int:
        assert self.output is not None
        return self.output.addr + self.offset

    @property
    def is_code(self) -> bool:
        return bool(self.flags & SHF_EXECINSTR)

    def where(self, offset: int) -> str:
        return f"{self.obj.name}({self.name}+{offset:#x})"


@dataclass(eq=False)
class InputObject:
    name: str                                  # "x.o" or "libfoo.a(x.o)"
    elf: ElfFile
    symbols: list[Symbol]
    sections: dict[int, InputSection]          # by section index; content sections only
    groups: list[tuple[str, list[int]]]        # COMDAT groups: (signature, member indices)
    gnu_stack: Optional[bool] = None           # None: no .note.GNU-stack; else: executable?
    # symbol index -> the global entry it resolved to (globals and weak symbols only)
    globals: dict[int, GlobalSymbol] = field(default_factory=dict)
    from_archive: bool = False

    def section_of(self, sym: Symbol) -> Optional[InputSection]:
        return self.sections.get(sym.shndx)


def load_object(name: str, data: bytes, from_archive: bool = False) -> InputObject:
    """Parse one relocatable object; raise LinkError if it is not one pyld can link."""
    try:
        elf = read_elf(data)
        elf.require(ET_REL, "relocatable object")
        symbols = elf.symbols()
        sections, groups, gnu_stack = _content_sections(elf)
        obj = InputObject(name, elf, symbols, {}, groups, gnu_stack, from_archive=from_archive)
        for sec in sections:
            sec.obj = obj
            obj.sections[sec.index] = sec
        table = elf.symbol_table()
        for rel_sec in elf.relocation_sections():
            target = obj.sections.get(rel_sec.info)
            if target is None or target.discarded:
                continue                    # relocations for what is not linked
            if table is None or rel_sec.link != table.index:
                raise ElfError(f"relocation section '{rel_sec.name}' does not use the "
                               f"object's symbol table")
            target.relocs.extend(elf.relocations(rel_sec))
    except ElfError as e:
        msg = str(e)
        if not msg.startswith("not an"):
            msg = f"bad ELF file: {msg}"
        raise LinkError(f"{name}: {msg}") from None
    return obj


def _content_sections(elf: ElfFile):
    sections: list[InputSection] = []
    groups: list[tuple[str, list[int]]] = []
    gnu_stack: Optional[bool] = None
    symbols = None
    for sec in elf.sections:
        if sec.type == SHT_GROUP:
            flags, members = elf.group_members(sec)
            if flags & GRP_COMDAT:
                symbols = symbols if symbols is not None else elf.symbols(elf.sections[sec.link])
                if sec.info >= len(symbols):
                    raise ElfError(f"group section '{sec.name}' names symbol {sec.info}, "
                                   f"which does not exist")
                groups.append((symbols[sec.info].name, members))
            continue
        if sec.name == ".note.GNU-stack":
            gnu_stack = bool(sec.flags & SHF_EXECINSTR)
        if sec.type not in CONTENT_TYPES or sec.index == 0:
            continue
        data = None if sec.type == SHT_NOBITS else bytearray(sec.data)
        isec = InputSection(None, sec.index, sec.name, sec.type, sec.flags,  # type: ignore[arg-type]
                            max(sec.align, 1), sec.size, sec.entsize, data)
        if not sec.flags & SHF_ALLOC:
            isec.discarded = DISCARDED_NAMES.get(sec.name, "not allocated")
        elif sec.flags & SHF_EXCLUDE:
            isec.discarded = "SHF_EXCLUDE"
        elif sec.name in DISCARDED_NAMES:
            isec.discarded = DISCARDED_NAMES[sec.name]
        sections.append(isec)
    for sec in elf.sections:
        if sec.type in (SHT_REL, SHT_RELA) and sec.info >= len(elf.sections):
            raise ElfError(f"relocation section '{sec.name}' applies to section {sec.info}, "
                           f"which does not exist")
    return sections, groups, gnu_stack
