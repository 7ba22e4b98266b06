"""Reading a file only when it is private: a regular file (opened without following a
symlink, then checked on the open descriptor, so it cannot be swapped in between) that
belongs to this user. The caches (asm/cachefile.py) and the files kept beside pyvm's
code (formats/beside.py) read their files through here."""

from __future__ import annotations

import os
import stat


def owned_privately(st: os.stat_result, root_ok: bool, others_may_write: bool = False,
                    secret: bool = False) -> bool:
    """``st`` belongs to this user (or root, with ``root_ok``) and, unless
    ``others_may_write``, no group or other may write it; a ``secret`` (a key) no group
    or other may even read, and it has a single link."""
    if secret:
        return st.st_uid == os.getuid() and not st.st_mode & 0o077 and st.st_nlink == 1
    return (st.st_uid == os.getuid() or (root_ok and st.st_uid == 0)) and \
        (others_may_write or not st.st_mode & 0o022)


def make_private_dir(path: str) -> None:
    """Make the directory ``path`` (mode 0700, with its parents) unless it exists, then
    check that it is a directory, not a symlink, of this user's that no group or other
    may write (where files are made, then trusted): PermissionError when it is not,
    OSError when it cannot be made."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not (stat.S_ISDIR(st.st_mode) and owned_privately(st, root_ok=False)):
        raise PermissionError(f"{path}: not a private directory")


def read_private(path: str, root_ok: bool = False, others_may_write: bool = False,
                 secret: bool = False, limit: int = -1) -> bytes:
    """The bytes of ``path`` (at most ``limit``); OSError when it is missing or a
    symlink, PermissionError when it is not a regular file passing
    :func:`owned_privately`."""
    # (O_NONBLOCK: a FIFO put there must not hang the open; O_NOCTTY: nor a terminal
    # become ours)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not (stat.S_ISREG(st.st_mode) and
                owned_privately(st, root_ok, others_may_write, secret)):
            raise PermissionError(f"{path}: not a private file")
        with os.fdopen(fd, "rb") as f:
            fd = -1
            return f.read(limit)
    finally:
        if fd >= 0:
            os.close(fd)
