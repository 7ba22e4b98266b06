"""The ``.v16`` executable (v16-spec.md section 4): an 8-byte header and a code image.

    offset 0  "V16\\0"        magic (56 31 36 00)
    offset 4  uint16 LE      load address: file byte 8 goes here
    offset 6  uint16 LE      entry address: absolute, the initial IP
    offset 8  ...            image, copied verbatim to memory at the load address

The loader's checks are the spec's: at least one image byte, the image inside the code
area (load + n <= 0x8000, the part of memory that stores cannot change), and the entry
inside the image.
"""

from __future__ import annotations

from dataclasses import dataclass

from formats.header import LoadEntryHeader

MAGIC = b"V16\x00"
CODE_END = 0x8000      # the code area is 0x0000-0x7FFF


class V16FormatError(ValueError):
    """The bytes are not a valid .v16 program (one line, meant for the user)."""


HEADER = LoadEntryHeader(MAGIC, "V16", V16FormatError)


@dataclass(frozen=True)
class V16Image:
    load: int      # where the image goes
    entry: int     # absolute initial IP
    code: bytes

    def __post_init__(self) -> None:
        if not self.code:
            raise V16FormatError("the image is empty: a V16 program needs at least one byte")
        for name in ("load", "entry"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFFFF:
                raise V16FormatError(f"{name} address {value:#x} is not a 16-bit address")
        if self.end > CODE_END:
            raise V16FormatError(
                f"the {len(self.code)}-byte image loaded at 0x{self.load:04X} does not fit "
                f"in the code area (it would end at 0x{self.end - 1:04X}; the code area "
                "ends at 0x7FFF)")
        if not self.load <= self.entry < self.end:
            raise V16FormatError(
                f"entry 0x{self.entry:04X} is outside the image "
                f"(0x{self.load:04X}-0x{self.end - 1:04X})")

    @property
    def end(self) -> int:
        """First address after the image."""
        return self.load + len(self.code)

    def to_bytes(self) -> bytes:
        return HEADER.pack(self.load, self.entry) + self.code


def looks_like_v16(data: bytes) -> bool:
    """True when ``data`` starts with the V16 magic (the file may still be invalid)."""
    return HEADER.matches(data)


def read_v16(data: bytes) -> V16Image:
    """Parse and check a .v16 file; raises V16FormatError with a one-line reason."""
    return V16Image(*HEADER.unpack(data))


def build_v16(load: int, entry: int, code: bytes) -> bytes:
    """The bytes of a .v16 file; raises V16FormatError when the spec's checks fail."""
    return V16Image(load, entry, bytes(code)).to_bytes()
