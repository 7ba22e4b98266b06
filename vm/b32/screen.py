"""The B32 text screen (spec section 5): 80x25 cells in memory at $A000-$AF9F.

Each cell is two bytes, the character (even address) then its attribute:
bits 0-2 foreground RGB index, bit 3 bright foreground, bits 4-6 background, bit 7 unused.
"""

from __future__ import annotations

VIDEO_BASE = 0xA000
COLUMNS = 80
ROWS = 25
VIDEO_SIZE = COLUMNS * ROWS * 2       # 4000 bytes: $A000-$AF9F
VIDEO_END = VIDEO_BASE + VIDEO_SIZE   # first address after the screen
BLANK_CHAR = 0x20
DEFAULT_ATTR = 0x07                   # gray on black


def cell_address(row: int, col: int) -> int:
    if not (0 <= row < ROWS and 0 <= col < COLUMNS):
        raise IndexError(f"no screen cell at row {row}, column {col} (80x25 screen)")
    return VIDEO_BASE + 2 * (row * COLUMNS + col)


def glyph(code: int) -> str:
    """The character drawn for a byte: printable ASCII as is, NUL as a blank, and '?' for
    the rest, as the tutorial's .NET ASCII decoder did for bytes above 127."""
    if 0x20 <= code < 0x7F:
        return chr(code)
    return " " if code == 0 else "?"


class Screen:
    """A view of the video window inside a 64 KiB memory (B32 has unified memory)."""

    def __init__(self, mem: bytearray):
        self.mem = mem

    def clear(self) -> None:
        self.mem[VIDEO_BASE:VIDEO_END] = bytes((BLANK_CHAR, DEFAULT_ATTR)) * (VIDEO_SIZE // 2)

    def cell(self, row: int, col: int) -> tuple[int, int]:
        """(character byte, attribute byte) at (row, col)."""
        address = cell_address(row, col)
        return self.mem[address], self.mem[address + 1]

    def char(self, row: int, col: int) -> str:
        return glyph(self.cell(row, col)[0])

    def attr(self, row: int, col: int) -> int:
        return self.cell(row, col)[1]

    def row(self, row: int) -> list[tuple[int, int]]:
        start = cell_address(row, 0)
        data = self.mem[start:start + 2 * COLUMNS]
        return list(zip(data[0::2], data[1::2]))

    def row_text(self, row: int) -> str:
        """The row's 80 characters, trailing blanks kept."""
        return "".join(glyph(c) for c, _ in self.row(row))

    def lines(self) -> list[str]:
        """The screen as text: trailing blanks and trailing empty rows trimmed."""
        rows = [self.row_text(r).rstrip(" ") for r in range(ROWS)]
        while rows and not rows[-1]:
            rows.pop()
        return rows
