"""Guest memory: one bytearray from linear address 0 with per-page write and read flags.

Compiled code reads ``data`` directly (a byte index or a ``struct`` unpack: out of range
raises, which the engine turns into a clean memory fault) and writes it directly unless the
page's entry in ``wf`` is non-zero: pages holding translated code (the write must
invalidate it), read-only pages and watched pages (memory-mapped devices) take the slow
path, :meth:`Memory.store`.

Reads are refused only once some page is made unreadable (the Linux personality's unmapped
pages, :meth:`Memory.set_unreadable`): from then on ``guarded`` is true, compiled loads
test ``rf`` (non-zero for an unreadable page and for the page before one, where a read
may straddle into it) and take the slow path, :meth:`Memory.read_value`.
"""

from __future__ import annotations

import struct
from typing import Callable, Optional

from vm.x86.faults import MemoryFault

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT

WF_CODE = 1        # translated code on this page or the next (a write may straddle)
WF_READONLY = 2
WF_WATCH = 4       # a device hook sees every write

_PACK = {1: struct.Struct("<B"), 2: struct.Struct("<H"), 4: struct.Struct("<I"),
         8: struct.Struct("<Q")}


class Memory:
    """``size`` bytes of RAM at linear addresses [0, size)."""

    def __init__(self, size: int):
        if size <= 0:
            raise ValueError("memory size must be positive")
        self.size = size
        self.data = bytearray(size)
        self.wf = bytearray((size + PAGE_SIZE - 1) >> PAGE_SHIFT)
        # called with (start, end) after a write to a page flagged WF_CODE
        self.code_written: Optional[Callable[[int, int], None]] = None
        self._watchers: dict = {}     # page -> callback(address, data)
        self.guarded = False          # some page is unreadable (see the module docstring)
        self.unreadable = bytearray(len(self.wf))
        self.rf = bytearray(len(self.wf))

    # -- checked access (helpers, system calls, loaders, the FPU) -------------------------
    def read(self, addr: int, n: int) -> bytes:
        if addr < 0 or addr + n > self.size:
            raise MemoryFault(addr if addr >= 0 else 0, False, n)
        if self.guarded and n:
            self._check_readable(addr, n)
        return bytes(self.data[addr:addr + n])

    def read_value(self, addr: int, size: int) -> int:
        """The slow path of a compiled read: a page flagged in ``rf``."""
        return int.from_bytes(self.read(addr, size), "little")

    def _check_readable(self, addr: int, n: int) -> None:
        ur = self.unreadable
        for p in range(addr >> PAGE_SHIFT, ((addr + n - 1) >> PAGE_SHIFT) + 1):
            if ur[p]:
                raise MemoryFault(max(addr, p << PAGE_SHIFT), False, n)

    def set_unreadable(self, start: int, end: int, unreadable: bool) -> None:
        """Make the pages of [start, end) refuse (or allow) reads."""
        p0, p1 = start >> PAGE_SHIFT, min((end + PAGE_SIZE - 1) >> PAGE_SHIFT, len(self.rf))
        if p1 <= p0:
            return
        if unreadable:
            self.guarded = True
        self.unreadable[p0:p1] = bytes((int(unreadable),)) * (p1 - p0)
        ur, rf = self.unreadable, self.rf
        last = len(rf) - 1
        for p in range(max(p0 - 1, 0), p1):
            rf[p] = ur[p] | (ur[p + 1] if p < last else 0)
        if not unreadable and self.code_written is not None:
            # a translation that faulted on fetching these pages must go
            self.code_written(p0 << PAGE_SHIFT, p1 << PAGE_SHIFT)

    def write(self, addr: int, data: bytes) -> None:
        n = len(data)
        if n == 0:
            return
        if addr < 0 or addr + n > self.size:
            raise MemoryFault(max(addr, 0), True, n)
        wf = self.wf
        p0, p1 = addr >> PAGE_SHIFT, (addr + n - 1) >> PAGE_SHIFT
        flags = 0
        for p in range(p0, p1 + 1):
            flags |= wf[p]
        if flags & WF_READONLY:
            for p in range(p0, p1 + 1):
                if wf[p] & WF_READONLY:
                    raise MemoryFault(max(addr, p << PAGE_SHIFT), True, n)
        self.data[addr:addr + n] = data
        if flags:
            self._after_write(addr, data, flags)

    def load(self, addr: int, data: bytes) -> None:
        """Put bytes in memory ignoring read-only pages (program loaders)."""
        if addr < 0 or addr + len(data) > self.size:
            raise MemoryFault(max(addr, 0), True, len(data))
        self.data[addr:addr + len(data)] = data
        if self.code_written is not None and data:
            self.code_written(addr, addr + len(data))

    def r8(self, addr: int) -> int:
        return self.read(addr, 1)[0]

    def r16(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 2), "little")

    def r32(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 4), "little")

    def store(self, addr: int, size: int, value: int) -> None:
        """The slow path of a compiled write (and the checked write of helpers)."""
        self.write(addr, _PACK[size].pack(value))

    # -- page flags -------------------------------------------------------------------------
    def set_readonly(self, start: int, end: int, readonly: bool = True) -> None:
        for p in range(start >> PAGE_SHIFT, ((end - 1) >> PAGE_SHIFT) + 1):
            if readonly:
                self.wf[p] |= WF_READONLY
            else:
                self.wf[p] &= ~WF_READONLY

    def watch(self, start: int, end: int, callback: Callable[[int, bytes], None]) -> None:
        """Call ``callback(address, data)`` after every guest write into [start, end)
        (whole pages): memory-mapped devices such as a text screen."""
        for p in range(start >> PAGE_SHIFT, ((end - 1) >> PAGE_SHIFT) + 1):
            self._watchers[p] = callback
            self.wf[p] |= WF_WATCH

    def _after_write(self, addr: int, data: bytes, flags: int) -> None:
        end = addr + len(data)
        if flags & WF_CODE and self.code_written is not None:
            self.code_written(addr, end)
        if flags & WF_WATCH:
            for p in range(addr >> PAGE_SHIFT, ((end - 1) >> PAGE_SHIFT) + 1):
                cb = self._watchers.get(p)
                if cb is not None:
                    lo = max(addr, p << PAGE_SHIFT)
                    hi = min(end, (p + 1) << PAGE_SHIFT)
                    cb(lo, data[lo - addr:hi - addr])
