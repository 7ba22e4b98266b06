"""ELF32 (i386): one reader and two writers, shared by pyasm, pyld and the pyvm loader.

- ``read_elf(data) -> ElfFile``: validated parse; ``ElfFile.symbols()``, ``.relocations()``,
  ``.notes()``, ``.segments``; ``ElfFile.to_bytes()`` re-serialises it unchanged.
- ``write_relocatable(sections, symbols, relocs, file_name)``: an ET_REL object in NASM's layout.
- ``build_executable(...)`` (``executable``): an ET_EXEC image from the linker's layout.

Structures are declared once in ``structs`` and used for both directions.
"""

from __future__ import annotations

from .constants import *  # noqa: F401,F403  (the constants are part of this package's API)
from .elffile import ElfFile, Section, Segment, is_elf, new_header, read_elf
from .executable import ExecSection, ExecSegment, build_executable
from .relocatable import (
    ABS,
    COMMON,
    ObjReloc,
    ObjSection,
    ObjSymbol,
    build_relocatable,
    section_defaults,
    write_relocatable,
)
from .tables import ElfError, Note, Relocation, StringTable, Symbol

__all__ = [
    "ABS", "COMMON", "ElfError", "ElfFile", "ExecSection", "ExecSegment", "Note", "ObjReloc",
    "ObjSection", "ObjSymbol", "Relocation", "Section", "Segment", "StringTable", "Symbol",
    "build_executable", "build_relocatable", "is_elf", "new_header", "read_elf",
    "section_defaults", "write_relocatable",
]
