"""Static archives (``.a``): the common ``ar`` format with GNU/SysV conventions.

    "!<arch>\\n", then members: a 60-byte ASCII header, the data, a pad byte to even length.
    "/"        member: symbol index (big-endian count, member offsets, NUL-terminated names)
    "/SYM64/"  member: the same with 64-bit numbers
    "//"       member: long names, each ending "/\\n"; a member named "/123" uses offset 123
    "#1/N"     BSD long name: the name is the first N bytes of the data

``read_archive`` validates as it goes and raises ArchiveError naming what is corrupt.
``write_archive`` produces a GNU archive with a symbol index, as ``ar rcs`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional

from formats.elf.records import declare

MAGIC = b"!<arch>\n"
THIN_MAGIC = b"!<thin>\n"
FMAG = b"`\n"

# The member header is ASCII text in fixed-width fields, declared once like every structure.
ArHeader = declare("ArHeader", "<", [
    ("ar_name", "16s"),
    ("ar_date", "12s"),
    ("ar_uid", "6s"),
    ("ar_gid", "6s"),
    ("ar_mode", "8s"),
    ("ar_size", "10s"),
    ("ar_fmag", "2s"),
])


class ArchiveError(ValueError):
    """The bytes are not a valid archive; the message says what is wrong."""


@dataclass
class Member:
    name: str
    data: bytes
    offset: int             # offset of the member's header in the archive (the index uses it)


@dataclass
class Archive:
    members: list[Member] = field(default_factory=list)
    # symbol -> header offset of the first member defining it, from the "/" index (None: none)
    symbol_index: Optional[dict[str, int]] = None

    def member_at(self, offset: int) -> Member:
        for member in self.members:
            if member.offset == offset:
                return member
        raise ArchiveError(f"corrupt archive: the symbol index points at offset {offset:#x}, "
                           f"where no member starts")


def is_archive(data: bytes) -> bool:
    return data[:8] in (MAGIC, THIN_MAGIC)


def _number(text: bytes, what: str, offset: int, base: int = 10) -> int:
    try:
        return int(text.decode("ascii").strip() or "0", base)
    except ValueError:
        raise ArchiveError(f"corrupt archive: member header at offset {offset:#x} has a bad "
                           f"{what} field {text!r}") from None


def read_archive(data: bytes) -> Archive:
    """Parse an archive: members (with long names resolved) and the symbol index if any."""
    data = bytes(data)
    if data[:8] == THIN_MAGIC:
        raise ArchiveError("thin archives are not supported")
    if data[:8] != MAGIC:
        raise ArchiveError("not an archive (bad magic)")
    archive = Archive()
    long_names = b""
    index_data: Optional[tuple[bytes, int]] = None
    pos = len(MAGIC)
    while pos < len(data):
        if data[pos:pos + 1] == b"\n" and pos + 1 == len(data):
            break                                   # a stray final pad byte
        if pos + ArHeader.size > len(data):
            raise ArchiveError(f"corrupt archive: truncated member header at offset {pos:#x}")
        head = ArHeader.unpack_from(data, pos)
        if head.ar_fmag != FMAG:
            raise ArchiveError(f"corrupt archive: bad member header at offset {pos:#x}")
        size = _number(head.ar_size, "size", pos)
        start = pos + ArHeader.size
        if start + size > len(data):
            raise ArchiveError(f"corrupt archive: member at offset {pos:#x} claims {size} bytes, "
                               f"only {len(data) - start} remain")
        body = data[start:start + size]
        raw = head.ar_name.rstrip(b" ")
        if raw == b"/":
            index_data = (body, 4)
        elif raw == b"/SYM64/":
            index_data = (body, 8)
        elif raw == b"//":
            long_names = body
        elif raw == b"__.SYMDEF" or raw == b"__.SYMDEF SORTED":
            pass                                    # BSD index: members are scanned instead
        else:
            name, body = _member_name(raw, body, long_names, pos)
            archive.members.append(Member(name, body, pos))
        pos = start + size + (size & 1)
    if index_data is not None:
        archive.symbol_index = _read_index(*index_data, archive)
    return archive


def _member_name(raw: bytes, body: bytes, long_names: bytes, pos: int) -> tuple[str, bytes]:
    if raw.startswith(b"#1/"):                      # BSD: name stored in front of the data
        length = _number(raw[3:], "name length", pos)
        if length > len(body):
            raise ArchiveError(f"corrupt archive: member name at offset {pos:#x} is truncated")
        return body[:length].rstrip(b"\0").decode("utf-8", "surrogateescape"), body[length:]
    if raw.startswith(b"/") and raw[1:2].isdigit():
        at = _number(raw[1:], "long name offset", pos)
        if at >= len(long_names):
            raise ArchiveError(f"corrupt archive: member at offset {pos:#x} refers to long name "
                               f"{at}, past the long-name table")
        end = long_names.find(b"\n", at)
        text = long_names[at:end if end >= 0 else len(long_names)]
        return text.rstrip(b"/").decode("utf-8", "surrogateescape"), body
    return raw.rstrip(b"/").decode("utf-8", "surrogateescape"), body


def _read_index(body: bytes, width: int, archive: Archive) -> dict[str, int]:
    if len(body) < width:
        raise ArchiveError("corrupt archive: truncated symbol index")
    count = int.from_bytes(body[:width], "big")
    names_at = width + count * width
    if names_at > len(body):
        raise ArchiveError(f"corrupt archive: symbol index claims {count} symbols "
                           f"but holds {len(body)} bytes")
    offsets = [int.from_bytes(body[width + i * width:width + (i + 1) * width], "big")
               for i in range(count)]
    names = body[names_at:].split(b"\0")
    if len(names) < count:
        raise ArchiveError("corrupt archive: symbol index has fewer names than offsets")
    starts = {m.offset for m in archive.members}
    index: dict[str, int] = {}
    for name, offset in zip(names, offsets):
        if offset not in starts:
            raise ArchiveError(f"corrupt archive: the symbol index points at offset {offset:#x}, "
                               f"where no member starts")
        index.setdefault(name.decode("utf-8", "surrogateescape"), offset)
    return index


def write_archive(members: Iterable[tuple[str, bytes]], symbols: Optional[dict[str, list[str]]]
                  = None) -> bytes:
    """A GNU archive of ``(name, data)`` members.

    ``symbols`` maps member name -> global symbols it defines, for the "/" index; when None,
    the index is computed by reading each ELF member's symbol table.
    """
    members = list(members)
    if symbols is None:
        symbols = {name: defined_symbols(data) for name, data in members}
    long_table = bytearray()
    names: list[bytes] = []
    for name, _ in members:
        encoded = name.encode("utf-8", "surrogateescape")
        if len(encoded) > 15 or b"/" in encoded:
            names.append(b"/%d" % len(long_table))
            long_table += encoded + b"/\n"
        else:
            names.append(encoded + b"/")

    def header(name: bytes, size: int) -> bytes:
        return ArHeader(name.ljust(16), b"0".ljust(12), b"0".ljust(6), b"0".ljust(6),
                        b"644".ljust(8), str(size).encode().ljust(10), FMAG).pack()

    def padded(blob: bytes) -> bytes:
        return blob + b"\n" * (len(blob) & 1)

    entries = [(sym, i) for i, (name, _) in enumerate(members) for sym in symbols.get(name, [])]
    index_size = 4 + 4 * len(entries) + sum(len(s.encode()) + 1 for s, _ in entries)
    pos = len(MAGIC)
    if entries:
        pos += ArHeader.size + index_size + (index_size & 1)
    if long_table:
        pos += ArHeader.size + len(long_table) + (len(long_table) & 1)
    offsets = []
    for (_, data), _name in zip(members, names):
        offsets.append(pos)
        pos += ArHeader.size + len(data) + (len(data) & 1)

    out = bytearray(MAGIC)
    if entries:
        body = len(entries).to_bytes(4, "big")
        body += b"".join(offsets[i].to_bytes(4, "big") for _, i in entries)
        body += b"".join(s.encode() + b"\0" for s, _ in entries)
        out += header(b"/", len(body)) + padded(body)
    if long_table:
        out += header(b"//", len(long_table)) + padded(bytes(long_table))
    for (_, data), name in zip(members, names):
        out += header(name, len(data)) + padded(data)
    return bytes(out)


def defined_symbols(data: bytes) -> list[str]:
    """Global and weak symbols an ELF object defines (what an archive index lists)."""
    from formats.elf import ElfError, read_elf  # formats.elf does not need ar; keep it one-way

    try:
        elf = read_elf(data)
        syms = elf.symbols()
    except ElfError:
        return []
    return [s.name for s in syms if s.bind != 0 and not s.is_undefined and s.name]
