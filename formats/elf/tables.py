"""Decoded ELF table entries (symbols, relocations, notes) and string tables.

Each converts to and from its declared record in ``structs``; nothing here knows file layout.
"""

from __future__ import annotations

from typing import Optional

from formats.plainrecord import record

from .constants import (
    SHN_ABS,
    SHN_COMMON,
    SHN_UNDEF,
    STB_LOCAL,
    STB_NAMES,
    STT_NAMES,
    STT_SECTION,
    type_name,
)
from .structs import Elf32_Nhdr, Elf32_Rel, Elf32_Rela, Elf32_Sym, r_info, st_info

ENCODING = "utf-8"
ERRORS = "surrogateescape"    # any byte string survives a decode/encode round trip


class ElfError(ValueError):
    """The bytes are not a valid (or not a supported) ELF32 file; the message is for the user."""


def c_string(table: bytes, offset: int, what: str = "string table") -> str:
    """The NUL-terminated string at ``offset`` of a string table."""
    if offset == 0:
        return ""
    if offset >= len(table):
        raise ElfError(f"string offset {offset:#x} is past the end of the {what} "
                       f"({len(table)} bytes)")
    end = table.find(b"\0", offset)
    if end < 0:
        raise ElfError(f"string at offset {offset:#x} of the {what} is not NUL-terminated")
    return table[offset:end].decode(ENCODING, ERRORS)


class StringTable:
    """Builds a string table in insertion order: ``b"\\0"``, then each distinct string once.

    No suffix sharing, as NASM (and pyld's output) do it; readelf does not care.
    """

    def __init__(self) -> None:
        self._data = bytearray(b"\0")
        self._offsets: dict[str, int] = {"": 0}

    def add(self, text: str) -> int:
        offset = self._offsets.get(text)
        if offset is None:
            offset = self._offsets[text] = len(self._data)
            self._data += text.encode(ENCODING, ERRORS) + b"\0"
        return offset

    def add_unshared(self, text: str) -> int:
        """Append even if present (NASM writes each symbol name anew)."""
        if not text:
            return 0
        offset = len(self._data)
        self._data += text.encode(ENCODING, ERRORS) + b"\0"
        self._offsets.setdefault(text, offset)
        return offset

    def to_bytes(self) -> bytes:
        return bytes(self._data)


@record
class Symbol:
    """One symbol-table entry, decoded."""

    name: str
    value: int = 0
    size: int = 0
    bind: int = STB_LOCAL
    type: int = 0
    other: int = 0          # st_other; visibility is its low 2 bits
    shndx: int = SHN_UNDEF  # section index, or SHN_ABS / SHN_COMMON / SHN_UNDEF
    index: int = 0          # position in its symbol table

    @property
    def visibility(self) -> int:
        return self.other & 3

    @property
    def is_undefined(self) -> bool:
        return self.shndx == SHN_UNDEF

    @property
    def is_common(self) -> bool:
        return self.shndx == SHN_COMMON

    @property
    def is_absolute(self) -> bool:
        return self.shndx == SHN_ABS

    @property
    def is_section(self) -> bool:
        return self.type == STT_SECTION

    def describe(self) -> str:
        return f"{type_name(STB_NAMES, self.bind)} {type_name(STT_NAMES, self.type)} {self.name}"

    @classmethod
    def from_record(cls, rec, name: str, index: int) -> Symbol:
        return cls(name, rec.st_value, rec.st_size, rec.st_info >> 4, rec.st_info & 0xF,
                   rec.st_other, rec.st_shndx, index)

    def to_record(self, name_offset: int):
        return Elf32_Sym(name_offset, self.value & 0xFFFFFFFF, self.size,
                         st_info(self.bind, self.type), self.other, self.shndx)


@record
class Relocation:
    """One REL or RELA entry: ``addend`` is None for REL (the addend is in the section bytes)."""

    offset: int
    type: int
    symbol: int                 # index into the linked symbol table
    addend: Optional[int] = None

    @classmethod
    def from_record(cls, rec) -> Relocation:
        return cls(rec.r_offset, rec.r_info & 0xFF, rec.r_info >> 8, getattr(rec, "r_addend", None))

    def to_record(self):
        info = r_info(self.symbol, self.type)
        if self.addend is None:
            return Elf32_Rel(self.offset, info)
        return Elf32_Rela(self.offset, info, self.addend)


@record
class Note:
    """One entry of a SHT_NOTE section or PT_NOTE segment (``desc``: bytes, or for a
    note read_elf found, a read-only view of the file's)."""

    name: str
    type: int
    desc: bytes

    def to_bytes(self) -> bytes:
        name = self.name.encode(ENCODING, ERRORS) + b"\0" if self.name else b""
        head = Elf32_Nhdr(len(name), len(self.desc), self.type).pack()
        return head + _pad4(name) + _pad4(bytes(self.desc))


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def parse_notes(data: bytes, where: str) -> list[Note]:
    notes: list[Note] = []
    pos = 0
    while pos + Elf32_Nhdr.size <= len(data):
        head = Elf32_Nhdr.unpack_from(data, pos)
        pos += Elf32_Nhdr.size
        name_end = pos + head.n_namesz
        desc_at = pos + ((head.n_namesz + 3) & ~3)
        desc_end = desc_at + head.n_descsz
        if desc_end > len(data):
            raise ElfError(f"{where}: note at offset {pos - Elf32_Nhdr.size:#x} is truncated")
        name = bytes(data[pos:name_end]).rstrip(b"\0").decode(ENCODING, ERRORS)
        desc = data[desc_at:desc_end]       # (a view of a view: ElfFile.notes' file)
        notes.append(Note(name, head.n_type, desc if type(desc) is memoryview else
                          bytes(desc)))
        pos = (desc_end + 3) & ~3
    return notes
