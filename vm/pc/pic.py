"""The 8259A programmable interrupt controller pair of the AT: the master at ports 20h-21h
(IRQ 0-7), the slave at A0h-A1h (IRQ 8-15) cascaded into the master's IR2.

What is modelled, after Intel's 8259A data sheet: the initialisation sequence ICW1-ICW4
(vector base, cascade, auto-EOI), OCW1 (the mask register), OCW2 (non-specific and
specific EOI, rotation on EOI), OCW3 (reading IRR or ISR, poll mode, special mask mode);
fully nested priority; edge-triggered requests (a rising input sets IRR; a request that
goes away before it is acknowledged is dropped; none left at INTA: the spurious IR7).
"""

from __future__ import annotations

from typing import Optional

MASTER, SLAVE = 0x20, 0xA0
CASCADE = 2


class PIC:
    """One 8259A."""

    def __init__(self, base: int, vector_base: int, slave: bool = False):
        self.base = base
        self.slave = slave
        self.vector_base = vector_base
        self.irr = 0
        self.isr = 0
        self.imr = 0xFF
        self.lines = 0              # input levels, for edge detection
        self.lowest = 7             # the lowest priority level (rotation)
        self.read_isr = False
        self.poll = False
        self.special_mask = False
        self.auto_eoi = False
        self.init_step = 0          # 0: ready; 2, 3, 4: the next ICW expected
        self.single = False
        self.icw4 = False

    # -- inputs ------------------------------------------------------------------------------
    def set_line(self, irq: int, level: bool) -> None:
        bit = 1 << irq
        if level and not self.lines & bit:
            self.irr |= bit
        elif not level:
            self.irr &= ~bit
        self.lines = self.lines | bit if level else self.lines & ~bit

    def pulse(self, irq: int) -> None:
        """A rising then falling edge that happened between two looks (a timer tick)."""
        self.irr |= 1 << irq

    # -- priority ----------------------------------------------------------------------------
    def _order(self):
        first = (self.lowest + 1) & 7
        return [(first + k) & 7 for k in range(8)]

    def request(self) -> Optional[int]:
        """The level that would interrupt the CPU now, or None."""
        pending = self.irr & ~self.imr
        if not pending:
            return None
        for level in self._order():
            bit = 1 << level
            if self.isr & bit and not self.special_mask:
                return None             # a higher or equal level is in service
            if pending & bit:
                return level
        return None

    def acknowledge(self) -> int:
        """INTA: the level being served (7 if the request vanished: spurious)."""
        level = self.request()
        if level is None:
            return 7
        bit = 1 << level
        self.irr &= ~bit
        if self.auto_eoi:
            if self.rotate_on_aeoi:
                self.lowest = level
        else:
            self.isr |= bit
        return level

    def _highest_isr(self) -> Optional[int]:
        for level in self._order():
            if self.isr & 1 << level:
                return level
        return None

    # -- ports -------------------------------------------------------------------------------
    def read(self, port: int, size: int) -> int:
        if port & 1:
            return self.imr
        if self.poll:
            self.poll = False
            level = self.request()
            if level is None:
                return 0
            self.acknowledge()
            return 0x80 | level
        return self.isr if self.read_isr else self.irr

    def write(self, port: int, size: int, value: int) -> None:
        if not port & 1:
            if value & 0x10:
                self._icw1(value)
            elif value & 0x08:
                self._ocw3(value)
            else:
                self._ocw2(value)
            return
        step = self.init_step
        if step == 2:
            self.vector_base = value & 0xF8
            self.init_step = 3 if not self.single else (4 if self.icw4 else 0)
        elif step == 3:
            self.init_step = 4 if self.icw4 else 0
        elif step == 4:
            self.auto_eoi = bool(value & 2)
            self.init_step = 0
        else:
            self.imr = value

    def _icw1(self, value: int) -> None:
        self.single = bool(value & 2)
        self.icw4 = bool(value & 1)
        self.imr = 0
        self.isr = 0
        self.irr = 0
        self.lines = 0
        self.lowest = 7
        self.read_isr = False
        self.special_mask = False
        self.auto_eoi = False
        self.rotate_on_aeoi = False
        self.init_step = 2

    def _ocw2(self, value: int) -> None:
        cmd = value >> 5
        if cmd in (1, 5):               # non-specific EOI (5: and rotate)
            level = self._highest_isr()
            if level is not None:
                self.isr &= ~(1 << level)
                if cmd == 5:
                    self.lowest = level
        elif cmd in (3, 7):             # specific EOI (7: and rotate)
            self.isr &= ~(1 << (value & 7))
            if cmd == 7:
                self.lowest = value & 7
        elif cmd == 6:                  # set priority
            self.lowest = value & 7
        elif cmd in (4, 0):             # rotate in auto-EOI mode: set / clear
            self.rotate_on_aeoi = cmd == 4

    def _ocw3(self, value: int) -> None:
        if value & 2:
            self.read_isr = bool(value & 1)
        self.poll = bool(value & 4)
        if value & 0x40:
            self.special_mask = bool(value & 0x20)

    rotate_on_aeoi = False


class PICPair:
    """Master and slave, as wired in the AT: the slave's output drives master IR2."""

    def __init__(self):
        # the AT BIOS's bases; a ROM or kernel reprograms them with ICW2
        self.master = PIC(MASTER, 0x08)
        self.slave = PIC(SLAVE, 0x70, slave=True)

    # called before the CPU reads a PIC, so requests raised since the last look
    # (the timer's, counted in time) are in IRR
    catch_up = staticmethod(lambda: None)

    def install(self, bus) -> None:
        bus.claim((MASTER, MASTER + 1), self._reader(self.master), self.master.write)
        bus.claim((SLAVE, SLAVE + 1), self._reader(self.slave), self.slave.write)

    def _reader(self, pic: PIC):
        def read(port: int, size: int) -> int:
            self.catch_up()
            self._cascade()
            return pic.read(port, size)
        return read

    def set_line(self, irq: int, level: bool) -> None:
        if irq >= 8:
            self.slave.set_line(irq - 8, level)
        else:
            self.master.set_line(irq, level)
        self._cascade()

    def pulse(self, irq: int) -> None:
        if irq >= 8:
            self.slave.pulse(irq - 8)
        else:
            self.master.pulse(irq)
        self._cascade()

    def _cascade(self) -> None:
        self.master.set_line(CASCADE, self.slave.request() is not None)

    def pending(self) -> bool:
        """The INTR line: the CPU would be interrupted if IF were set."""
        self._cascade()
        return self.master.request() is not None

    def acknowledge(self) -> int:
        """The two INTA cycles: the vector of the request being served."""
        self._cascade()
        level = self.master.acknowledge()
        if level == CASCADE and not self.master.single:
            self.master.lines &= ~(1 << CASCADE)    # the next slave request is a new edge
            vector = self.slave.vector_base + self.slave.acknowledge()
            self._cascade()
            return vector
        return self.master.vector_base + level
