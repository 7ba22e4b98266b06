"""Writing an output file so that it is never seen half-written: the bytes go to a
temporary file in the same directory, which is then renamed over the output (the
counterpart of inputs.py, for every tool that writes a file).

An output named through a symlink is written where the link points (as NASM and GNU ld
write it): the rename replaces the target, never the link. An output that is not a
regular file (``/dev/stdout``, ``/dev/null``, a FIFO, a terminal) is opened and written
as it is: a rename would put a regular file in its place (as root, ``-o /dev/null``
would replace the system's /dev/null).

A file a run writes while a guest runs (:func:`open_run_output`) is named where the
guest may write: a final link there is followed only to pyvm's own standard output or
error, a FIFO, a terminal or /dev/null (:func:`_output_fd`)."""

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
    pyvm's own standard output or error (``/dev/stdout``, ``/dev/stderr``, even when
    redirected to a file: that descriptor is duplicated, so both write at one offset),
    a FIFO, a terminal or /dev/null. A guest that can write where the output is named
    (its start directory) may have replaced the file with a link to any file or device
    of the user (a disk, /dev/kmsg, /dev/port, /dev/watchdog), which the next run would
    fill with text the guest chose (paths it passed to open(), in a trace)."""
    base = os.O_WRONLY | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(path, base | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o666)
    except OSError as e:
        if e.errno != errno.ELOOP or not os.path.islink(path):
            raise
    # The link's target is looked at through an O_PATH descriptor (which opens no
    # device: opening some, as a watchdog, has effects) and opened only through it, so
    # a link swapped meanwhile changes nothing.
    held = os.open(path, os.O_PATH | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(held)
        own = _own_std_fd(st)
        if own is not None:
            return os.dup(own)
        if not _may_open(st):
            raise OSError(errno.ELOOP, f"a symbolic link to {_kind(st)}, not followed "
                          "(a guest may have made it)", path)
        try:            # non-blocking: a FIFO no process reads is ENXIO, not a hang
            fd = os.open(f"/proc/self/fd/{held}", base | os.O_NONBLOCK)
        except OSError as e:
            if e.errno == errno.ENXIO:
                raise OSError(errno.ENXIO, "a symbolic link to a FIFO no process "
                              "reads, not waited for", path) from None
            raise
    finally:
        os.close(held)
    if stat.S_ISCHR(st.st_mode) and not (_is_dev_null(st) or os.isatty(fd)):
        os.close(fd)
        raise OSError(errno.ELOOP, "a symbolic link to a device, not followed "
                      "(a guest may have made it)", path)
    os.set_blocking(fd, True)
    return fd


# Character devices a followed link may reach before the open checks isatty: Linux's
# terminal majors (pty slaves of old, tty*/ttyS*, /dev/tty and /dev/console, /dev/pts/*)
_TTY_MAJORS = frozenset((3, 4, 5, *range(136, 144)))


def _own_std_fd(st: os.stat_result) -> Optional[int]:
    """1 or 2 when ``st`` is the file pyvm's standard output or error is, else None."""
    for fd in (1, 2):
        try:
            mine = os.fstat(fd)
        except OSError:         # (closed)
            continue
        if (mine.st_dev, mine.st_ino) == (st.st_dev, st.st_ino):
            return fd
    return None


def _is_dev_null(st: os.stat_result) -> bool:
    try:
        null = os.stat(os.devnull)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == null.st_rdev


def _may_open(st: os.stat_result) -> bool:
    """Whether a followed link's target may be opened: a FIFO, /dev/null, a terminal."""
    if stat.S_ISFIFO(st.st_mode):
        return True
    return stat.S_ISCHR(st.st_mode) and (_is_dev_null(st)
                                         or os.major(st.st_rdev) in _TTY_MAJORS)


def _kind(st: os.stat_result) -> str:
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


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
