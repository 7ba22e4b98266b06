"""The linker's data, shared by its stages: input objects and their sections, global
symbols, output sections and the pieces placed in them. Each stage (inputs, symbols,
layout, relocs) works on these and imports them from here, so no stage imports another
for its types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from formats.elf import ElfFile, Relocation, Symbol
from formats.elf.constants import (
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHT_NOBITS,
    SHT_PROGBITS,
    STB_GLOBAL,
    STT_NOTYPE,
    STV_DEFAULT,
)

UNDEF, DEFINED, ABSOLUTE, COMMON, LINKER = "undef", "defined", "abs", "common", "linker"


class LinkError(Exception):
    """One or more user-facing link errors; each message becomes one ``pyld: error:`` line."""

    def __init__(self, messages):
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        super().__init__("\n".join(self.messages))


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
    debug: bool = False                       # a kept .debug_* section (asm/link/debug.py)
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


@dataclass(eq=False)
class GlobalSymbol:
    name: str
    kind: str = UNDEF
    bind: int = STB_GLOBAL                 # of the definition (or WEAK if only weak refs)
    type: int = STT_NOTYPE
    size: int = 0
    visibility: int = STV_DEFAULT
    obj: Optional[InputObject] = None      # defining object
    section: Optional[InputSection] = None
    value: int = 0                         # section offset / absolute value / common alignment
    strong_ref: bool = False               # some object refers to it with a non-weak reference
    first_ref: Optional[InputObject] = None
    address: int = 0                       # final value, set after layout

    @property
    def defined(self) -> bool:
        return self.kind != UNDEF


@dataclass(eq=False)
class Piece:
    """One thing placed in an output section: an input section, a fill gap, a common symbol."""

    offset: int
    size: int
    section: Optional[InputSection] = None
    common: Optional[GlobalSymbol] = None     # a COMMON symbol's storage


@dataclass(eq=False)
class OutputSection:
    name: str
    kind: str                                  # TEXT / RODATA / DATA / BSS
    inputs: list[InputSection] = field(default_factory=list)
    commons: list[GlobalSymbol] = field(default_factory=list)
    synthetic: Optional[bytearray] = None      # contents made by the linker (.got)
    type: int = SHT_PROGBITS
    flags: int = SHF_ALLOC
    align: int = 1
    addr: int = 0
    size: int = 0
    offset: int = 0                            # in the output file
    pieces: list[Piece] = field(default_factory=list)
    entsize: int = 0                           # debug string sections keep theirs (ld)

    @property
    def nobits(self) -> bool:
        return self.type == SHT_NOBITS

    @property
    def end(self) -> int:
        return self.addr + self.size

    def contents(self) -> bytes:
        """The section's bytes: inputs at their offsets, code gaps filled with NOPs as ld does."""
        if self.synthetic is not None:
            return bytes(self.synthetic)
        out = bytearray(self.size)
        code = bool(self.flags & SHF_EXECINSTR)
        pos = 0
        for piece in self.pieces:
            if code and piece.offset > pos:
                out[pos:piece.offset] = code_fill(piece.offset - pos)
            sec = piece.section
            if sec is not None and sec.data is not None:
                out[piece.offset:piece.offset + len(sec.data)] = sec.data
            pos = piece.offset + piece.size
        return bytes(out)


def code_fill(n: int) -> bytes:
    """ld's padding between code sections: ``66 90`` (xchg ax,ax) pairs, then a ``90``."""
    return b"\x66\x90" * (n // 2) + b"\x90" * (n & 1)


