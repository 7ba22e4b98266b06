"""A process's address space inside one Machine's memory: which pages are mapped and how,
and where the image, brk heap, mmap area and stack live.

The Machine's RAM (vm/x86/memory.py) is one lazily allocated buffer from linear address 0
to TASK_SIZE (3 GiB, i386 user space): only touched pages cost host memory, so the layout
is the kernel's::

    0      1M          image_lo  image_hi (brk_start)       mmap_hi  stack_lo   stack_top
    | unmapped | ...      | ELF | brk heap ->   ...   <- mmap area | guard | 8M stack |

The brk heap grows up from the image and the mmap area is searched top-down from below
the stack (down to 1 MiB, so below a high image too); they share the space between.
A static-pie is loaded at 4 MiB, a static executable at its link address.

``limit`` caps the mapped bytes (image + brk + mmap + stack): a mapping or a brk past it
fails with ENOMEM, as RLIMIT_AS does (the default, DEFAULT_LIMIT, is 2 GiB). A
:class:`MemoryBudget` shared by every process of a run caps their sum (twice the
per-process limit), so a guest that forks cannot multiply what it may touch: the host
never holds more guest memory than that, whatever the guest does.

Every page that is not mapped writable is flagged read-only (``Memory.wf``) and every
page that is not mapped, or mapped PROT_NONE, unreadable (``Memory.set_unreadable``): a
stray write or read (NULL pointer, stack overflow, a guard page) faults as on Linux.
Unmapped pages are kept zero (``Memory.zero`` gives them back to the host), so a fresh
anonymous mapping needs no clearing.
"""

from __future__ import annotations

import re
import weakref
from bisect import bisect_left
from typing import Callable, Iterator, Optional, Tuple

from vm.x86.memory import PAGE_SHIFT, WF_CODE, WF_READONLY, WF_WATCH

PAGE = 1 << PAGE_SHIFT
MIB = 1 << 20
TASK_SIZE = 0xC0000000          # i386 user space: the Machine's memory size
STACK_SIZE = 8 * MIB            # the stack an exec reserves under RLIMIT_STACK's default
STACK_MAX = 512 * MIB           # the most it reserves (a higher or unlimited RLIMIT_STACK)
STACK_GAP = 1 * MIB             # unmapped guard between the mmap area and the stack
LOW_LIMIT = 1 * MIB             # nothing is mapped below this (NULL pointer accesses)
PIE_BASE = 4 * MIB              # where a static-pie (ET_DYN) is loaded
DEFAULT_LIMIT = 2 << 30         # mapped bytes a guest may have unless --memory says

# page protection bits (PROT_READ/WRITE/EXEC values) plus "mapped"
P_R, P_W, P_X, P_MAPPED = 1, 2, 4, 8

_SET_RO = bytes((b | WF_READONLY) for b in range(256))
_CLEAR_RO = bytes((b & ~WF_READONLY & 0xFF) for b in range(256))
_RUNS = re.compile(rb"[^\x00]+")
_WRITABLE = bytes(1 if b & P_W and b & P_MAPPED else 0 for b in range(256))
_CODE = bytes(1 if b & WF_CODE else 0 for b in range(256))
_NOT_ZERO = re.compile(rb"[^\x00]")
_CHUNK = 1 << 20
_ZERO_CHUNK = bytes(_CHUNK)
_NONZERO = bytes(1 if b else 0 for b in range(256))
_ACCESS = bytes(1 if b & P_MAPPED and b & (P_R | P_W | P_X) else 0 for b in range(256))
MAX_MAP_COUNT = 65530           # Linux's vm.max_map_count default: VMAs per process


def _run_starts(seg: bytes, first: bool, tags: Optional[bytes] = None) -> int:
    """How many mapped runs (a VMA each: equal protection and file tag, nothing
    between) start in ``seg[1:]``, and at ``seg[0]`` too when ``first``: a run starts
    at a mapped page whose protection or tag (``tags``, the same pages' AddressSpace.tags;
    0 where unmapped) differs from the page before. Whole-slice integer operations, so
    a range of 10^5 pages costs no Python loop."""
    n = len(seg) - 1
    count = 1 if first and seg and seg[0] else 0
    if n <= 0 or seg.count(0) == n + 1:     # (nothing mapped: an unmap's after)
        return count
    a, b = seg[:-1], seg[1:]
    x = int.from_bytes(a, "little") ^ int.from_bytes(b, "little")
    if tags is not None:
        x |= int.from_bytes(tags[:-1], "little") ^ int.from_bytes(tags[1:], "little")
    diff = x.to_bytes(n, "little")
    changes = n - diff.count(0)
    # a change to an unmapped page ends a run and starts none
    into_gap = (int.from_bytes(a.translate(_NONZERO), "little")
                & ~int.from_bytes(b.translate(_NONZERO), "little")).to_bytes(n, "little")
    return count + changes - (n - into_gap.count(0))


def _copy_noexec(src, dst) -> None:
    """``dst`` (a fork's Memory, maybe a reused one with translations) takes the
    no-execute flags of ``src``; translations on pages whose flag changes go."""
    old, new = dst.noexec, bytearray(src.noexec)
    dst.noexec = new
    if old is None or old == new or dst.code_written is None:
        return
    x = int.from_bytes(old, "little") ^ int.from_bytes(new, "little")
    lo, hi = ((x & -x).bit_length() - 1) >> 3, (x.bit_length() - 1) >> 3
    dst.code_written(lo << PAGE_SHIFT, (hi + 1) << PAGE_SHIFT)


def page_up(n: int) -> int:
    return (n + PAGE - 1) & ~(PAGE - 1)


def page_down(n: int) -> int:
    return n & ~(PAGE - 1)


class Layout:
    """Where each region goes for an image occupying pages [lo, hi)."""

    low_limit = LOW_LIMIT           # nothing is mapped below (MAP_FIXED there: EPERM)

    def __init__(self, lo: int, hi: int, stack_size: int = STACK_SIZE):
        self.image_lo, self.image_hi = lo, hi
        self.size = self.stack_top = TASK_SIZE
        self.stack_lo = self.stack_top - stack_size     # (the mmap area lies below it)
        self.mmap_lo, self.mmap_hi = LOW_LIMIT, self.stack_lo - STACK_GAP
        # brk may grow over any free pages up to the mmap area's top (set_brk checks)
        self.brk_start, self.brk_limit = hi, self.mmap_hi


class FlatLayout(Layout):
    """A flat binary's (vm/linux/flat.py): RAM of ``size`` bytes (--memory), the image
    at its org (page 0 too: org 0 is the default), the stack in the top ``stack_size``
    bytes. A flat binary expects RAM, not a process image: ``nasm -f bin`` writes no
    ``.bss``, and programs address memory below their org or past their end. So
    everything below the image and the lower half of the space between the image and the
    stack is mapped from the start (``premapped``); brk moves through that half, and mmap
    hands out the upper half, top-down::

        0       image_lo  image_hi (brk_start)  brk_limit = mmap_lo    stack_lo      size
        | mapped | image  | mapped (.bss, brk)  |  <- mmap               | stack       |
    """

    low_limit = 0
    premapped = True

    def __init__(self, lo: int, hi: int, size: int, stack_size: int):
        self.image_lo, self.image_hi = lo, hi
        self.size = self.stack_top = size
        self.stack_lo = size - stack_size
        self.brk_start = hi
        self.brk_limit = page_up(hi + max(0, self.stack_lo - hi) // 2)
        self.mmap_lo, self.mmap_hi = self.brk_limit, self.stack_lo


class MemoryBudget:
    """Mapped bytes of every process of a run together (None: no cap)."""

    def __init__(self, limit: Optional[int] = None):
        self.limit = limit
        self.used = 0

    def allows(self, extra: int) -> bool:
        return self.limit is None or self.used + extra <= self.limit


class HeldFd:
    """One host descriptor of a mapped file, shared by all of the run's mappings of that
    file (inode) with that access (``writable``): the pieces of a MAP_SHARED mapping
    (munmap of a middle part, fork), other mmaps of the file, MAP_PRIVATE mappings that
    may grow over it (FileRange). Closed with the last. A descriptor per mmap let a
    guest use up pyvm's descriptors (vm/sandbox.py HostFds: ENFILE after 25 mmaps of one
    file under ulimit -n 64). The holders use only pread/pwrite/fstat, which need no
    offset of their own; ``key`` is its entry in ``_held`` ((st_dev, st_ino, writable))."""

    __slots__ = ("fd", "refs", "key", "writable")

    def __init__(self, fd: int, key: tuple = (), writable: bool = True):
        self.fd, self.refs, self.key, self.writable = fd, 1, key, writable
        if key:
            _held[key] = self

    def share(self) -> HeldFd:
        self.refs += 1
        return self

    def release(self) -> None:
        self.refs -= 1
        if not self.refs:
            import os
            if self.key and _held.get(self.key) is self:
                del _held[self.key]
            try:
                os.close(self.fd)
            except OSError:
                pass


# the run's held descriptors of mapped files by (st_dev, st_ino, writable): one each
_held: dict = {}


def held_file(key: tuple, writable: bool) -> Optional[HeldFd]:
    """The run's held descriptor of the file ``key`` (st_dev, st_ino), shared once more,
    or None when there is none with that access yet."""
    h = _held.get((*key, writable))
    return None if h is None else h.share()


def held_count() -> int:
    """How many mapped files the run holds a descriptor of."""
    return len(_held)


SUM = 16                        # bytes of a page's digest in SharedFile.clean
_ZERO_PAGE = bytes(PAGE)
_ZERO_SUM = bytes(SUM)


def _page_sum(page) -> bytes:
    """What a SharedFile remembers of a page: zeros for a zero page (a sparse file's
    holes cost nothing to check), else a keyless BLAKE2b digest."""
    if page == _ZERO_PAGE:
        return _ZERO_SUM
    return _blake2b()(page, digest_size=SUM).digest()


def _blake2b():
    global _blake2b_fn
    if _blake2b_fn is None:
        try:
            from _blake2 import blake2b
        except ImportError:     # (an interpreter without the module: hashlib has it)
            from hashlib import blake2b
        _blake2b_fn = blake2b
    return _blake2b_fn


_blake2b_fn = None


def page_sums(mem, start: int, end: int) -> bytearray:
    """The digests of the pages of [start, end) as they are now (see SharedFile)."""
    data = mem.data
    return bytearray().join([_page_sum(data[a:a + PAGE]) for a in range(start, end, PAGE)])


class SharedFile:
    """A MAP_SHARED mapping of a file the guest opened for writing: [start, end) shows
    the file from ``offset``. The guest's stores reach the file when the range is
    unmapped or msync'd, when the process execs or exits and when any process reads or
    writes those bytes of the file (before_io): every page that differs from what was
    last read or written is written back, within the file's size, as the kernel's
    writeback does. Processes sharing a mapping (fork) each write back their own
    changes (the parent's first, at the fork); a write-back or write() shows in the
    others' pages they have not stored to, and where both stored, the later write-back
    writes only its changed bytes (AddressSpace.bases).

    What was last read or written is kept as a 16-byte digest per page (``clean``), not
    as a copy: a copy doubled the host memory of a mapping, outside the --memory budget
    (a 1 GiB mapping of a sparse file held 4 GB)."""

    __slots__ = ("start", "end", "held", "offset", "clean", "base", "key", "asp", "_guard")

    def __init__(self, start: int, end: int, held: HeldFd, offset: int,
                 clean: bytearray, base: int = 0, key: tuple = (), asp=None):
        # ``clean[base:]`` holds this mapping's digests: the pieces of one mapping in
        # one process share the array (their parts of it never overlap), so a split
        # copies nothing (a digest slice per split made 64 MiB of alternating munmaps
        # quadratic)
        self.start, self.end, self.held, self.offset, self.clean, self.base = \
            start, end, held, offset, clean, base
        self.key = key              # the file's (st_dev, st_ino): read/write meet it
        self.asp = asp              # the AddressSpace whose pages these are
        self._guard = end           # where its pages past the file's end start (SIGBUS)
        if key and asp is not None:
            spaces.setdefault(key, {}).setdefault(asp, _Pieces()).add(self)

    @property
    def fd(self) -> int:
        return self.held.fd

    @property
    def guard(self) -> int:
        """Where this mapping's pages past the file's end start (``end``: none are):
        a mapping with some is in ``guarded`` under its file, for a write() growing
        the file to find (after_write)."""
        return self._guard

    @guard.setter
    def guard(self, at: int) -> None:
        self._guard = at
        if not self.key:
            return
        g = guarded.get(self.key)
        if at < self.end:
            if g is None:
                g = guarded[self.key] = _Guarded()
            g.items[self] = None
            g.low = min(g.low, self.offset + (at - self.start))
        elif g is not None and self in g.items:
            del g.items[self]
            if not g.items:
                del guarded[self.key]

    def sync(self, mem, lo: int, hi: int) -> None:
        """Write back the changed pages of [lo, hi) (page aligned, within the mapping)."""
        import os
        if not self.held.writable:
            return                  # a read-only file's: its pages are never writable
        try:
            size = os.fstat(self.fd).st_size
        except OSError:
            return
        clean = self.clean
        others = len(spaces.get(self.key, ())) > 1      # (other processes map it)
        bases = self.asp.bases if self.asp is not None else None
        for a in range(max(lo, self.start), min(hi, self.end), PAGE):
            rel = a - self.start
            now = mem.data[a:a + PAGE]
            k = self.base + rel // PAGE * SUM
            digest = _page_sum(now)
            if digest == clean[k:k + SUM]:
                continue
            clean[k:k + SUM] = digest
            at = self.offset + rel
            n = min(PAGE, size - at)
            if n > 0:
                base = bases.pop((self.key, at), None) if bases else None
                try:
                    old = os.pread(self.fd, PAGE, at) if others else b""
                    if base is None:
                        os.pwrite(self.fd, bytes(now[:n]), at)
                    else:
                        _write_changes(self.fd, bytes(now[:n]), base, at)
                except OSError:
                    continue        # a full disk loses the data, as a failed writeback does
                if others:
                    self._show_others(at, at + n, old)

    def _show_others(self, start: int, end: int, old: bytes) -> None:
        """Bytes [start, end) of the file (one page, ``old`` before) were written back
        from this mapping: the other processes' mappings show them too where they have
        not stored (a clean page: a forked child's copy is stale, not newer); a page
        both stored remembers ``old`` as its base, so that its own write-back writes
        only the bytes it changed (not its stale copy of the others)."""
        for asp, pieces in list(spaces.get(self.key, {}).items()):
            if asp is not self.asp:
                for sf in pieces.meeting(start, end):
                    lo = page_down(max(sf.start, sf.start + start - sf.offset))
                    hi = page_up(min(sf.end, sf.start + end - sf.offset))
                    if lo < hi:
                        sf.reload(asp.mem, lo, hi, base=old.ljust(PAGE, b"\0"))

    def grow(self, mem, end: int) -> None:
        """The mapping goes on to ``end`` (mremap), its new pages as they are now."""
        more = page_sums(mem, self.end, end) if self.held.writable else \
            bytearray((end - self.end) // PAGE * SUM)
        self.clean = self._own() + more
        old, self.base, self.end = self.end, 0, end
        self.guard = min(self.guard, old)
        pieces = spaces.get(self.key, {}).get(self.asp)
        if pieces is not None:
            pieces.longest = max(pieces.longest, end - self.start)
            self.asp._watch_aliases(self)
            self.asp.guard_eof(self)

    def _own(self) -> bytearray:
        return self.clean[self.base:self.base + (self.end - self.start) // PAGE * SUM]

    def piece(self, lo: int, hi: int) -> SharedFile:
        """The part [lo, hi) of this mapping (the same host descriptor and digests)."""
        rel = lo - self.start
        part = SharedFile(lo, hi, self.held.share(), self.offset + rel, self.clean,
                          self.base + rel // PAGE * SUM, self.key, self.asp)
        part.guard = min(max(self.guard, lo), hi)
        return part

    def copy(self, asp) -> SharedFile:
        """This mapping in a forked child (``asp``): its own digests, copied from the
        parent's once it has written back (AddressSpace.copy_into), so only the child's
        own later stores count as its changes, never the bytes it was given."""
        child = SharedFile(self.start, self.end, self.held.share(), self.offset,
                           self._own(), 0, self.key, asp)
        child.guard = self.guard
        return child

    def reload(self, mem, lo: int, hi: int, base: Optional[bytes] = None) -> None:
        """The file changed under [lo, hi) (page aligned, within the mapping) by a
        write(): its pages show the file again (zeros past its end, as the page cache's
        last page), their translations dropped (Memory.load), and count as clean. With
        ``base`` (another process's write-back: see _show_others), a page this process
        stored keeps its bytes and keeps ``base`` (the file's before) to merge with."""
        import os
        asp = self.asp
        for a in range(max(lo, self.start), min(hi, self.end), PAGE):
            rel = a - self.start
            k = self.base + rel // PAGE * SUM
            at = self.offset + rel
            if base is not None and self.held.writable and \
                    _page_sum(mem.data[a:a + PAGE]) != self.clean[k:k + SUM]:
                if asp is not None:     # (the first base stays: what it last saw)
                    if asp.bases is None:
                        asp.bases = {}
                    asp.bases.setdefault((self.key, at), base)
                continue
            try:
                page = os.pread(self.fd, PAGE, at).ljust(PAGE, b"\0")
            except OSError:
                continue
            mem.load(a, page)
            if self.held.writable:
                self.clean[k:k + SUM] = _page_sum(page)
            if asp is not None and asp.bases:
                asp.bases.pop((self.key, at), None)

    def close(self) -> None:
        self.held.release()
        if self._guard < self.end:
            self.guard = self.end       # (out of ``guarded``)
        mine = spaces.get(self.key)
        pieces = None if mine is None else mine.get(self.asp)
        if pieces is not None and pieces.remove(self):
            del mine[self.asp]
            if not mine:
                del spaces[self.key]


def _write_changes(fd: int, now: bytes, base: bytes, at: int) -> None:
    """pwrite at ``at`` only the runs of ``now`` that differ from ``base``."""
    import os
    n = len(now)
    diff = (int.from_bytes(now, "little") ^ int.from_bytes(base[:n], "little"))
    for m in _RUNS.finditer(diff.to_bytes(n, "little")):
        os.pwrite(fd, now[m.start():m.end()], at + m.start())


class _Pieces:
    """One process's SharedFile pieces of one file, sorted by file offset, so a read,
    write or write-back finds those meeting its bytes by binary search (2000 pieces
    scanned on every read cost ~1 M Ir; a write-back per page over all of them made
    unmapping a forked child's pieces one by one quadratic)."""

    __slots__ = ("items", "keys", "longest")

    def __init__(self):
        self.items: list = []
        self.keys: list = []        # (offset, id) of each item: bisect's keys
        self.longest = 0            # the longest piece: how far back one can reach

    def add(self, sf: SharedFile) -> None:
        k = (sf.offset, id(sf))
        i = bisect_left(self.keys, k)
        self.keys.insert(i, k)
        self.items.insert(i, sf)
        self.longest = max(self.longest, sf.end - sf.start)

    def remove(self, sf: SharedFile) -> bool:
        """Drop ``sf``; whether none is left."""
        k = (sf.offset, id(sf))
        i = bisect_left(self.keys, k)
        if i < len(self.keys) and self.keys[i] == k:
            del self.keys[i], self.items[i]
        return not self.items

    def meeting(self, start: int, end: int) -> list:
        """The pieces mapping some of the file's bytes [start, end)."""
        i = bisect_left(self.keys, (start - self.longest + 1, 0))
        j = bisect_left(self.keys, (end, 0))
        return [sf for sf in self.items[i:j] if sf.offset + (sf.end - sf.start) > start]


# Every live SharedFile piece of the run by its file's (st_dev, st_ino), then by its
# AddressSpace (_Pieces): a read() or write() of a file (by any process) meets the pages
# mapping it (before_io, after_write), so the two see each other at once, as through
# the page cache on Linux; a file no piece maps costs a lookup (a scan of every piece
# cost ~500 Ir each per read of any file)
spaces: dict = {}
# Every AddressSpace of the run with MAP_PRIVATE file mappings (``files``): a truncation
# re-guards their pages past the file's new end (truncating, _cut_private)
privates: weakref.WeakSet = weakref.WeakSet()


def _file_ranges(fd: int, start: int, end: int):
    """(address space, mapping, lo, hi) for each mapping's pages of bytes [start, end)
    of the file open as host descriptor ``fd``."""
    import os
    try:
        st = os.fstat(fd)
    except OSError:
        return
    for asp, pieces in list(spaces.get((st.st_dev, st.st_ino), {}).items()):
        for sf in pieces.meeting(start, end):
            lo = page_down(max(sf.start, sf.start + start - sf.offset))
            hi = page_up(min(sf.end, sf.start + end - sf.offset))
            if lo < hi:
                yield asp, sf, lo, hi


def before_io(fd: int, start: int, n: int) -> None:
    """A read or write of ``n`` bytes at ``start`` of the file comes: the mapped pages
    it meets are written back first (the write keeps their other bytes)."""
    for asp, sf, lo, hi in list(_file_ranges(fd, start, start + n)):
        sf.sync(asp.mem, lo, hi)


class _Guarded:
    """The SharedFile pieces of one file with pages past its end (``guard`` < ``end``),
    and ``low``: at most the least file offset where one of them starts being guarded
    (a file no longer than that unguards none of them)."""

    __slots__ = ("items", "low")

    def __init__(self):
        self.items: dict = {}       # SharedFile -> None (insertion ordered)
        self.low = 1 << 63


# the pieces with pages past their file's end, by file (st_dev, st_ino): a write()
# looks only at these, and only when it made the file longer than ``low`` (a scan of
# every mapping of the file on every write cost 1.4 ms a write with 20000 mappings)
guarded: dict = {}


def after_write(fd: int, start: int, n: int) -> None:
    """``n`` bytes were written at ``start`` of the file: the mappings show them (and
    their pages up to its new end are no longer past it)."""
    import os
    if n <= 0:
        return
    try:
        st = os.fstat(fd)
    except OSError:
        return
    key = (st.st_dev, st.st_ino)
    for asp, pieces in list(spaces.get(key, {}).items()):
        for sf in pieces.meeting(start, start + n):
            lo = page_down(max(sf.start, sf.start + start - sf.offset))
            hi = page_up(min(sf.end, sf.start + start + n - sf.offset))
            if lo < hi:
                sf.reload(asp.mem, lo, hi)
    g = guarded.get(key)
    if g is not None and st.st_size > g.low:    # (a write only ever grows a file)
        low = 1 << 63
        for sf in list(g.items):
            if sf.offset + (sf.guard - sf.start) < st.st_size and sf.asp is not None:
                sf.asp.guard_eof(sf, st.st_size)
            if sf.guard < sf.end:
                low = min(low, sf.offset + (sf.guard - sf.start))
        g.low = low


def _reguard(fd: int) -> None:
    """The file open as ``fd`` changed size: every mapping of it whose pages were past
    its end, or are now, has them guarded anew (AddressSpace.guard_eof)."""
    import os
    try:
        st = os.fstat(fd)
    except OSError:
        return
    for asp, pieces in list(spaces.get((st.st_dev, st.st_ino), {}).items()):
        for sf in list(pieces.items):
            if sf.guard < sf.end or sf.offset + (sf.end - sf.start) > st.st_size:
                asp.guard_eof(sf, st.st_size)


def truncating(fd: int, length: int, cut: Callable[[], None]) -> None:
    """``cut()`` truncates the file open as host descriptor ``fd`` to ``length``: the
    MAP_SHARED pages of the bytes it cuts or adds are written back first (the stores
    before the cut are the file's) and show the file after it: zeros past the new end,
    as Linux's truncation of the page cache (the pages kept their old bytes)."""
    import os
    try:
        old = os.fstat(fd).st_size
    except OSError:
        old = length
    lo, hi = page_down(min(old, length)), page_up(max(old, length))
    meets = list(_file_ranges(fd, lo, hi)) if hi > lo else []
    for asp, sf, a, b in meets:
        sf.sync(asp.mem, a, b)
    cut()
    for asp, sf, a, b in meets:
        sf.reload(asp.mem, a, b)
    _reguard(fd)
    if privates and length < old:
        _cut_private(fd, length)


def _cut_private(fd: int, length: int) -> None:
    """The file open as ``fd`` was cut to ``length``: the MAP_PRIVATE pages wholly past
    its new end fault again (SIGBUS), written or not, and read the file anew if it
    grows over them (Linux's truncate_pagecache zaps private copies too: even_cows)."""
    import os
    try:
        st = os.fstat(fd)
    except OSError:
        return
    key = (st.st_dev, st.st_ino)
    for asp in list(privates):
        for fr in asp.files:
            if fr.src[1] == key:
                asp.guard_private(fr, length)


class FileRange:
    """A MAP_PRIVATE file mapping [start, end) of a file from ``offset``: what mremap
    growing it maps on (Linux extends the VMA over the file; it read zeros). It holds
    the run's one read-only descriptor of the file (HeldFd: the file's bytes even once
    its name leads elsewhere, as Linux's VMA holds the inode) while few files are held
    (PRIVATE_HELD) and descriptors are to spare (process._hold); past that, none (a
    descriptor per mapping ran out of them: ENFILE after 22 mmaps and closes under
    ulimit -n 64): ``src`` is the file's (host path, (st_dev, st_ino)), reopened when
    it grows (read_more)."""

    __slots__ = ("start", "end", "src", "offset", "held", "read_only")

    def __init__(self, start: int, end: int, src: tuple, offset: int,
                 held: Optional[HeldFd] = None, read_only: bool = False):
        self.start, self.end, self.src, self.offset = start, end, src, offset
        self.held = held
        # a MAP_SHARED mapping of a read-only file copied (no descriptor to spare for
        # a SharedFile): it may not be made writable either
        self.read_only = read_only

    def piece(self, lo: int, hi: int) -> FileRange:
        return FileRange(lo, hi, self.src, self.offset + (lo - self.start),
                         None if self.held is None else self.held.share(), self.read_only)

    def read_more(self, load: Callable[[int], None]) -> None:
        """Call ``load(fd)`` with the file opened for reading: the held descriptor, or
        by its path when that still names the same file (else nothing: the new pages
        read zeros)."""
        import os
        if self.held is not None:
            load(self.held.fd)
            return
        fd = _reopen(*self.src)
        if fd is not None:
            try:
                load(fd)
            finally:
                os.close(fd)

    def size(self) -> Optional[int]:
        """The file's size now (None: it cannot be looked at)."""
        import os
        try:
            if self.held is not None:
                return os.fstat(self.held.fd).st_size
            fd = _reopen(*self.src)
            if fd is None:
                return None
            try:
                return os.fstat(fd).st_size
            finally:
                os.close(fd)
        except OSError:
            return None

    def guard_at(self, size: int) -> int:
        """Where its pages wholly past a file of ``size`` bytes begin (``end``: none)."""
        return min(self.end, max(self.start, self.start + page_up(size) - self.offset))

    def close(self) -> None:
        if self.held is not None:
            self.held.release()
            self.held = None


def _reopen(path: str, key: tuple) -> Optional[int]:
    """A read-only descriptor of the regular file (st_dev, st_ino) ``key`` by its host
    ``path``, or None when the path no longer leads to it. Every component is opened
    O_PATH and O_NOFOLLOW (no open side effects: a FIFO's writer is not released, a device
    is not opened) and the file itself is reopened through /proc/self/fd only when it is
    that inode: a guest that replaced the file or a directory on the way with a symlink
    makes pyvm open nothing outside its root."""
    import os
    import stat

    from formats.hostflags import O_PATH
    names = [n for n in path.split("/") if n]
    if not path.startswith("/") or not names:
        return None
    d = fd = -1
    try:
        d = os.open("/", O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        for name in names[:-1]:
            nd = os.open(name, O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=d)
            os.close(d)
            d = nd
        fd = os.open(names[-1], O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=d)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != key:
            return None
        return os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    finally:
        for f in (d, fd):
            if f >= 0:
                os.close(f)


def _split_ranges(ranges: list, start: int, end: int, new: Optional[int],
                  first: Optional[Callable] = None) -> None:
    """Cut the sorted, disjoint ``ranges`` (file mappings: ``piece``, ``close``) at
    [start, end): their parts outside it stay, the part inside goes (``new`` None) or
    moves to ``new`` (mremap); ``first(r)`` runs on each range met before it is cut (a
    shared mapping's write-back). The list is changed in place, one slice replaced."""
    i, j = _span(ranges, start, end)
    kept, moved = [], []
    for r in ranges[i:j]:
        if first is not None:
            first(r)
        if r.start < start:
            kept.append(r.piece(r.start, start))
        if new is not None:
            part = r.piece(max(start, r.start), min(end, r.end))
            part.start, part.end = new + (part.start - start), new + (part.end - start)
            moved.append(part)
        if end < r.end:
            kept.append(r.piece(end, r.end))
        r.close()
    ranges[i:j] = kept
    for part in moved:
        k, _ = _span(ranges, part.start, part.end)
        ranges.insert(k, part)


def _span(ranges: list, start: int, end: int) -> Tuple[int, int]:
    """[i, j): the indices of the sorted, disjoint ``ranges`` meeting [start, end), by
    binary search (their ends are sorted too)."""
    lo, hi = 0, len(ranges)
    while lo < hi:
        mid = (lo + hi) >> 1
        if ranges[mid].end <= start:
            lo = mid + 1
        else:
            hi = mid
    j = lo
    while j < len(ranges) and ranges[j].start < end:
        j += 1
    return lo, j


class AddressSpace:
    """Page map of one process over ``mem`` (a vm.x86.memory.Memory)."""

    files: list = []                # FileRange (MAP_PRIVATE files), sorted; as ``shared``

    # SharedFile mappings, sorted by address (an instance list once there is one)
    shared: list = []
    vmas = 0                        # mapped runs of ``prot`` (what MAX_MAP_COUNT caps)
    # per page: 0, or 1-3 for a file mapping, each differing from its neighbours' (made
    # with the first file mapping): a file mapping's edges are VMA edges, as on Linux,
    # where 70000 one-page mappings of a file side by side are 70000 VMAs (ENOMEM)
    tags: Optional[bytearray] = None
    # (file key, offset) -> the file's page as this process last saw it, for a page
    # it stored to that another process wrote back since (SharedFile.reload)
    bases: Optional[dict] = None
    vdso: Optional[tuple] = None    # (base, vm.linux.vdso.Vdso) where the vDSO is mapped
    # the guest's MAP_GROWSDOWN mappings, [start, end) (an instance list once there is
    # one): mprotect's PROT_GROWSDOWN reaches down to their start, as to the stack's
    growsdown: list = []
    # the personality's READ_IMPLIES_EXEC (an i386 program without PT_GNU_STACK, or
    # personality(2)): every readable page it maps is executable (``implied``)
    read_implies_exec = False
    # the main stack's lowest mapped address when RLIMIT_STACK moved it up (limit_stack)
    stack_floor: Optional[int] = None

    def __init__(self, mem, layout: Layout, limit: Optional[int] = None,
                 budget: Optional[MemoryBudget] = None):
        self.mem = mem
        self.layout = layout
        self.prot = bytearray(mem.size >> PAGE_SHIFT)
        self.brk = layout.brk_start
        self.limit = DEFAULT_LIMIT if limit is None else limit
        self.mapped = 0                 # bytes in mapped pages (what ``limit`` caps)
        self.budget: Optional[MemoryBudget] = budget if budget is not None else MemoryBudget()
        mem.wf[:] = mem.wf.translate(_SET_RO)
        mem.set_unreadable(0, mem.size, True)
        if mem.noexec is None:
            # (0: an unmapped page is unreadable already, and every page mapped later
            # passes _set, which flags it; a reused Memory keeps its flags likewise)
            mem.noexec = bytearray(len(mem.wf))

    # -- page map ------------------------------------------------------------------------
    def _set(self, start: int, end: int, prot: int, tag: Optional[int] = None) -> None:
        """Mark [start, end) (page aligned) mapped with ``prot`` (-1: unmapped) and file
        ``tag`` (None: as it was, 0 where unmapped)."""
        p0, p1 = start >> PAGE_SHIFT, end >> PAGE_SHIFT
        if p1 <= p0:
            return
        before = (p1 - p0) - self.prot.count(0, p0, p1)
        delta = ((p1 - p0 if prot >= 0 else 0) - before) << PAGE_SHIFT
        self.mapped += delta
        if self.budget is not None:
            self.budget.used += delta
        w0, w1 = max(p0 - 1, 0), min(p1 + 1, len(self.prot))
        if tag and self.tags is None:
            self.tags = bytearray(len(self.prot))
        tags = self.tags
        runs = self._runs(w0, p0, p1, w1)
        if prot < 0:
            self.prot[p0:p1] = bytes(p1 - p0)
            tag = 0
        else:
            self.prot[p0:p1] = bytes((prot | P_MAPPED,)) * (p1 - p0)
        if tags is not None and tag is not None:
            tags[p0:p1] = bytes((tag,)) * (p1 - p0)
        self.vmas += self._runs(w0, p0, p1, w1) - runs
        wf = self.mem.wf
        table = _CLEAR_RO if prot >= 0 and prot & P_W else _SET_RO
        wf[p0:p1] = wf[p0:p1].translate(table)
        # on x86 a writable or executable page is readable too
        self.mem.set_unreadable(start, end, not (prot >= 0 and prot & (P_R | P_W | P_X)))
        self.mem.set_noexec(start, end, not (prot >= 0 and prot & P_X))

    def _runs(self, w0: int, p0: int, p1: int, w1: int) -> int:
        """_run_starts of pages [w0, w1) (``first``: w0 is page 0), with [p0, p1) taken
        as one page when all of it has one protection and tag: no run starts inside
        it, and a remap of a large range already mapped so (overlapping ELF segments)
        costs two scans, not whole-range integer arithmetic."""
        prot, tags = self.prot, self.tags
        n = p1 - p0
        if n > 2 and prot.count(prot[p0], p0, p1) == n and \
                (tags is None or tags.count(tags[p0], p0, p1) == n):
            return _run_starts(prot[w0:p0 + 1] + prot[p1:w1], not p0,
                               None if tags is None else tags[w0:p0 + 1] + tags[p1:w1])
        return _run_starts(prot[w0:w1], not p0, None if tags is None else tags[w0:w1])

    def map(self, start: int, end: int, prot: int, tag: Optional[int] = None,
            exact: bool = False) -> None:
        """Map [start, end) with ``prot``; ``tag``: see file_tag (None: anonymous, or
        as the pages were). ``exact``: no PROT_EXEC implied (the initial stack's, which
        PT_GNU_STACK alone decides)."""
        self._set(page_down(start), page_up(end), prot & 7 if exact else self.implied(prot & 7),
                  tag)

    def implied(self, prot: int) -> int:
        """``prot`` as the process's personality makes it: READ_IMPLIES_EXEC adds
        PROT_EXEC to a readable mapping (mmap, mprotect, brk, the ELF segments)."""
        return prot | P_X if self.read_implies_exec and prot & P_R else prot

    def file_tag(self, start: int, end: int) -> int:
        """The tag a new file mapping of [start, end) gets (see ``tags``): one neither
        neighbouring page has."""
        p0, p1 = start >> PAGE_SHIFT, page_up(end) >> PAGE_SHIFT
        tags = self.tags
        if tags is None:
            return 1
        near = (tags[p0 - 1] if p0 else 0, tags[p1] if p1 < len(tags) else 0)
        return next(t for t in (1, 2, 3) if t not in near)

    def tag_at(self, addr: int) -> int:
        """The file tag of the page at ``addr`` (0: not a file mapping)."""
        return 0 if self.tags is None else self.tags[addr >> PAGE_SHIFT]

    def map_count_ok(self, start: int, end: int, prot: Optional[int],
                     tag: Optional[int] = None, new: bool = False) -> bool:
        """Whether giving [start, end) protection ``prot`` (None: unmapping it) keeps
        the process within MAX_MAP_COUNT VMAs, or lowers its count: mmap, mprotect and
        munmap refuse a change past it with ENOMEM, as Linux's vm.max_map_count (a
        guest could otherwise make 10^5-10^6 of them, and /proc/PID/maps as many
        lines). ``tag``: as for ``map``; a file mapping's edges are VMA edges (tags).
        ``new`` (mmap): Linux's do_mmap refuses only once the count is past the limit
        (a new VMA may make it MAX_MAP_COUNT + 1), and a MAP_FIXED hole in the middle
        of a VMA is munmap's split, refused at the limit."""
        if new:
            return self.vmas <= MAX_MAP_COUNT and self.map_count_ok(start, end, None)
        if prot is not None:
            prot = self.implied(prot & 7)
        p0, p1 = page_down(start) >> PAGE_SHIFT, page_up(end) >> PAGE_SHIFT
        if p1 <= p0:
            return True
        w0, w1 = max(p0 - 1, 0), min(p1 + 1, len(self.prot))
        seg = self.prot[w0:w1]
        tags = bytearray(w1 - w0) if self.tags is None else self.tags[w0:w1]
        before = _run_starts(seg, not p0, tags)
        seg[p0 - w0:p1 - w0] = bytes(p1 - p0) if prot is None else \
            bytes(((prot & 7) | P_MAPPED,)) * (p1 - p0)
        if prot is None or tag is not None:
            tags[p0 - w0:p1 - w0] = bytes((tag or 0,)) * (p1 - p0)
        after = _run_starts(seg, not p0, tags)
        return after <= before or self.vmas + after - before <= MAX_MAP_COUNT

    def unmap(self, start: int, end: int) -> None:
        """Forget [start, end) and clear its bytes (unmapped pages stay zero); a shared
        file mapping there is written back first."""
        start, end = page_down(start), page_up(end)
        if end <= start:
            return
        if self.shared:
            self._drop_shared(start, end)
        if "_hook" in self.__dict__:       # (aliases: see _watch_aliases)
            self.mem.unwatch(start, end)
        if self.files:
            self._split_files(start, end, None)
        if self.vdso is not None and start < self.vdso[0] + self.vdso[1].span \
                and self.vdso[0] < end:
            self.vdso = None                        # no [vdso] any more, nor its sigreturn
        for lo, hi in list(self.runs(start, end)):
            self.mem.zero(lo, hi)                   # drops stale translations too
        self._set(start, end, -1)
        if self.growsdown:              # what is left of one keeps growing down (a split)
            self.growsdown = [(lo, hi) for s, e in self.growsdown
                              for lo, hi in ((s, min(e, start)), (max(s, end), e)) if lo < hi]

    def stack_bottom(self) -> int:
        """The lowest address of the main stack's mapping (limit_stack may raise it)."""
        return self.layout.stack_lo if self.stack_floor is None else self.stack_floor

    def limit_stack(self, limit: int, esp: int) -> None:
        """RLIMIT_STACK's soft ``limit``: the main stack grows down to stack_top - limit
        at most (Linux's acct_stack_growth refuses to grow it further: SIGSEGV). Linux
        never shrinks it for a lower limit: the pages it has grown into stay (any thread
        may set the limit while the main thread's frames are deep), only the pages below
        them go; a higher limit maps them back, up to the stack's reservation
        (Layout.stack_lo, fixed at exec)."""
        lay = self.layout
        if getattr(lay, "premapped", False):
            return
        floor = max(lay.stack_lo, page_down(lay.stack_top - min(limit, lay.stack_top)))
        if lay.stack_lo <= esp < lay.stack_top:
            floor = min(floor, page_down(esp))
        cur = self.stack_bottom()
        if floor > cur:
            floor = self._stack_grown(cur, floor)
        if floor > cur:
            self.unmap(cur, floor)
        elif floor < cur:
            if not self.is_free(floor, cur) or not self.fits(floor, cur):
                return
            self.map(floor, cur, self.prot[(lay.stack_top >> PAGE_SHIFT) - 1] & 7, exact=True)
        self.stack_floor = floor

    def _stack_grown(self, lo: int, hi: int) -> int:
        """The lowest page of the main stack's [lo, hi) it has grown into, else ``hi``:
        pyvm maps its whole reservation at exec, so the pages in use are those written
        (a byte not zero) or met by a stack pointer (memrlimits' rlimit_stack_low)."""
        seen = getattr(self, "rlimit_stack_low", hi)
        if lo <= seen < hi:
            hi = page_down(seen)
        data = self.mem.data
        for a in range(lo, hi, _CHUNK):     # (a chunk compared at a time: ~2.5 GB/s)
            b = min(a + _CHUNK, hi)
            if data[a:b] != (_ZERO_CHUNK if b - a == _CHUNK else bytes(b - a)):
                return page_down(_NOT_ZERO.search(data, a, b).start())
        return hi

    def add_growsdown(self, start: int, end: int) -> None:
        """[start, end) was mapped MAP_GROWSDOWN (what was there before is unmapped)."""
        self.growsdown = [*self.growsdown, (start, end)]

    def growsdown_start(self, addr: int) -> Optional[int]:
        """The start of the MAP_GROWSDOWN mapping holding ``addr``, or None."""
        for s, e in self.growsdown:
            if s <= addr < e:
                return s
        return None

    def fits(self, start: int, end: int) -> bool:
        """Whether mapping [start, end) keeps the mapped total within ``limit``."""
        p0, p1 = start >> PAGE_SHIFT, page_up(end) >> PAGE_SHIFT
        if p1 <= p0:
            return True
        added = self.prot.count(0, p0, min(p1, len(self.prot))) + max(p1 - len(self.prot), 0)
        return self.can_add(added << PAGE_SHIFT)

    def can_add(self, nbytes: int) -> bool:
        """Whether ``nbytes`` more mapped bytes stay within this process's limit and the
        run's budget."""
        return self.mapped + nbytes <= self.limit and \
            (self.budget is None or self.budget.allows(nbytes))

    # -- MAP_SHARED files ------------------------------------------------------------------
    def add_shared(self, start: int, end: int, held: HeldFd, offset: int) -> None:
        """[start, end) now maps the file held as ``held`` (this reference owned from
        here on) from ``offset`` shared: see SharedFile. Its current bytes are the
        file's."""
        import os
        if not self.shared:
            self.shared = []
        try:
            st = os.fstat(held.fd)
            key: tuple = (st.st_dev, st.st_ino)
        except OSError:
            key = ()
        i, _ = self._overlap(start, end)
        # (a read-only file's pages are never written back: no digests to compute)
        clean = page_sums(self.mem, start, end) if held.writable else \
            bytearray((end - start) // PAGE * SUM)
        sf = SharedFile(start, end, held, offset, clean, 0, key, self)
        self.shared.insert(i, sf)
        self._watch_aliases(sf)
        self.guard_eof(sf)

    # -- pages past the end of the file: SIGBUS ------------------------------------------
    def guard_eof(self, sf: SharedFile, size: Optional[int] = None) -> None:
        """Make the pages of ``sf`` wholly past the end of its file (``size``; None:
        as it is now) fault, and those before it not: Linux sends SIGBUS for an access
        there (kernel.fault asks past_eof). Only the Memory's flags change, not the
        protection (``prot``): mprotect, fork and a growing file put them back."""
        import os
        if size is None:
            try:
                size = os.fstat(sf.fd).st_size
            except OSError:
                return
        guard = min(sf.end, max(sf.start, sf.start + page_up(size) - sf.offset))
        old, sf.guard = sf.guard, guard
        if old < guard:             # (the file grew over them: as their protection says)
            self._reflag(old, guard)
        if guard < sf.end:
            mem = self.mem
            p0, p1 = guard >> PAGE_SHIFT, sf.end >> PAGE_SHIFT
            mem.wf[p0:p1] = mem.wf[p0:p1].translate(_SET_RO)
            mem.set_unreadable(guard, sf.end, True)

    def _reflag(self, start: int, end: int) -> None:
        """The Memory's page flags of [start, end) as its protection says (see _set)."""
        mem = self.mem
        for m in re.finditer(rb"(.)\1*", self.prot[start >> PAGE_SHIFT:end >> PAGE_SHIFT],
                             re.S):
            a, b = start + (m.start() << PAGE_SHIFT), start + (m.end() << PAGE_SHIFT)
            prot = m.group(1)[0]
            p0, p1 = a >> PAGE_SHIFT, b >> PAGE_SHIFT
            table = _CLEAR_RO if prot & P_MAPPED and prot & P_W else _SET_RO
            mem.wf[p0:p1] = mem.wf[p0:p1].translate(table)
            mem.set_unreadable(a, b, not (prot & P_MAPPED and prot & (P_R | P_W | P_X)))

    def _reguard_in(self, start: int, end: int) -> None:
        """Guard again the pages past the file's end of the shared mappings meeting
        [start, end), after their flags were set from ``prot`` (mprotect, fork)."""
        for sf in self.shared_in(start, end):
            if sf.guard < sf.end:
                sf.guard = sf.end   # (its flags are the protection's now)
                self.guard_eof(sf)
        if self.files:
            i, j = _span(self.files, start, end)
            for fr in self.files[i:j]:
                self.guard_private(fr)

    # -- MAP_PRIVATE pages past the end of the file: SIGBUS as well ----------------------
    def guard_private(self, fr: FileRange, size: Optional[int] = None) -> None:
        """Make the pages of the private file mapping ``fr`` wholly past its file's end
        fault (Linux: SIGBUS, and EFAULT for a system call's buffer there), by the
        Memory's flags only; a page's protection still decides first (past_eof)."""
        if size is None:
            size = fr.size()
            if size is None:
                return
        guard = fr.guard_at(size)
        if guard < fr.end:
            mem = self.mem
            p0, p1 = guard >> PAGE_SHIFT, fr.end >> PAGE_SHIFT
            mem.wf[p0:p1] = mem.wf[p0:p1].translate(_SET_RO)
            mem.set_unreadable(guard, fr.end, True)
            if mem.code_written is not None and \
                    mem.wf[max(p0 - 1, 0):p1].translate(_CODE).find(1) >= 0:
                mem.code_written(guard, fr.end)     # (code there faults from now on)

    def _guarded_runs(self, start: int, end: int) -> Iterator[Tuple[int, int]]:
        """Page runs of [start, end) mapped with some access yet flagged unreadable:
        guarded as past a file's end."""
        p0, p1 = start >> PAGE_SHIFT, end >> PAGE_SHIFT
        if p1 <= p0:
            return
        n = p1 - p0
        both = (int.from_bytes(self.mem.unreadable[p0:p1], "little")
                & int.from_bytes(self.prot[p0:p1].translate(_ACCESS), "little"))
        if not both:
            return
        for m in _RUNS.finditer(both.to_bytes(n, "little")):
            yield start + (m.start() << PAGE_SHIFT), start + (m.end() << PAGE_SHIFT)

    def _regrown_private(self, addr: int) -> bool:
        """A private file page guarded as past the end that the file has grown over:
        load the file's bytes into the guarded pages it now covers, unguard them (an
        untouched private page reads the file as it is, on Linux)."""
        import os
        i, j = _span(self.files, addr, addr + 1)
        for fr in self.files[i:j]:
            size = fr.size()
            if size is None:
                return False
            guard = fr.guard_at(size)
            if addr >= guard:
                return False
            runs = list(self._guarded_runs(fr.start, guard))
            if not runs:
                return False

            def load(fd: int, runs=runs, at=fr.offset - fr.start) -> None:
                for a, b in runs:
                    data = os.pread(fd, b - a, at + a)
                    if data:
                        self.mem.load(a, data)
            try:
                fr.read_more(load)
            except OSError:
                return False
            for a, b in runs:
                self._reflag(a, b)
            return True
        return False

    def regrown(self, addr: int) -> bool:
        """Whether ``addr`` was guarded as past its file's end but the file has grown
        over it since by a way that did not guard anew (another host process, a call
        without the hooks): it is unguarded, and the access is to be retried."""
        for sf in self.shared_in(addr, addr + 1):
            if sf.guard <= addr < sf.end and not self.past_eof(addr):
                self.guard_eof(sf)
                return True
        return bool(self.files) and self._regrown_private(addr)

    def past_eof(self, addr: int, write: Optional[bool] = None) -> bool:
        """Whether ``addr`` lies in a shared file mapping's page wholly past the end of
        its file (an access there is SIGBUS on Linux). With ``write`` (the access that
        faulted: a store, or a load or fetch), only if the page's protection allows it:
        Linux's fault handler checks the VMA's access first (a store to a PROT_READ
        page, any access to a PROT_NONE one: SIGSEGV) and meets the file's end after."""
        import os
        if write is not None:
            prot = self.prot[addr >> PAGE_SHIFT]
            if not prot & (P_W if write else P_R | P_W | P_X):
                return False
        for sf in self.shared_in(addr, addr + 1):
            try:
                size = os.fstat(sf.fd).st_size
            except OSError:
                return False
            return sf.offset + (page_down(addr) - sf.start) >= page_up(size)
        if self.files:                  # a private mapping's page (guard_private)
            i, j = _span(self.files, addr, addr + 1)
            for fr in self.files[i:j]:
                size = fr.size()
                return size is not None and addr >= fr.guard_at(size)
        return False

    # -- one file page mapped twice in one process ---------------------------------------
    def _watch_aliases(self, sf: SharedFile) -> None:
        """Where ``sf`` and another shared mapping of this process show the same bytes
        of the file, both are watched (Memory.watch: the slow store path, those pages
        only), so that a store through one is copied to the other at once, as through
        Linux's one page-cache page (before, they met only at a read, write or
        write-back). The walk stops at a watched mapping covering all of ``sf``: every
        other one meeting it was paired with that one before."""
        pieces = spaces.get(sf.key, {}).get(self) if sf.key else None
        if pieces is None or len(pieces.items) < 2:
            return
        lo, hi = sf.offset, sf.offset + (sf.end - sf.start)
        hook = self._alias_hook()
        items = pieces.items
        for k in range(bisect_left(pieces.keys, (lo - pieces.longest + 1, 0)),
                       bisect_left(pieces.keys, (hi, 0))):
            other = items[k]        # (meeting()'s, walked lazily: the stop below)
            if other is sf:
                continue
            a, b = max(lo, other.offset), min(hi, other.offset + (other.end - other.start))
            if a >= b:
                continue
            self.mem.watch(sf.start + a - lo, sf.start + b - lo, hook)
            at = other.start + a - other.offset
            if a == lo and b == hi and self.mem.wf[at >> PAGE_SHIFT] & WF_WATCH:
                return
            self.mem.watch(at, at + b - a, hook)

    def _alias_hook(self) -> Callable[[int, bytes], None]:
        """The watch callback copying a store to the other mappings of its file bytes
        (through a weak reference: Memory -> AddressSpace would be a cycle)."""
        hook = self.__dict__.get("_hook")
        if hook is None:
            import weakref
            ref = weakref.ref(self)

            def hook(addr: int, data: bytes) -> None:
                asp = ref()
                if asp is not None and asp.shared:
                    asp._copy_to_aliases(addr, data)
            self._hook = hook
        return hook

    def _copy_to_aliases(self, addr: int, data: bytes) -> None:
        """``data`` was stored at ``addr`` (one page at most): the same file bytes in
        this process's other shared mappings get it too."""
        end = addr + len(data)
        for sf in self.shared_in(addr, end):
            lo, hi = max(addr, sf.start), min(end, sf.end)
            off = sf.offset + lo - sf.start
            pieces = spaces.get(sf.key, {}).get(self) if sf.key else None
            if pieces is None:
                continue
            for other in pieces.meeting(off, off + hi - lo):
                if other is sf:
                    continue
                a = max(off, other.offset)
                b = min(off + hi - lo, other.offset + (other.end - other.start))
                if a < b:
                    self.mem.load(other.start + a - other.offset,
                                  data[lo - addr + a - off:lo - addr + b - off])

    def read_only_shared(self, start: int, end: int) -> Optional[int]:
        """Where the first MAP_SHARED mapping of a file opened read-only meeting
        [start, end) starts (mprotect may not make it writable: EACCES), or None."""
        at = [sf.start for sf in self.shared_in(start, end) if not sf.held.writable]
        if self.files:
            i, j = _span(self.files, start, end)
            at += [fr.start for fr in self.files[i:j] if fr.read_only]
        return min(at) if at else None

    def _overlap(self, start: int, end: int) -> Tuple[int, int]:
        """[i, j): the indices of the shared mappings meeting [start, end)."""
        return _span(self.shared, start, end)

    def add_file(self, start: int, end: int, src: tuple, offset: int,
                 held: Optional[HeldFd] = None, read_only: bool = False,
                 size: Optional[int] = None) -> None:
        """[start, end) maps the file ``src`` (see FileRange) from ``offset`` privately;
        ``held``: its held descriptor (this reference owned from here on), if any;
        ``size``: the file's, whose end its pages past fault (guard_private)."""
        if not self.files:
            self.files = []
        i, _ = _span(self.files, start, end)
        fr = FileRange(start, end, src, offset, held, read_only)
        self.files.insert(i, fr)
        privates.add(self)
        if size is not None:
            self.guard_private(fr, size)

    def file_ending_at(self, at: int) -> Optional[FileRange]:
        """The MAP_PRIVATE file mapping that ends at ``at``, if one does."""
        i, j = _span(self.files, at - PAGE, at)
        return next((fr for fr in self.files[i:j] if fr.end == at), None)

    def _split_files(self, start: int, end: int, new: Optional[int]) -> None:
        """As _split_shared for the MAP_PRIVATE file mappings (nothing to write back)."""
        _split_ranges(self.files, start, end, new)

    def shared_in(self, start: int, end: int) -> list:
        """The shared file mappings meeting [start, end)."""
        if not self.shared:
            return []
        i, j = self._overlap(start, end)
        return self.shared[i:j]

    def sync_shared(self, start: int = 0, end: Optional[int] = None) -> None:
        """msync: write back the shared file mappings' changed pages in [start, end)."""
        end = len(self.prot) << PAGE_SHIFT if end is None else end
        for sf in self.shared_in(start, end):
            sf.sync(self.mem, page_down(start), page_up(end))

    def _drop_shared(self, start: int, end: int) -> None:
        self._split_shared(start, end, None)

    def _split_shared(self, start: int, end: int, new: Optional[int]) -> None:
        """Write back the shared file mappings over [start, end) and keep their parts
        outside it; the part inside goes (None) or maps the file at ``new`` (mremap)."""
        mem = self.mem
        _split_ranges(self.shared, start, end, new, lambda sf: sf.sync(mem, start, end))

    def one_mapping(self, start: int, end: int) -> bool:
        """Whether [start, end) lies in what Linux keeps as one VMA: the same protection
        throughout and no edge of a shared file mapping inside (mremap refuses a range
        across two with EFAULT)."""
        p0, p1 = start >> PAGE_SHIFT, page_up(end) >> PAGE_SHIFT
        if p1 > p0 and self.prot.count(self.prot[p0], p0, p1) != p1 - p0:
            return False
        if p1 > p0 and self.tags is not None and \
                self.tags.count(self.tags[p0], p0, p1) != p1 - p0:
            return False
        return all(sf.start <= start and end <= sf.end for sf in self.shared_in(start, end))

    def move_shared(self, start: int, end: int, new: int) -> None:
        """mremap moves [start, end) to ``new``: the shared file mapping holding it is
        written back, and the part moved maps the file at ``new`` from then on (so the
        old pages can go at once, not kept to be written back when unmapped)."""
        self._split_shared(start, end, new)
        for sf in self.shared_in(new, new + (end - start)):
            sf.guard = sf.end       # (mapped anew there: guarded again as it grows)
            self._watch_aliases(sf)
        if self.files:
            self._settle_private(start, end)
            self._split_files(start, end, new)

    def _settle_private(self, start: int, end: int) -> None:
        """Before [start, end) moves (mremap, which maps the new place afresh): its
        private file pages guarded as past the end take the file's bytes where it has
        grown over them, zeros elsewhere (guard_private guards those again once the
        mapping has moved: process._grow_shared), never their stale copies."""
        import os
        i, j = _span(self.files, start, end)
        for fr in self.files[i:j]:
            lo, hi = max(fr.start, start), min(fr.end, end)
            runs = list(self._guarded_runs(lo, hi))
            if not runs:
                continue
            size = fr.size()
            guard = fr.guard_at(0 if size is None else size)
            for a, b in runs:
                self.mem.zero(a, b)

            def load(fd: int, runs=runs, at=fr.offset - fr.start, guard=guard) -> None:
                for a, b in runs:
                    if a < guard:
                        data = os.pread(fd, min(b, guard) - a, at + a)
                        if data:
                            self.mem.load(a, data)
            try:
                fr.read_more(load)
            except OSError:
                pass

    def close_shared(self) -> None:
        """Write back every shared file mapping and let go of their files (exit)."""
        shared, self.shared = self.shared, []
        for sf in shared:
            sf.sync(self.mem, sf.start, sf.end)
            sf.close()

    def drop_files(self) -> None:
        """Let go of the MAP_PRIVATE file mappings' held descriptors (at the run's end,
        for the first process: its pages stay for what comes after)."""
        files, self.files = self.files, []
        for fr in files:
            fr.close()

    def release(self) -> None:
        """The process is done with this address space: its bytes leave the budget."""
        if self.shared:
            self.close_shared()
        self.drop_files()
        if self.budget is not None:
            self.budget.used -= self.mapped
            self.budget = None

    def protect(self, start: int, end: int, prot: int) -> bool:
        """mprotect: False when part of the range is not mapped."""
        p0, p1 = start >> PAGE_SHIFT, page_up(end) >> PAGE_SHIFT
        if self.prot.find(0, p0, p1) >= 0 or not self.map_count_ok(start, end, prot):
            return False
        if self.growsdown:
            self._split_growsdown(p0, p1, (prot & 7) | P_MAPPED)
        self._set(start, page_up(end), self.implied(prot & 7))
        if self.shared or self.files:
            self._reguard_in(start, end)    # (pages past a file's end stay SIGBUS)
        return True

    def _split_growsdown(self, p0: int, p1: int, new: int) -> None:
        """mprotect of pages [p0, p1) splits a MAP_GROWSDOWN mapping whose protection it
        changes, as Linux splits the vma: each part keeps growing down from its own
        start (PROT_GROWSDOWN then reaches only the part's start)."""
        out = []
        for s, e in self.growsdown:
            lo, hi = max(s, p0 << PAGE_SHIFT), min(e, p1 << PAGE_SHIFT)
            if lo < hi and self.prot[lo >> PAGE_SHIFT:hi >> PAGE_SHIFT].strip(bytes((new,))):
                out += [(a, b) for a, b in ((s, lo), (lo, hi), (hi, e)) if a < b]
            else:
                out.append((s, e))
        self.growsdown = out

    def is_free(self, start: int, end: int) -> bool:
        p0, p1 = start >> PAGE_SHIFT, page_up(end) >> PAGE_SHIFT
        if start < self.layout.low_limit or p1 > len(self.prot):
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

    def readable_end(self, start: int, limit: int) -> int:
        """The end of the run of readable pages from ``start`` (mapped, not PROT_NONE: a
        guard page stops it), at most ``limit``."""
        p0, p1 = start >> PAGE_SHIFT, min(page_up(limit) >> PAGE_SHIFT, len(self.prot))
        if start < 0 or p0 >= p1:
            return start
        hole = self.prot[p0:p1].translate(_ACCESS).find(0)
        return min(limit, (p1 if hole < 0 else p0 + hole) << PAGE_SHIFT)

    def writable_end(self, start: int, limit: int) -> int:
        """The end of the run of writable pages from ``start``, at most ``limit``."""
        p0, p1 = start >> PAGE_SHIFT, min(page_up(limit) >> PAGE_SHIFT, len(self.prot))
        if start < 0 or p0 >= p1:
            return start
        hole = self.prot[p0:p1].translate(_WRITABLE).find(0)
        return min(limit, (p1 if hole < 0 else p0 + hole) << PAGE_SHIFT)

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
        if getattr(lay, "premapped", False):
            self.brk = addr                 # a flat binary's brk region is RAM already
            return addr
        old_top, new_top = page_up(self.brk), page_up(addr)
        if new_top > old_top:
            if not self.is_free(old_top, new_top) or not self.fits(old_top, new_top):
                return self.brk
            self._set(old_top, new_top, self.implied(P_R | P_W))
        elif new_top < old_top:
            self.unmap(new_top, old_top)
        self.brk = addr
        return addr

    # -- fork ----------------------------------------------------------------------------
    def copy_into(self, child_mem, skip: Tuple[int, int] = (0, 0)) -> AddressSpace:
        """The same mappings and contents in another Memory of the same size (fork),
        shared copy-on-write where the host allows (``Memory.fork_into``). ``skip``
        was a range not worth copying; the whole mapped memory is shared now."""
        other = AddressSpace.__new__(AddressSpace)
        other.mem = child_mem
        other.layout = self.layout
        other.prot = bytearray(self.prot)
        other.brk = self.brk
        other.vmas = self.vmas
        if self.tags is not None:
            other.tags = bytearray(self.tags)
        other.vdso = self.vdso
        if self.growsdown:
            other.growsdown = list(self.growsdown)
        if self.budget is not None and not self.budget.allows(self.mapped):
            raise MemoryError("the guest's processes together reached the memory limit")
        other.limit, other.mapped = self.limit, self.mapped
        other.budget = self.budget
        if other.budget is not None:
            other.budget.used += other.mapped
        if self.shared:
            # the parent's stores reach the file first (on Linux the child shares the
            # page): the child's copy then starts clean, and writes back only its own
            # later changes, never a stale copy over bytes the parent writes later
            for sf in self.shared:
                sf.sync(self.mem, sf.start, sf.end)
            other.shared = [sf.copy(other) for sf in self.shared]
        if self.files:
            other.files = [fr.piece(fr.start, fr.end) for fr in self.files]
            privates.add(other)
        self.mem.fork_into(child_mem, self.runs())
        wf = child_mem.wf
        wf[:] = wf.translate(_SET_RO)
        for m in re.finditer(rb"[\x0a\x0b\x0e\x0f]+", self.prot):   # mapped and writable
            wf[m.start():m.end()] = wf[m.start():m.end()].translate(_CLEAR_RO)
        child_mem.guarded = self.mem.guarded
        child_mem.unreadable[:] = self.mem.unreadable
        child_mem.rf[:] = self.mem.rf
        if self.mem.noexec is not None:
            _copy_noexec(self.mem, child_mem)
        other.read_implies_exec = self.read_implies_exec
        other.stack_floor = self.stack_floor
        if "_hook" in self.__dict__:       # the child's aliases are watched as well
            for sf in other.shared:
                other._watch_aliases(sf)
        for sf in other.shared:             # (and its pages past a file's end fault)
            if sf.guard < sf.end:
                p0, p1 = sf.guard >> PAGE_SHIFT, sf.end >> PAGE_SHIFT
                wf[p0:p1] = wf[p0:p1].translate(_SET_RO)
        for fr in other.files:              # (private ones' too: unreadable, copied)
            for a, b in other._guarded_runs(fr.start, fr.end):
                wf[a >> PAGE_SHIFT:b >> PAGE_SHIFT] = \
                    wf[a >> PAGE_SHIFT:b >> PAGE_SHIFT].translate(_SET_RO)
        return other
