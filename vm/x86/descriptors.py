"""Segment descriptors: the 8-byte table entries of the GDT and LDT, the cached form a
segment register holds in protected mode, and the checks a selector load makes.

A descriptor's access byte: P (0x80), DPL (0x60), S (0x10: code/data), type (0x0F).
For code/data the type bits are: 8 code, 4 conforming (code) / expand-down (data),
2 readable (code) / writable (data), 1 accessed. System types used here: 1/3 286 TSS
(available/busy), 2 LDT, 4 286 call gate, 5 task gate, 6/7 286 interrupt/trap gate,
9/B 386 TSS, C 386 call gate, E/F 386 interrupt/trap gate.
"""

from __future__ import annotations

from vm.x86.faults import GP, NP, SS, CPUException

ACC_P, ACC_S, ACC_CODE, ACC_CE, ACC_RW, ACC_A = 0x80, 0x10, 0x08, 0x04, 0x02, 0x01


class Seg:
    """A segment register's hidden part: base, limit (bytes, already scaled by G),
    access byte, D/B, and the offset range [lo, hi] an access must stay inside."""
    __slots__ = ("sel", "base", "limit", "acc", "big", "lo", "hi", "valid")

    def __init__(self, sel: int = 0, base: int = 0, limit: int = 0xFFFF, acc: int = 0x93,
                 big: bool = False, valid: bool = True):
        self.sel, self.base, self.limit, self.acc = sel, base, limit, acc
        self.big, self.valid = big, valid
        if acc & (ACC_S | ACC_CODE | ACC_CE) == ACC_S | ACC_CE:     # expand-down data
            self.lo, self.hi = limit + 1, 0xFFFFFFFF if big else 0xFFFF
        else:
            self.lo, self.hi = 0, limit

    @property
    def readable(self) -> bool:
        return not self.acc & ACC_CODE or bool(self.acc & ACC_RW)

    @property
    def writable(self) -> bool:
        return self.acc & (ACC_CODE | ACC_RW) == ACC_RW

    @property
    def dpl(self) -> int:
        return self.acc >> 5 & 3

    def __repr__(self) -> str:
        return (f"{self.sel:04x} base={self.base:08x} limit={self.limit:08x} "
                f"acc={self.acc:02x} {'32' if self.big else '16'}")


class SegList(list):
    """The six segment caches; every store also updates the flat lists compiled blocks
    test inline: ``lo``/``hi`` (the valid offset range; empty for a null selector) and
    ``wok`` (the segment is writable)."""

    def __init__(self, segs):
        super().__init__(segs)
        self.lo, self.hi, self.wok = [0] * 6, [0] * 6, [False] * 6
        for n, seg in enumerate(segs):
            self._note(n, seg)

    def _note(self, n: int, seg: Seg) -> None:
        if seg.valid:
            self.lo[n], self.hi[n] = seg.lo, seg.hi
        else:
            self.lo[n], self.hi[n] = 1, 0
        self.wok[n] = seg.valid and seg.acc & 0x1A == 0x12

    def __setitem__(self, n, seg) -> None:
        super().__setitem__(n, seg)
        if isinstance(n, slice):
            for k, s in enumerate(self):
                self._note(k, s)
        else:
            self._note(n, seg)


def parse(raw: int) -> tuple:
    """(base, limit in bytes, access byte, D/B bit) of an 8-byte descriptor."""
    limit = raw & 0xFFFF | (raw >> 32) & 0xF0000
    base = (raw >> 16) & 0xFFFFFF | (raw >> 32) & 0xFF000000
    acc = raw >> 40 & 0xFF
    flags = raw >> 52 & 0xF
    if flags & 8:                   # G: 4 KiB units
        limit = limit << 12 | 0xFFF
    return base, limit, acc, bool(flags & 4)


def gate(raw: int) -> tuple:
    """(selector, offset, type, DPL, present, parameter count) of a gate descriptor."""
    off = raw & 0xFFFF | (raw >> 32) & 0xFFFF0000
    sel = raw >> 16 & 0xFFFF
    acc = raw >> 40 & 0xFF
    return sel, off, acc & 0x1F, acc >> 5 & 3, bool(acc & ACC_P), raw >> 32 & 0x1F


def err(sel: int) -> int:
    """The error code that names a selector (EXT and IDT bits clear)."""
    return sel & 0xFFFC


def fault(vector: int, sel: int, what: str) -> CPUException:
    return CPUException(vector, f"{what} (selector 0x{sel:04x})", err(sel))


def real_seg(sel: int, code: bool = False) -> Seg:
    """What a real-mode segment load leaves in the cache."""
    return Seg(sel, (sel & 0xFFFF) << 4, 0xFFFF, 0x9B if code else 0x93, False)


def check_data_load(n: int, sel: int, acc: int, cpl: int) -> None:
    """MOV/POP/LxS of a data segment register (not SS) with a non-null selector."""
    rpl, dpl = sel & 3, acc >> 5 & 3
    if not acc & ACC_S or (acc & ACC_CODE and not acc & ACC_RW):
        raise fault(GP, sel, "not a data or readable code segment")
    if not (acc & ACC_CODE and acc & ACC_CE) and (rpl > dpl or cpl > dpl):
        raise fault(GP, sel, "segment privilege")
    if not acc & ACC_P:
        raise fault(NP, sel, "segment not present")


def check_ss_load(sel: int, acc: int, cpl: int, vector: int = GP) -> None:
    if sel & 3 != cpl or acc >> 5 & 3 != cpl or not acc & ACC_S or \
            acc & (ACC_CODE | ACC_RW) != ACC_RW:
        raise fault(vector, sel, "invalid stack segment")
    if not acc & ACC_P:
        raise fault(SS if vector == GP else vector, sel, "stack segment not present")


__all__ = ["Seg", "SegList", "parse", "gate", "err", "fault", "real_seg", "check_data_load",
           "check_ss_load"]
