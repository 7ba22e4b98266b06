"""The guest's /proc, synthesised from the emulated processes.

A guest that reads ``/proc/self/environ`` must see its own environment, not pyvm's (which
may hold secrets and names pyvm's cache); ``/proc/self/maps`` its own mappings, not the
host Python's; ``/proc/self/exe`` its program. The sandbox's resolver hands every guest
path under ``/proc`` to :func:`node`, which answers from the kernel's process table, so no
host /proc entry is ever passed through. Contents are generated when a file is opened,
as the kernel does.
"""

from __future__ import annotations

import bisect
import errno
import os
import re
import stat
from typing import Callable, Iterator, Optional, Tuple

from vm.linux.files import (
    DeviceFile,
    GuestFileError,
    HostFile,
    OpenFile,
    PipeEnd,
    synthetic_stat,
)
from vm.linux.memrlimits import vm_size
from vm.linux.uptime import BOOT, uptime
from vm.x86.system import VENDOR, cpuid_values

PAGE = 4096
TOP_FILES = ("cpuinfo", "meminfo", "uptime", "loadavg", "stat", "version", "mounts",
             "filesystems")
PID_FILES = ("environ", "cmdline", "maps", "status", "stat", "statm", "comm", "mounts")
PID_LINKS = ("exe", "cwd", "root")
_MAPS_RUNS = re.compile(rb"([\x08-\x0f])\1*")
_NUMBER = re.compile(r"0|[1-9][0-9]*")     # a pid, tid or fd name (Linux's: 03 is none)


def _target(proc, parts: tuple) -> Optional[object]:
    """The process a /proc/<pid>... path names."""
    if not parts or not _NUMBER.fullmatch(parts[0]):
        return None
    return proc.kernel.procs.get(int(parts[0]))


def fd_link(proc, f) -> str:
    """What /proc/<pid>/fd/N reads as, as Linux shows it."""
    if isinstance(f, PipeEnd):
        return f"pipe:[{f.pipe.stat.st_ino}]"
    path = getattr(f, "path", "")
    if path.startswith("/") and hasattr(f, "fd") and path not in ("/dev/stdin",
                                                                   "/dev/stdout",
                                                                   "/dev/stderr"):
        try:
            return proc.sandbox.fd_base(f.fd)
        except OSError:
            return path
    return path or "anon_inode:[unknown]"


def node(proc, parts: tuple) -> Optional[tuple]:
    """Kind of the entry /proc/<parts>: ("dir",), ("file",), ("link", target), ("exe",),
    ("gone",) (a zombie's link: it reads as nothing) or None."""
    if not parts:
        return ("dir",)
    head = parts[0]
    if head == "self":
        return ("link", str(proc.pid)) if len(parts) == 1 else node(proc, (str(proc.pid),)
                                                                     + parts[1:])
    if head == "thread-self" and len(parts) == 1:
        return ("link", f"{proc.pid}/task/{proc.tid}")
    if len(parts) == 1 and head in TOP_FILES:
        return ("file",)
    target = _target(proc, parts)
    if target is None:
        return None
    rest = parts[1:]
    if len(rest) >= 2 and rest[0] == "task":
        if not _NUMBER.fullmatch(rest[1]) or int(rest[1]) not in _tids(target):
            return None
        rest = rest[2:]
        if not rest:
            return ("dir",)
    elif rest[:1] == ("task",) and len(rest) == 1:
        return ("dir",)
    if not rest:
        return ("dir",)
    name = rest[0]
    if len(rest) == 1:
        if name in PID_FILES:
            return ("file",)
        if name in PID_LINKS and _gone(target):
            return ("gone",)             # a link whose target went with the process
        if name == "exe":
            return ("exe",) if target is proc else ("link", target.exe_guest_path)
        if name == "cwd":
            return ("link", target.sandbox.cwd_link())
        if name == "root":
            return ("link", "/")
        if name == "fd":
            return ("dir",)
        return None
    if name == "fd" and len(rest) == 2 and _NUMBER.fullmatch(rest[1]):
        entry = target.fds.fds.get(int(rest[1]))
        if entry is None:
            return None
        if not isinstance(entry[0], (HostFile, DeviceFile)):
            return ("file",)                    # a pipe or stream: opening dups it
        return ("link", fd_link(target, entry[0]))
    return None


def listing(proc, parts: tuple) -> list:
    """(name, d_type) entries of a /proc directory."""
    named, numbers, ntype = dir_entries(proc, parts)
    return named + [(str(n), ntype) for n in sorted(numbers)]


def dir_entries(proc, parts: tuple) -> tuple:
    """A /proc directory's entries as (named, numbers, d_type): the fixed (name, d_type)
    entries, then the numbered ones of ``d_type`` (pids, tids, descriptors): a sorted
    list, or the descriptor table's dict (ProcDir probes it in order)."""
    if not parts:
        names = [(n, 8) for n in TOP_FILES] + [("self", 10), ("thread-self", 10)]
        return names, sorted(proc.kernel.procs), 4
    if parts[0] == "self":
        parts = (str(proc.pid),) + parts[1:]
    target = _target(proc, parts)
    rest = parts[1:]
    if target is None:
        return [], [], 0
    if rest == ("task",):
        return [], _tids(target), 4
    if rest[:1] == ("task",):
        rest = rest[2:]
    if rest == ("fd",):
        return [], target.fds.fds, 10
    if not rest:
        return ([(n, 8) for n in PID_FILES] + [(n, 10) for n in PID_LINKS]
                + [("fd", 4), ("task", 4)]), [], 0
    return [], [], 0


_PROBE = 64         # absent numbers in a row probed in a descriptor table before sorting


def numbers_after(numbers, after: int) -> Iterator[int]:
    """The numbers of ``numbers`` (a sorted list, or a dict keyed by them) above
    ``after``, in order. A dict is probed number by number while its numbers are dense
    (each entry costs one look-up), sorted only past a gap: sorting the whole table on
    every getdents64 made listing N descriptors O(N^2)."""
    if isinstance(numbers, dict):
        n, misses = after + 1, 0
        while misses < _PROBE:
            if n in numbers:
                yield n
                misses = 0
            else:
                misses += 1
            n += 1
        after = n - 1
        numbers = sorted(numbers)
    yield from numbers[bisect.bisect_right(numbers, after):]


# -- file contents ----------------------------------------------------------------------

def _tids(p) -> list:
    """The ids of the threads of ``p``'s process (vm/linux/threads.py)."""
    if p.group is None:
        return [p.pid]
    return sorted(t.tid for t in p.group.tasks)


def _gone(p) -> bool:
    """The task named has exited (a zombie, or a leader thread that called exit while
    other threads run on): it has given back its memory, files and directories, and
    Linux, which answers /proc/<pid> from the leader's, answers for none of them
    (environ ESRCH, cmdline and maps empty, exe/cwd/root links ENOENT)."""
    from vm.linux.process import EXITED, ZOMBIE
    return p.state in (ZOMBIE, EXITED)


def _state(p) -> str:
    from vm.linux.process import BLOCKED, ZOMBIE
    return {ZOMBIE: "Z (zombie)", BLOCKED: "S (sleeping)"}.get(p.state, "R (running)")


def _maps(p) -> bytes:
    return b"".join(line for _hi, line in _maps_lines(p))


def _maps_lines(p, start: int = 0) -> Iterator[Tuple[int, bytes]]:
    """(end address, line) of each mapping of ``p`` from address ``start`` on."""
    aspace = p.aspace
    if aspace is None:
        return
    img = p.image
    lay = aspace.layout
    cuts = ()
    if aspace.vdso is not None:             # a mapping of its own, whatever is beside it
        cuts = (aspace.vdso[0], aspace.vdso[0] + aspace.vdso[1].span)
    for m in _MAPS_RUNS.finditer(aspace.prot, start // PAGE):
        lo, hi = m.start() * PAGE, m.end() * PAGE
        runs = []
        for cut in cuts:
            if lo < cut < hi:
                runs.append((lo, cut, m.group(1)[0]))
                lo = cut
        runs.append((lo, hi, m.group(1)[0]))
        for lo, hi, prot in runs:
            yield hi, _maps_line(p, img, lay, aspace, lo, hi, prot)


def _maps_line(p, img, lay, aspace, lo: int, hi: int, prot: int) -> bytes:
    perms = "".join(c if prot & bit else "-" for c, bit in (("r", 1), ("w", 2), ("x", 4)))
    if prot & 6 and not prot & 1:
        perms = "r" + perms[1:]              # x86: writable or executable reads
    name = ""
    if img is not None and img.lo <= lo < img.hi:
        name = p.exe_guest_path
    elif lay.stack_lo <= lo < lay.stack_top:
        name = "[stack]"
    elif lay.brk_start <= lo < max(lay.brk_start, aspace.brk + PAGE):
        name = "[heap]"
    elif aspace.vdso is not None and aspace.vdso[0] <= lo < \
            aspace.vdso[0] + aspace.vdso[1].span:
        name = "[vdso]"
    line = f"{lo:08x}-{hi:08x} {perms}p 00000000 00:00 0"
    line = f"{line:<73}{name}".rstrip() if name else line + " "
    return os.fsencode(line + "\n")       # (a file's name need not be UTF-8)


def _strings(p, field: str) -> bytes:
    """argv or envp as cmdline and environ read, joined once per exec and shared by
    every descriptor open on them: a copy each let 300 opens of a 5 MiB environment
    hold 1.6 GB of host memory (natively the file reads the process's own pages)."""
    strings = getattr(p, field, ())
    made = p.__dict__.setdefault("_proc_strings", {})
    held = made.get(field)
    if held is None or held[0] is not strings:
        held = made[field] = (strings, b"".join(s + b"\0" for s in strings))
    return held[1]


def _status(p) -> bytes:
    uid, gid = os.getuid(), os.getgid()
    comm = p.comm.decode("latin-1", "replace")
    vm = vm_size(p) // 1024         # (the stack as grown, not pyvm's 8 MiB)
    return (f"Name:\t{comm}\nUmask:\t{p.umask:04o}\nState:\t{_state(p)}\n"
            f"Tgid:\t{p.pid}\nNgid:\t0\nPid:\t{p.pid}\nPPid:\t{p.ppid}\nTracerPid:\t0\n"
            f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t{gid}\t{gid}\t{gid}\t{gid}\n"
            f"FDSize:\t64\nVmSize:\t{vm:8d} kB\nThreads:\t{len(_tids(p))}\n"
            f"SigPnd:\t{p.pending:016x}\nSigBlk:\t{p.sigmask:016x}\n").encode()


def _stat(p) -> bytes:
    comm = p.comm.decode("latin-1", "replace")
    vsize = vm_size(p)
    fields = [p.pid, f"({comm})", _state(p)[0], p.ppid, p.pgid, p.sid, 0, -1, 0x400000,
              0, 0, 0, 0, 0, 0, 0, 0, 20, 0, 1, 0, 0, vsize, vsize // PAGE]
    fields += [0] * (52 - len(fields))
    return (" ".join(str(f) for f in fields) + "\n").encode()


# Linux's names for the CPUID leaf 1 bits, so /proc/cpuinfo says what CPUID says.
_EDX_FLAGS = {0: "fpu", 4: "tsc", 8: "cx8", 15: "cmov", 19: "clflush", 23: "mmx", 24: "fxsr",
              25: "sse", 26: "sse2"}
_ECX_FLAGS = {0: "pni", 3: "monitor"}


def _cpuinfo(p) -> bytes:
    sig, _ebx, ecx, edx = cpuid_values(1, True)
    flags = [n for b, n in sorted(_EDX_FLAGS.items()) if edx >> b & 1]
    flags += [n for b, n in sorted(_ECX_FLAGS.items()) if ecx >> b & 1]
    return (f"processor\t: 0\nvendor_id\t: {VENDOR.decode()}\ncpu family\t: {sig >> 8 & 15}\n"
            f"model\t\t: {sig >> 4 & 15}\nmodel name\t: pyvm i686\nstepping\t: {sig & 15}\n"
            f"cpu MHz\t\t: 1000.000\nfpu\t\t: yes\nflags\t\t: {' '.join(flags)}\n"
            f"bogomips\t: 2000.00\n\n").encode()


def _meminfo(p) -> bytes:
    total = getattr(p.kernel, "memory_limit", None) or (2 << 30)
    return (f"MemTotal:       {total // 1024:8d} kB\nMemFree:        {total // 2048:8d} kB\n"
            f"MemAvailable:   {total // 2048:8d} kB\nSwapTotal:             0 kB\n"
            f"SwapFree:              0 kB\n").encode()


def _uptime(p) -> bytes:
    up = uptime()
    return f"{up:.2f} {up:.2f}\n".encode()


def _kstat(p) -> bytes:
    return (f"cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\nbtime {int(BOOT)}\n"
            f"processes {len(p.kernel.procs)}\nprocs_running 1\n").encode()


_MOUNTS = b"/ / rootfs ro 0 0\nproc /proc proc rw,nosuid,nodev,noexec 0 0\n"
_TOP: dict = {
    "cpuinfo": _cpuinfo, "meminfo": _meminfo, "uptime": _uptime,
    "loadavg": lambda p: b"0.00 0.00 0.00 1/1 1\n", "stat": _kstat,
    "version": lambda p: b"Linux version 6.1.0-pyvm (pyvm) #1 SMP i686\n",
    "mounts": lambda p: _MOUNTS, "filesystems": lambda p: b"nodev\tproc\n",
}
_PER_PID: dict = {
    "environ": lambda p: _strings(p, "envp"), "cmdline": lambda p: _strings(p, "argv"),
    "maps": _maps, "status": _status, "stat": _stat, "comm": lambda p: p.comm + b"\n",
    "statm": lambda p: b"0 0 0 0 0 0 0\n", "mounts": lambda p: _MOUNTS,
}


def content(proc, parts: tuple) -> bytes:
    if parts[0] == "self":
        parts = (str(proc.pid),) + parts[1:]
    if len(parts) == 1:
        return _TOP[parts[0]](proc)
    target = _target(proc, parts)
    rest = parts[1:]
    if rest[:1] == ("task",):
        rest = rest[2:]
    if rest[0] == "fd":                          # an fd that is not a path (a pipe)
        return b""
    if rest[0] in _NO_MM and _gone(target):
        if rest[0] == "environ":
            raise GuestFileError(errno.ESRCH)
        return b""
    return _PER_PID[rest[0]](target)


_NO_MM = ("environ", "cmdline", "maps")          # what a zombie's memory held


# -- open files -------------------------------------------------------------------------

def _ino(parts: tuple) -> int:
    return 0x10000 + (hash(parts) & 0xFFFFFF)


class ProcFile(OpenFile):
    """A /proc file: its contents as of the open, read-only."""

    def __init__(self, data: bytes, parts: tuple, readable: bool = True):
        self.data = data
        self.pos = 0
        self.path = "/proc/" + "/".join(parts)
        self.readable, self.writable = readable, False
        self.stat = synthetic_stat(stat.S_IFREG | 0o444, _ino(parts))
        self.stat.st_size = 0

    def read(self, n: int) -> bytes:
        chunk = self.data[self.pos:self.pos + n]
        self.pos += len(chunk)
        return chunk

    def pread(self, n: int, offset: int) -> bytes:
        return self.data[offset:offset + n]

    def seek(self, offset: int, whence: int) -> int:
        pos = {0: 0, 1: self.pos, 2: len(self.data)}.get(whence)
        if pos is None or pos + offset < 0:
            raise GuestFileError(errno.EINVAL)
        self.pos = pos + offset
        return self.pos

    def fstat(self):
        return self.stat

    def readable_bytes(self) -> int:
        return max(0, len(self.data) - self.pos)


class ProcMaps(ProcFile):
    """/proc/PID/maps made as it is read, from the address where the last read
    stopped (Linux's seq_file), not all of it at the open: an address space cut into
    every other page made it tens of megabytes, held by each descriptor open on it
    (200 opens: 1.1 GB of host memory). A read further back starts again from the
    first mapping; a SEEK_END has no end to go by (EINVAL, as seq_file's lseek)."""

    CHUNK = 4096        # made about a page at a time, as seq_file fills its page

    def __init__(self, target, parts: tuple):
        super().__init__(b"", parts)
        self.target = target
        self.data_at = 0                    # the offset of data[0]
        self.next: Optional[int] = 0        # the address to go on from (None: the end)

    def _cover(self, start: int, end: int) -> None:
        """Make lines until ``data`` reaches offset ``end`` or the last mapping, dropping
        what lies before ``start`` (read already)."""
        cut = min(max(0, start - self.data_at), len(self.data))
        if cut:
            self.data, self.data_at = self.data[cut:], self.data_at + cut
        while self.data_at + len(self.data) < end and self.next is not None:
            lines, size = [], 0
            for hi, line in _maps_lines(self.target, self.next):
                lines.append(line)
                size += len(line)
                self.next = hi
                if size >= self.CHUNK:
                    break
            else:
                self.next = None
            self.data += b"".join(lines)

    def pread(self, n: int, offset: int) -> bytes:
        if offset < self.data_at:
            self.data, self.data_at, self.next = b"", 0, 0
        if offset + n > self.data_at + len(self.data):
            self._cover(offset, offset + n)
        rel = offset - self.data_at
        chunk = self.data[rel:rel + n]      # (an index into data: no re-slicing per read)
        if rel + len(chunk) >= len(self.data) and self.next is not None:
            self.data_at, self.data = self.data_at + len(self.data), b""  # all read
        return chunk

    def read(self, n: int) -> bytes:
        chunk = self.pread(n, self.pos)
        self.pos += len(chunk)
        return chunk

    def seek(self, offset: int, whence: int) -> int:
        if whence == 2:
            raise GuestFileError(errno.EINVAL)
        return super().seek(offset, whence)

    def readable_bytes(self) -> int:
        if self.pos >= self.data_at + len(self.data):
            self._cover(self.pos, self.pos + 1)
        return max(0, self.data_at + len(self.data) - self.pos)


_PAST_END = (3, 0)                  # ProcDir's key after every entry


class ProcDir(OpenFile):
    """A /proc directory, listed as it is read (so /proc/self/fd shows the descriptor
    that reads it, as on Linux)."""

    is_dir = True

    def __init__(self, entries: Callable[[], list], parts: tuple):
        self.path = "/proc/" + "/".join(parts) if parts else "/proc"
        self.readable, self.writable = True, False
        self.stat = synthetic_stat(stat.S_IFDIR | 0o555, _ino(parts))
        self.stat.st_nlink = 2
        self._list, self._parts = entries, parts
        self._last: Optional[tuple] = None     # the key of the last entry given
        self._dirpos = 0                       # entries given since the start

    def read(self, n: int) -> bytes:
        raise GuestFileError(errno.EISDIR)

    def read_dirents(self, count: int) -> bytes:
        """The next entries as getdents64 records of at most ``count`` bytes, from the
        directory as it is now (nothing is kept: a listing kept per open directory was
        host memory a guest multiplied, 3000 opens of /proc/self/fd held 718 MB). The
        listing resumes after the last entry given, by its key (a number for a fd,
        task or process: one closed meanwhile moves no other), as Linux's does; only
        the entries given are made."""
        from vm.linux.abi import pack_dirent64
        out = bytearray()
        for key, ino, dtype, name in self._entries_after(self._last):
            rec = pack_dirent64(ino, self._dirpos + 1, dtype, name.encode())
            if len(out) + len(rec) > count:
                if not out:
                    raise GuestFileError(errno.EINVAL)
                break
            out += rec
            self._dirpos += 1
            self._last = key
        return bytes(out)

    def _entries_after(self, last: Optional[tuple]) -> Iterator[tuple]:
        """(key, d_ino, d_type, name) of the entries after the one of key ``last``:
        "." and ".." (0, i), the named ones (1, index), the numbered ones (2, n)."""
        parts = self._parts
        section, value = (-1, -1) if last is None else last
        if section >= _PAST_END[0]:
            return                  # a seek past the end: nothing, what comes later too
        named, numbers, ntype = self._list()
        if section <= 0:
            dots = ((".", _ino(parts)), ("..", _ino(parts[:-1])))
            for i in range(value + 1 if section == 0 else 0, 2):
                yield (0, i), dots[i][1], 4, dots[i][0]
            section, value = 1, -1
        if section == 1:
            for k in range(value + 1, len(named)):
                name, dtype = named[k]
                yield (1, k), _ino(parts + (name,)), dtype, name
            value = -1
        for n in numbers_after(numbers, value):
            yield (2, n), _ino(parts + (str(n),)), ntype, str(n)

    def dir_position(self) -> tuple:
        return self._last, self._dirpos

    def set_dir_position(self, where: tuple) -> None:
        self._last, self._dirpos = where

    def seek(self, offset: int, whence: int) -> int:
        """d_off and telldir count entries: SEEK_SET to n resumes after the n-th entry
        of the listing as it is now (seekdir back to a telldir), SEEK_CUR 0 tells."""
        if whence == os.SEEK_CUR:
            if offset == 0:
                return self._dirpos
            offset += self._dirpos
        elif whence != os.SEEK_SET:
            raise GuestFileError(errno.EINVAL)
        if offset < 0:
            raise GuestFileError(errno.EINVAL)
        last, given = None, 0
        if offset:
            for key, *_entry in self._entries_after(None):
                last, given = key, given + 1
                if given == offset:
                    break
        if given < offset:          # past the end it stays, as Linux's position does
            last, given = _PAST_END, offset
        self._last, self._dirpos = last, given
        return offset

    def fstat(self):
        return self.stat


def open_node(proc, parts: tuple, writing: bool) -> OpenFile:
    kind = node(proc, parts)
    if kind is None or kind[0] == "gone":
        raise GuestFileError(errno.ENOENT)
    if writing:
        raise GuestFileError(errno.EACCES)
    if kind[0] == "dir":
        return ProcDir(lambda: dir_entries(proc, parts), parts)
    if parts[-1] == "maps" and len(parts) > 1:
        target = _target(proc, (str(proc.pid),) + parts[1:] if parts[0] == "self" else parts)
        if target is not None and not _gone(target):
            return ProcMaps(target, parts)
    return ProcFile(content(proc, parts), parts)


def stat_node(proc, parts: tuple, follow_kind: Optional[str] = None):
    kind = node(proc, parts)
    if kind is None:
        raise GuestFileError(errno.ENOENT)
    if kind[0] == "dir":
        st = synthetic_stat(stat.S_IFDIR | 0o555, _ino(parts))
        st.st_nlink = 2
        return st
    if kind[0] in ("link", "exe", "gone"):
        return synthetic_stat(stat.S_IFLNK | 0o777, _ino(parts))
    st = synthetic_stat(stat.S_IFREG | 0o444, _ino(parts))
    st.st_size = 0
    return st


def readlink_node(proc, parts: tuple) -> str:
    kind = node(proc, parts)
    if kind is None or kind[0] == "gone":
        raise GuestFileError(errno.ENOENT)
    if kind[0] == "exe":
        return proc.exe_guest_path
    if parts[-2:-1] == ("fd",) and kind[0] == "file":      # a pipe's magic link
        target = _target(proc, parts if parts[0] != "self" else (str(proc.pid),) + parts[1:])
        return fd_link(target, target.fds.get(int(parts[-1])))
    if kind[0] != "link":
        raise GuestFileError(errno.EINVAL)
    return kind[1]


def lookup_for(proc) -> Callable[[tuple], Optional[tuple]]:
    """The resolver's view of /proc for ``proc``."""
    return lambda parts: node(proc, parts)
