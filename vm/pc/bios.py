"""BIOS services for real-mode programs: video (int 10h) as a teletype on stdout, the
keyboard (int 16h) from stdin, the timer (int 1Ah), equipment and memory size
(int 11h, 12h), int 15h (wait, E820/E801/88h memory sizes, the A20 calls); and the
BIOS data area they keep at 0040:0000.

This is the BIOS of ``pyvm --bits 16 boot.bin``: there is no screen, characters written
through any video service go to stdout in order, and the cursor the BIOS data area
reports only follows them. Time: the tick counter (int 1Ah AH=00h, 0040:006C) starts at
the host's time of day and advances one tick per ``steps_per_tick`` guest instructions,
so timing loops are deterministic; the RTC services read the host clock. No hardware
interrupts are delivered. The PC of ``pyvm --disk`` (pcbios.py) keeps these services
but overrides the hooks below (``put``, ``scroll``, ``memory_map``, ``a20``...) to use
its VGA memory, its IRQ 0 and its memory.
"""

from __future__ import annotations

import time
from typing import Optional

from vm.pc.console import CR, Console
from vm.pc.services import (
    DiskError,
    ServiceStop,
    ServiceTable,
    quote,
    read_bytes,
    set_flag,
    write_bytes,
)
from vm.x86 import flags as F

BDA = 0x400
EQUIPMENT_WORD = 0x0023      # a floppy drive, an x87, 80x25 colour video
MEMORY_KB = 640
TICKS_PER_DAY = 0x1800B0
STEPS_PER_TICK = 1 << 16

# BIOS data area offsets (linear 0x400 + ...)
EQUIPMENT, MEMSIZE, KBD_FLAGS = 0x10, 0x13, 0x17
KBD_HEAD, KBD_TAIL, KBD_BUF = 0x1A, 0x1C, 0x1E
VIDEO_MODE, COLUMNS, PAGE_SIZE, CURSOR_POS, CURSOR_SHAPE = 0x49, 0x4A, 0x4C, 0x50, 0x60
ACTIVE_PAGE, CRTC_PORT, TICKS, MIDNIGHT, ROWS = 0x62, 0x63, 0x6C, 0x70, 0x84

VIDEO = ServiceTable(0x10, "BIOS")
EQUIPMENT_LIST = ServiceTable(0x11, "BIOS")
MEMORY_SIZE = ServiceTable(0x12, "BIOS")
SYSTEM = ServiceTable(0x15, "BIOS")
KEYBOARD = ServiceTable(0x16, "BIOS")
CLOCK = ServiceTable(0x1A, "BIOS")
TABLES = (VIDEO, EQUIPMENT_LIST, MEMORY_SIZE, SYSTEM, KEYBOARD, CLOCK)


def _scan_codes() -> dict:
    """ASCII -> scan code of the US keyboard key that types it (for AH of int 16h)."""
    rows = ((0x02, "1234567890-=", "!@#$%^&*()_+"), (0x10, "qwertyuiop[]", "QWERTYUIOP{}"),
            (0x1E, "asdfghjkl;'`", 'ASDFGHJKL:"~'), (0x2B, "\\zxcvbnm,./", "|ZXCVBNM<>?"))
    codes = {0x1B: 0x01, 0x08: 0x0E, 0x09: 0x0F, 0x0D: 0x1C, 0x20: 0x39}
    for first, plain, shifted in rows:
        for k, (a, b) in enumerate(zip(plain, shifted)):
            codes[ord(a)] = codes[ord(b)] = first + k
    for c in range(1, 27):          # Ctrl+letter
        codes.setdefault(c, codes[ord("a") + c - 1])
    return codes


SCAN_CODES = _scan_codes()


def bcd(n: int) -> int:
    return (n // 10) << 4 | n % 10


class BIOS:
    """The BIOS of one machine: its data area, cursor and keyboard queue."""

    def __init__(self, machine, console: Console, steps_per_tick: int = STEPS_PER_TICK):
        self.m = machine
        self.console = console
        self.steps_per_tick = steps_per_tick
        t = time.localtime()
        seconds = t.tm_hour * 3600 + t.tm_min * 60 + t.tm_sec
        self.tick_base = seconds * TICKS_PER_DAY // 86400
        self.keys: list = []        # (scan, ascii) stored with int 16h AH=05h

    def install(self) -> None:
        """Fill the BIOS data area."""
        m = self.m
        m.write(BDA, bytes(0x100))
        self.w16(EQUIPMENT, EQUIPMENT_WORD)
        self.w16(MEMSIZE, MEMORY_KB)
        self.w16(KBD_HEAD, KBD_BUF)
        self.w16(KBD_TAIL, KBD_BUF)
        self.w8(VIDEO_MODE, 3)
        self.w16(COLUMNS, 80)
        self.w16(PAGE_SIZE, 0x1000)
        self.w16(CURSOR_SHAPE, 0x0607)
        self.w16(CRTC_PORT, 0x3D4)
        self.w8(ROWS, 24)
        self.update_ticks()

    # -- data area ---------------------------------------------------------------------------
    def r8(self, off: int) -> int:
        return self.m.mem.data[BDA + off]

    def w8(self, off: int, v: int) -> None:
        self.m.mem.write(BDA + off, bytes([v & 0xFF]))

    def r16(self, off: int) -> int:
        return self.m.mem.r16(BDA + off)

    def w16(self, off: int, v: int) -> None:
        self.m.mem.write(BDA + off, (v & 0xFFFF).to_bytes(2, "little"))

    def ticks(self) -> int:
        return (self.tick_base + self.m.steps // self.steps_per_tick) % TICKS_PER_DAY

    def update_ticks(self) -> None:
        """Refresh 0040:006C (called between slices of the run, as IRQ 0 would)."""
        self.m.mem.write(BDA + TICKS, self.ticks().to_bytes(4, "little"))

    def set_tick_count(self, want: int) -> None:
        self.tick_base += want - self.ticks()
        self.update_ticks()

    # -- what a PC with a screen and more memory overrides (vm/pc/pcbios.py) ----------------
    def scroll(self, lines: int, up: bool, attr: int, top: int, left: int, bottom: int,
               right: int, page: int = 0) -> None:
        """Scroll a window of the screen; the stream has none."""

    def clear(self, attr: int) -> None:
        """Blank the screen (a mode set); a stream has nothing to blank."""

    def char_attr(self, page: int) -> int:
        """AH=attribute, AL=character at the cursor: a light grey blank on a stream."""
        return 0x0720

    def memory_map(self) -> list:
        """The int 15h E820 map: (base, length, type) with type 1 usable, 2 reserved."""
        return [(0, 0x9FC00, 1), (0x9FC00, 0x400, 2), (0xF0000, 0x10000, 2)]

    def extended_kb(self) -> int:
        """KiB of memory above 1 MiB (int 15h AH=88h)."""
        return 0

    def a20(self, enable: Optional[bool]) -> Optional[bool]:
        """The A20 gate: set it (enable not None) and return its state; None when the
        machine has no gate (A20 always on, the default BIOS)."""
        return None

    # -- output ------------------------------------------------------------------------------
    def cursor(self, page: int) -> tuple:
        off = CURSOR_POS + 2 * (page & 7)
        return self.r8(off + 1), self.r8(off)           # row, column

    def set_cursor(self, page: int, row: int, col: int) -> None:
        off = CURSOR_POS + 2 * (page & 7)
        self.w8(off, col)
        self.w8(off + 1, row)

    def put(self, data: bytes, page: int, move: bool = True,
            attr: Optional[int] = None) -> None:
        """Write characters to the screen (stdout); the cursor follows unless not move.
        ``attr``: the colour to write them in (a stream shows none)."""
        self.console.write(data)
        if not move:
            return
        row, col = self.cursor(page)
        cols = self.r16(COLUMNS) or 80
        for b in data:
            if b == CR:
                col = 0
            elif b == 0x0A:
                row += 1
            elif b == 0x08:
                col = max(col - 1, 0)
            elif b != 0x07:
                col += 1
                if col >= cols:
                    col, row = 0, row + 1
        self.set_cursor(page, min(row, 24), col)

    # -- keyboard ----------------------------------------------------------------------------
    def key_word(self, consume: bool) -> Optional[int]:
        """AH=scan code, AL=ASCII of the next key; None if there is none (at EOF)."""
        if self.keys:
            scan, ascii_ = self.keys.pop(0) if consume else self.keys[0]
            return scan << 8 | ascii_
        k = self.console.read_key() if consume else self.console.peek_key()
        if k is None:
            return None
        return SCAN_CODES.get(k, 0) << 8 | k


# ---- int 10h: video ------------------------------------------------------------------------

@VIDEO.service(0x00, "set_mode", "al")
def set_mode(bios: BIOS, m) -> None:
    mode = m.reg("al") & 0x7F
    if not m.reg("al") & 0x80:          # bit 7 keeps the video memory
        bios.clear(0x07)
    bios.w8(VIDEO_MODE, mode)
    bios.w16(COLUMNS, 40 if mode in (0, 1, 4, 5, 0x0D) else 80)
    for page in range(8):
        bios.set_cursor(page, 0, 0)


@VIDEO.service(0x01, "set_cursor_shape", "cx")
def set_cursor_shape(bios: BIOS, m) -> None:
    bios.w16(CURSOR_SHAPE, m.reg("cx"))


@VIDEO.service(0x02, "set_cursor", "bh dh dl")
def set_cursor(bios: BIOS, m) -> None:
    bios.set_cursor(m.reg("bh"), m.reg("dh"), m.reg("dl"))


@VIDEO.service(0x03, "get_cursor", "bh", "dh dl cx")
def get_cursor(bios: BIOS, m) -> None:
    row, col = bios.cursor(m.reg("bh"))
    m.set_reg("dx", row << 8 | col)
    m.set_reg("cx", bios.r16(CURSOR_SHAPE))


@VIDEO.service(0x05, "select_page", "al")
def select_page(bios: BIOS, m) -> None:
    bios.w8(ACTIVE_PAGE, m.reg("al") & 7)


@VIDEO.service(0x06, "scroll_up", "al bh cx dx")
def scroll_up(bios: BIOS, m) -> None:
    bios.scroll(m.reg("al"), True, m.reg("bh"), m.reg("ch"), m.reg("cl"), m.reg("dh"),
                m.reg("dl"), bios.r8(ACTIVE_PAGE))


@VIDEO.service(0x07, "scroll_down", "al bh cx dx")
def scroll_down(bios: BIOS, m) -> None:
    bios.scroll(m.reg("al"), False, m.reg("bh"), m.reg("ch"), m.reg("cl"), m.reg("dh"),
                m.reg("dl"), bios.r8(ACTIVE_PAGE))


@VIDEO.service(0x08, "read_char_attr", "bh", "ax")
def read_char_attr(bios: BIOS, m) -> None:
    m.set_reg("ax", bios.char_attr(m.reg("bh")))


@VIDEO.service(0x09, "write_char_attr", "al bh bl cx")
def write_char_attr(bios: BIOS, m) -> str:
    data = bytes([m.reg("al")]) * m.reg("cx")
    bios.put(data, m.reg("bh"), move=False, attr=m.reg("bl"))  # the cursor stays
    return quote(data)


@VIDEO.service(0x0A, "write_char", "al bh cx")
def write_char(bios: BIOS, m) -> str:
    data = bytes([m.reg("al")]) * m.reg("cx")
    bios.put(data, m.reg("bh"), move=False)
    return quote(data)


@VIDEO.service(0x0B, "set_palette", "bh bl")
def set_palette(bios: BIOS, m) -> None:
    """Colours do not reach a stream."""


@VIDEO.service(0x0E, "teletype", "al bh")
def teletype(bios: BIOS, m) -> str:
    data = bytes([m.reg("al")])
    bios.put(data, bios.r8(ACTIVE_PAGE))
    return quote(data)


@VIDEO.service(0x0F, "get_mode", "", "al ah bh")
def get_mode(bios: BIOS, m) -> None:
    m.set_reg("ax", bios.r16(COLUMNS) << 8 | bios.r8(VIDEO_MODE))
    m.set_reg("bh", bios.r8(ACTIVE_PAGE))


@VIDEO.service(0x10, "palette_registers", "al bx")
def palette_registers(bios: BIOS, m) -> None:
    """Colours do not reach a stream."""


@VIDEO.service(0x11, "character_generator", "al bx")
def character_generator(bios: BIOS, m) -> None:
    """Fonts do not reach a stream."""


@VIDEO.service(0x12, "video_subsystem", "bl", "bx cx")
def video_subsystem(bios: BIOS, m) -> None:
    if m.reg("bl") == 0x10:         # EGA information: colour, 256K
        m.set_reg("bx", 0x0003)
        m.set_reg("cx", 0x0009)


@VIDEO.service(0x13, "write_string", "al bh bl cx dh dl es:bp")
def write_string(bios: BIOS, m) -> str:
    mode, page, n = m.reg("al"), m.reg("bh"), m.reg("cx")
    raw = read_bytes(m, "es", m.reg("bp"), n * (2 if mode & 2 else 1))
    data = raw[::2] if mode & 2 else raw            # mode 2/3: char, attribute pairs
    saved = bios.cursor(page)
    bios.set_cursor(page, m.reg("dh"), m.reg("dl"))
    bios.put(data, page)
    if not mode & 1:                                # modes 0/2 leave the cursor alone
        bios.set_cursor(page, *saved)
    return quote(data)


@VIDEO.service(0x1A, "display_combination", "al", "al bx")
def display_combination(bios: BIOS, m) -> None:
    if m.reg("al") == 0:
        m.set_reg("al", 0x1A)
        m.set_reg("bx", 0x0008)     # VGA with a colour display


# ---- int 11h, 12h, 15h -----------------------------------------------------------------------

@EQUIPMENT_LIST.service(None, "equipment_list", "", "ax")
def equipment_list(bios: BIOS, m) -> None:
    m.set_reg("ax", bios.r16(EQUIPMENT))


@MEMORY_SIZE.service(None, "memory_size", "", "ax")
def memory_size(bios: BIOS, m) -> None:
    m.set_reg("ax", bios.r16(MEMSIZE))


@SYSTEM.service(0x86, "wait", "cx dx", "cf", carry=True)
def wait(bios: BIOS, m) -> None:
    """Time is counted in instructions: nothing to wait for."""


@SYSTEM.service(0x88, "extended_memory_size", "", "ax cf", carry=True)
def extended_memory_size(bios: BIOS, m) -> None:
    m.set_reg("ax", min(bios.extended_kb(), 0xFFFF))


E820_SMAP = 0x534D4150      # "SMAP"


@SYSTEM.service(0xE8, "memory_map", "ax ebx ecx edx es:di", "eax ebx ecx cf", carry=True)
def memory_map(bios: BIOS, m) -> Optional[str]:
    """AX=E820h: one entry of the memory map per call (EBX: continuation, 0 at the end);
    AX=E801h: memory above 1 MiB (AX=CX: KiB to 16 MiB, BX=DX: 64 KiB blocks above)."""
    al = m.reg("al")
    if al == 0x01:
        kb = bios.extended_kb()
        low = min(kb, 15 << 10)
        high = max(0, kb - (15 << 10)) >> 6
        m.set_reg("ax", low)
        m.set_reg("cx", low)
        m.set_reg("bx", min(high, 0xFFFF))
        m.set_reg("dx", min(high, 0xFFFF))
        return None
    if al != 0x20 or m.reg("edx") != E820_SMAP:
        raise DiskError(0x86, "unsupported int 15h AX=E8xxh function")
    entries = bios.memory_map()
    k = m.reg("ebx")
    if k >= len(entries) or m.reg("ecx") < 20:
        raise DiskError(0x86, "no such memory map entry")
    base, length, kind = entries[k]
    write_bytes(m, "es", m.reg("di"), base.to_bytes(8, "little") + length.to_bytes(8, "little")
                + kind.to_bytes(4, "little"))
    m.set_reg("eax", E820_SMAP)
    m.set_reg("ecx", 20)
    m.set_reg("ebx", 0 if k + 1 == len(entries) else k + 1)
    return f"{base:#x}+{length:#x} type {kind}"


@SYSTEM.service(0x24, "a20_gate", "al", "ah al bx cf", carry=True)
def a20_gate(bios: BIOS, m) -> None:
    """AX=2400h disable, 2401h enable, 2402h status (AL), 2403h support (BX bit 0: the
    keyboard controller, bit 1: port 92h)."""
    al = m.reg("al")
    if al == 0x03:
        m.set_reg("bx", 0 if bios.a20(None) is None else 3)
        m.set_reg("ah", 0)
        return
    if al > 0x03:
        raise DiskError(0x86, f"no int 15h function AX=24{al:02X}h")
    state = bios.a20(None if al == 0x02 else bool(al))
    if state is None:
        if al == 0x00:
            raise DiskError(0x86, "this machine's A20 line is always on")
        state = True
    m.set_reg("ah", 0)
    if al == 0x02:
        m.set_reg("al", int(state))


# ---- int 16h: keyboard ---------------------------------------------------------------------

def _read_key(bios: BIOS, m) -> str:
    word = bios.key_word(True)
    if word is None:
        raise ServiceStop(f"no more keyboard input (end of stdin) at int 16h "
                          f"AH={m.reg('ah'):02X}h", 0)
    m.set_reg("ax", word)
    return quote(bytes([word & 0xFF]))


@KEYBOARD.service(0x00, "read_key", "", "ax")
def read_key(bios: BIOS, m) -> str:
    return _read_key(bios, m)


@KEYBOARD.service(0x10, "read_key_extended", "", "ax")
def read_key_extended(bios: BIOS, m) -> str:
    return _read_key(bios, m)


def _check_key(bios: BIOS, m) -> None:
    word = bios.key_word(False)
    if word is not None:
        m.set_reg("ax", word)
    set_flag(m, F.ZF, word is None)


@KEYBOARD.service(0x01, "check_key", "", "zf ax")
def check_key(bios: BIOS, m) -> None:
    _check_key(bios, m)


@KEYBOARD.service(0x11, "check_key_extended", "", "zf ax")
def check_key_extended(bios: BIOS, m) -> None:
    _check_key(bios, m)


@KEYBOARD.service(0x02, "shift_flags", "", "al")
def shift_flags(bios: BIOS, m) -> None:
    m.set_reg("al", bios.r8(KBD_FLAGS))


@KEYBOARD.service(0x12, "shift_flags_extended", "", "ax")
def shift_flags_extended(bios: BIOS, m) -> None:
    m.set_reg("ax", bios.r8(KBD_FLAGS))


@KEYBOARD.service(0x03, "set_typematic", "al bx")
def set_typematic(bios: BIOS, m) -> None:
    """The host's keyboard repeats as it likes."""


@KEYBOARD.service(0x05, "store_key", "ch cl", "al")
def store_key(bios: BIOS, m) -> None:
    bios.keys.append((m.reg("ch"), m.reg("cl")))
    m.set_reg("al", 0)


# ---- int 1Ah: time -------------------------------------------------------------------------

@CLOCK.service(0x00, "get_ticks", "", "cx dx al")
def get_ticks(bios: BIOS, m) -> None:
    t = bios.ticks()
    m.set_reg("cx", t >> 16)
    m.set_reg("dx", t & 0xFFFF)
    m.set_reg("al", 0)


@CLOCK.service(0x01, "set_ticks", "cx dx")
def set_ticks(bios: BIOS, m) -> None:
    bios.set_tick_count(m.reg("cx") << 16 | m.reg("dx"))


@CLOCK.service(0x02, "get_rtc_time", "", "ch cl dh cf", carry=True)
def get_rtc_time(bios: BIOS, m) -> None:
    t = time.localtime()
    m.set_reg("cx", bcd(t.tm_hour) << 8 | bcd(t.tm_min))
    m.set_reg("dx", bcd(t.tm_sec) << 8)


@CLOCK.service(0x03, "set_rtc_time", "ch cl dh", "cf", carry=True)
def set_rtc_time(bios: BIOS, m) -> None:
    """The host's clock is not ours to set."""


@CLOCK.service(0x04, "get_rtc_date", "", "cx dh dl cf", carry=True)
def get_rtc_date(bios: BIOS, m) -> None:
    t = time.localtime()
    m.set_reg("cx", bcd(t.tm_year // 100) << 8 | bcd(t.tm_year % 100))
    m.set_reg("dx", bcd(t.tm_mon) << 8 | bcd(t.tm_mday))


@CLOCK.service(0x05, "set_rtc_date", "cx dx", "cf", carry=True)
def set_rtc_date(bios: BIOS, m) -> None:
    """The host's clock is not ours to set."""
