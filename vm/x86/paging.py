"""Linear -> physical: the 386 two-level page tables (CR3 -> page directory -> page
table -> 4 KiB page), with a TLB, and the protected-mode memory access every compiled
block of protected-mode code goes through.

A TLB entry is (physical page, rights): U (user may access: PDE.U and PTE.U), W
(writable: PDE.W and PTE.W) and D (the dirty bit is already set). As on the CPU the TLB
is only refreshed by a CR3 load or INVLPG (or a paging on/off switch), so a guest that
edits a page table without either sees the old mapping. The walk sets the accessed bits,
and the dirty bit on the first write. A page fault sets CR2 and carries the error code
(P, W/R, U/S).

Physical addresses beyond RAM read as all ones and ignore writes (an empty bus).
"""

from __future__ import annotations

from vm.x86.faults import GP, PF, SS, CPUException, MemoryFault

R_U, R_W, R_D = 1, 2, 4


class PageFault(CPUException):
    def __init__(self, lin: int, code: int):
        kind = "writing" if code & 2 else "reading"
        super().__init__(PF, f"page fault {kind} 0x{lin:08x}", code)
        self.cr2 = lin


def hooked(mmu: MMU, on: bool = True) -> None:
    """Make mmu's physical reads visible to read hooks (vm/x86/hooks.py), or not: a read
    of a hooked page (flagged in ``rf``) is reported with the report function the hooks
    hung on Memory.read; the read itself stays the MMU's (no Memory readability check:
    a hook only watches)."""
    if not on:
        if getattr(mmu._pread, "hooked", False):
            del mmu._pread
        return
    mem, plain = mmu.mem, MMU._pread

    def pread(phys: int, size: int) -> int:
        value = plain(mmu, phys, size)
        if phys + size <= mem.size and mem.rf[phys >> 12]:
            report = getattr(mem.read, "reports_reads", None)
            if report:
                report(phys, size, value.to_bytes(size, "little"))
        return value
    pread.hooked = True
    mmu._pread = pread


class MMU:
    """The protected-mode memory interface of one CPU (``cpu.mmu``)."""

    def __init__(self, cpu, mem):
        self.cpu = cpu
        self.mem = mem
        self.tlb: dict = {}
        self.paging = False
        self.wp = False
        self.cr3 = 0
        self.cr2 = 0
        # the compiled fast path: linear page -> physical page address for reads and
        # (dirty, unflagged) writes, as a supervisor (s) or user (u) access may do them
        self.rs: dict = {}
        self.ru: dict = {}
        self.ws: dict = {}
        self.wu: dict = {}
        # data breakpoints (debugregs.py): called as watch(lin, size, write) after the
        # slow-path accesses while some are armed, else None
        self.access_watch = None
        # read hooks are set (hooks.py's Memory.read); not vars(mem): in CPython 3.11 that
        # makes the Memory's attribute dict a real one, every mem.x slower (+4% Ir)
        if getattr(mem.read, "reports_reads", False):
            hooked(self)

    def flush(self) -> None:
        self.tlb.clear()
        for d in (self.rs, self.ru, self.ws, self.wu):
            d.clear()

    def flush_page(self, lin: int) -> None:
        p = lin >> 12 & 0xFFFFF
        for d in (self.tlb, self.rs, self.ru, self.ws, self.wu):
            d.pop(p, None)

    # -- translation -------------------------------------------------------------------------
    def _r32(self, phys: int) -> int:
        data = self.mem.data
        if phys + 4 > len(data):
            return 0xFFFFFFFF
        return int.from_bytes(data[phys:phys + 4], "little")

    def _w32(self, phys: int, value: int) -> None:
        if phys + 4 <= self.mem.size:
            self.mem.write(phys, value.to_bytes(4, "little"))

    def walk(self, lin: int, write: bool, user: bool) -> tuple:
        code = (2 if write else 0) | (4 if user else 0)
        pde_a = (self.cr3 & 0xFFFFF000) + (lin >> 22 << 2)
        pde = self._r32(pde_a)
        if not pde & 1:
            raise PageFault(lin, code)
        pte_a = (pde & 0xFFFFF000) + ((lin >> 12 & 0x3FF) << 2)
        pte = self._r32(pte_a)
        if not pte & 1:
            raise PageFault(lin, code)
        rights = (R_U if pde & pte & 4 else 0) | (R_W if pde & pte & 2 else 0)
        self._check(lin, rights, write, user, code | 1)
        if not pde & 0x20:
            self._w32(pde_a, pde | 0x20)
        new = pte | 0x20 | (0x40 if write else 0)
        if new != pte:
            self._w32(pte_a, new)
        if new & 0x40:
            rights |= R_D
        e = (pte & 0xFFFFF000, rights)
        self.tlb[lin >> 12] = e
        return e

    def _check(self, lin: int, rights: int, write: bool, user: bool, code: int) -> None:
        if user:
            if not rights & R_U or (write and not rights & R_W):
                raise PageFault(lin, code)
        elif write and self.wp and not rights & R_W:
            raise PageFault(lin, code)

    def phys(self, lin: int, write: bool, user: bool) -> int:
        """The physical address of linear ``lin`` for this access (faults as the CPU)."""
        if not self.paging:
            return lin
        e = self.tlb.get(lin >> 12)
        if e is None or (write and not e[1] & R_D):
            e = self.walk(lin, write, user)
        else:
            self._check(lin, e[1], write, user, (2 if write else 0) | (4 if user else 0) | 1)
        return e[0] | lin & 0xFFF

    def probe(self, lin: int, user: bool) -> int:
        """Like phys for a read, for instruction fetch."""
        return self.phys(lin, False, user)

    # -- access ------------------------------------------------------------------------------
    def read(self, lin: int, size: int, user: int = -1) -> int:
        if user < 0:
            user = self.cpu.cpl == 3
        if self.access_watch is not None:
            self.access_watch(lin, size, False)
        if (lin & 0xFFF) + size <= 0x1000:
            p = self.phys(lin, False, user) if self.paging else lin & 0xFFFFFFFF
            if p < self.mem.size:
                (self.ru if user else self.rs)[lin >> 12] = p & ~0xFFF
            return self._pread(p, size)
        v = 0
        for k in range(size):
            v |= self._pread(self.phys((lin + k) & 0xFFFFFFFF, False, user), 1) << 8 * k
        return v

    def write(self, lin: int, size: int, value: int, user: int = -1) -> None:
        if user < 0:
            user = self.cpu.cpl == 3
        if self.access_watch is not None:
            self.access_watch(lin, size, True)
        if (lin & 0xFFF) + size <= 0x1000:
            p = self.phys(lin, True, user) if self.paging else lin & 0xFFFFFFFF
            if p < self.mem.size:
                (self.wu if user else self.ws)[lin >> 12] = p & ~0xFFF
            self._pwrite(p, size, value)
            return
        # both pages must be writable before any byte changes
        ps = [self.phys((lin + k) & 0xFFFFFFFF, True, user) for k in range(size)]
        for k, p in enumerate(ps):
            self._pwrite(p, 1, value >> 8 * k & 0xFF)

    def read_bytes(self, lin: int, n: int, user: int = 0) -> bytes:
        return b"".join(self.read(lin + k, 1, user).to_bytes(1, "little") for k in range(n))

    def _pread(self, phys: int, size: int) -> int:
        mem = self.mem
        if phys + size > mem.size:
            return (1 << 8 * size) - 1 if phys >= mem.size else \
                int.from_bytes(bytes(mem.data[phys:mem.size]).ljust(size, b"\xff"), "little")
        return int.from_bytes(mem.data[phys:phys + size], "little")

    def _pwrite(self, phys: int, size: int, value: int) -> None:
        mem = self.mem
        if phys + size > mem.size:
            return
        try:
            mem.write(phys, (value & ((1 << 8 * size) - 1)).to_bytes(size, "little"))
        except MemoryFault:         # a read-only (ROM) page: the write goes nowhere
            pass

    # -- segmented access from compiled blocks -----------------------------------------------
    def seg(self, n: int, off: int, nbytes: int) -> int:
        """Check [off, off + nbytes) against segment register n's cache; the linear
        address of off."""
        s = self.cpu.segs[n]
        if not s.valid:
            raise CPUException(SS if n == 2 else GP, "null segment selector", 0)
        if off < s.lo or off + nbytes - 1 > s.hi:
            raise CPUException(SS if n == 2 else GP, "segment limit exceeded", 0)
        return (s.base + off) & 0xFFFFFFFF

    def rd(self, n: int, lin: int, size: int) -> int:
        """A read through segment n (checked by seg() already): readable?"""
        s = self.cpu.segs[n]
        if s.acc & 0x0A == 0x08:
            raise CPUException(GP, "read of an execute-only segment", 0)
        return self.read(lin, size)

    def wr(self, n: int, lin: int, size: int, value: int) -> None:
        s = self.cpu.segs[n]
        if s.acc & 0x0A != 0x02:
            raise CPUException(SS if n == 2 else GP, "write to a read-only segment", 0)
        self.write(lin, size, value)
