"""A 16550A UART on COM1 (ports 3F8h-3FFh, IRQ 4), after National Semiconductor's data
sheet: RBR/THR and the divisor latch (LCR bit 7), IER, IIR/FCR (FIFO enable shows as
C0h in IIR), LCR, MCR (OUT2 gates the interrupt onto the bus, as the PC wires it; bit 4
loopback), LSR, MSR, SCR.

Transmission is instant: a byte written to THR goes to the host (stdout or a file) and
LSR always shows THRE and TEMT. Received bytes come from stdin when COM1 is the
console (``--serial stdout``), read without waiting. Interrupts, by priority: line
status, received data, THR empty (until IIR is read or THR written), modem status.
"""

from __future__ import annotations

from typing import Callable, Optional

COM1 = 0x3F8
IRQ = 4


class UART:
    def __init__(self, write_out: Optional[Callable[[bytes], None]],
                 read_in: Optional[Callable[[], Optional[int]]], irq: Callable[[bool], None],
                 base: int = COM1):
        self.base = base
        self.write_out = write_out
        self.read_in = read_in
        self.irq = irq
        self.rx: list = []
        self.ier = 0
        self.lcr = 0x03
        self.mcr = 0
        self.scr = 0
        self.fcr = 0
        self.dll, self.dlm = 0x0C, 0    # 9600 baud
        self.thre_pending = False
        self.msr_delta = 0
        self.line = False

    def install(self, bus) -> None:
        bus.claim(range(self.base, self.base + 8), self.read, self.write)

    # -- interrupt ---------------------------------------------------------------------------
    def _cause(self) -> int:
        """IIR bits 0-3 for the highest-priority pending interrupt (1: none)."""
        if self.ier & 1 and self.rx:
            return 0x04
        if self.ier & 2 and self.thre_pending:
            return 0x02
        if self.ier & 8 and self.msr_delta:
            return 0x00
        return 0x01

    def _update_irq(self) -> None:
        level = self._cause() != 1 and bool(self.mcr & 0x08)
        if level != self.line:
            self.line = level
            self.irq(level)

    # -- ports -------------------------------------------------------------------------------
    def read(self, port: int, size: int) -> int:
        r = port - self.base
        dlab = self.lcr & 0x80
        if r == 0:
            if dlab:
                return self.dll
            self._poll()
            value = self.rx.pop(0) if self.rx else 0
            self._update_irq()
            return value
        if r == 1:
            return self.dlm if dlab else self.ier
        if r == 2:
            cause = self._cause()
            if cause == 0x02:
                self.thre_pending = False
                self._update_irq()
            return cause | (0xC0 if self.fcr & 1 else 0)
        if r == 3:
            return self.lcr
        if r == 4:
            return self.mcr
        if r == 5:
            self._poll()
            return 0x60 | (1 if self.rx else 0)
        if r == 6:
            value = self._msr() | self.msr_delta
            self.msr_delta = 0
            self._update_irq()
            return value
        return self.scr

    def _msr(self) -> int:
        if self.mcr & 0x10:     # loopback: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD
            m = self.mcr
            return (m & 2) << 3 | (m & 1) << 5 | (m & 4) << 4 | (m & 8) << 4
        return 0xB0             # CTS, DSR, DCD: a terminal is attached

    def write(self, port: int, size: int, value: int) -> None:
        r = port - self.base
        dlab = self.lcr & 0x80
        if r == 0:
            if dlab:
                self.dll = value
                return
            if self.mcr & 0x10:
                self.rx.append(value)
            elif self.write_out is not None:
                self.write_out(bytes((value,)))
            self.thre_pending = True
        elif r == 1:
            if dlab:
                self.dlm = value
                return
            was = self.ier
            self.ier = value & 0x0F
            if value & 2 and not was & 2:
                self.thre_pending = True    # enabling the THRE interrupt with THR empty
        elif r == 2:
            self.fcr = value & 0xC9
            if value & 2:
                self.rx.clear()
        elif r == 3:
            self.lcr = value
        elif r == 4:
            old = self._msr()
            self.mcr = value & 0x1F
            new = self._msr()
            self.msr_delta |= ((old ^ new) >> 4) & 0x0B
        elif r == 7:
            self.scr = value
        self._update_irq()

    def _poll(self) -> None:
        if not self.rx and self.read_in is not None and not self.mcr & 0x10:
            b = self.read_in()
            if b is not None:
                self.rx.append(b)

    def update(self) -> None:
        if self.ier & 1:
            self._poll()
        self._update_irq()
