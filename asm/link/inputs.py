"""pyld's inputs: relocatable objects and the sections, symbols and relocations they bring.

An input section is kept (and later placed in an output section) or discarded with a reason
the map file shows. Which sections are discarded follows what a static ``ld`` link of
freestanding code needs: non-allocated sections (``.comment``, ``.note.GNU-stack``) except
the ``.debug_*`` ones, which ld keeps (asm/link/debug.py), unwind tables (``.eh_frame``: nothing unwinds in a freestanding program) and GNU
property notes.
"""

from __future__ import annotations

from typing import Optional

from formats.elf import ElfError, ElfFile, read_elf
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

from .debug import is_debug_section
from .objects import InputObject, InputSection, LinkError

CONTENT_TYPES = (SHT_PROGBITS, SHT_NOBITS, SHT_NOTE, SHT_INIT_ARRAY, SHT_FINI_ARRAY,
                 SHT_PREINIT_ARRAY)
DISCARDED_NAMES = {
    ".eh_frame": "unwind tables are not kept",
    ".note.gnu.property": "GNU property notes are not kept",
    ".note.GNU-stack": "stack marker (sets PT_GNU_STACK)",
}


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
            if is_debug_section(sec.name, sec.type):
                isec.debug = True
            else:
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
