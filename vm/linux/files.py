"""Open files of a guest process: host files and directories, the standard streams and
in-memory pipes, behind one small interface, plus the descriptor table."""

from __future__ import annotations

import errno
import os
import stat
from typing import Optional

from vm.linux.abi import dirent_type


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

    def getdents(self) -> Optional[list]:
        raise GuestFileError(errno.ENOTDIR)

    def close(self) -> None:
        pass

    def fsync(self) -> None:
        pass

    status_flags = 0


class HostFile(OpenFile):
    """A host file or directory opened through the sandbox."""

    def __init__(self, fd: int, path: str, flags: int, readable: bool, writable: bool):
        self.fd = fd
        self.path = path
        self.status_flags = flags
        self.readable = readable
        self.writable = writable
        self.is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
        self._entries: Optional[list] = None
        self._dirpos = 0

    def read(self, n: int) -> bytes:
        if self.is_dir:
            raise GuestFileError(errno.EISDIR)
        if not self.readable:
            raise GuestFileError(errno.EBADF)
        return os.read(self.fd, n)

    def write(self, data: bytes) -> int:
        if not self.writable:
            raise GuestFileError(errno.EBADF)
        return os.write(self.fd, data)

    def pread(self, n: int, offset: int) -> bytes:
        return os.pread(self.fd, n, offset)

    def pwrite(self, data: bytes, offset: int) -> int:
        if not self.writable:
            raise GuestFileError(errno.EBADF)
        return os.pwrite(self.fd, data, offset)

    def seek(self, offset: int, whence: int) -> int:
        if self.is_dir:
            if whence == 0 and offset == 0:
                self._entries, self._dirpos = None, 0
                return 0
            raise GuestFileError(errno.EINVAL)
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

    def getdents(self) -> list:
        """Remaining (ino, d_type, name) entries, '.' and '..' first as the kernel does."""
        if not self.is_dir:
            raise GuestFileError(errno.ENOTDIR)
        if self._entries is None:
            entries = []
            for name in (".", ".."):
                st = os.stat(os.path.join(self.path, name))
                entries.append((st.st_ino, 4, name.encode()))
            with os.scandir(self.fd) as it:
                for e in it:
                    try:
                        mode = e.stat(follow_symlinks=False).st_mode
                    except OSError:
                        mode = 0
                    entries.append((e.inode(), dirent_type(mode), os.fsencode(e.name)))
            self._entries = entries
        return self._entries

    def close(self) -> None:
        os.close(self.fd)

    def fsync(self) -> None:
        os.fsync(self.fd)


class HostStream(OpenFile):
    """One of the host's standard streams (fds 0-2), used directly."""

    def __init__(self, fd: int):
        self.fd = fd
        self.readable = fd == 0
        self.writable = fd != 0
        self.path = {0: "/dev/stdin", 1: "/dev/stdout", 2: "/dev/stderr"}[fd]

    def read(self, n: int) -> bytes:
        try:
            return os.read(self.fd, n)
        except OSError as e:
            raise GuestFileError(e.errno or errno.EIO) from None

    def write(self, data: bytes) -> int:
        try:
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

    def readable_bytes(self) -> int:
        import fcntl
        import termios
        buf = bytearray(4)
        try:
            fcntl.ioctl(self.fd, termios.FIONREAD, buf)
        except OSError:
            return 0
        return int.from_bytes(buf, "little")


class Pipe:
    """An in-memory pipe; readers see EOF once every write end is closed."""

    def __init__(self):
        self.buf = bytearray()
        self.writers = 0
        self.readers = 0


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
        data = bytes(self.pipe.buf[:n])
        del self.pipe.buf[:n]
        if not data and self.pipe.writers:
            raise GuestFileError(errno.EAGAIN)     # would block: the scheduler retries
        return data

    def write(self, data: bytes) -> int:
        if not self.writable:
            raise GuestFileError(errno.EBADF)
        if not self.pipe.readers:
            raise GuestFileError(errno.EPIPE)
        self.pipe.buf += data
        return len(data)

    def readable_bytes(self) -> int:
        return len(self.pipe.buf)

    def fstat(self) -> os.stat_result:
        return os.stat_result((stat.S_IFIFO | 0o600, 0, 0, 1, os.getuid(), os.getgid(), 0, 0,
                               0, 0))

    def close(self) -> None:
        if self.writable:
            self.pipe.writers -= 1
        else:
            self.pipe.readers -= 1


class FdTable:
    """Guest descriptor -> [OpenFile, close-on-exec]. An open file is shared by dup'ed and
    inherited descriptors and released when its last one closes."""

    def __init__(self):
        self.fds: dict = {}

    @classmethod
    def with_std_streams(cls) -> FdTable:
        t = cls()
        for fd in (0, 1, 2):
            t.install(HostStream(fd), fd)
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

    def install(self, f: OpenFile, fd: Optional[int] = None, cloexec: bool = False) -> int:
        if fd is None:
            fd = self.lowest_free()
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
        if not f.refs and not isinstance(f, HostStream):
            f.close()

    def fork(self) -> FdTable:
        t = FdTable()
        for fd, (f, cloexec) in self.fds.items():
            t.install(f, fd, cloexec)
        return t

    def exec(self) -> None:
        for fd in [fd for fd, (_f, cloexec) in self.fds.items() if cloexec]:
            self.close(fd)

    def close_all(self) -> None:
        for fd in list(self.fds):
            self.close(fd)
