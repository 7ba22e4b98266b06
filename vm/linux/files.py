"""Open files of a guest process: host files and directories, the standard streams and
in-memory pipes, behind one small interface, plus the descriptor table."""

from __future__ import annotations

import errno
import os
import select
import stat
import time
from types import SimpleNamespace
from typing import Callable, Optional

from vm.diskquota import appends, hole, take_all
from vm.linux import addrspace as mapped
from vm.linux.abi import O_NONBLOCK, dirent_type
from vm.linux.fifowait import WriterWaits
from vm.sandbox import O_PATH as O_HOST_PATH
from vm.sandbox import host_fds

POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP, POLLNVAL = 1, 2, 4, 8, 0x10, 0x20
POLLRDNORM, POLLWRNORM = 0x40, 0x100
READ_EVENTS, WRITE_EVENTS = POLLIN | POLLRDNORM, POLLOUT | POLLWRNORM


def host_poll(fd: int, events: int) -> int:
    """poll(2) of one host descriptor without waiting."""
    p = select.poll()
    p.register(fd, events & 0xFFFF)
    try:
        ready = p.poll(0)
    except OSError:
        return POLLERR
    return ready[0][1] if ready else 0


def wait_readable(fd: int) -> None:
    """Raise EAGAIN unless a read of host descriptor ``fd`` would not block now (data,
    end of file or an error is there). A guest reading a pipe, FIFO or terminal must not
    stop every other guest process (a blocking read waits in the scheduler, woken by the
    descriptor: vm/linux/kernel.py idle), and O_NONBLOCK is honoured without setting it
    on the host's open file description, which pyvm may share with others (its own
    stdin with the terminal and the shell)."""
    if not host_poll(fd, POLLIN):
        raise GuestFileError(errno.EAGAIN)


def nonblocking_chunk(fd: int, data: bytes) -> bytes:
    """What an O_NONBLOCK write to host pipe, FIFO or terminal ``fd`` may pass to the host
    without blocking: EAGAIN when it has no room, else at most PIPE_BUF bytes (a pipe
    with room has a free page; a short count is what a nonblocking write returns)."""
    if not host_poll(fd, POLLOUT) & (POLLOUT | POLLERR | POLLHUP):
        raise GuestFileError(errno.EAGAIN)
    return data[:PIPE_BUF]


def is_regular(fd: int) -> bool:
    """A regular file (reads and writes never wait), as host descriptor ``fd`` is now."""
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


def host_access(fd: int) -> tuple:
    """(readable, writable, appending) of host descriptor ``fd`` as it was opened (its
    F_GETFL), whatever the guest's descriptor number suggests: a stdout may be a
    read-only file (``1<file``), a stdin a write-only one."""
    import fcntl
    fl = fcntl.fcntl(fd, fcntl.F_GETFL)
    acc = fl & 3                        # O_ACCMODE (PyPy's os lacks the name)
    return acc != os.O_WRONLY, acc != os.O_RDONLY, bool(fl & os.O_APPEND)


def synthetic_stat(mode: int, ino: int, size: int = 0) -> SimpleNamespace:
    """What fstat reports for an object with no host file (a pipe): the fields of
    os.stat_result that abi.pack_stat64/pack_statx read."""
    ns = time.time_ns()
    return SimpleNamespace(
        st_mode=mode, st_ino=ino, st_dev=0x0C, st_nlink=1, st_uid=os.getuid(),
        st_gid=os.getgid(), st_rdev=0, st_size=size, st_blksize=4096, st_blocks=0,
        st_atime=ns // 10**9, st_mtime=ns // 10**9, st_ctime=ns // 10**9,
        st_atime_ns=ns, st_mtime_ns=ns, st_ctime_ns=ns)


class WouldBlock(Exception):
    """The call must wait (a pipe with no data yet): the scheduler runs something else and
    restarts the call. ``deadline`` (time.monotonic()) ends a timed wait; ``fds`` are host
    descriptors whose readiness may end it: readable, or writable for ``~fd``
    (``writable_fd``: a FIFO writer waiting for room)."""

    def __init__(self, deadline: Optional[float] = None, fds: tuple = ()):
        super().__init__()
        self.deadline = deadline
        self.fds = fds


def writable_fd(fd: int) -> int:
    """How a WouldBlock names host descriptor ``fd`` to be waited on until writable."""
    return ~fd


O_PATH = 0o10000000      # the guest's open flag (an O_PATH file neither reads nor writes)
FIFO_RETRY = 0.02       # seconds: a FIFO open or write waiting for the other end tries again


class GuestFileError(OSError):
    def __init__(self, err: int):
        super().__init__(err, os.strerror(err))


class OpenFile:
    """Kernel-side open file description (shared by dup'ed descriptors)."""
    readable = True
    writable = True
    path: str = ""

    def read(self, n: int) -> bytes:
        raise GuestFileError(errno.EBADF)

    def write(self, data: bytes) -> int:
        raise GuestFileError(errno.EBADF)

    def pread(self, n: int, offset: int) -> bytes:
        raise GuestFileError(errno.ESPIPE)

    def pwrite(self, data: bytes, offset: int) -> int:
        raise GuestFileError(errno.ESPIPE)

    def seek(self, offset: int, whence: int) -> int:
        raise GuestFileError(errno.ESPIPE)

    def fstat(self) -> os.stat_result:
        raise GuestFileError(errno.EBADF)

    def isatty(self) -> bool:
        return False

    def readable_bytes(self) -> int:
        return 0

    def close(self) -> None:
        pass

    def dropped(self) -> None:
        """A descriptor of this file closed and references remain (a socket's may all be
        queued in unreachable sockets: vm/linux/sockets.py collects those)."""

    def fsync(self) -> None:
        pass

    def poll(self, events: int) -> int:
        """Ready events now (poll/select); regular files are always ready."""
        return events & (READ_EVENTS | WRITE_EVENTS)

    def wait_fd(self) -> Optional[int]:
        """A host descriptor whose readiness may wake a poll on this file."""
        return None

    status_flags = 0
    # what a read or write of 0 bytes gets once the mode allows it (sys_read _nothing)
    zero_io_error = 0


class PathFile(OpenFile):
    """An O_PATH descriptor of an object that has no host file (a link of the guest's
    /proc opened with O_NOFOLLOW): it names the object, fstat describes it, reading and
    writing are EBADF as on any O_PATH descriptor."""
    readable = writable = False

    def __init__(self, path: str, mode: int):
        self.path = path
        self.stat = synthetic_stat(mode, 0)

    def fstat(self):
        return self.stat


def _dir_path(fd: int, opened_as: str) -> str:
    """The host path of the directory open as ``fd`` now (it may have moved)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return opened_as


class HostFile(OpenFile):
    """A host file or directory opened through the sandbox."""

    regular = False

    def __init__(self, fd: int, path: str, flags: int, readable: bool, writable: bool,
                 fifo_ends: Optional[FifoEnds] = None):
        self.fd = host_fds().take(fd)        # (ENFILE, closed, past the run's share)
        self.path = path
        self.status_flags = flags
        self.readable = readable
        self.writable = writable
        st = os.fstat(fd)
        self.is_dir = stat.S_ISDIR(st.st_mode)
        self.regular = stat.S_ISREG(st.st_mode)    # (what MAP_SHARED maps)
        self.fifo: Optional[tuple] = None      # (st_dev, st_ino) of a FIFO end it counts
        self.fifo_ends = fifo_ends             # ... in its run's count
        if fifo_ends is not None and stat.S_ISFIFO(st.st_mode) and not flags & O_PATH:
            self.fifo = (st.st_dev, st.st_ino)
            fifo_ends.count(self.fifo, readable, writable, 1)
        self._dirpos = 0                       # entries read_dirents has given
        # entries a listing leaves out: (dir fd, its host path, name, d_ino) -> bool
        self.hide: Optional[Callable[[int, str, bytes, int], bool]] = None

    def read(self, n: int) -> bytes:
        if self.is_dir:
            raise GuestFileError(errno.EISDIR)
        if not self.readable:
            raise GuestFileError(errno.EBADF)
        if mapped.spaces and self.regular:      # MAP_SHARED pages of it are the file
            mapped.before_io(self.fd, os.lseek(self.fd, 0, os.SEEK_CUR), n)
        try:
            return os.read(self.fd, n)
        except BlockingIOError:      # a FIFO (open_fifo) with nothing in it yet
            raise GuestFileError(errno.EAGAIN) from None

    # the run's --max-output budget (vm.options.OutputBudget) when it has a limit, set
    # by the open: bytes written to host files and a truncation's growth draw on it, as
    # on stdout (a guest must not fill the disk): EFBIG past it, and the run stops
    budget = None

    def granted(self, data: bytes) -> bytes:
        """What of ``data`` the budget lets be written (EFBIG: none of it)."""
        allowed = self.budget.take(len(data))
        if allowed < len(data):
            if not allowed:
                raise GuestFileError(errno.EFBIG)
            data = data[:allowed]
        return data

    def grow_to(self, length: int) -> None:
        """A truncation to ``length``: what it adds to the file draws on the budget."""
        if self.budget is not None:
            grow = length - os.fstat(self.fd).st_size
            if grow > 0 and self.budget.take(grow) < grow:
                raise GuestFileError(errno.EFBIG)

    def write(self, data: bytes) -> int:
        if not self.writable:
            raise GuestFileError(errno.EBADF)
        if mapped.spaces and data and self.regular:     # MAP_SHARED pages of it see it
            at = os.fstat(self.fd).st_size if appends(self.fd) else \
                os.lseek(self.fd, 0, os.SEEK_CUR)
            mapped.before_io(self.fd, at, len(data))
            n = self._write(data)
            mapped.after_write(self.fd, os.lseek(self.fd, 0, os.SEEK_CUR) - n, n)
            return n
        return self._write(data)

    def _write(self, data: bytes) -> int:
        if self.budget is not None and data:
            return self._budgeted_write(data)
        try:
            return os.write(self.fd, data)
        except BlockingIOError:      # a full FIFO: a short count once some of it fits
            if self.status_flags & O_NONBLOCK:
                raise GuestFileError(errno.EAGAIN) from None
            # a host reader makes room unseen by the guests: the scheduler waits for
            # the descriptor to be writable (a guest reader's progress restarts it too)
            raise WouldBlock(fds=(writable_fd(self.fd),)) from None
        except BrokenPipeError:      # a FIFO with no reader: the caller raises SIGPIPE
            raise GuestFileError(errno.EPIPE) from None

    def _budgeted_write(self, data: bytes) -> int:
        """write() of a regular file drawing on the budget (no FIFO: never blocks); a
        hole it leaves past the end counts too (vm/diskquota.py)."""
        budget = self.budget
        if not appends(self.fd) and not take_all(budget, hole(self.fd)):
            raise GuestFileError(errno.EFBIG)
        if len(data) <= budget.limit - budget.used:
            budget.used += len(data)            # (OutputBudget.take, inline: it fits)
        else:
            data = self.granted(data)
        n = 0
        try:
            n = os.write(self.fd, data)
        finally:
            self.budget.used -= len(data) - n       # a short or failed write gives back
        return n

    def pread(self, n: int, offset: int) -> bytes:
        if mapped.spaces and self.regular:
            mapped.before_io(self.fd, offset, n)
        return os.pread(self.fd, n, offset)

    def pwrite(self, data: bytes, offset: int) -> int:
        if not self.writable:
            raise GuestFileError(errno.EBADF)
        if mapped.spaces and data and self.regular:
            if appends(self.fd):    # (Linux's pwrite appends too: see _pwrite)
                offset = os.fstat(self.fd).st_size
            mapped.before_io(self.fd, offset, len(data))
            n = self._pwrite(data, offset)
            mapped.after_write(self.fd, offset, n)
            return n
        return self._pwrite(data, offset)

    def _pwrite(self, data: bytes, offset: int) -> int:
        if self.budget is None or not data:
            return os.pwrite(self.fd, data, offset)
        # (an O_APPEND descriptor's pwrite appends on Linux, as the host's does: no hole)
        if not appends(self.fd) and not take_all(self.budget, hole(self.fd, offset)):
            raise GuestFileError(errno.EFBIG)
        data = self.granted(data)
        n = 0
        try:
            n = os.pwrite(self.fd, data, offset)
        finally:
            self.budget.used -= len(data) - n
        return n

    def seek(self, offset: int, whence: int) -> int:
        if self.is_dir:
            if whence == os.SEEK_CUR:
                if offset == 0:     # (telling: a re-walk would skip names deleted since)
                    return self._dirpos
                offset += self._dirpos
            elif whence != os.SEEK_SET:
                raise GuestFileError(errno.EINVAL)
            if offset < 0:
                raise GuestFileError(errno.EINVAL)
            self._dir_seek(offset)
            return offset
        return os.lseek(self.fd, offset, whence)

    def fstat(self) -> os.stat_result:
        return os.fstat(self.fd)

    def isatty(self) -> bool:
        return os.isatty(self.fd)

    def readable_bytes(self) -> int:
        st = os.fstat(self.fd)
        if stat.S_ISREG(st.st_mode):
            return max(0, st.st_size - os.lseek(self.fd, 0, os.SEEK_CUR))
        return 0

    def read_dirents(self, count: int) -> bytes:
        """The next entries as getdents64 records of at most ``count`` bytes (b"" at the
        end), read from the host's directory stream (vm/linux/dirents.py: nothing is
        kept); d_off counts the entries given since the start, pyvm's own files are
        left out."""
        if not self.is_dir:
            raise GuestFileError(errno.ENOTDIR)
        from vm.linux.abi import pack_dirent64
        from vm.linux.dirents import BUFFER, DT_UNKNOWN, entries, host_records
        out = bytearray()
        where = None
        while not out:
            raw = host_records(self.fd, min(count, BUFFER))
            if not raw:
                break
            for ino, dtype, name in entries(raw):
                if self.hide is not None:
                    if where is None:
                        where = _dir_path(self.fd, self.path)
                    if self.hide(self.fd, where, name, ino):
                        continue                # pyvm's own files are not the guest's
                if dtype == DT_UNKNOWN:         # (a file system without d_type)
                    try:
                        dtype = dirent_type(os.stat(name, dir_fd=self.fd,
                                                    follow_symlinks=False).st_mode)
                    except OSError:
                        pass
                self._dirpos += 1
                out += pack_dirent64(ino, self._dirpos, dtype, name)
        return bytes(out)

    def _dir_seek(self, n: int) -> None:
        """Put the listing after its first ``n`` entries (d_off counts entries: telldir's
        values, seekdir's lseek). The host stream is read again from its start to the
        n-th entry given: its own positions (hashes on ext4) do not fit an i386
        guest's off_t, and nothing of the listing is kept to look them up in."""
        from vm.linux.dirents import BUFFER, host_records, offsets
        os.lseek(self.fd, 0, os.SEEK_SET)
        self._dirpos = 0
        where = None
        while self._dirpos < n:
            raw = host_records(self.fd, BUFFER)
            if not raw:
                return
            for off, ino, name in offsets(raw):
                if self.hide is not None:
                    if where is None:
                        where = _dir_path(self.fd, self.path)
                    if self.hide(self.fd, where, name, ino):
                        continue
                self._dirpos += 1
                if self._dirpos == n:
                    os.lseek(self.fd, off, os.SEEK_SET)
                    return

    def dir_position(self) -> tuple:
        """Where the listing is (read_dirents), to go back to if its entries cannot be
        given (a bad buffer: EFAULT loses none)."""
        return os.lseek(self.fd, 0, os.SEEK_CUR), self._dirpos

    def set_dir_position(self, where: tuple) -> None:
        os.lseek(self.fd, where[0], os.SEEK_SET)
        self._dirpos = where[1]

    def close(self) -> None:
        if self.fifo is not None:
            self.fifo_ends.count(self.fifo, self.readable, self.writable, -1)
            self.fifo = None
        os.close(self.fd)

    def fsync(self) -> None:
        os.fsync(self.fd)

    def poll(self, events: int) -> int:
        if self.is_dir or stat.S_ISREG(os.fstat(self.fd).st_mode):
            return events & (READ_EVENTS | WRITE_EVENTS)
        return host_poll(self.fd, events)

    def wait_fd(self) -> Optional[int]:
        return self.fd


class HostStream(OpenFile):
    """One of the host's standard streams, used directly: host descriptor ``fd`` as the
    guest's standard descriptor ``std`` (0-2; default: the same number)."""

    def __init__(self, fd: int, std: Optional[int] = None):
        std = fd if std is None else std
        self.fd = fd
        self.readable = std == 0
        self.writable = std != 0
        self.path = {0: "/dev/stdin", 1: "/dev/stdout", 2: "/dev/stderr"}[std]
        self.waits = not is_regular(fd)

    # A stream's file reopened (/dev/stdout...: a new open file description, host
    # descriptor ``fd`` pyvm's own, closed with it) keeps the stream's limits: no
    # ftruncate, no mmap, F_SETFL never clears the host's O_APPEND, --max-output.
    owned = False

    def reopened(self, fd: int, flags: int) -> HostStream:
        """This stream's kind and limits on host descriptor ``fd`` (status ``flags``)."""
        import copy
        new = copy.copy(self)
        new.fd, new.status_flags, new.owned, new.waits = fd, flags, True, not is_regular(fd)
        return new

    def close(self) -> None:
        if self.owned:
            os.close(self.fd)

    def read(self, n: int) -> bytes:
        if self.waits:
            wait_readable(self.fd)
        try:
            return os.read(self.fd, n)
        except OSError as e:
            raise GuestFileError(e.errno or errno.EIO) from None

    def write(self, data: bytes) -> int:
        try:
            if self.waits and self.status_flags & O_NONBLOCK:
                data = nonblocking_chunk(self.fd, data)
            return os.write(self.fd, data)
        except BrokenPipeError:
            raise GuestFileError(errno.EPIPE) from None
        except OSError as e:
            raise GuestFileError(e.errno or errno.EIO) from None

    def seek(self, offset: int, whence: int) -> int:
        try:
            return os.lseek(self.fd, offset, whence)
        except OSError as e:
            raise GuestFileError(e.errno or errno.ESPIPE) from None

    def pread(self, n: int, offset: int) -> bytes:
        return os.pread(self.fd, n, offset)

    def fstat(self) -> os.stat_result:
        return os.fstat(self.fd)

    def isatty(self) -> bool:
        return os.isatty(self.fd)

    def poll(self, events: int) -> int:
        return host_poll(self.fd, events)

    def wait_fd(self) -> Optional[int]:
        return self.fd

    def readable_bytes(self) -> int:
        import fcntl
        import termios
        buf = bytearray(4)
        try:
            fcntl.ioctl(self.fd, termios.FIONREAD, buf)
        except OSError:
            return 0
        return int.from_bytes(buf, "little")


class DeviceFile(OpenFile):
    """/dev/null, /dev/zero, /dev/full and /dev/(u)random, emulated: the guest gets
    their behaviour whatever the host's /dev holds, and writes never reach the host."""

    RDEV = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
            "urandom": (1, 9)}
    random = staticmethod(os.urandom)   # the kernel's deterministic stream once opened

    def __init__(self, name: str, readable: bool, writable: bool):
        self.name = name
        self.path = "/dev/" + name
        self.readable, self.writable = readable, writable
        major, minor = self.RDEV[name]
        self.stat = synthetic_stat(stat.S_IFCHR | 0o666, 1000 + minor)
        self.stat.st_rdev = os.makedev(major, minor)

    def read(self, n: int) -> bytes:
        if not self.readable:
            raise GuestFileError(errno.EBADF)
        if self.name == "null":
            return b""
        if self.name in ("zero", "full"):
            return bytes(n)
        return self.random(n)

    def write(self, data: bytes) -> int:
        if not self.writable:
            raise GuestFileError(errno.EBADF)
        if self.name == "full":
            raise GuestFileError(errno.ENOSPC)
        return len(data)

    def pread(self, n: int, offset: int) -> bytes:
        return self.read(n)

    def pwrite(self, data: bytes, offset: int) -> int:
        return self.write(data)

    def seek(self, offset: int, whence: int) -> int:
        return 0

    def fstat(self):
        return self.stat


def charge(budget, n: int) -> bool:
    """Take ``n`` bytes of kernel buffers (pipe data, socket queues) from the run's
    memory budget, or give them back (n < 0); False, taking nothing, when they do not
    fit."""
    if budget is None:
        return True
    if n > 0 and not budget.allows(n):
        return False
    budget.used += n
    return True


PIPE_CAPACITY = 65536
PIPE_BUF = 4096


def _charged(held: int) -> int:
    """What ``held`` bytes in a pipe take from the budget: all but the first page."""
    return held - PIPE_BUF if held > PIPE_BUF else 0


class Pipe:
    """An in-memory pipe; readers see EOF once every write end is closed. Writers wait
    (EAGAIN, which the system call turns into blocking) while it is full, or while the
    run's memory ``budget`` (vm/linux/addrspace.py MemoryBudget) has no room for the
    bytes: what pipes hold is host memory the guest chose to fill."""

    _next_ino = 1

    def __init__(self, budget=None):
        self.budget = budget
        self.buf = bytearray()
        self.writers = 0
        self.readers = 0
        self.writes = self.reads = 0    # data in, room made: edges for EPOLLET
        Pipe._next_ino += 1
        self.stat = synthetic_stat(stat.S_IFIFO | 0o600, Pipe._next_ino)


class PipeEnd(OpenFile):
    def __init__(self, pipe: Pipe, write: bool):
        self.pipe = pipe
        self.readable = not write
        self.writable = write
        self.path = "pipe:"
        if write:
            pipe.writers += 1
        else:
            pipe.readers += 1

    def read(self, n: int) -> bytes:
        if not self.readable:
            raise GuestFileError(errno.EBADF)
        held = len(self.pipe.buf)
        data = bytes(self.pipe.buf[:n])
        del self.pipe.buf[:n]
        charge(self.pipe.budget, _charged(len(self.pipe.buf)) - _charged(held))
        self.pipe.reads += 1
        if not data and self.pipe.writers:
            raise GuestFileError(errno.EAGAIN)     # would block: the scheduler retries
        return data

    def write(self, data: bytes) -> int:
        if not self.writable:
            raise GuestFileError(errno.EBADF)
        pipe = self.pipe
        if not pipe.readers:
            raise GuestFileError(errno.EPIPE)
        room = PIPE_CAPACITY - len(pipe.buf)
        if room <= 0 or len(data) <= PIPE_BUF and room < len(data):
            raise GuestFileError(errno.EAGAIN)      # full (small writes are atomic)
        held = len(pipe.buf)
        n = min(room, len(data))
        if not charge(pipe.budget, _charged(held + n) - _charged(held)):
            # the run's memory is used up: the first page still goes in (as Linux's
            # first buffer) so that a reader can always progress
            n = PIPE_BUF - held if len(data) > PIPE_BUF else 0
            if n <= 0:
                raise GuestFileError(errno.EAGAIN)
        pipe.buf += data[:n]
        pipe.writes += 1
        return n

    @property
    def generation(self) -> int:
        """Changes whenever a new edge may be due (edge-triggered epoll)."""
        return self.pipe.writes if self.readable else self.pipe.reads

    def readable_bytes(self) -> int:
        return len(self.pipe.buf)

    def poll(self, events: int) -> int:
        pipe = self.pipe
        if self.readable:
            rev = events & READ_EVENTS if pipe.buf else 0
            return rev | (POLLHUP if not pipe.writers else 0)
        if not pipe.readers:
            return POLLERR
        return events & WRITE_EVENTS if PIPE_CAPACITY - len(pipe.buf) >= PIPE_BUF else 0

    def fstat(self):
        return self.pipe.stat

    def close(self) -> None:
        if self.writable:
            self.pipe.writers -= 1
        else:
            self.pipe.readers -= 1
        if not self.pipe.readers and not self.pipe.writers:
            charge(self.pipe.budget, -_charged(len(self.pipe.buf)))
            self.pipe.buf = bytearray()


class FifoEnds:
    """(st_dev, st_ino) of a FIFO -> [readers, writers]: the FIFO ends open in one run's
    guests (HostFile: one per open file description, as Linux counts them); each run
    (vm/linux/kernel.py) has its own, as two guests the Python API runs in one process
    share no FIFO. pyvm opens FIFOs O_NONBLOCK (open_fifo), so the host cannot tell a
    guest reader that a guest writer came: this count does."""

    def __init__(self):
        self.ends: dict = {}
        self.writer_waits = WriterWaits()      # readers waiting for an outside writer

    def count(self, ident: tuple, readable: bool, writable: bool, step: int) -> None:
        ends = self.ends.setdefault(ident, [0, 0])
        ends[0] += step if readable else 0
        ends[1] += step if writable else 0
        if ends == [0, 0]:
            del self.ends[ident]

    def writers(self, ident: tuple) -> int:
        """How many guest open files write the FIFO ``ident`` (its st_dev, st_ino)."""
        return self.ends.get(ident, (0, 0))[1]


def open_fifo(table: FdTable, run_ends: Callable[[], FifoEnds], waiter: int, ident: tuple,
              acc: int, nonblock: bool, opener: Callable[[int], int]) -> int:
    """The host descriptor for a guest's open of a FIFO (``ident``: its st_dev, st_ino)
    with access mode ``acc`` by thread ``waiter`` (its id()). Linux blocks an open for
    reading or writing until the other end is opened (with O_NONBLOCK a reader goes on
    and a writer fails with ENXIO). The host's blocking open would stop every guest process, and the
    other end may be one of them. So the host FIFO is opened O_NONBLOCK (``opener(flag)``
    adds the flag to the open; the description is pyvm's alone, so HostFile's reads and
    writes wait in the scheduler) and the guest's open waits there: a writer tries again
    until a reader is there, a reader keeps its end open (``table.opening``, across the
    call's restarts) until a writer came: a guest's open file writing it (the run's
    FifoEnds, ``run_ends()``; the scheduler restarts the waiting call after any other
    guest's progress), or a writer outside pyvm, which a host thread's blocking open
    sees (vm/linux/fifowait.py; past its limit, data or a hang-up tells)."""
    key = (ident, acc)
    held = table.opening.pop(waiter, None)
    if held is not None and held[0] != key:
        WriterWaits.release(held[2])        # an open that a signal interrupted
        os.close(held[1])
        held = None
    wait = None
    if held is not None and acc != 0:       # a writer waiting for a reader
        _key, path, wait = held
        fd = wait.take() if wait is not None and wait.ended else None
        if fd is None:
            try:
                fd = opener(os.O_NONBLOCK)
            except OSError as e:
                if e.errno != errno.ENXIO:
                    WriterWaits.release(wait)
                    os.close(path)
                    raise
                if wait is not None and wait.ended:     # that reader left: wait again
                    WriterWaits.release(wait)
                    wait = None
                _wait_for_reader(table, run_ends, waiter, key, ident, path, wait)
        else:
            os.set_blocking(fd, False)      # (the thread's open file: pyvm's alone)
        WriterWaits.release(wait)
        os.close(path)
        return fd
    if held is not None:
        _key, fd, wait = held
    else:
        try:
            fd = opener(os.O_NONBLOCK)
        except OSError as e:
            if e.errno == errno.ENXIO and not nonblock:      # no reader yet
                _wait_for_reader(table, run_ends, waiter, key, ident,
                                 opener(O_HOST_PATH), None)
            raise
    if acc == 0 and not nonblock and not run_ends().writers(ident) and \
            not host_poll(fd, POLLIN) and not (wait is not None and wait.came):
        if wait is None:
            wait = run_ends().writer_waits.start(ident, fd)
        table.opening[waiter] = (key, fd, wait)
        raise WouldBlock(fds=(fd,) if wait is None or wait.ended else (fd, wait.fd))
    WriterWaits.release(wait)               # opened: its thread's open is not a reader
    return fd


def _wait_for_reader(table: FdTable, run_ends: Callable[[], FifoEnds], waiter: int,
                     key: tuple, ident: tuple, path: int, wait) -> None:
    """A writer's open waits for a reader: a host thread's blocking open sees one come
    from outside pyvm (vm/linux/fifowait.py ReaderWait), the scheduler restarts the call
    after a guest's progress; without a thread (too many waits) it tries again soon.
    ``path``: the FIFO's O_PATH descriptor, kept in ``table.opening`` with the wait."""
    if wait is None:
        wait = run_ends().writer_waits.start(ident, path, for_reader=True)
    table.opening[waiter] = (key, path, wait)
    if wait is None:
        raise WouldBlock(time.monotonic() + FIFO_RETRY)
    raise WouldBlock(fds=(wait.fd,))


class FdTable:
    """Guest descriptor -> [OpenFile, close-on-exec]. An open file is shared by dup'ed and
    inherited descriptors and released when its last one closes."""

    def __init__(self):
        self.fds: dict = {}
        self.opening: dict = {}         # id(thread) -> a FIFO end its open waits with
        # RLIMIT_NOFILE of the process (vm/linux/process.py sets it): pipes and sockets
        # take no host descriptor, but each is host memory, so a table is bounded
        self.limit: Callable[[], int] = lambda: 1 << 20

    @classmethod
    def with_std_streams(cls, host_fds: Optional[tuple] = None) -> FdTable:
        """Guest fds 0-2 on the host's (or on ``host_fds``: three host descriptors)."""
        t = cls()
        for fd in (0, 1, 2):
            t.install(HostStream(host_fds[fd] if host_fds else fd, fd), fd)
        return t

    def get(self, fd: int) -> OpenFile:
        entry = self.fds.get(fd)
        if entry is None:
            raise GuestFileError(errno.EBADF)
        return entry[0]

    def lowest_free(self, start: int = 0) -> int:
        fd = start
        while fd in self.fds:
            fd += 1
        return fd

    def free_numbers(self, count: int, start: int = 0) -> list:
        """Up to ``count`` of the lowest free numbers from ``start``, below the limit."""
        limit = self.limit()
        out = []
        fd = self.lowest_free(start)
        while len(out) < count and fd < limit:
            out.append(fd)
            fd = self.lowest_free(fd + 1)
        return out

    def reserve(self, count: int = 1, start: int = 0) -> list:
        """The ``count`` numbers a call will install at, or EMFILE. Linux takes a call's
        descriptor numbers (get_unused_fd_flags) before it creates, truncates or dequeues
        anything, so a call refused for want of room has changed nothing: callers reserve
        first and install at the numbers reserved."""
        numbers = self.free_numbers(count, start)
        if len(numbers) < count:
            raise GuestFileError(errno.EMFILE)
        return numbers

    def install(self, f: OpenFile, fd: Optional[int] = None, cloexec: bool = False) -> int:
        """Put ``f`` at ``fd`` (replacing what is there) or at the lowest free number:
        EMFILE when that is past the limit (``f``, if new, is closed). A call that takes
        or makes something before installing reserves its numbers first (reserve())."""
        if fd is None:
            fd = self.lowest_free()
            if fd >= self.limit():
                if not getattr(f, "refs", 0):
                    f.close()
                raise GuestFileError(errno.EMFILE)
        elif fd in self.fds:
            self.close(fd)
        self.fds[fd] = [f, cloexec]
        f.refs = getattr(f, "refs", 0) + 1
        return fd

    def close(self, fd: int) -> None:
        entry = self.fds.pop(fd, None)
        if entry is None:
            raise GuestFileError(errno.EBADF)
        f = entry[0]
        f.refs -= 1
        if not f.refs and (not isinstance(f, HostStream) or f.owned):
            f.close()
        elif f.refs:
            f.dropped()

    def fork(self) -> FdTable:
        t = FdTable()                   # (every descriptor, whatever the limit)
        for fd, (f, cloexec) in self.fds.items():
            t.install(f, fd, cloexec)
        return t

    def exec(self) -> None:
        for fd in [fd for fd, (_f, cloexec) in self.fds.items() if cloexec]:
            self.close(fd)

    def close_all(self) -> None:
        for fd in list(self.fds):
            self.close(fd)
        self.drop_opening()

    def drop_opening(self, waiter: Optional[int] = None) -> None:
        """The FIFO opens still waiting (table.opening; only thread ``waiter``'s, given)
        give up: their ends close, as an open a signal interrupts leaves no reader."""
        for key in [k for k in self.opening if waiter is None or k == waiter]:
            _key, fd, wait = self.opening.pop(key)
            WriterWaits.release(wait)
            os.close(fd)
