"""The ``.b32`` executable (spec section 2): a 7-byte header and a code image.

    offset 0  "B32"          magic
    offset 3  uint16 LE      load address (origin): where the image goes in memory
    offset 5  uint16 LE      execution address: absolute, the initial IP
    offset 7  ...            code image, copied verbatim to memory at the load address
"""

from __future__ import annotations

from dataclasses import dataclass

from formats.header import LoadEntryHeader

MAGIC = b"B32"
ADDRESS_SPACE = 0x10000           # 64 KiB; the image must end at or before $FFFF


class B32FormatError(ValueError):
    """The bytes are not a valid .b32 program (message is meant for the user)."""


HEADER = LoadEntryHeader(MAGIC, "B32", B32FormatError)   # read with unpack, written with pack


@dataclass(frozen=True)
class B32Image:
    load: int      # load address (the assembler's origin)
    entry: int     # execution address
    code: bytes

    def __post_init__(self) -> None:
        for name in ("load", "entry"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFFFF:
                raise B32FormatError(f"{name} address {value:#x} is not a 16-bit address")
        end = self.load + len(self.code)
        if end > ADDRESS_SPACE:
            raise B32FormatError(
                f"the {len(self.code)}-byte image loaded at ${self.load:04X} runs past $FFFF "
                f"(it would end at ${end - 1:X})")

    @property
    def end(self) -> int:
        """First address after the image."""
        return self.load + len(self.code)

    def to_bytes(self) -> bytes:
        return HEADER.pack(self.load, self.entry) + self.code


def read_b32(data: bytes) -> B32Image:
    """Parse a .b32 file, raising B32FormatError with a readable reason."""
    return B32Image(*HEADER.unpack(data))


def write_b32(image: B32Image) -> bytes:
    return image.to_bytes()
