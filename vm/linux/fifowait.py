"""Waiting for a writer outside pyvm to open a FIFO a guest opens for reading, and for
a reader of one a guest opens for writing (ReaderWait).

Linux ends a reader's blocking open of a FIFO when a writer opens it. pyvm opens FIFOs
non-blocking (vm/linux/files.py open_fifo: a blocking open would stop every guest), and
nothing the host tells about that descriptor changes when a writer opens: only its first
byte or its close would be seen, so a writer that waits for the reader to speak first
waited forever. A host thread does the blocking open instead (it returns when a writer
is there), closes what it opened and wakes the scheduler through a pipe.

One thread per FIFO and run (shared by the run's readers of it), at most MAX_WAITERS at
once: past that a reader waits for data or a hang-up as before. When its last reader
gives up (a signal, the process's end, another open) or the run ends, the thread is
cancelled: its open is completed by a writer end of pyvm's own, opened and closed at
once, so that no blocked open outlives the wait and counts as a reader of the FIFO
(a writer's O_NONBLOCK open would succeed where Linux says ENXIO). A ReaderWait's
open is left to finish instead (ReaderWait.cancel): a reader end of pyvm's own would
let an outside writer's own blocked open through.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Optional

from formats.hostflags import O_PATH

MAX_WAITERS = 16
JOIN_SECONDS = 5.0          # a cancelled open ends at once: this only bounds a stuck host
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class _OpenWait:
    """A blocking open of a FIFO, in a thread (WriterWait's and ReaderWait's set-up):
    ``fd`` is readable once the thread ended."""

    def __init__(self, held: int, name: str):
        # the FIFO itself, not whatever descriptor number ``held`` is later
        self._path = os.open(f"/proc/self/fd/{held}", O_PATH | _O_CLOEXEC)
        try:
            self.fd, self._notify = os.pipe2(_O_CLOEXEC)
        except OSError:
            os.close(self._path)
            raise
        self.came = self.ended = self.cancelled = False
        self.users = 0
        self._lock = threading.Lock()       # ended and _path's close, against cancel()
        weakref.finalize(self, os.close, self.fd)
        self._thread = threading.Thread(target=self._wait, daemon=True, name=name)
        try:
            self._thread.start()
        except RuntimeError:        # (no thread to be had: give the descriptors back)
            os.close(self._notify)
            os.close(self._path)
            raise

    def _wait(self) -> None:
        raise NotImplementedError


class WriterWait(_OpenWait):
    """A blocking open for reading of the FIFO an open descriptor holds, in a thread;
    ``fd`` (readable once the thread ended) is what the scheduler waits on, ``came``
    says whether a writer came (False with ``ended``: the open failed or was cancelled).
    ``users``: the guest opens waiting with it (WriterWaits.start/release)."""

    def __init__(self, held: int):
        super().__init__(held, "pyvm-fifo-open")

    def _wait(self) -> None:
        try:
            os.close(os.open(f"/proc/self/fd/{self._path}",
                             os.O_RDONLY | os.O_NOCTTY | _O_CLOEXEC))
            self.came = not self.cancelled
        except OSError:
            pass
        finally:
            with self._lock:
                self.ended = True
                os.close(self._path)
            os.write(self._notify, b"\0")
            os.close(self._notify)

    def cancel(self) -> None:
        """End the thread's open now: both ends of the FIFO opened non-blocking (the
        reader first, so that the writer's open cannot fail with ENXIO whether or not the
        thread's open has begun), kept until the thread ended, then closed."""
        with self._lock:
            if self.ended:
                return
            self.cancelled = True
            ends = []
            for flags in (os.O_RDONLY, os.O_WRONLY):
                try:
                    ends.append(os.open(f"/proc/self/fd/{self._path}",
                                        flags | os.O_NONBLOCK | os.O_NOCTTY | _O_CLOEXEC))
                except OSError:
                    break
        try:
            self._thread.join(JOIN_SECONDS)
        finally:
            for fd in ends:
                os.close(fd)


class ReaderWait(_OpenWait):
    """The writer's side: a guest's blocking open for writing of a FIFO no one reads yet
    (the host's O_NONBLOCK open fails with ENXIO, and nothing tells when a reader
    comes) is a blocking open for writing in a thread, of the FIFO ``path`` (an O_PATH
    descriptor) names. When a reader came, the descriptor it opened is the guest's
    (``take``): closing it and opening another would show that reader a writer that
    came and went, an end of file. ``fd``, ``came``, ``ended`` and ``users`` are
    as WriterWait's."""

    def __init__(self, path: int):
        self._opened: Optional[int] = None      # the writer end, until taken
        super().__init__(path, "pyvm-fifo-open-w")

    def _wait(self) -> None:
        fd = None
        try:
            fd = os.open(f"/proc/self/fd/{self._path}",
                         os.O_WRONLY | os.O_NOCTTY | _O_CLOEXEC)
        except OSError:
            pass
        finally:
            with self._lock:
                self.ended = True
                os.close(self._path)
                if fd is not None and self.cancelled:
                    os.close(fd)
                elif fd is not None:
                    self._opened, self.came = fd, True
            os.write(self._notify, b"\0")
            os.close(self._notify)

    def take(self) -> Optional[int]:
        """The writer end the thread opened (once: the next user opens its own, a
        reader being there), or None."""
        with self._lock:
            fd, self._opened = self._opened, None
        return fd

    def cancel(self) -> None:
        """Give the wait up without opening the FIFO's other end: a reader end of pyvm's
        own would let a writer outside pyvm blocked in its own open through, and what it
        writes be lost (Linux: it keeps waiting). The thread's open is left to finish
        when a reader comes, and closes what it opened then (_wait); a guest open of
        the same FIFO before that takes the wait up again (revive). A writer end nobody
        took is closed now."""
        with self._lock:
            if not self.ended:
                self.cancelled = True
        fd = self.take()
        if fd is not None:
            os.close(fd)

    def revive(self) -> bool:
        """A guest open waits with this cancelled wait again (False: it has ended)."""
        with self._lock:
            if self.ended:
                return False
            self.cancelled = False
            return True


class WriterWaits:
    """The run's WriterWait and ReaderWait per FIFO (st_dev, st_ino) still under way."""

    def __init__(self):
        self.waits: dict = {}

    def start(self, ident: tuple, held: int, for_reader: bool = False):
        """The wait for a writer of FIFO ``ident`` (held open as ``held``), or with
        ``for_reader`` for a reader (``held``: an O_PATH descriptor of it), with one more
        user (give it back with release()): the one under way, a new one, or None (too
        many under way, or no thread to be had)."""
        for key in [k for k, w in self.waits.items() if w.ended]:
            del self.waits[key]             # over: the next open waits afresh
        key = (ident, for_reader)
        wait = self.waits.get(key)
        if for_reader and wait is not None and wait.cancelled and not wait.revive():
            del self.waits[key]             # (it ended meanwhile)
            wait = None
        if wait is None and len(self.waits) < MAX_WAITERS:
            try:
                wait = self.waits[key] = (ReaderWait if for_reader else WriterWait)(held)
            except (OSError, RuntimeError):     # (no descriptors, no thread)
                return None
        if wait is not None:
            wait.users += 1
        return wait

    @staticmethod
    def release(wait: Optional[WriterWait]) -> None:
        """A guest open no longer waits with ``wait`` (it opened, gave up or ended):
        the last one's going cancels the thread. Call it while that open still holds
        its end of the FIFO."""
        if wait is None:
            return
        wait.users -= 1
        if wait.users <= 0:
            wait.cancel()

    def cancel_all(self) -> None:
        """The run ended: no wait of it goes on."""
        waits, self.waits = list(self.waits.values()), {}
        for wait in waits:
            wait.cancel()
