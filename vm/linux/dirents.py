"""A host directory's entries read as the kernel hands them out: one host getdents64 a
buffer at a time, from the open directory's own position, so pyvm keeps nothing of a
listing between calls. (Reading the whole listing on the first call and keeping it
with the open file made host memory of every open directory: a guest opening one
directory of 20000 names 500 times held 1.7 GB, past any --memory.)

The records are struct linux_dirent64, the same on the host and for an i386 guest
(d_ino, d_off, d_reclen, d_type, the name; 8-byte aligned)."""

from __future__ import annotations

import errno
import os
import platform
import struct
from typing import Callable, Iterator, Optional, Tuple

HEAD = struct.Struct("<QqHB")           # d_ino d_off d_reclen d_type, then the name
BUFFER = 1 << 16                        # bytes asked of the host per call
DT_UNKNOWN = 0
# the getdents64 system call where the C library does not name it (glibc < 2.30)
_NR_GETDENTS64 = {"x86_64": 217, "aarch64": 61, "riscv64": 61, "i686": 220, "i386": 220}

_host: Optional[Tuple[object, Callable[[int, object, int], int]]] = None


def _host_call() -> Tuple[object, Callable[[int, object, int], int]]:
    """(ctypes, the host's getdents64(fd, buffer, size)), looked up once."""
    global _host
    if _host is None:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        fn = getattr(libc, "getdents64", None)
        if fn is not None:
            fn.restype = ctypes.c_ssize_t
            fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
            call = fn
        else:
            nr = _NR_GETDENTS64.get(platform.machine())
            if nr is None:
                raise OSError(errno.ENOSYS, "getdents64 is not known on this host")
            raw = libc.syscall
            raw.restype = ctypes.c_long

            def call(fd, buf, size, raw=raw, nr=nr):
                return raw(ctypes.c_long(nr), ctypes.c_long(fd), buf, ctypes.c_long(size))
        _host = (ctypes, call)
    return _host


def host_records(fd: int, size: int) -> bytes:
    """One host getdents64 of directory ``fd``: at most ``size`` bytes of records, b""
    at the end (OSError: EINVAL when ``size`` holds no record, as for the guest)."""
    ctypes, call = _host_call()
    buf = ctypes.create_string_buffer(size)             # type: ignore[attr-defined]
    n = call(fd, buf, size)
    if n < 0:
        err = ctypes.get_errno()                          # type: ignore[attr-defined]
        raise OSError(err, os.strerror(err))
    return buf.raw[:n]


def entries(raw: bytes) -> Iterator[Tuple[int, int, bytes]]:
    """(d_ino, d_type, name) of each record of ``raw``."""
    pos = 0
    while pos + HEAD.size <= len(raw):
        ino, _off, reclen, dtype = HEAD.unpack_from(raw, pos)
        if reclen < HEAD.size:
            break
        name = raw[pos + HEAD.size:pos + reclen]
        yield ino, dtype, name[:name.find(b"\0")] if b"\0" in name else name
        pos += reclen


def offsets(raw: bytes) -> Iterator[Tuple[int, int, bytes]]:
    """(d_off, d_ino, name) of each record of ``raw``: d_off is the host position after
    it."""
    pos = 0
    while pos + HEAD.size <= len(raw):
        ino, off, reclen, _dtype = HEAD.unpack_from(raw, pos)
        if reclen < HEAD.size:
            break
        name = raw[pos + HEAD.size:pos + reclen]
        yield off, ino, name[:name.find(b"\0")] if b"\0" in name else name
        pos += reclen
