"""Writing an output file so that it is never seen half-written: the bytes go to a
temporary file in the same directory, which is then renamed over the output (the
counterpart of inputs.py, for every tool that writes a file).

An output named through a symlink is written where the link points (as NASM and GNU ld
write it): the rename replaces the target, never the link. An output that is not a
regular file (``/dev/stdout``, ``/dev/null``, a FIFO, a terminal) is opened and written
as it is: a rename would put a regular file in its place (as root, ``-o /dev/null``
would replace the system's /dev/null)."""

from __future__ import annotations

import os
import stat
import tempfile
from typing import Optional


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str, data: bytes, mode: Optional[int] = None,
                 prefix: str = ".pyvm-") -> None:
    """Replace ``path`` with ``data``. ``mode`` (less the umask) for the new file; None
    keeps the mode of the file being replaced (0666 less the umask for a new one)."""
    try:
        special = not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:             # (none yet, or a dangling link: made where it points)
        special = False
    if special:
        with open(path, "wb") as f:
            f.write(data)
        return
    if os.path.islink(path):
        path = os.path.realpath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if mode is None:
            try:
                mode = os.stat(path).st_mode & 0o777
            except OSError:
                mode = 0o666 & ~_umask()
        else:
            mode &= ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
