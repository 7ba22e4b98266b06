"""Guest memory: one buffer from linear address 0 with per-page write and read flags.

Compiled code reads ``data`` directly (a byte index or a ``struct`` unpack: out of range
raises, which the engine turns into a clean memory fault) and writes it directly unless the
page's entry in ``wf`` is non-zero: pages holding translated code (the write must
invalidate it), read-only pages and watched pages (memory-mapped devices) take the slow
path, :meth:`Memory.store`.

Reads are refused only once some page is made unreadable (the Linux personality's unmapped
pages, :meth:`Memory.set_unreadable`): from then on ``guarded`` is true, compiled loads
test ``rf`` (non-zero for an unreadable page and for the page before one, where a read
may straddle into it) and take the slow path, :meth:`Memory.read_value`.

Backing store
-------------
``data`` of a large memory (``LAZY_MIN`` and up: the Linux personality's 3 GiB) is an
anonymous private ``mmap`` (a ``bytearray`` where mmap is missing): the host kernel hands
out zero pages on first touch, so the guest address space costs only what the guest
touches. A small memory (real mode, flat binaries) stays a ``bytearray``, which PyPy
indexes several times faster than an mmap. It supports what the users of ``data`` need: an index, a
slice read (``bytes``), an equal-length slice assignment, ``find``, ``len`` and the
``struct`` functions. :meth:`Memory.zero` gives pages back (a fresh anonymous mapping
over them), so unmapping a large region never writes zeros.

Copy-on-write fork (:meth:`Memory.fork_into`, Linux hosts)
----------------------------------------------------------
A *snapshot* is a memfd holding the parent's touched pages. The parent's own buffer is
re-mapped ``MAP_PRIVATE`` over it at the same address (libc ``mmap`` with ``MAP_FIXED``
through ctypes, so the mmap object and the compiled code bound to it keep working), and
so is the child's: both share the snapshot's pages until one writes (the host kernel's
copy-on-write). A memory over a snapshot is "the snapshot, plus the ranges zeroed since
(``_zeroed``), plus its private pages". The private (written) pages are read from
``/proc/self/pagemap`` (present and not file-backed); a later fork maps the same
snapshot into the child, replays the zeroed ranges and copies only those pages, and
takes a new snapshot when they exceed a quarter of it. Without memfd, ctypes or
pagemap, the child gets a plain copy of the mapped ranges (all-zero chunks skipped).
"""

from __future__ import annotations

import mmap
import os
import re
import struct
import sys
from typing import Callable, List, Optional, Tuple

from vm.x86.faults import MemoryFault

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT

WF_CODE = 1        # translated code on this page or the next (a write may straddle)
WF_READONLY = 2
WF_WATCH = 4       # a device hook sees every write

_PACK = {1: struct.Struct("<B"), 2: struct.Struct("<H"), 4: struct.Struct("<I"),
         8: struct.Struct("<Q")}

LAZY_MIN = 64 << 20               # smaller memories are a bytearray (see the docstring)
_CHUNK = 4 << 20                  # bytes copied at a time (bounds temporary objects)
_ZEROS = bytes(_CHUNK)
_SNAP_SLACK = 8 << 20             # private bytes a fork copies before re-snapshotting
_MAX_ZEROED = 256                 # zeroed ranges remembered before re-snapshotting
_ONES = re.compile(rb"\x01+")
# pagemap entry, top byte: bit 63 present, 62 swapped, 61 file page or shared
_T_TOUCHED = bytes(1 if b & 0xC0 else 0 for b in range(256))
_T_CODE = bytes(b & WF_CODE for b in range(256))
_T_PRIVATE = bytes(1 if (b & 0xA0) == 0x80 or b & 0x40 else 0 for b in range(256))


class _Host:
    """The host calls copy-on-write needs, looked up once: ``ok`` says they all work."""

    def __init__(self):
        self.ok = False
        self.pagemap = -1
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            fn = libc.mmap
            fn.restype = ctypes.c_void_p
            fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                           ctypes.c_int, ctypes.c_long]
            self._mmap, self._ctypes = fn, ctypes
            if not hasattr(os, "memfd_create"):
                return
            self.pagemap = os.open("/proc/self/pagemap", os.O_RDONLY | os.O_CLOEXEC)
            probe = mmap.mmap(-1, 2 * PAGE_SIZE)
            probe[0] = 1
            addr = self.address(probe)
            top = os.pread(self.pagemap, 16, (addr >> PAGE_SHIFT) * 8)
            self.ok = len(top) == 16 and bool(top[7] & 0x80) and not top[15] & 0x80
        except (ImportError, OSError, AttributeError, ValueError, TypeError):
            self.ok = False

    def address(self, buf) -> int:
        ctypes = self._ctypes
        return ctypes.addressof(ctypes.c_char.from_buffer(buf))

    def map_fixed(self, addr: int, length: int, fd: int, offset: int) -> None:
        """Map [addr, addr + length) private over ``fd`` from ``offset``, or fresh zero
        pages when ``fd`` is -1, replacing what was there."""
        flags = 0x02 | 0x10 | 0x4000                  # MAP_PRIVATE | MAP_FIXED | NORESERVE
        if fd < 0:
            flags |= 0x20                             # MAP_ANONYMOUS
            offset = 0
        got = self._mmap(addr, length, 3, flags, fd, offset)
        if got != addr:
            raise OSError(self._ctypes.get_errno(), "mmap(MAP_FIXED) failed")

    def private_pages(self, addr: int, lo: int, hi: int, table: bytes) -> List[Tuple[int, int]]:
        """Page-aligned ranges of [lo, hi) (offsets from ``addr``) whose pagemap flags
        pass ``table``."""
        out = []
        step = _CHUNK // 8 * PAGE_SIZE
        for a in range(lo, hi, step):
            b = min(hi, a + step)
            n = (b - a) >> PAGE_SHIFT
            raw = os.pread(self.pagemap, n * 8, ((addr + a) >> PAGE_SHIFT) * 8)
            if len(raw) != n * 8:
                raise OSError("short pagemap read")
            for m in _ONES.finditer(raw[7::8].translate(table)):
                r0, r1 = a + (m.start() << PAGE_SHIFT), a + (m.end() << PAGE_SHIFT)
                if out and out[-1][1] == r0:
                    out[-1] = (out[-1][0], r1)
                else:
                    out.append((r0, r1))
        return out


_host: Optional[_Host] = None


def _get_host() -> _Host:
    global _host
    if _host is None:
        _host = _Host()
    return _host


class _Snapshot:
    """A memfd with a memory's contents; ``ranges`` are the parts written (the rest is
    zero). Shared by every memory mapped over it; the fd closes with the last one."""

    def __init__(self, size: int):
        self.fd = os.memfd_create("pyvm-guest", getattr(os, "MFD_CLOEXEC", 1))
        self.ranges: List[Tuple[int, int]] = []
        self.bytes = 0
        try:
            os.ftruncate(self.fd, size)
        except OSError:
            os.close(self.fd)
            raise

    def __del__(self):
        try:
            os.close(self.fd)
        except (OSError, AttributeError, TypeError):
            pass


def _merge(ranges) -> List[Tuple[int, int]]:
    out: List[Tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1]:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _intersect(a, b) -> List[Tuple[int, int]]:
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _new_buffer(size: int):
    if size < LAZY_MIN:
        return bytearray(size)
    try:
        return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | getattr(mmap, "MAP_NORESERVE", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return bytearray(size)


class Memory:
    """``size`` bytes of RAM at linear addresses [0, size)."""

    def __init__(self, size: int, buffer=None):
        """``buffer``: the object to use as ``data`` (len >= size; e.g. a shared mmap
        the PC remaps to alias its pages, vm/pc/a20.py), instead of a new one."""
        if size <= 0:
            raise ValueError("memory size must be positive")
        self.size = size
        self.data = _new_buffer(size) if buffer is None else buffer
        self.wf = bytearray((size + PAGE_SIZE - 1) >> PAGE_SHIFT)
        # called with (start, end) after a write to a page flagged WF_CODE
        self.code_written: Optional[Callable[[int, int], None]] = None
        self._watchers: dict = {}     # page -> callback(address, data)
        self.guarded = False          # some page is unreadable (see the module docstring)
        self.unreadable = bytearray(len(self.wf))
        self.rf = bytearray(len(self.wf))
        # per page 1 = no-execute (an instruction fetch faults); None: every readable
        # page executes (all but the Linux personality, which sets it: set_noexec)
        self.noexec: Optional[bytearray] = None
        # data breakpoints in real mode (vm/x86/debugregs.py): watch(addr, size, write)
        # sees every checked access while one is armed (compiled code then takes the
        # slow paths, Translator.watching)
        self.access_watch: Optional[Callable[[int, int, bool], None]] = None
        self._addr: Optional[int] = None          # host address of an mmap'ed ``data``
        self._base: Optional[_Snapshot] = None    # the snapshot ``data`` is mapped over
        self._zeroed: List[Tuple[int, int]] = []  # ranges zeroed since
        # a slice of ``data`` is already bytes (an mmap): read need not copy it again
        self._bytes_slices = type(self.data[0:0]) is bytes

    @property
    def mv32(self):
        """``data`` as 32-bit words (a memoryview, native order) for compiled code's
        aligned stack accesses (emit.py): indexing it is cheaper than a struct call.
        None where that would be wrong or slower (a big-endian host, PyPy, a size that
        is not a whole number of words)."""
        mv = self.__dict__.get("_mv32", False)
        if mv is False:
            mv = None
            if sys.byteorder == "little" and sys.implementation.name == "cpython" and \
                    len(self.data) % 4 == 0:
                try:
                    mv = memoryview(self.data).cast("I")
                except (TypeError, ValueError):
                    mv = None
                if mv is not None and mv.itemsize != 4:
                    mv = None
            self._mv32 = mv
        return mv

    def span_ok(self, start: int, end: int, write: bool) -> bool:
        """Whether compiled code may access [start, end) directly (emit.py's stack
        checks, for a span that crosses a page boundary): inside memory, readable, and
        for a write without a flag in ``wf`` (code, read-only, watched)."""
        if start < 0 or end > self.size:
            return False
        rf, wf = self.rf, self.wf
        p, q = start >> PAGE_SHIFT, (end - 1) >> PAGE_SHIFT
        if q - p == 1:          # the usual span: two pages
            return not (rf[p] or rf[q] or write and (wf[p] or wf[q]))
        for k in range(p, q + 1):
            if rf[k] or write and wf[k]:
                return False
        return True

    # -- checked access (helpers, system calls, loaders, the FPU) -------------------------
    # One test says whether an access may go straight to ``data``: inside memory, no data
    # breakpoint, at most a page, and for a read no flag in ``rf`` on its first page (which
    # covers the next page too), for a write none in ``wf`` on its two end pages (code,
    # read-only, watched). Anything else takes the precise path, which faults exactly.
    def read(self, addr: int, n: int) -> bytes:
        end = addr + n
        if 0 <= addr and end <= self.size and 0 < n <= PAGE_SIZE and \
                self.access_watch is None and not self.rf[addr >> PAGE_SHIFT]:
            if self._bytes_slices:
                return self.data[addr:end]
            return bytes(self.data[addr:end])
        if addr < 0 or end > self.size:
            raise MemoryFault(addr if addr >= 0 else 0, False, n)
        if self.access_watch is not None:
            self.access_watch(addr, n, False)
        if self.guarded and n:
            self._check_readable(addr, n)
        return bytes(self.data[addr:end])

    def unpack_at(self, unpack_from, addr: int, n: int) -> int:
        """``unpack_from`` (a struct's, n bytes) of the value at addr: straight from
        ``data`` under :meth:`read`'s fast test (kept beside it), else through read,
        looked up now (hooks and the debugger replace it)."""
        if 0 <= addr and addr + n <= self.size and 0 < n <= PAGE_SIZE and \
                self.access_watch is None and not self.rf[addr >> PAGE_SHIFT]:
            return unpack_from(self.data, addr)[0]
        return unpack_from(self.read(addr, n))[0]

    def read_value(self, addr: int, size: int) -> int:
        """The slow path of a compiled read (a page flagged in ``rf``: mostly the page
        before an unmapped one, which the access rarely crosses into)."""
        return int.from_bytes(self.read(addr, size), "little")

    def readable(self, addr: int, n: int) -> bool:
        """Whether the pages of [addr, addr + n) (n > 0) may be read: none is unreadable.
        (Being inside memory is the caller's test.) The one test of it: a read that
        finds it false faults, :meth:`_check_readable`."""
        if not self.guarded:
            return True
        p, q = addr >> PAGE_SHIFT, (addr + n - 1) >> PAGE_SHIFT
        if p == q:          # (an instruction's bytes, most of the time: no search)
            try:
                return not self.unreadable[p]
            except IndexError:  # (past the memory: as the search finds nothing there)
                return True
        return self.unreadable.find(1, p, q + 1) < 0

    def _check_readable(self, addr: int, n: int) -> None:
        """Fault at the first unreadable byte of [addr, addr + n) (n > 0)."""
        if not self.readable(addr, n):
            k = self.unreadable.find(1, addr >> PAGE_SHIFT)
            raise MemoryFault(max(addr, k << PAGE_SHIFT), False, n)

    # -- instruction fetch: readable and, where ``noexec`` is kept, executable ----------
    def fetchable(self, addr: int, n: int) -> bool:
        """Whether the instruction bytes [addr, addr + n) (n > 0) may be fetched: no
        page unreadable or, where ``noexec`` is kept, no-execute. The one test of every
        translation path (Translator.fetch, the first tier, warm blocks)."""
        p, q = addr >> PAGE_SHIFT, (addr + n - 1) >> PAGE_SHIFT
        nx = self.noexec
        if p == q and nx is not None:   # (an instruction's bytes, mostly: no search)
            try:
                return not (self.unreadable[p] or nx[p])
            except IndexError:  # (past the memory: as the search finds nothing there)
                return True
        return not (self.guarded and self.unreadable.find(1, p, q + 1) >= 0 or
                    nx is not None and nx.find(1, p, q + 1) >= 0)

    def check_fetch(self, addr: int, n: int) -> None:
        """Fault (a fetch fault) at the first byte of [addr, addr + n) that may not be
        fetched."""
        if not self.fetchable(addr, n):
            p, q = addr >> PAGE_SHIFT, (addr + n - 1) >> PAGE_SHIFT
            bad = [k for k in (self.unreadable.find(1, p, q + 1),
                               -1 if self.noexec is None else self.noexec.find(1, p, q + 1))
                   if k >= 0]
            raise MemoryFault(max(addr, min(bad, default=p) << PAGE_SHIFT), False, n, True)

    def set_noexec(self, start: int, end: int, noexec: bool) -> None:
        """Make the pages of [start, end) refuse (or allow) instruction fetches; the
        translations of those whose flag changes go (code that ran, or a fetch fault
        compiled in), so the next entry fetches again."""
        nx = self.noexec
        if nx is None:
            nx = self.noexec = bytearray(len(self.wf))
        p0, p1 = start >> PAGE_SHIFT, min((end + PAGE_SIZE - 1) >> PAGE_SHIFT, len(nx))
        if p1 <= p0:
            return
        want = bytes((int(noexec),)) * (p1 - p0)
        if nx[p0:p1] == want:
            return
        nx[p0:p1] = want
        if self.code_written is not None and \
                self.wf[max(p0 - 1, 0):p1].translate(_T_CODE).find(1) >= 0:
            self.code_written(p0 << PAGE_SHIFT, p1 << PAGE_SHIFT)

    def set_unreadable(self, start: int, end: int, unreadable: bool) -> None:
        """Make the pages of [start, end) refuse (or allow) reads."""
        p0, p1 = start >> PAGE_SHIFT, min((end + PAGE_SIZE - 1) >> PAGE_SHIFT, len(self.rf))
        if p1 <= p0:
            return
        if unreadable:
            self.guarded = True
        ur, rf = self.unreadable, self.rf
        v = int(unreadable)
        ur[p0:p1] = bytes((v,)) * (p1 - p0)
        # rf[p] = ur[p] | ur[p + 1] for p in [p0 - 1, p1): v inside the range, so only its
        # two ends read a neighbour (the whole span's OR as big integers was ~10 ms of a
        # glibc hello world: the Linux address space's ranges are 10^5-10^6 pages)
        rf[p0:p1 - 1] = bytes((v,)) * (p1 - 1 - p0)
        rf[p1 - 1] = v | (ur[p1] if p1 < len(ur) else 0)
        if p0:
            rf[p0 - 1] = ur[p0 - 1] | v
        if not unreadable and self.code_written is not None and \
                self.wf[max(p0 - 1, 0):p1].translate(_T_CODE).find(1) >= 0:
            # a translation that faulted on fetching these pages must go (it is watched
            # there: WF_CODE; the invalidation walks every page, so only then)
            self.code_written(p0 << PAGE_SHIFT, p1 << PAGE_SHIFT)

    def pack_at(self, pack_into, addr: int, n: int, value: int) -> None:
        """``pack_into`` (a struct's, n bytes, unsigned) of value at addr: into ``data``
        under :meth:`write`'s fast test (kept beside it), else through write, looked up
        now."""
        if 0 <= addr and addr + n <= self.size and 0 < n <= PAGE_SIZE and \
                self.access_watch is None:
            wf = self.wf
            if not (wf[addr >> PAGE_SHIFT] or wf[(addr + n - 1) >> PAGE_SHIFT]):
                pack_into(self.data, addr, value)
                return
        self.write(addr, value.to_bytes(n, "little"))

    def write(self, addr: int, data: bytes) -> None:
        n = len(data)
        end = addr + n
        if 0 <= addr and end <= self.size and 0 < n <= PAGE_SIZE and \
                self.access_watch is None:
            wf = self.wf
            if not (wf[addr >> PAGE_SHIFT] or wf[(end - 1) >> PAGE_SHIFT]):
                self.data[addr:end] = data
                return
        if n == 0:
            return
        if addr < 0 or end > self.size:
            raise MemoryFault(max(addr, 0), True, n)
        if self.access_watch is not None:
            self.access_watch(addr, n, True)
        wf = self.wf
        p0, p1 = addr >> PAGE_SHIFT, (end - 1) >> PAGE_SHIFT
        flags = 0
        for p in range(p0, p1 + 1):
            flags |= wf[p]
        if flags & WF_READONLY:
            for p in range(p0, p1 + 1):
                if wf[p] & WF_READONLY:
                    raise MemoryFault(max(addr, p << PAGE_SHIFT), True, n)
        self.data[addr:end] = data
        if flags:
            self._after_write(addr, data, flags)

    def load(self, addr: int, data: bytes) -> None:
        """Put bytes in memory ignoring read-only pages (program loaders)."""
        if addr < 0 or addr + len(data) > self.size:
            raise MemoryFault(max(addr, 0), True, len(data))
        self.data[addr:addr + len(data)] = data
        if self.code_written is not None and data:
            self.code_written(addr, addr + len(data))

    def zero(self, start: int, end: int) -> None:
        """Clear [start, end) ignoring read-only pages, as ``load`` of zeros would, but
        whole pages are given back to the host instead of written."""
        start, end = max(start, 0), min(end, self.size)
        if end <= start:
            return
        lo = (start + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
        hi = end & ~(PAGE_SIZE - 1)
        data = self.data
        if hi - lo >= 16 * PAGE_SIZE and self._mapped_address() is not None:
            if start < lo:
                data[start:lo] = bytes(lo - start)
            if hi < end:
                data[hi:end] = bytes(end - hi)
            _get_host().map_fixed(self._addr + lo, hi - lo, -1, 0)
            if self._base is not None:
                self._zeroed.append((lo, hi))
        else:
            for a in range(start, end, _CHUNK):
                b = min(end, a + _CHUNK)
                n = b - a
                if data[a:b] != (_ZEROS if n == _CHUNK else _ZEROS[:n]):
                    data[a:b] = bytes(n)
        if self.code_written is not None and \
                self.wf[max(start - 3, 0) >> PAGE_SHIFT:((end - 1) >> PAGE_SHIFT) + 1] \
                .translate(_T_CODE).find(1) >= 0:
            self.code_written(start, end)

    def _mapped_address(self) -> Optional[int]:
        """The host address of ``data`` when pages can be re-mapped under it."""
        if self._addr is None and isinstance(self.data, mmap.mmap):
            host = _get_host()
            if host.ok:
                try:
                    self._addr = host.address(self.data)
                except (TypeError, ValueError, AttributeError):
                    return None
        return self._addr

    # -- fork -------------------------------------------------------------------------------
    def fork_into(self, child: Memory, runs) -> None:
        """Make ``child`` (same size) hold this memory's bytes in the ``runs`` (sorted
        page-aligned ranges; the rest of both memories is zero): shared copy-on-write
        where the host allows, else copied."""
        runs = list(runs)
        if child.size == self.size and self._mapped_address() is not None \
                and child._mapped_address() is not None:
            try:
                self._fork_shared(child, runs)
                return
            except OSError:
                pass
        self._fork_copy(child, runs)

    def _fork_shared(self, child: Memory, runs) -> None:
        host = _get_host()
        base = self._base
        table = _T_TOUCHED if base is None else _T_PRIVATE
        private: List[Tuple[int, int]] = []
        for lo, hi in runs:
            private += host.private_pages(self._addr, lo, hi, table)
        amount = sum(hi - lo for lo, hi in private)
        if base is None or len(self._zeroed) > _MAX_ZEROED \
                or amount > max(_SNAP_SLACK, base.bytes // 4):
            keep = private if base is None else _merge(_intersect(base.ranges, runs) + private)
            base = self._snapshot(keep)
            private = []
        host.map_fixed(child._addr, child.size, base.fd, 0)
        child._base, child._zeroed = base, list(self._zeroed)
        for lo, hi in self._zeroed:
            host.map_fixed(child._addr + lo, hi - lo, -1, 0)
        src, dst = self.data, child.data
        for lo, hi in private:
            for a in range(lo, hi, _CHUNK):
                b = min(hi, a + _CHUNK)
                dst[a:b] = src[a:b]

    def _snapshot(self, ranges) -> _Snapshot:
        """Write ``ranges`` of this memory (all its non-zero bytes) to a new memfd and
        map this memory over it."""
        snap = _Snapshot(self.size)
        data, written = self.data, []
        for lo, hi in ranges:
            for a in range(lo, hi, _CHUNK):
                b = min(hi, a + _CHUNK)
                chunk = data[a:b]
                if chunk == (_ZEROS if b - a == _CHUNK else _ZEROS[:b - a]):
                    continue
                view = memoryview(chunk)
                done = 0
                while done < len(chunk):
                    done += os.pwrite(snap.fd, view[done:], a + done)
                written.append((a, b))
        snap.ranges = _merge(written)
        snap.bytes = sum(hi - lo for lo, hi in snap.ranges)
        _get_host().map_fixed(self._addr, self.size, snap.fd, 0)
        self._base, self._zeroed = snap, []
        return snap

    def _fork_copy(self, child: Memory, runs) -> None:
        src, dst = self.data, child.data
        for lo, hi in runs:
            for a in range(lo, hi, _CHUNK):
                b = min(hi, a + _CHUNK)
                chunk = src[a:b]
                zero = _ZEROS if b - a == _CHUNK else _ZEROS[:b - a]
                if chunk != zero or dst[a:b] != zero:
                    dst[a:b] = chunk

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

    def unwatch(self, start: int, end: int) -> None:
        """Stop the ``watch`` callbacks of the pages of [start, end) (a loop over the
        range's pages or the watched ones, whichever are fewer)."""
        p0, p1 = start >> PAGE_SHIFT, ((end - 1) >> PAGE_SHIFT) + 1
        watchers = self._watchers
        pages = range(p0, p1) if p1 - p0 < len(watchers) else list(watchers)
        for p in [p for p in pages if p in watchers and p0 <= p < p1]:
            del watchers[p]
            self.wf[p] &= ~WF_WATCH

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
