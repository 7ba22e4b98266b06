"""The 8254 programmable interval timer: three 16-bit down counters on ports 40h-42h and
the control word register at 43h, clocked at 1.193182 MHz. Counter 0's output drives
IRQ 0, counter 2's gate and output are bits 0 and 5 of port 61h (the speaker).

Time is counted in guest instructions: one instruction is one input clock, so a run is
deterministic (the PC's clock, see system.py). Counters are computed from the time they
were loaded rather than stepped, after Intel's 8254 data sheet: modes 0 (interrupt on
terminal count), 1 (hardware one-shot), 2 (rate generator), 3 (square wave), 4 and 5
(strobes); read/load LSB, MSB or LSB then MSB; binary or BCD counting; the counter latch
command and the 8254's read-back command (status and count latches).
"""

from __future__ import annotations

from typing import Callable, Optional

FREQUENCY = 1193182
PORT_BASE = 0x40
CONTROL = 0x43
SPEAKER = 0x61


class Counter:
    def __init__(self, clock: Callable[[], int]):
        self.clock = clock
        self.mode = 0
        self.access = 3             # 1 LSB, 2 MSB, 3 LSB then MSB
        self.bcd = False
        self.reload = 0             # the count written (0 = the full range)
        self.loaded_at: Optional[int] = None    # when counting began (None: no count)
        self.gate = True
        self.null_count = True
        self.write_low: Optional[int] = None    # LSB of a two-byte load, waiting for MSB
        self.latch: list = []       # bytes latched for reading, in order
        self.status: Optional[int] = None
        self.read_msb = False       # the next unlatched read of an LSB/MSB pair

    # -- counting ----------------------------------------------------------------------------
    def period(self) -> int:
        n = self.reload
        if n == 0:
            return 10000 if self.bcd else 0x10000
        return n

    def elapsed(self) -> int:
        return self.clock() - self.loaded_at

    def count(self) -> int:
        """The counting element now."""
        if self.loaded_at is None:
            return self.reload
        n, t = self.period(), self.elapsed()
        top = 10000 if self.bcd else 0x10000
        if self.mode in (2, 6):
            value = n - t % n
        elif self.mode in (3, 7):
            half = t % (n // 2 or 1) if n > 1 else 0
            value = (n & ~1) - 2 * half
            if value <= 0:
                value += n & ~1
        else:                       # 0, 1, 4, 5: count down once, then wrap
            value = (n - t) % top
        value %= top
        return _to_bcd(value) if self.bcd else value

    def output(self) -> bool:
        if self.loaded_at is None:
            return self.mode != 0
        n, t = self.period(), self.elapsed()
        if self.mode == 0 or self.mode == 1:
            return t >= n
        if self.mode in (2, 6):
            return t % n != n - 1
        if self.mode in (3, 7):
            return t % n < (n + 1) // 2
        return t != n               # 4, 5: low for one clock at terminal count

    def edges(self, start: int, end: int) -> int:
        """Rising edges of OUT in the time interval (start, end]."""
        if self.loaded_at is None or end <= start:
            return 0
        n = self.period()
        a, b = start - self.loaded_at, end - self.loaded_at
        if self.mode == 0:
            return 1 if a < n <= b else 0
        if self.mode in (2, 3, 6, 7):       # a rising edge every n clocks, at k * n
            return max(0, b // n - max(a, 0) // n)
        if self.mode in (1, 4, 5):
            return 1 if a < n + 1 <= b else 0
        return 0

    def next_edge(self, now: int) -> Optional[int]:
        """The time of the next rising edge of OUT after now, if any."""
        if self.loaded_at is None:
            return None
        n = self.period()
        t = now - self.loaded_at
        if self.mode in (2, 3, 6, 7):
            return self.loaded_at + (t // n + 1) * n
        target = n if self.mode == 0 else n + 1
        return self.loaded_at + target if t < target else None

    # -- ports -------------------------------------------------------------------------------
    def read(self) -> int:
        if self.status is not None:
            s, self.status = self.status, None
            return s
        if self.latch:
            return self.latch.pop(0)
        value = self.count()
        if self.access == 1:
            return value & 0xFF
        if self.access == 2:
            return value >> 8
        self.read_msb = not self.read_msb
        return value >> 8 if not self.read_msb else value & 0xFF

    def write(self, value: int) -> None:
        if self.access == 1:
            self._load(value)
        elif self.access == 2:
            self._load(value << 8)
        elif self.write_low is None:
            self.write_low = value
            if self.mode == 0:
                self.loaded_at = None       # writing the first byte stops mode 0 counting
        else:
            self._load(self.write_low | value << 8)
            self.write_low = None

    def _load(self, value: int) -> None:
        # (modes 2 and 3 would finish the current period with the old count first; the
        # new one starts at once here)
        self.reload = _from_bcd(value) if self.bcd else value
        self.null_count = False
        self.loaded_at = self.clock()

    def control(self, value: int) -> None:
        access = (value >> 4) & 3
        if access == 0:
            self.latch_count()
            return
        self.access = access
        self.mode = (value >> 1) & 7
        self.bcd = bool(value & 1)
        self.loaded_at = None
        self.null_count = True
        self.write_low = None
        self.latch = []
        self.read_msb = False

    def latch_count(self) -> None:
        if self.latch:
            return                          # a latched count stays until read
        value = self.count()
        if self.access == 1:
            self.latch = [value & 0xFF]
        elif self.access == 2:
            self.latch = [value >> 8]
        else:
            self.latch = [value & 0xFF, value >> 8]

    def latch_status(self) -> None:
        if self.status is None:
            self.status = (0x80 if self.output() else 0) | (0x40 if self.null_count else 0) \
                | self.access << 4 | self.mode << 1 | int(self.bcd)


def _to_bcd(n: int) -> int:
    return int(str(n % 10000), 16)


def _from_bcd(n: int) -> int:
    digits = f"{n:04x}"
    return int(digits) if digits.isdigit() else n


class PIT:
    def __init__(self, clock: Callable[[], int], irq0: Callable[[], None]):
        self.clock = clock
        self.irq0 = irq0
        self.counters = [Counter(clock) for _ in range(3)]
        self.checked = 0            # time up to which counter 0's edges were raised
        self.speaker = 0            # port 61h bits 0-1

    def install(self, bus) -> None:
        for k in range(3):
            bus.claim((PORT_BASE + k,), lambda p, s: self.counters[p - PORT_BASE].read(),
                      lambda p, s, v: self._write_counter(p - PORT_BASE, v))
        bus.claim((CONTROL,), lambda p, s: 0xFF, lambda p, s, v: self.control(v))
        bus.claim((SPEAKER,), lambda p, s: self.read_61(), lambda p, s, v: self.write_61(v))

    def _write_counter(self, k: int, value: int) -> None:
        if k == 0:
            self.update()
        self.counters[k].write(value)
        if k == 0:
            self.checked = self.clock()

    def control(self, value: int) -> None:
        if value >> 6 == 3:                 # read-back
            for k in range(3):
                if value & (2 << k):
                    if not value & 0x20:
                        self.counters[k].latch_count()
                    if not value & 0x10:
                        self.counters[k].latch_status()
            return
        if value >> 6 == 0:
            self.update()
        self.counters[value >> 6].control(value)

    def read_61(self) -> int:
        c2 = self.counters[2]
        refresh = (self.clock() // 18) & 1      # toggles every 15 us
        return self.speaker | refresh << 4 | int(c2.output()) << 5

    def write_61(self, value: int) -> None:
        self.speaker = value & 3
        self.counters[2].gate = bool(value & 1)

    # -- IRQ 0 -------------------------------------------------------------------------------
    def update(self) -> None:
        """Raise IRQ 0 if counter 0's output rose since the last look."""
        now = self.clock()
        if self.counters[0].edges(self.checked, now):
            self.irq0()
        self.checked = now

    def next_event(self) -> Optional[int]:
        return self.counters[0].next_edge(self.clock())
