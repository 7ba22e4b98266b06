"""RLIMIT_FSIZE, as a guest sets it (setrlimit/prlimit64, a shell's ``ulimit -f``): a
regular file is never written or truncated past it. A write that starts below it is
cut short at it; one that starts at or past it, or a truncation past it, fails with
EFBIG and sends the writing thread SIGXFSZ, whose default action ends the process
(status 153), as Linux's generic_write_check_limits and inode_newsize_ok (a truncation
that shrinks a file, or keeps its size, is allowed whatever the limit). A standard
stream pyvm inherited that is a regular file (``> out``) is one too. Pipes, sockets,
terminals and devices have no size and are left alone. Without it a guest that set
itself a 1000-byte limit (or a script that put ``ulimit -f`` in front of a program it
does not trust) still wrote files up to ``--max-output``, or without bound.

Only limits the guest set are looked at (the process's ``rlimits``): a program that set
none pays nothing."""

from __future__ import annotations

import errno
import os
from typing import Optional

from vm.diskquota import appends
from vm.linux.files import GuestFileError, HostStream

RLIMIT_FSIZE = 1
SIGXFSZ = 25
RLIM_INFINITY = (1 << 64) - 1


def _cap(proc) -> Optional[int]:
    lim = proc.rlimits.get(RLIMIT_FSIZE) if proc.rlimits else None
    return None if lim is None or lim[0] == RLIM_INFINITY else lim[0]


def _refuse(proc) -> GuestFileError:
    proc.kernel.send_signal(proc, SIGXFSZ)
    return GuestFileError(errno.EFBIG)


def _regular(f) -> bool:
    """A guest file that is a regular host file (an inherited standard stream too)."""
    regular = getattr(f, "regular", None)
    if regular is None:
        return isinstance(f, HostStream) and not f.waits    # (waits: not regular)
    return regular


def clip(proc, f, data: bytes, offset: Optional[int] = None) -> bytes:
    """What of ``data`` written to ``f`` at ``offset`` (None: at its position; either
    way at its end when it appends) stays below the limit; EFBIG (and SIGXFSZ) when
    nothing does."""
    cap = _cap(proc)
    if cap is None or not data or not _regular(f) or \
            not getattr(f, "writable", False):      # (EBADF first, as Linux)
        return data
    if appends(f.fd):
        pos = os.fstat(f.fd).st_size
    else:
        pos = os.lseek(f.fd, 0, os.SEEK_CUR) if offset is None else offset
    if pos >= cap:
        raise _refuse(proc)
    return data[:cap - pos]


def cut_short(proc, f) -> None:
    """After sendfile wrote less than it read to ``f``: when the limit cut it, SIGXFSZ
    (Linux's splice loop writes the rest, which fails; a plain write is only cut)."""
    cap = _cap(proc)
    if cap is not None and _regular(f) and os.lseek(f.fd, 0, os.SEEK_CUR) >= cap:
        proc.kernel.send_signal(proc, SIGXFSZ)


def check_length(proc, length: int, size: int = 0) -> None:
    """A truncation of a regular file of ``size`` bytes to ``length``: EFBIG (and
    SIGXFSZ) when it grows the file past the limit (inode_newsize_ok looks at growth
    only)."""
    cap = _cap(proc)
    if cap is not None and length > cap and length > size:
        raise _refuse(proc)


__all__ = ["check_length", "clip", "cut_short"]
