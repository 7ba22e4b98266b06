"""gdb's host I/O (``vFile:`` packets) on a Linux program's stub: read-only files, as
the program sees them.

gdb reads through it what it would read on the target's machine: the executable (its
sysroot is ``target:``), a dynamic program's libraries, and ``/proc/PID/task/PID/maps``,
where it finds the vDSO's extent (AT_SYSINFO_EHDR alone is not enough: without the maps
gdb loads no vDSO symbols, shows ``??`` in ``__kernel_vsyscall`` and cannot unwind out
of it). Served: the program file named on the command line, or after an exec the one it
runs (the bytes pyvm loaded, from the file it holds open, never its host path opened again:
the guest may have put a symlink there); the guest's own view of
the file system (the sandbox: ``--root``, hidden directories); the followed process's
``/proc/PID/maps`` (and its tasks'), as the guest's procfs makes them. Nothing is
written, created or removed (EACCES); any other /proc file is ENOENT.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import struct
from typing import Callable, Dict, Optional, Union

# gdb's File-I/O errno values (the remote protocol's, not the host's)
_FILEIO_ERRNO = {errno.EPERM: 1, errno.ENOENT: 2, errno.EINTR: 4, errno.EBADF: 9,
                 errno.EACCES: 13, errno.EFAULT: 14, errno.EBUSY: 16, errno.EEXIST: 17,
                 errno.ENODEV: 19, errno.ENOTDIR: 20, errno.EISDIR: 21,
                 errno.EINVAL: 22, errno.ENFILE: 23, errno.EMFILE: 24, errno.EFBIG: 27,
                 errno.ENOSPC: 28, errno.ESPIPE: 29, errno.EROFS: 30,
                 errno.ENAMETOOLONG: 91}
FILEIO_EUNKNOWN = 9999
MAX_OPEN = 64               # descriptors a client may hold
MAX_READ = 0x4000           # bytes per pread reply (PacketSize)
MAX_OFFSET = 1 << 63        # (pread's off_t: one past the largest)
_FIO_STAT = struct.Struct(">IIIIIIIQQQIII")      # gdb's struct fio_stat, big-endian
_MAPS = re.compile(r"/proc/([1-9]\d*)(?:/task/([1-9]\d*))?/maps")   # (no 0 first, as Linux)


def _err(e: int) -> bytes:
    return b"F-1,%x" % _FILEIO_ERRNO.get(e, FILEIO_EUNKNOWN)


class HostIO:
    """The open files of one gdb connection (``proc``: the followed Linux process;
    ``exe``: the host path of the program gdb was told about, ``exe_data``: the bytes
    pyvm loaded from it)."""

    def __init__(self, proc, exe: str, exe_data: Optional[bytes],
                 escape: Callable[[bytes], bytes]):
        self.proc = proc
        self.exe = exe
        self.exe_data = exe_data
        self.escape = escape            # (the stub's binary-data escaping)
        self.files: Dict[int, Union[int, bytes]] = {}   # number -> host fd or contents

    def close_all(self) -> None:
        for f in self.files.values():
            if isinstance(f, int):
                os.close(f)
        self.files.clear()

    def handle(self, body: bytes) -> bytes:
        """One ``vFile:OP:ARGS`` packet (body after ``vFile:``): its F reply; an empty
        reply for an operation not served (gdb then does without it)."""
        op, _, args = body.partition(b":")
        if op == b"setfs":
            return b"F0"
        if op == b"open":
            name, flags, _mode = args.split(b",")
            return self._open(bytes.fromhex(name.decode()).decode("utf-8", "replace"),
                              int(flags, 16))
        if op == b"pread":
            fd, count, offset = (int(x, 16) for x in args.split(b","))
            if count < 0 or not 0 <= offset < MAX_OFFSET:
                return _err(errno.EINVAL)   # (as pread(2): off_t is signed 64-bit)
            return self._pread(fd, count, offset)
        if op == b"close":
            f = self.files.pop(int(args, 16), None)
            if f is None:
                return _err(errno.EBADF)
            if isinstance(f, int):
                os.close(f)
            return b"F0"
        if op == b"fstat":
            return self._fstat(int(args, 16))
        if op in (b"pwrite", b"unlink"):
            return _err(errno.EACCES)
        return b""

    def _open(self, path: str, flags: int) -> bytes:
        if flags:                       # (FILEIO_O_RDONLY is 0: anything else writes)
            return _err(errno.EACCES)
        if len(self.files) >= MAX_OPEN:
            return _err(errno.EMFILE)
        content: Optional[Union[int, bytes]] = None
        try:
            m = _MAPS.fullmatch(path)
            if m is not None:
                content = self._maps(int(m.group(1)), m.group(2))
            elif path.startswith("/proc/"):
                return _err(errno.ENOENT)
            elif path == self.exe and self.exe_data is not None:
                # (what was loaded: the path is the guest's to unlink and replace by a
                # symlink to any host file, pyvm's own /proc/self/mem)
                content = self.exe_data
            else:
                sb = self.proc.sandbox
                # (non-blocking: a FIFO's open would wait for a writer, the stub with it)
                content = sb.open(sb.resolve(path), os.O_RDONLY | os.O_NONBLOCK, 0, path)
            mode = os.fstat(content).st_mode if isinstance(content, int) else 0
            if isinstance(content, int) and not stat.S_ISREG(mode):
                os.close(content)           # (regular files only: no FIFO, socket)
                return _err(errno.EISDIR if stat.S_ISDIR(mode) else errno.EACCES)
        except OSError as e:
            return _err(e.errno or errno.EACCES)
        if content is None:
            return _err(errno.ENOENT)
        n = next(i for i in range(len(self.files) + 1) if i not in self.files)
        self.files[n] = content
        return b"F%x" % n

    def _maps(self, pid: int, tid: Optional[bytes]) -> Optional[bytes]:
        from vm.linux.procfs import _maps
        p = self.proc
        tids = {t.tid for t in (p.group.tasks if p.group is not None else [p])}
        if pid != p.pid or (tid is not None and int(tid) not in tids):
            return None
        return _maps(p)

    def _pread(self, fd: int, count: int, offset: int) -> bytes:
        f = self.files.get(fd)
        if f is None:
            return _err(errno.EBADF)
        count = min(count, MAX_READ)
        if isinstance(f, bytes):
            data = f[offset:offset + count]
        else:
            try:
                data = os.pread(f, count, offset)
            except OSError as e:
                return _err(e.errno or errno.EIO)
        return b"F%x;" % len(data) + self.escape(data)

    def _fstat(self, fd: int) -> bytes:
        f = self.files.get(fd)
        if f is None:
            return _err(errno.EBADF)
        if isinstance(f, bytes):
            raw = _FIO_STAT.pack(0, 0, 0o100444, 1, 0, 0, 0, len(f), 4096, 0, 0, 0, 0)
        else:
            st = os.fstat(f)
            m = lambda v: v & 0xFFFFFFFF     # noqa: E731
            raw = _FIO_STAT.pack(m(st.st_dev), m(st.st_ino), m(st.st_mode), m(st.st_nlink),
                                 0, 0, 0, st.st_size, 4096, (st.st_size + 511) // 512,
                                 m(int(st.st_atime)), m(int(st.st_mtime)),
                                 m(int(st.st_ctime)))
        return b"F%x;" % len(raw) + self.escape(raw)
