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
from .tables import ElfError, Note, Relocation, StringTable, Symbol

# The writers load on first use: a reader (pyvm's loader) never needs them, and they are
# ~2.5 ms of every pyvm start (~20 ms under PyPy)
_WRITERS = {"ExecSection": "executable", "ExecSegment": "executable",
            "build_executable": "executable", "ABS": "relocatable", "COMMON": "relocatable",
            "ObjReloc": "relocatable", "ObjSection": "relocatable", "ObjSymbol": "relocatable",
            "build_relocatable": "relocatable", "section_defaults": "relocatable",
            "write_relocatable": "relocatable"}


def __getattr__(name: str):
    module = _WRITERS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "ElfError", "ElfFile", "Note", "Relocation", "Section", "Segment", "StringTable", "Symbol",
    "is_elf", "new_header", "read_elf", *_WRITERS,
]
