"""RLIMIT_FSIZE, as a guest sets it (setrlimit/prlimit64, a shell's ``ulimit -f``): a
regular file is never written or truncated past it. A write that starts below it is
cut short at it; one that starts at or past it, or a truncation past it, fails with
EFBIG and sends the writing thread SIGXFSZ, whose default action ends the process
(status 153), as Linux's generic_write_check_limits and inode_newsize_ok. Pipes,
sockets and terminals have no size and are left alone. Without it a guest that set
itself a 1000-byte limit (or a script that put ``ulimit -f`` in front of a program it
does not trust) still wrote files up to ``--max-output``, or without bound.

Only limits the guest set are looked at (the process's ``rlimits``): a program that set
none pays nothing."""

from __future__ import annotations

import errno
import os
from typing import Optional

from vm.diskquota import appends
from vm.linux.files import GuestFileError

RLIMIT_FSIZE = 1
SIGXFSZ = 25
RLIM_INFINITY = (1 << 64) - 1


def _cap(proc) -> Optional[int]:
    lim = proc.rlimits.get(RLIMIT_FSIZE) if proc.rlimits else None
    return None if lim is None or lim[0] == RLIM_INFINITY else lim[0]


def _refuse(proc) -> GuestFileError:
    proc.kernel.send_signal(proc, SIGXFSZ)
    return GuestFileError(errno.EFBIG)


def clip(proc, f, data: bytes, offset: Optional[int] = None) -> bytes:
    """What of ``data`` written to ``f`` at ``offset`` (None: at its position; either
    way at its end when it appends) stays below the limit; EFBIG (and SIGXFSZ) when
    nothing does."""
    cap = _cap(proc)
    if cap is None or not data or not getattr(f, "regular", False) or \
            not getattr(f, "writable", False):      # (EBADF first, as Linux)
        return data
    if appends(f.fd):
        pos = os.fstat(f.fd).st_size
    else:
        pos = os.lseek(f.fd, 0, os.SEEK_CUR) if offset is None else offset
    if pos >= cap:
        raise _refuse(proc)
    return data[:cap - pos]


def check_length(proc, length: int) -> None:
    """A truncation of a regular file to ``length``: EFBIG (and SIGXFSZ) past the
    limit."""
    cap = _cap(proc)
    if cap is not None and length > cap:
        raise _refuse(proc)


__all__ = ["check_length", "clip"]
