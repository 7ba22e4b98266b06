"""The CMOS RAM and real-time clock (MC146818A) at ports 70h (index; bit 7 masks NMI)
and 71h (data).

Registers 00h-09h are the clock (seconds, alarm seconds, minutes, alarm minutes, hours,
alarm hours, day of week, day of month, month, year) in BCD or binary (register B bit 2)
and 12- or 24-hour form (register B bit 1; in 12-hour form bit 7 of the hour is PM).
The time is the host's at power-on plus the PC's own clock since. Register A (bit 7:
update in progress, for the first 244 us of each second), B, C (interrupt flags, cleared
by reading; the periodic interrupt on IRQ 8 when B bit 6 is set, at the rate in A bits
0-3; the update-ended interrupt with bit 4) and D (bit 7: the battery is good). The rest is the AT's configuration: 10h no
floppies, 14h equipment, 15h-16h base memory (640 KiB), 17h-18h and 30h-31h extended
memory in KiB (at most 65535), 34h-35h memory above 16 MiB in 64 KiB units, 32h the
century.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from vm.pc.pit import FREQUENCY

INDEX, DATA = 0x70, 0x71
UIP_CLOCKS = FREQUENCY * 244 // 1000000


def _bcd(n: int) -> int:
    return (n // 10) << 4 | n % 10


def _unbcd(n: int) -> int:
    return (n >> 4) * 10 + (n & 0xF)


class CMOS:
    def __init__(self, clock: Callable[[], int], ram_size: int, irq8: Callable[[], None],
                 now: Optional[float] = None):
        self.clock = clock
        self.irq8 = irq8
        self.ram = bytearray(128)
        self.index = 0
        self.nmi_masked = False
        self.epoch = int(time.time() if now is None else now)   # host seconds at power-on
        self.set_offset = 0         # seconds the guest moved the clock by
        self.ram[0x0A] = 0x26       # 32.768 kHz time base, 1024 Hz periodic rate
        self.ram[0x0B] = 0x02       # 24-hour, BCD
        self.ram[0x0D] = 0x80
        self.ram[0x10] = 0x00
        self.ram[0x14] = 0x06       # keyboard, an x87, EGA/VGA display, no floppies
        self.ram[0x15], self.ram[0x16] = 640 & 0xFF, 640 >> 8
        ext = min(max(0, (ram_size >> 10) - 1024), 0xFFFF)
        for at in (0x17, 0x30):
            self.ram[at], self.ram[at + 1] = ext & 0xFF, ext >> 8
        above16 = min(max(0, (ram_size - (16 << 20)) >> 16), 0xFFFF)
        self.ram[0x34], self.ram[0x35] = above16 & 0xFF, above16 >> 8
        self.ram[0x32] = _bcd(time.localtime(self.epoch).tm_year // 100)
        self.periodic_checked = 0

    def install(self, bus) -> None:
        bus.claim((INDEX,), lambda p, s: 0xFF, self._select)
        bus.claim((DATA,), lambda p, s: self.read(self.index), lambda p, s, v: self.write(self.index, v))

    def _select(self, port: int, size: int, value: int) -> None:
        self.index = value & 0x7F
        self.nmi_masked = bool(value & 0x80)

    # -- the clock ---------------------------------------------------------------------------
    def seconds(self) -> int:
        return self.epoch + self.set_offset + self.clock() // FREQUENCY

    def _encode(self, n: int) -> int:
        return n if self.ram[0x0B] & 4 else _bcd(n)

    def _decode(self, n: int) -> int:
        return n if self.ram[0x0B] & 4 else _unbcd(n)

    def _hour(self, hour: int) -> int:
        if self.ram[0x0B] & 2:
            return self._encode(hour)
        h12 = hour % 12 or 12
        return self._encode(h12) | (0x80 if hour >= 12 else 0)

    def read(self, i: int) -> int:
        if i <= 9 and i not in (1, 3, 5):
            t = time.localtime(self.seconds())
            return {0: self._encode(t.tm_sec), 2: self._encode(t.tm_min), 4: self._hour(t.tm_hour),
                    6: self._encode(t.tm_wday + 2 if t.tm_wday < 6 else 1),
                    7: self._encode(t.tm_mday), 8: self._encode(t.tm_mon),
                    9: self._encode(t.tm_year % 100)}[i]
        if i == 0x0A:
            uip = self.clock() % FREQUENCY < UIP_CLOCKS
            return self.ram[0x0A] & 0x7F | (0x80 if uip else 0)
        if i == 0x0C:
            self.update()
            value, self.ram[0x0C] = self.ram[0x0C], 0
            return value
        return self.ram[i]

    def write(self, i: int, value: int) -> None:
        if i <= 9 and i not in (1, 3, 5):
            self._set_time(i, value)
        elif i == 0x0C or i == 0x0D:
            return                          # read-only
        elif i == 0x0A:
            self.ram[i] = value & 0x7F
        else:
            self.ram[i] = value

    def _set_time(self, i: int, value: int) -> None:
        t = time.localtime(self.seconds())
        fields = [t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec]
        if i == 4:
            pm = not self.ram[0x0B] & 2 and value & 0x80
            h = self._decode(value & 0x7F)
            fields[3] = (h % 12 + 12 if pm else h % 12) if not self.ram[0x0B] & 2 else h
        elif i in (0, 2, 7, 8, 9):
            v = self._decode(value)
            pos = {0: 5, 2: 4, 7: 2, 8: 1, 9: 0}[i]
            fields[pos] = t.tm_year - t.tm_year % 100 + v if i == 9 else v
        else:
            return
        try:
            new = int(time.mktime((*fields, 0, 0, -1)))
        except (OverflowError, ValueError):
            return
        self.set_offset += new - self.seconds()

    # -- periodic interrupt ------------------------------------------------------------------
    def period(self) -> Optional[int]:
        """Clocks between periodic flags (register A's rate; None when 0)."""
        rate = self.ram[0x0A] & 0xF
        if not rate:
            return None
        if rate < 3:
            rate += 7
        hz = 32768 >> (rate - 1)
        return max(1, FREQUENCY // hz)

    def update(self) -> None:
        """Set the flags of register C for the time passed: PF at the periodic rate and
        UF at each second, whether or not their interrupts are enabled (register B bits
        6 and 4); IRQF and IRQ 8 when an enabled one is set."""
        now, before = self.clock(), self.periodic_checked
        self.periodic_checked = now
        flags = 0
        p = self.period()
        if p is not None and now // p > before // p:
            flags |= 0x40
        if now // FREQUENCY > before // FREQUENCY:
            flags |= 0x10
        if not flags:
            return
        self.ram[0x0C] |= flags
        if flags & self.ram[0x0B] & 0x50:
            self.ram[0x0C] |= 0x80
            self.irq8()

    def next_event(self) -> Optional[int]:
        """When the next enabled interrupt comes (None: none is enabled)."""
        now, times = self.clock(), []
        p = self.period()
        if p is not None and self.ram[0x0B] & 0x40:
            times.append((now // p + 1) * p)
        if self.ram[0x0B] & 0x10:
            times.append((now // FREQUENCY + 1) * FREQUENCY)
        return min(times) if times else None
