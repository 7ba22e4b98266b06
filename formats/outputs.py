"""Writing an output file so that it is never seen half-written: the bytes go to a
temporary file in the same directory, which is then renamed over the output (the
counterpart of inputs.py, for every tool that writes a file).

An output named through a symlink is written where the link points (as NASM and GNU ld
write it): the rename replaces the target, never the link. An output that is not a
regular file (``/dev/stdout``, ``/dev/null``, a FIFO, a terminal) is opened and written
as it is: a rename would put a regular file in its place (as root, ``-o /dev/null``
would replace the system's /dev/null)."""

from __future__ import annotations

import errno
import os
import stat
from typing import Any, BinaryIO, Optional, TextIO, Union


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temporary(directory: str, prefix: str) -> tuple:
    """(descriptor, path) of a new file (mode 0600) in ``directory``, made as
    tempfile.mkstemp makes it, without importing tempfile (shutil, random, bz2, lzma:
    10-25 ms of a PyPy tool's start-up)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        path = os.path.join(directory, prefix + os.urandom(6).hex())
        try:
            return os.open(path, flags, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", directory)


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
    fd, tmp = _temporary(directory, prefix)
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


def open_run_output(path: str, binary: bool = False, buffering: int = -1) -> Any:
    """A file a run writes while a guest runs (``--trace-file``, ``--serial FILE``,
    ``--port-log``, ``--screen-html``), opened from its start, text in UTF-8 unless
    ``binary`` (its ``name`` is ``path``). Raises OSError (ELOOP: :func:`_output_fd`)."""
    mode = "wb" if binary else "w"
    return open(path, mode, buffering, encoding=None if binary else "utf-8",
                opener=lambda name, _flags: _output_fd(name))


def _output_fd(path: str) -> int:
    """``path`` opened for writing from its start. A final symlink is followed only to
    a file that is not a regular file (``/dev/stdout``, a terminal, a FIFO): a guest
    that can write where the output is named (its start directory) may have replaced
    the file with a link to any file of the user, which the next run would truncate and
    fill with text the guest chose (paths it passed to open(), in a trace). The file
    reached through a link is opened without O_CREAT and O_TRUNC and checked after the
    open, so a link swapped meanwhile changes nothing either."""
    base = os.O_WRONLY | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(path, base | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o666)
    except OSError as e:
        if e.errno != errno.ELOOP or not os.path.islink(path):
            raise
    fd = os.open(path, base)
    if stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.ELOOP, "a symbolic link to a regular file, not followed "
                      "(a guest may have made it)", path)
    return fd


class OutputWriteError(BaseException):
    """A file written while a program runs (``--trace-file``, ``--serial FILE``,
    ``--port-log``) failed: a full disk, an I/O error. The front ends report it in one
    line (``pyvm: PROG: cannot write the trace to FILE: No space left on device``, status
    1). Not an Exception, so that the run loops' ``except Exception`` (a bug in pyvm:
    "internal error") let it pass up, as they let KeyboardInterrupt."""

    def __init__(self, what: str, name: str, error: OSError):
        super().__init__(what, name, error)
        self.what = what
        self.name = name
        self.error = error

    def __str__(self) -> str:
        return f"cannot write {self.what} to {self.name}: {self.error.strerror or self.error}"


class CheckedOutput:
    """A file written during a run whose failures raise :class:`OutputWriteError` (or
    ``error``, one of its kinds); after one it is closed (what its buffer held is dropped;
    never stdin, stdout or stderr) and writes nothing more, so that its owner's close()
    does not fail a second time."""

    def __init__(self, stream: Union[TextIO, BinaryIO], what: str, name: str,
                 error: type = OutputWriteError):
        self.stream: Any = stream
        self.what = what
        self.name = name
        self.error = error

    def write(self, data: Any) -> None:
        try:
            self.stream.write(data)
        except OSError as e:
            self._failed(e)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError as e:
            self._failed(e)

    def close(self) -> None:
        try:
            self.stream.close()
        except OSError as e:
            self._failed(e)

    def _failed(self, error: OSError) -> None:
        stream, self.stream = self.stream, DroppedOutput()
        try:
            if stream.fileno() > 2:
                stream.close()
        except (OSError, ValueError, AttributeError):
            pass
        raise self.error(self.what, self.name, error) from error


class DroppedOutput:
    """The stream of a CheckedOutput that failed."""

    def write(self, data: Any) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
