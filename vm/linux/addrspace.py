"""A process's address space inside one Machine's memory: which pages are mapped and how,
and where the image, brk heap, mmap area and stack live.

The Machine's RAM is one bytearray from linear address 0 and Python fills it with zeros
when it is created, so the whole layout is kept compact. A static executable linked at
0x08048000 leaves 128 MiB below its image unused: the stack and the mmap area go there.
Above the image only the brk heap follows; memory ends at its limit::

    0        1M                     mmap_hi   stack_lo   stack_top   image        brk_limit
    | unmapped | mmap area (top-down) | guard | 8M stack |   gap     | ELF | brk ... |

An image linked low (a static-pie is loaded at 4 MiB) has everything above it instead:
image, brk heap, mmap area, stack.

Every page that is not mapped writable is flagged read-only (``Memory.wf``) and every
page that is not mapped, or mapped PROT_NONE, unreadable (``Memory.set_unreadable``): a
stray write or read (NULL pointer, stack overflow, a guard page) faults as on Linux.
Unmapped pages are kept zero, so a fresh anonymous mapping needs no clearing.
"""

from __future__ import annotations

import re
from typing import Iterator, Optional, Tuple

from vm.x86.memory import PAGE_SHIFT, WF_READONLY

PAGE = 1 << PAGE_SHIFT
MIB = 1 << 20
STACK_SIZE = 8 * MIB
BRK_RESERVE = 32 * MIB          # brk may grow this far; glibc malloc falls back to mmap
MMAP_SIZE = 64 * MIB            # the mmap area when it lives above the image
LOW_LIMIT = 1 * MIB             # nothing is mapped below this (NULL pointer accesses)
BELOW_MIN = 48 * MIB            # an image at least this high keeps stack and mmap below it
PIE_BASE = 4 * MIB              # where a static-pie (ET_DYN) is loaded

# page protection bits (PROT_READ/WRITE/EXEC values) plus "mapped"
P_R, P_W, P_X, P_MAPPED = 1, 2, 4, 8

_SET_RO = bytes((b | WF_READONLY) for b in range(256))
_CLEAR_RO = bytes((b & ~WF_READONLY & 0xFF) for b in range(256))
_RUNS = re.compile(rb"[^\x00]+")
_WRITABLE = bytes(1 if b & P_W and b & P_MAPPED else 0 for b in range(256))


def page_up(n: int) -> int:
    return (n + PAGE - 1) & ~(PAGE - 1)


def page_down(n: int) -> int:
    return n & ~(PAGE - 1)


class Layout:
    """Where each region goes for an image occupying pages [lo, hi)."""

    def __init__(self, lo: int, hi: int):
        self.image_lo, self.image_hi = lo, hi
        if lo >= BELOW_MIN:
            self.stack_top = page_down(lo - MIB) & ~(MIB - 1)
            self.stack_lo = self.stack_top - STACK_SIZE
            self.mmap_lo, self.mmap_hi = LOW_LIMIT, self.stack_lo - MIB
            self.brk_start, self.brk_limit = hi, hi + BRK_RESERVE
            self.size = self.brk_limit
        else:
            self.brk_start, self.brk_limit = hi, hi + BRK_RESERVE
            self.mmap_lo = self.brk_limit + MIB
            self.mmap_hi = self.mmap_lo + MMAP_SIZE
            self.stack_lo = self.mmap_hi + MIB
            self.stack_top = self.stack_lo + STACK_SIZE
            self.size = self.stack_top


class AddressSpace:
    """Page map of one process over ``mem`` (a vm.x86.memory.Memory)."""

    def __init__(self, mem, layout: Layout):
        self.mem = mem
        self.layout = layout
        self.prot = bytearray(mem.size >> PAGE_SHIFT)
        self.brk = layout.brk_start
        mem.wf[:] = mem.wf.translate(_SET_RO)
        mem.set_unreadable(0, mem.size, True)

    # -- page map ------------------------------------------------------------------------
    def _set(self, start: int, end: int, prot: int) -> None:
        """Mark [start, end) (page aligned) mapped with ``prot`` (0: unmapped)."""
        p0, p1 = start >> PAGE_SHIFT, end >> PAGE_SHIFT
        if p1 <= p0:
            return
        if prot < 0:
            self.prot[p0:p1] = bytes(p1 - p0)
        else:
            self.prot[p0:p1] = bytes((prot | P_MAPPED,)) * (p1 - p0)
        wf = self.mem.wf
        table = _CLEAR_RO if prot >= 0 and prot & P_W else _SET_RO
        wf[p0:p1] = wf[p0:p1].translate(table)
        # on x86 a writable or executable page is readable too
        self.mem.set_unreadable(start, end, not (prot >= 0 and prot & (P_R | P_W | P_X)))

    def map(self, start: int, end: int, prot: int) -> None:
        self._set(page_down(start), page_up(end), prot & 7)

    def unmap(self, start: int, end: int) -> None:
        """Forget [start, end) and clear its bytes (unmapped pages stay zero)."""
        start, end = page_down(start), page_up(end)
        if end <= start:
            return
        for lo, hi in self.runs(start, end):
            self.mem.load(lo, bytes(hi - lo))       # load(): drops stale translations
        self._set(start, end, -1)

    def protect(self, start: int, end: int, prot: int) -> bool:
        """mprotect: False when part of the range is not mapped."""
        p0, p1 = start >> PAGE_SHIFT, page_up(end) >> PAGE_SHIFT
        if self.prot.find(0, p0, p1) >= 0:
            return False
        self._set(start, page_up(end), prot & 7)
        return True

    def is_free(self, start: int, end: int) -> bool:
        p0, p1 = start >> PAGE_SHIFT, page_up(end) >> PAGE_SHIFT
        if start < LOW_LIMIT or p1 > len(self.prot):
            return False
        return not any(self.prot[p0:p1])

    def is_mapped(self, start: int, end: int, writable: bool = False) -> bool:
        p0, p1 = start >> PAGE_SHIFT, page_up(end) >> PAGE_SHIFT
        if p1 > len(self.prot) or start < 0:
            return False
        if writable:
            return self.prot[p0:p1].translate(_WRITABLE).find(0) < 0
        return self.prot.find(0, p0, p1) < 0

    def writable_within(self, ranges) -> bool:
        """Whether any page of the (start, end) ranges is mapped writable."""
        return any(self.prot[lo >> PAGE_SHIFT:hi >> PAGE_SHIFT].translate(_WRITABLE).count(1)
                   for lo, hi in ranges)

    def mapped_end(self, start: int, limit: int) -> int:
        """The end of the mapped run from ``start``, at most ``limit``."""
        p0 = start >> PAGE_SHIFT
        if p0 >= len(self.prot) or start < 0:
            return start
        hole = self.prot.find(0, p0, min(page_up(limit) >> PAGE_SHIFT, len(self.prot)))
        if hole < 0:
            return min(limit, len(self.prot) << PAGE_SHIFT)
        return max(start, min(limit, hole << PAGE_SHIFT))

    def find_free(self, length: int) -> Optional[int]:
        """Highest free run of ``length`` bytes in the mmap area (the kernel's top-down
        search), or None."""
        n = page_up(length) >> PAGE_SHIFT
        lo, hi = self.layout.mmap_lo >> PAGE_SHIFT, self.layout.mmap_hi >> PAGE_SHIFT
        p = self.prot.rfind(bytes(n), lo, hi)
        return None if p < 0 else p << PAGE_SHIFT

    def runs(self, start: int = 0, end: Optional[int] = None) -> Iterator[Tuple[int, int]]:
        """Mapped [lo, hi) address ranges within [start, end)."""
        p0 = start >> PAGE_SHIFT
        p1 = len(self.prot) if end is None else page_up(end) >> PAGE_SHIFT
        for m in _RUNS.finditer(self.prot, p0, p1):
            yield m.start() << PAGE_SHIFT, m.end() << PAGE_SHIFT

    # -- brk -----------------------------------------------------------------------------
    def set_brk(self, addr: int) -> int:
        """brk(2): move the break if the pages are free; return the (new) break."""
        lay = self.layout
        if addr < lay.brk_start or addr > lay.brk_limit:
            return self.brk
        old_top, new_top = page_up(self.brk), page_up(addr)
        if new_top > old_top:
            if not self.is_free(old_top, new_top):
                return self.brk
            self._set(old_top, new_top, P_R | P_W)
        elif new_top < old_top:
            self.unmap(new_top, old_top)
        self.brk = addr
        return addr

    # -- fork ----------------------------------------------------------------------------
    def copy_into(self, child_mem, skip: Tuple[int, int] = (0, 0)) -> AddressSpace:
        """The same mappings and contents in another Memory of the same size (fork).
        ``skip`` is a range not worth copying (the dead part of the stack below ESP)."""
        other = AddressSpace.__new__(AddressSpace)
        other.mem = child_mem
        other.layout = self.layout
        other.prot = bytearray(self.prot)
        other.brk = self.brk
        src, dst = self.mem.data, child_mem.data
        s0, s1 = skip
        for lo, hi in self.runs():
            if s0 < hi and lo < s1:                 # copy around the skipped part
                if lo < s0:
                    dst[lo:s0] = src[lo:s0]
                if s1 < hi:
                    dst[s1:hi] = src[s1:hi]
            else:
                dst[lo:hi] = src[lo:hi]
        wf = child_mem.wf
        wf[:] = wf.translate(_SET_RO)
        for m in re.finditer(rb"[\x0a\x0b\x0e\x0f]+", self.prot):   # mapped and writable
            wf[m.start():m.end()] = wf[m.start():m.end()].translate(_CLEAR_RO)
        child_mem.guarded = self.mem.guarded
        child_mem.unreadable[:] = self.mem.unreadable
        child_mem.rf[:] = self.mem.rf
        return other
