"""ELF32 program loading as the kernel's binfmt_elf does it: executables (ET_EXEC at their
link address), position-independent ones (ET_DYN, static-pie or PIE, at a fixed low
base) and the program interpreter a dynamic executable names in PT_INTERP (ld.so, an
ET_DYN placed by the caller at the top of the mmap area, or an ET_EXEC at its own
addresses). Each PT_LOAD is mapped from its
page-aligned file offset, the rest of its last file page and the bss zeroed, pages
writable only where a PF_W segment lies. Finding the interpreter's file is the sandbox's
business (vm/linux/interp.py)."""

from __future__ import annotations

import errno
import os
import stat
import weakref
from typing import List, Optional, Tuple

from formats.elf.constants import (
    EM_386,
    ET_DYN,
    ET_EXEC,
    PF_W,
    PF_X,
    PT_GNU_STACK,
    PT_INTERP,
    PT_LOAD,
    PT_PHDR,
    PT_TLS,
)
from formats.elf.elffile import read_program_headers
from formats.elf.tables import ElfError
from vm.linux.addrspace import PIE_BASE, STACK_SIZE, Layout, page_down, page_up

MAX_IMAGE_END = 0x40000000      # images end below 1 GiB: the mmap area and stack lie above
MAX_PHDRS_BYTES = 65536         # Linux's load_elf_phdrs: more program headers is ENOEXEC
MAX_INTERP_PATH = 4096           # PATH_MAX: a longer PT_INTERP is not a path
INTERP_FIXED_END = Layout(0, 0).mmap_hi     # an ET_EXEC interpreter ends below the mmap top


class ExeFile:
    """The program a process runs, held open as Linux holds its inode: /proc/self/exe
    opens, stats and executes this file, whatever its name has become since (unlinked,
    or replaced by a symlink to something the guest may not read). One host descriptor
    per program file (shared by every process running it), closed when none runs it;
    the guest never sees it."""

    __slots__ = ("fd", "key", "users", "_close", "__weakref__")
    _open: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

    def __init__(self, fd: int, key: tuple):
        self.fd, self.key, self.users = fd, key, 0
        self._close = weakref.finalize(self, os.close, fd)

    @classmethod
    def take(cls, fd: int) -> ExeFile:
        """The ExeFile of the file open as ``fd`` (which it now owns or closes)."""
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        held = cls._open.get(key)
        if held is not None:
            os.close(fd)
            return held
        exe = cls._open[key] = cls(fd, key)
        return exe

    def hold(self) -> None:
        """One more process (task) runs this file."""
        self.users += 1

    def release(self) -> None:
        """A task running it ended or exec'd another program."""
        self.users -= 1
        self.settle()

    def settle(self) -> None:
        """Close the descriptor now if no task runs the file (a failed execve's, the
        last runner's), not when a collector comes: under PyPy a fork-and-exec loop
        over distinct programs held one per program until the next collection, and a
        guest ran out of descriptors (ENFILE) after 21 programs under ulimit -n 64."""
        if self.users <= 0 and self._close.alive:
            if self._open.get(self.key) is self:
                del self._open[self.key]
            self._close()
            self.fd = -1                # (a stale user fails: EBADF, never another file)

    @property
    def magic(self) -> str:
        """A host path naming exactly this file (the descriptor's /proc link)."""
        return f"/proc/self/fd/{self.fd}"

    def reopen(self) -> int:
        """A new read-only host descriptor of the file, with its own offset."""
        return os.open(self.magic, os.O_RDONLY | os.O_CLOEXEC)


class ExePath(str):
    """A process's exe_host_path: the program's host name when it was started, carrying
    the open file (``exe``; None when it could not be opened), so that a forked child or
    a thread copying the name shares the file rather than reopening the name."""

    __slots__ = ("exe",)

    @classmethod
    def bare(cls, host: str) -> ExePath:
        """``host`` as a name alone, without its file (an ended task's)."""
        path = cls(host)
        path.exe = None
        return path

    @classmethod
    def open(cls, host: str, sandbox=None, guest: str = "") -> ExePath:
        """Open ``host`` (a canonical path: a symlink there now is not followed); with a
        sandbox, verified as a read is (raises OSError). Without one (the program named
        on the command line), a file that cannot be opened leaves ``exe`` None."""
        path = cls(host)
        path.exe = None
        if not host:
            return path
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY
        try:
            fd = (sandbox.open(host, flags, path=guest) if sandbox is not None
                  else os.open(host, flags | os.O_NOFOLLOW | os.O_CLOEXEC))
        except OSError:
            if sandbox is not None:
                raise
            return path
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EACCES, os.strerror(errno.EACCES), guest or host)
        except OSError:
            os.close(fd)
            if sandbox is not None:
                raise
            return path
        path.exe = ExeFile.take(fd)
        return path


def program_key(st: os.stat_result) -> tuple:
    """What names one version of a program file in the image cache. st_ctime_ns with
    the rest: a guest rewriting a file in place can put its size and mtime back
    (futimens), but the change time is the kernel's own (userspace cannot set it)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class LoadError(Exception):
    """The file cannot be run; ``errno`` is what execve would return."""

    def __init__(self, message: str, err: int):
        super().__init__(message)
        self.errno = err


class Image:
    """A parsed program ready to be placed in memory."""

    def __init__(self, data: bytes, elf, base: int):
        self.data = _needed(data, elf)
        self.elf = elf
        self.base = base
        self.entry = elf.entry + base
        hdr = elf.header
        self.phnum, self.phent, self.phoff = hdr.e_phnum, hdr.e_phentsize, hdr.e_phoff
        loads = [s for s in elf.segments if s.type == PT_LOAD]
        self.loads = loads
        self.lo = page_down(min(s.vaddr for s in loads) + base)
        self.hi = page_up(max(s.vaddr + s.memsz for s in loads) + base)
        self.tls = next((s for s in elf.segments if s.type == PT_TLS), None)
        stack = next((s for s in elf.segments if s.type == PT_GNU_STACK), None)
        self.gnu_stack = stack
        self.exec_stack = stack is None or bool(stack.flags & PF_X)
        self.phdr = self._phdr_address()
        self._readonly: Optional[List[Tuple[int, int]]] = None
        self.interp: Optional[bytes] = _interp_path(data, elf)   # PT_INTERP, if any

    def placed_at(self, addr: int) -> Image:
        """The same file with its lowest page at ``addr`` (an interpreter's placement)."""
        return Image(self.data, self.elf, addr - (self.lo - self.base))

    @property
    def size(self) -> int:
        """Host bytes the image holds: the file bytes kept (headers and segments) and
        about a Python object per program header (at most 2048: MAX_PHDRS_BYTES)."""
        return len(self.data) + 512 * len(self.elf.segments)

    @property
    def span(self) -> int:
        """Bytes of address space the image covers (page-aligned)."""
        return self.hi - self.lo

    def readonly_pages(self) -> List[Tuple[int, int]]:
        """Page ranges of segments without PF_W (pages shared with a writable one are
        not included), in address order."""
        if self._readonly is None:
            self._readonly = self._readonly_pages()
        return self._readonly

    def _readonly_pages(self) -> List[Tuple[int, int]]:
        out = []
        wr = [(page_down(s.vaddr + self.base), page_up(s.vaddr + self.base + s.memsz))
              for s in self.loads if s.flags & PF_W]
        for s in self.loads:
            if s.flags & PF_W:
                continue
            lo, hi = page_down(s.vaddr + self.base), page_up(s.vaddr + self.base + s.memsz)
            for wlo, whi in wr:
                if wlo < hi and lo < whi:
                    if wlo <= lo:
                        lo = max(lo, whi)
                    else:
                        hi = min(hi, wlo)
            if lo < hi:
                out.append((lo, hi))
        return sorted(out)

    def _phdr_address(self) -> Optional[int]:
        """Where the program headers are in memory (AT_PHDR), if a segment maps them."""
        for s in self.elf.segments:
            if s.type == PT_PHDR:
                return s.vaddr + self.base
        size = self.phnum * self.phent
        for s in self.loads:
            if s.offset <= self.phoff and self.phoff + size <= s.offset + s.filesz:
                return s.vaddr + self.base + self.phoff - s.offset
        return None

    def phdr_bytes(self) -> bytes:
        return self.data[self.phoff:self.phoff + self.phnum * self.phent]

    def layout(self, stack_size: int = STACK_SIZE) -> Layout:
        lay = Layout(self.lo, self.hi, stack_size)
        # end_data - start_data as binfmt_elf sets them: brk's RLIMIT_DATA counts it
        # (vm/linux/memrlimits.py)
        if self.loads:
            lay.data_size = max(0, max(s.vaddr + s.filesz for s in self.loads) -
                                max(s.vaddr for s in self.loads))
        return lay

    def load(self, mem, aspace, reuse: bool = False) -> None:
        """Copy the segments into ``mem`` and map their pages in ``aspace``. ``reuse``:
        ``mem`` held this image before; read-only segments whose bytes are unchanged are
        left alone so their translations survive."""
        data = self.data
        writable: List[Tuple[int, int, int]] = []
        maps: List[Tuple[int, int, int]] = []
        for s in self.loads:
            vaddr = s.vaddr + self.base
            head = vaddr - page_down(vaddr)
            start = max(s.offset - head, 0)
            at = vaddr - (s.offset - start)
            chunk = data[start:s.offset + s.filesz]
            if not (reuse and not s.flags & PF_W and mem.data[at:at + len(chunk)] == chunk):
                mem.load(at, chunk)
            file_end = vaddr + s.filesz
            if s.memsz > s.filesz:          # bss: the rest of the page, later pages are new
                mem.load(file_end, bytes(page_up(file_end) - file_end))
            maps.append((vaddr, vaddr + s.memsz, _prot(s.flags)))
            if s.flags & PF_W:
                writable.append(maps[-1])
        maps += writable                    # a page shared with a writable segment stays so
        if len(maps) > FEW_MAPS:            # (each map costs its pages: overlapping ones
            maps = _final_maps(maps)        # would cost the sum of their sizes)
        for lo, hi, prot in maps:
            aspace.map(lo, hi, prot)


FEW_MAPS = 16       # Image.load maps this many segments one by one, more by _final_maps


def _final_maps(maps: List[Tuple[int, int, int]]) -> List[Tuple[int, int, int]]:
    """The page ranges and protections that mapping ``maps`` ((start, end, prot), each
    widened to whole pages) in order leaves: each page as the last map over it says,
    adjacent equal ones merged. A sweep over the maps' ends (the latest map still open
    on a heap), so a thousand overlapping segments of 768 MiB cost their number, not
    the sum of their pages."""
    import heapq
    spans = [(page_down(lo), page_up(hi), prot) for lo, hi, prot in maps]
    points = sorted({p for lo, hi, _prot in spans if lo < hi for p in (lo, hi)})
    starts: dict = {}
    for i, (lo, hi, prot) in enumerate(spans):
        if lo < hi:
            starts.setdefault(lo, []).append((-i, hi, prot))
    open_: list = []
    out: List[Tuple[int, int, int]] = []
    for a, b in zip(points, points[1:]):
        for item in starts.get(a, ()):
            heapq.heappush(open_, item)
        while open_ and open_[0][1] <= a:   # (ended: no longer over [a, b))
            heapq.heappop(open_)
        if not open_:
            continue
        prot = open_[0][2]
        if out and out[-1][1] == a and out[-1][2] == prot:
            out[-1] = (out[-1][0], b, prot)
        else:
            out.append((a, b, prot))
    return out


def _prot(flags: int) -> int:
    """PF_R/W/X (4, 2, 1) to PROT_READ/WRITE/EXEC (1, 2, 4)."""
    return (1 if flags & 4 else 0) | (2 if flags & 2 else 0) | (4 if flags & 1 else 0)


def _needed(data: bytes, elf) -> bytes:
    """The bytes of a program file that loading it reads: the headers and the
    segments. A file may be far larger (a sparse tail of 200 MB), and an image is kept
    while processes run it and shared: the rest would be host memory past --memory."""
    hdr = elf.header
    end = max([hdr.e_phoff + hdr.e_phnum * hdr.e_phentsize] +
              [s.offset + s.filesz for s in elf.segments if s.type in (PT_LOAD, PT_INTERP)])
    return data[:end] if end < len(data) else data


def _interp_path(data: bytes, elf) -> Optional[bytes]:
    seg = next((s for s in elf.segments if s.type == PT_INTERP), None)
    if seg is None:
        return None
    raw = bytes(data[seg.offset:seg.offset + min(seg.filesz, MAX_INTERP_PATH)])
    return raw.split(b"\0", 1)[0]


def _parse(data: bytes, interpreter: bool = False):
    import errno
    if data[:2] == b"#!":
        raise LoadError("a script, not an ELF file", errno.ENOEXEC)
    try:
        elf = read_program_headers(data)    # sections are no business of a loader
    except ElfError as e:
        raise LoadError(str(e), errno.ENOEXEC) from None
    if elf.header.e_phnum * elf.header.e_phentsize > MAX_PHDRS_BYTES:
        raise LoadError(f"too many program headers ({elf.header.e_phnum})", errno.ENOEXEC)
    if elf.machine != EM_386:
        raise LoadError(f"not an i386 program (e_machine is {elf.machine})", errno.ENOEXEC)
    if elf.type not in (ET_EXEC, ET_DYN):
        raise LoadError(f"not an executable (e_type is {elf.type_name})", errno.ENOEXEC)
    loads = [s for s in elf.segments if s.type == PT_LOAD]
    if not loads:
        raise LoadError("no loadable segment", errno.ENOEXEC)
    # (an interpreter's own PT_INTERP is not read: Linux's load_elf_interp ignores it)
    seg = None if interpreter else next((s for s in elf.segments if s.type == PT_INTERP), None)
    if seg is not None:
        if seg.filesz < 2 or seg.filesz > MAX_INTERP_PATH \
                or seg.offset + seg.filesz > len(data) \
                or data[seg.offset + seg.filesz - 1] != 0:
            raise LoadError("bad PT_INTERP (not a NUL-terminated path)", errno.ENOEXEC)
    return elf, loads


def prepare_interpreter(data: bytes) -> Image:
    """Parse and check a program interpreter (ld.so). An ET_DYN is returned at base 0;
    the caller places it with :meth:`Image.placed_at`. An ET_EXEC stays at its link
    addresses, as Linux's load_elf_interp maps it (MAP_FIXED: over the program, if it
    lies there), anywhere below pyvm's mmap area's top. A PT_INTERP of its own is
    ignored, as Linux's load_elf_interp does (no chain of interpreters)."""
    import errno
    elf, loads = _parse(data, interpreter=True)
    lo = page_down(min(s.vaddr for s in loads))
    end = max(s.vaddr + s.memsz for s in loads)
    if elf.type == ET_EXEC:
        # (natively a compat task's space reaches 0xffffe000; pyvm's stack and guard
        # take the top of its 3 GiB, and the first 64K stay unmapped as for programs)
        if lo < 0x10000 or end > INTERP_FIXED_END:
            raise LoadError(f"segments at 0x{lo:x}-0x{end:x} do not fit "
                            f"pyvm's address space (64K-0x{INTERP_FIXED_END:x})",
                            errno.ENOMEM)
        image = Image(data, elf, 0)
    else:
        if end - lo > MAX_IMAGE_END:
            raise LoadError("the interpreter does not fit pyvm's address space",
                            errno.ENOMEM)
        image = Image(data, elf, -lo)
    image.interp = None                 # (its PT_INTERP is never followed)
    if not image.lo <= image.entry < image.hi:
        raise LoadError(f"interpreter entry point 0x{elf.entry:x} is outside it",
                        errno.ELIBBAD)
    return image


def prepare(data: bytes) -> Image:
    """Parse and check a program; raise LoadError saying why it cannot run. A dynamic
    program's ``interp`` names its interpreter, which the caller loads."""
    import errno
    elf, loads = _parse(data)
    base = 0
    if elf.type == ET_DYN:
        base = PIE_BASE - page_down(min(s.vaddr for s in loads))
    end = max(s.vaddr + s.memsz for s in loads) + base
    if end > MAX_IMAGE_END or any(s.vaddr + base < 0x10000 for s in loads):
        raise LoadError(f"segments at 0x{min(s.vaddr for s in loads) + base:x}-0x{end:x} "
                        f"do not fit pyvm's address space (64K-1G)", errno.ENOMEM)
    image = Image(data, elf, base)
    if elf.entry + base < image.lo or elf.entry + base >= image.hi:
        raise LoadError(f"entry point 0x{elf.entry + base:x} is outside the image",
                        errno.ENOEXEC)
    return image


__all__ = ["Image", "LoadError", "prepare", "prepare_interpreter"]
