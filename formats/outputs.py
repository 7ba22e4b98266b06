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
error, a FIFO, pyvm's own terminal or /dev/null, and a link among its directories only
where no guest can have made it (:func:`_output_fd`)."""

from __future__ import annotations

import errno
import io
import os
import stat
from typing import Any, BinaryIO, Optional, TextIO, Union

from formats.hostflags import O_PATH


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


def open_run_output(path: str, binary: bool = False, buffering: int = -1,
                    budget: Any = None) -> Any:
    """A file a run writes while a guest runs (``--trace-file``, ``--serial FILE``,
    ``--port-log``, ``--screen-html``), opened from its start, text in UTF-8 unless
    ``binary`` (its ``name`` is ``path``). Raises OSError (ELOOP: :func:`_output_fd`).
    ``budget`` (vm.options.OutputBudget: ``take(n)`` grants what fits): the bytes that
    reach the file draw on it, so that a guest cannot make the file fill the disk."""
    mode = "wb" if binary else "w"
    if budget is None or getattr(budget, "limit", 0) is None:
        return open(path, mode, buffering, encoding=None if binary else "utf-8",
                    opener=lambda name, _flags: _output_fd(name))
    raw = _BoundedFile(_output_fd(path), path, budget)
    if buffering == 0 and binary:
        return raw
    stream: Any = io.BufferedWriter(raw)
    if not binary:
        stream = io.TextIOWrapper(stream, encoding="utf-8", line_buffering=buffering == 1)
    return stream


class _BoundedFile(io.RawIOBase):
    """A run output's descriptor whose writes draw on a budget: what it does not grant
    is dropped (the budget stops the run), counted as written so that no buffer above
    keeps retrying it."""

    def __init__(self, fd: int, name: str, budget: Any):
        super().__init__()
        self._file = io.FileIO(fd, "wb")
        self.name = name
        self.budget = budget

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._file.fileno()

    def isatty(self) -> bool:
        return self._file.isatty()

    def write(self, data: Any) -> int:
        n = len(data)
        view = memoryview(data)[:self.budget.take(n)]
        while view:
            done = self._file.write(view)
            view = view[done or 0:]
        return n

    def close(self) -> None:
        if not self.closed:
            try:
                self._file.close()
            finally:
                super().close()


def _output_fd(path: str) -> int:
    """``path`` opened for writing from its start. A final symlink is followed only to
    pyvm's own standard output or error (``/dev/stdout``, ``/dev/stderr``, even when
    redirected to a file: that descriptor is duplicated, so both write at one offset),
    a FIFO, pyvm's own terminal or /dev/null. A guest that can write where the output is
    named (its start directory) may have replaced the file with a link to any file or
    device of the user (a disk, /dev/kmsg, /dev/port, /dev/watchdog, another terminal of
    the user's), which the next run would fill with text the guest chose (paths it passed
    to open(), in a trace); or a directory of the path with a link to any directory
    (:func:`parent_fd`)."""
    base = os.O_WRONLY | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    parent, name = parent_fd(path)
    try:
        try:
            return os.open(name, base | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o666,
                           dir_fd=parent)
        except OSError as e:
            if e.errno != errno.ELOOP or not stat.S_ISLNK(
                    os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
                raise
        # The link's target is looked at through an O_PATH descriptor (which opens no
        # device: opening some, as a watchdog, has effects) and opened only through it,
        # so a link swapped meanwhile changes nothing.
        held = os.open(name, O_PATH | getattr(os, "O_CLOEXEC", 0), dir_fd=parent)
    finally:
        os.close(parent)
    try:
        st = os.fstat(held)
        own = _own_std_fd(st)
        if own is not None:
            return os.dup(own)
        if not _may_open(st):
            what = "a terminal not pyvm's" if _is_tty_device(st) else _kind(st)
            raise OSError(errno.ELOOP, f"a symbolic link to {what}, not followed "
                          "(a guest may have made it)", path)
        try:            # non-blocking: a FIFO no process reads is ENXIO, not a hang
            fd = os.open(f"/proc/self/fd/{held}", base | os.O_NONBLOCK)
        except OSError as e:
            if e.errno == errno.ENXIO and stat.S_ISFIFO(st.st_mode):
                raise OSError(errno.ENXIO, "a symbolic link to a FIFO no process "
                              "reads, not waited for", path) from None
            if e.errno == errno.ENXIO:          # /dev/tty of a process without one
                raise OSError(errno.ENXIO, "a symbolic link to /dev/tty, and pyvm has "
                              "no controlling terminal", path) from None
            raise
    finally:
        os.close(held)
    if stat.S_ISCHR(st.st_mode) and not (_is_dev_null(st) or os.isatty(fd)):
        os.close(fd)
        raise OSError(errno.ELOOP, "a symbolic link to a device, not followed "
                      "(a guest may have made it)", path)
    os.set_blocking(fd, True)
    return fd


def parent_fd(path: str) -> tuple:
    """(descriptor of the directory ``path`` names its file in, the file's name). The
    directories are walked one by one, and a symbolic link among them is followed only
    where no guest of this user can have made it (:func:`_link_trusted`): on a pseudo
    file system (``/proc/self``, ``/dev/fd``: bash's ``>(...)``), or in a directory
    pyvm's user neither owns nor may write (``/var/run`` -> ``/run`` for a user). A
    directory the user owns is the guest's too even when read-only: the guest, running
    as that user, can plant ``dir -> ~/.ssh`` and chmod the directory 0555 before the
    next run's ``--trace-file dir/trace.txt``. Any other link is refused (ELOOP) with a
    message that names it and asks for the resolved path (as root, ``/var/run/x``)."""
    flags = O_PATH | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
    head, name = os.path.split(path)
    if not name:
        raise OSError(errno.EISDIR, "a directory, not a file", path)
    fd = os.open("/" if os.path.isabs(path) else ".", flags)
    walked = "/" if os.path.isabs(path) else ""
    try:
        for part in [p for p in head.split("/") if p]:
            walked = os.path.join(walked, part)
            try:
                nxt = os.open(part, flags | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR) or not stat.S_ISLNK(
                        os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode):
                    raise
                if not _link_trusted(fd):
                    raise OSError(errno.ELOOP, f"{walked} is a symbolic link a guest may "
                                  "have made, not followed: give the resolved path "
                                  f"({os.path.realpath(path)})", path) from None
                nxt = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd, name


# File systems whose entries no guest can make: their links are the kernel's
_PSEUDO_TOPS = ("/proc", "/dev", "/sys")


def _link_trusted(parent: int) -> bool:
    """Whether a symbolic link in directory ``parent`` (an O_PATH descriptor) was made by
    no guest: the directory is on a pseudo file system and writable by its owner alone
    (not a /dev/shm that is no mount of its own), or pyvm's user neither owns it (an
    owner can chmod it writable again) nor may write it (root may write anywhere)."""
    st = os.fstat(parent)
    for top in _PSEUDO_TOPS:
        try:
            if os.stat(top).st_dev == st.st_dev and not st.st_mode & 0o022:
                return True
        except OSError:
            continue
    if st.st_uid == os.geteuid():
        return False
    return not os.access(f"/proc/self/fd/{parent}", os.W_OK)


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
    """Whether a followed link's target may be opened: a FIFO, /dev/null, pyvm's own
    terminal (/dev/tty, or the one its standard input, output or error is)."""
    if stat.S_ISFIFO(st.st_mode):
        return True
    return stat.S_ISCHR(st.st_mode) and (_is_dev_null(st) or _is_our_terminal(st))


def _is_tty_device(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) in _TTY_MAJORS


def _is_our_terminal(st: os.stat_result) -> bool:
    """A terminal, and pyvm's: /dev/tty (each process's own controlling terminal) or the
    device of a standard stream that is a terminal. Another terminal of the same user
    (a second login's /dev/pts/N) would show the guest's text to that session."""
    if not _is_tty_device(st):
        return False
    if st.st_rdev == os.makedev(5, 0):
        return True
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd) and os.fstat(fd).st_rdev == st.st_rdev:
                return True
        except OSError:         # (closed)
            continue
    return False


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
