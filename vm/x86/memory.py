"""Guest memory: one bytearray from linear address 0 with per-page write flags.

Compiled code reads ``data`` directly (a byte index or a ``struct`` unpack: out of range
raises, which the engine turns into a clean memory fault) and writes it directly unless the
page's entry in ``wf`` is non-zero: pages holding translated code (the write must
invalidate it), read-only pages and watched pages (memory-mapped devices) take the slow
path, :meth:`Memory.store`.
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

    # -- checked access (helpers, system calls, loaders, the FPU) -------------------------
    def read(self, addr: int, n: int) -> bytes:
        if addr < 0 or addr + n > self.size:
            raise MemoryFault(addr if addr >= 0 else 0, False, n)
        return bytes(self.data[addr:addr + n])

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
