"""VGA in 80x25 colour text mode: the character/attribute cells at B8000h, the CRT
controller at 3D4h/3D5h (cursor position and shape, display start address), the input
status register at 3DAh (vertical retrace timed by the PC's clock; reading it resets the
attribute controller's flip-flop), and the attribute, sequencer, graphics and DAC
registers, kept so a guest reads back what it wrote.

The screen is drawn as the B32 screen is (vm/b32/render.py): text when the run ends,
ANSI colours on a terminal, an HTML page with --screen-html; glyphs are code page 437.
"""

from __future__ import annotations

from typing import Callable

from vm.b32 import render

TEXT_BASE = 0xB8000
TEXT_END = 0xC0000
COLUMNS, ROWS = 80, 25
CRTC_INDEX, CRTC_DATA = 0x3D4, 0x3D5
STATUS = 0x3DA
FRAME = 1193182 // 70           # clocks per frame at 70 Hz
RETRACE = FRAME // 20           # vertical retrace: the first 5% of a frame

# the standard 16-colour text palette (the DAC's defaults for attribute indices 0-15)
DARK = (("black", "#000000"), ("blue", "#0000aa"), ("green", "#00aa00"),
        ("cyan", "#00aaaa"), ("red", "#aa0000"), ("magenta", "#aa00aa"),
        ("brown", "#aa5500"), ("lightgray", "#aaaaaa"))
BRIGHT = (("darkgray", "#555555"), ("lightblue", "#5555ff"), ("lightgreen", "#55ff55"),
          ("lightcyan", "#55ffff"), ("lightred", "#ff5555"), ("pink", "#ff55ff"),
          ("yellow", "#ffff55"), ("white", "#ffffff"))

_CP437 = bytes(range(256)).decode("cp437")
_CONTROL = " ☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼"


def glyph(code: int) -> str:
    """The character code page 437 draws for a byte (NUL as a blank)."""
    if code < 0x20:
        return _CONTROL[code]
    if code == 0x7F:
        return "⌂"
    return _CP437[code]


class VGA:
    palette = (DARK, BRIGHT)
    html_class = "vga"

    def __init__(self, memory, clock: Callable[[], int]):
        self.data = memory          # the machine's RAM buffer (physical addresses)
        self.clock = clock
        self.crtc = bytearray(0x19)
        self.crtc[0x0A], self.crtc[0x0B] = 0x0D, 0x0E       # cursor scan lines
        self.crtc_index = 0
        self.attr = bytearray(0x15)
        self.attr_index = 0
        self.attr_flip = False
        self.seq = bytearray(5)
        self.seq_index = 0
        self.gfx = bytearray(9)
        self.gfx_index = 0
        self.misc = 0x67
        self.dac = bytearray(768)
        self.dac_write = self.dac_read = 0

    def glyph(self, code: int) -> str:
        return glyph(code)

    def install(self, bus) -> None:
        bus.claim((CRTC_INDEX, 0x3B4), lambda p, s: self.crtc_index,
                  lambda p, s, v: setattr(self, "crtc_index", v & 0x1F))
        bus.claim((CRTC_DATA, 0x3B5), self._crtc_read, self._crtc_write)
        bus.claim((STATUS, 0x3BA), lambda p, s: self.status(), None)
        bus.claim((0x3C0,), lambda p, s: self.attr_index, self._attr_write)
        bus.claim((0x3C1,), lambda p, s: self.attr[self.attr_index & 0x1F]
                  if (self.attr_index & 0x1F) < len(self.attr) else 0, None)
        bus.claim((0x3C2,), lambda p, s: 0x10, lambda p, s, v: setattr(self, "misc", v))
        bus.claim((0x3CC,), lambda p, s: self.misc, None)
        bus.claim((0x3C4,), lambda p, s: self.seq_index,
                  lambda p, s, v: setattr(self, "seq_index", v & 7))
        bus.claim((0x3C5,), lambda p, s: self._get(self.seq, self.seq_index),
                  lambda p, s, v: self._set(self.seq, self.seq_index, v))
        bus.claim((0x3CE,), lambda p, s: self.gfx_index,
                  lambda p, s, v: setattr(self, "gfx_index", v & 0xF))
        bus.claim((0x3CF,), lambda p, s: self._get(self.gfx, self.gfx_index),
                  lambda p, s, v: self._set(self.gfx, self.gfx_index, v))
        bus.claim((0x3C7,), None, lambda p, s, v: setattr(self, "dac_read", v * 3))
        bus.claim((0x3C8,), lambda p, s: self.dac_write // 3,
                  lambda p, s, v: setattr(self, "dac_write", v * 3))
        bus.claim((0x3C9,), self._dac_read, self._dac_write)

    @staticmethod
    def _get(regs: bytearray, i: int) -> int:
        return regs[i] if i < len(regs) else 0xFF

    @staticmethod
    def _set(regs: bytearray, i: int, v: int) -> None:
        if i < len(regs):
            regs[i] = v

    def _crtc_read(self, port: int, size: int) -> int:
        return self._get(self.crtc, self.crtc_index)

    def _crtc_write(self, port: int, size: int, value: int) -> None:
        i = self.crtc_index
        if i <= 7 and self.crtc[0x11] & 0x80 and i != 7:
            return                  # CR0-CR7 are write-protected (CR11 bit 7)
        self._set(self.crtc, i, value)

    def _attr_write(self, port: int, size: int, value: int) -> None:
        if not self.attr_flip:
            self.attr_index = value & 0x3F
        else:
            self._set(self.attr, self.attr_index & 0x1F, value)
        self.attr_flip = not self.attr_flip

    def _dac_read(self, port: int, size: int) -> int:
        v = self.dac[self.dac_read % 768]
        self.dac_read = (self.dac_read + 1) % 768
        return v

    def _dac_write(self, port: int, size: int, value: int) -> None:
        self.dac[self.dac_write % 768] = value & 0x3F
        self.dac_write = (self.dac_write + 1) % 768

    def status(self) -> int:
        """Input status 1: bit 3 vertical retrace, bit 0 display disabled (either
        retrace); reading it resets the attribute controller to its index."""
        self.attr_flip = False
        t = self.clock() % FRAME
        vr = t < RETRACE
        hr = (t // 4) % 10 == 0         # horizontal retrace: a short pulse per line
        return (8 if vr else 0) | (1 if vr or hr else 0)

    # -- registers the BIOS keeps ----------------------------------------------------------
    def cursor(self) -> int:
        return self.crtc[0x0E] << 8 | self.crtc[0x0F]

    def set_cursor(self, offset: int) -> None:
        self.crtc[0x0E], self.crtc[0x0F] = (offset >> 8) & 0xFF, offset & 0xFF

    def start(self) -> int:
        return self.crtc[0x0C] << 8 | self.crtc[0x0D]

    # -- the screen, as vm/b32/render.py draws it -------------------------------------------
    def row(self, r: int) -> list:
        a = TEXT_BASE + ((self.start() + r * COLUMNS) * 2) % (TEXT_END - TEXT_BASE)
        cells = self.data[a:a + 2 * COLUMNS]
        return list(zip(cells[0::2], cells[1::2]))

    def lines(self) -> list:
        rows = ["".join(glyph(c) for c, _ in self.row(r)).rstrip(" ") for r in range(ROWS)]
        while rows and not rows[-1]:
            rows.pop()
        return rows

    def blank(self) -> bool:
        return not any(c not in (0, 0x20) for r in range(ROWS) for c, _ in self.row(r))

    def text(self) -> str:
        return render.render_text(self)

    def ansi(self) -> str:
        return render.render_ansi(self)

    def html(self, title: str) -> str:
        return render.render_html(self, title)
