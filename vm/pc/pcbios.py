"""pyvm's BIOS on the PC in system mode (``pyvm --disk``): the services of bios.py and
disk.py, but drawing on the machine's devices: int 10h writes into the VGA text memory
(and the CRTC's cursor), the tick count at 0040:006C is kept by a real IRQ 0 handler in
ROM driven by the 8254, int 15h reports the RAM (E820, E801, 88h) and switches the A20
gate of the 8042, and the 8259As are programmed as an AT BIOS leaves them (IRQ 0-7 at
vectors 08h-0Fh, IRQ 8-15 at 70h-77h; IRQ 0, 1 and the cascade unmasked).
"""

from __future__ import annotations

from typing import Optional

from vm.pc.bios import (
    ACTIVE_PAGE,
    BDA,
    BIOS,
    COLUMNS,
    CR,
    MEMSIZE,
    MIDNIGHT,
    TICKS,
)
from vm.pc.ivt import ROM_SEG
from vm.pc.vga import TEXT_BASE

PAGE_BYTES = 0x1000
ROWS = 25
IRQ_CODE_IP = 0x2000

# The hardware interrupt handlers in ROM (F000:2000), as NASM assembles this source
# (tests/test_pc_bios.py checks it): IRQ 0 counts ticks in the BIOS data area (with the
# midnight flag), calls int 1Ch and acknowledges the PIC; IRQ 1 takes the byte from the
# 8042 (int 16h reads the console itself); the others only acknowledge their PICs.
IRQ_HANDLERS_ASM = """\
bits 16
irq0:
  push ds
  push ax
  xor ax, ax
  mov ds, ax
  add word [0x46C], 1
  adc word [0x46E], 0
  cmp word [0x46E], 0x18
  jb .ok
  cmp word [0x46C], 0xB0
  jb .ok
  mov word [0x46C], 0
  mov word [0x46E], 0
  mov byte [0x470], 1
.ok:
  int 0x1C
  mov al, 0x20
  out 0x20, al
  pop ax
  pop ds
  iret
irq1:
  push ax
  in al, 0x60
  mov al, 0x20
  out 0x20, al
  pop ax
  iret
master:
  push ax
  mov al, 0x20
  out 0x20, al
  pop ax
  iret
slave:
  push ax
  mov al, 0x20
  out 0xA0, al
  out 0x20, al
  pop ax
  iret
"""
IRQ_HANDLERS = bytes.fromhex(
    "1e5031c08ed883066c040183166e0400833e6e04187219813e6c04b0007211c7066c040000c7066e04"
    "0000c606700401cd1cb020e620581fcf50e460b020e62058cf50b020e62058cf50b020e6a0e62058cf")
IRQ0_AT, IRQ1_AT, MASTER_AT, SLAVE_AT = 0x00, 0x39, 0x42, 0x49


class PCBIOS(BIOS):
    def __init__(self, pc, console):
        super().__init__(pc.m, console)
        self.pc = pc
        self.vga = pc.vga

    def install(self) -> None:
        super().install()
        self.w16(MEMSIZE, 639)          # the last KiB below 640 K is the EBDA (E820)
        m = self.m
        m.write(ROM_SEG * 16 + IRQ_CODE_IP, IRQ_HANDLERS)
        for irq in range(16):
            vector = 0x08 + irq if irq < 8 else 0x70 + irq - 8
            at = IRQ0_AT if irq == 0 else IRQ1_AT if irq == 1 else \
                MASTER_AT if irq < 8 else SLAVE_AT
            m.write(4 * vector, (IRQ_CODE_IP + at).to_bytes(2, "little")
                    + ROM_SEG.to_bytes(2, "little"))
        # the PICs and the PIT as the BIOS leaves them
        bus = self.pc.bus
        for port, value in ((0x20, 0x11), (0x21, 0x08), (0x21, 0x04), (0x21, 0x01),
                            (0xA0, 0x11), (0xA1, 0x70), (0xA1, 0x02), (0xA1, 0x01),
                            (0x21, 0xF8), (0xA1, 0xFF), (0x43, 0x36), (0x40, 0), (0x40, 0)):
            bus.write(port, 1, value)
        m.mem.write(BDA + TICKS, self.initial_ticks().to_bytes(4, "little"))
        self.clear(0x07)

    def initial_ticks(self) -> int:
        """The host's time of day, as a BIOS reads it from the RTC at boot."""
        return super().ticks()

    # -- time: IRQ 0 keeps the count --------------------------------------------------------
    def ticks(self) -> int:
        return self.m.mem.r32(BDA + TICKS)

    def update_ticks(self) -> None:
        """IRQ 0 counts."""

    def set_tick_count(self, want: int) -> None:
        self.m.mem.write(BDA + TICKS, want.to_bytes(4, "little"))
        self.m.mem.write(BDA + MIDNIGHT, b"\0")

    # -- memory ------------------------------------------------------------------------------
    def memory_map(self) -> list:
        ram = self.pc.ram
        return [(0, 0x9FC00, 1), (0x9FC00, 0x400, 2), (0xE0000, 0x20000, 2),
                (0x100000, ram - 0x100000, 1)]

    def extended_kb(self) -> int:
        return (self.pc.ram - 0x100000) >> 10

    def a20(self, enable: Optional[bool]) -> Optional[bool]:
        kbc = self.pc.kbc
        if enable is not None:
            kbc.port92 = kbc.port92 & ~2 | (2 if enable else 0)
            kbc.output_port = kbc.output_port & ~2 | (2 if enable else 0)
            kbc.a20 = enable
            self.pc.a20.set(enable)
        return kbc.a20

    # -- the screen --------------------------------------------------------------------------
    def _cell(self, page: int, row: int, col: int) -> int:
        return TEXT_BASE + (page & 7) * PAGE_BYTES + 2 * (row * 80 + col)

    def clear(self, attr: int) -> None:
        self.m.mem.write(TEXT_BASE, bytes((0x20, attr)) * (80 * ROWS))

    def char_attr(self, page: int) -> int:
        row, col = self.cursor(page)
        a = self._cell(page, row, col)
        return self.m.mem.r16(a) & 0xFFFF

    def set_cursor(self, page: int, row: int, col: int) -> None:
        super().set_cursor(page, row, col)
        if (page & 7) == self.r8(ACTIVE_PAGE):
            self.vga.set_cursor((page & 7) * PAGE_BYTES // 2 + row * 80 + col)

    def put(self, data: bytes, page: int, move: bool = True,
            attr: Optional[int] = None) -> None:
        mem = self.m.mem
        row, col = self.cursor(page)
        cols = self.r16(COLUMNS) or 80
        if not move:                    # AH=09h/0Ah: repeat at the cursor, cursor stays
            a = self._cell(page, row, col)
            for k, b in enumerate(data[:(ROWS - row) * cols - col]):
                mem.write(a + 2 * k, bytes((b,)))
                if attr is not None:
                    mem.write(a + 2 * k + 1, bytes((attr,)))
            return
        for b in data:
            if b == CR:
                col = 0
            elif b == 0x0A:
                row += 1
            elif b == 0x08:
                col = max(col - 1, 0)
            elif b == 0x07:
                pass
            else:
                a = self._cell(page, row, col)
                mem.write(a, bytes((b,)))
                if attr is not None:
                    mem.write(a + 1, bytes((attr,)))
                col += 1
                if col >= cols:
                    col, row = 0, row + 1
            if row >= ROWS:
                # the new line takes the attribute at the cursor (the IBM BIOS's
                # WRITE_TTY reads it with AH=08h before scrolling)
                keep = mem.data[self._cell(page, ROWS - 1, min(col, cols - 1)) + 1]
                self.scroll(1, True, keep, 0, 0, ROWS - 1, cols - 1, page)
                row = ROWS - 1
        self.set_cursor(page, row, col)

    def scroll(self, lines: int, up: bool, attr: int, top: int, left: int, bottom: int,
               right: int, page: int = 0) -> None:
        bottom, right = min(bottom, ROWS - 1), min(right, 79)
        if top > bottom or left > right:
            return
        height = bottom - top + 1
        if lines == 0 or lines > height:
            lines = height
        mem = self.m.mem
        width = 2 * (right - left + 1)
        order = range(top, bottom + 1) if up else range(bottom, top - 1, -1)
        for r in order:
            src = r + lines if up else r - lines
            dst = self._cell(page, r, left)
            if top <= src <= bottom:
                mem.write(dst, mem.read(self._cell(page, src, left), width))
            else:
                mem.write(dst, bytes((0x20, attr)) * (width // 2))

