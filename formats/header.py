"""The header shared by the small machines' executables (B32, V16): a magic, then the
load address and the absolute entry address as little-endian 16-bit words, then the image.

Each format adds its own rules (B32: the image ends by $FFFF; V16: it lies in the code
area and contains the entry); this module only splits and joins the bytes, with the same
one-line messages for both.
"""

from __future__ import annotations

import struct


def show_magic(magic: bytes) -> str:
    """``'B32'`` or ``'V16\\x00'``: printable bytes as they are, the rest escaped."""
    text = "".join(chr(b) if 32 <= b < 127 else f"\\x{b:02x}" for b in magic)
    return f"'{text}'"


class LoadEntryHeader:
    """magic + uint16 load + uint16 entry; errors are raised as ``error(message)``."""

    def __init__(self, magic: bytes, machine: str, error: type[Exception]):
        self.magic = magic
        self.machine = machine
        self.error = error
        self.struct = struct.Struct(f"<{len(magic)}sHH")

    @property
    def size(self) -> int:
        return self.struct.size

    def matches(self, data: bytes) -> bool:
        return bytes(data[:len(self.magic)]) == self.magic

    def pack(self, load: int, entry: int) -> bytes:
        return self.struct.pack(self.magic, load, entry)

    def unpack(self, data: bytes) -> tuple[int, int, bytes]:
        """(load, entry, image) of a file's bytes."""
        n = len(self.magic)
        if len(data) < self.size:
            if data and not self.magic.startswith(bytes(data[:n])):
                raise self.error(self._bad_magic(bytes(data[:n])))
            raise self.error(f"truncated header: the file has {len(data)} bytes, "
                             f"a {self.machine} header needs {self.size}")
        magic, load, entry = self.struct.unpack_from(data)
        if magic != self.magic:
            raise self.error(self._bad_magic(magic))
        return load, entry, bytes(data[self.size:])

    def _bad_magic(self, magic: bytes) -> str:
        return (f"not a {self.machine} program: bad magic {show_magic(magic)}, "
                f"expected {show_magic(self.magic)}")
