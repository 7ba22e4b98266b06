"""The PC's console on the host: the keyboard is stdin, the screen is stdout.

Output bytes pass through unchanged (a DOS program's CR LF reaches the host as CR LF).
Keyboard reads map the host's line ends to the Enter key (CR): a lone LF or CR LF
becomes one CR. A keyboard check ("is a key waiting?") waits for input when stdin is a
pipe or a file, as if everything had been typed ahead, so runs are deterministic; on a
terminal it does not wait.
"""

from __future__ import annotations

import select
from typing import BinaryIO, Optional

CR, LF = 0x0D, 0x0A


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


class Console:
    def __init__(self, stdin: BinaryIO, stdout: BinaryIO, stderr: BinaryIO):
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.tty = _isatty(stdin)
        self.pending = bytearray()      # read from stdin, not yet consumed
        self.eof = False
        self._skip_lf = False           # the LF of a CR LF already returned as Enter
        self.autoflush = False          # flush every write (set while tracing)

    # -- screen ------------------------------------------------------------------------------
    def write(self, data: bytes, stream: Optional[BinaryIO] = None) -> None:
        """Output to stdout (or stderr, after what stdout holds, to keep the order).
        Stdout is flushed before input is read, when stderr is written and at the end."""
        try:
            if stream is None or stream is self.stdout:
                self.stdout.write(data)
                if self.autoflush:
                    self.stdout.flush()
            else:
                self.flush()
                stream.write(data)
                stream.flush()
        except (OSError, ValueError):
            # e.g. nobody reads the output any more: the program runs on quietly
            pass

    def flush(self) -> None:
        try:
            self.stdout.flush()
        except (OSError, ValueError):
            pass

    @property
    def echo(self) -> bool:
        """DOS echoes what it reads from the keyboard; a terminal already did."""
        return not self.tty

    # -- keyboard ----------------------------------------------------------------------------
    def _fill(self, wait: bool) -> bool:
        """Make sure pending holds a byte; False at end of input (or, when not waiting on
        a terminal, when nothing has been typed)."""
        if self.pending:
            return True
        if self.eof:
            return False
        self.flush()                    # a prompt must be out before we wait for input
        if not wait and self.tty:
            try:
                ready, _, _ = select.select([self.stdin], [], [], 0)
            except (OSError, ValueError, TypeError):
                ready = [True]
            if not ready:
                return False
        try:
            # more than a buffered reader holds, so nothing is left in its buffer that
            # select() (ready()) cannot see
            read1 = getattr(self.stdin, "read1", None)
            data = read1(1 << 16) if read1 is not None else self.stdin.read(1)
        except (OSError, ValueError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.pending += data
        return True

    def _key_byte(self, wait: bool, consume: bool) -> Optional[int]:
        while True:
            if not self._fill(wait):
                return None
            b = self.pending[0]
            if b == LF and self._skip_lf:
                self._skip_lf = False
                del self.pending[0]
                continue
            if consume:
                del self.pending[0]
                self._skip_lf = b == CR
            return CR if b == LF else b

    def read_key(self) -> Optional[int]:
        """The next key (waits); None at the end of input."""
        return self._key_byte(True, True)

    def peek_key(self) -> Optional[int]:
        """The key waiting to be read, without reading it; None if there is none."""
        return self._key_byte(not self.tty, False)

    def read_line(self, limit: int) -> tuple:
        """A line of keys up to Enter: (bytes without the CR, saw Enter). Keys beyond
        ``limit`` are dropped, as DOS beeps and ignores them."""
        out = bytearray()
        while True:
            k = self.read_key()
            if k is None:
                return bytes(out), False
            if k == CR:
                return bytes(out), True
            if k == 8 and out:          # backspace edits the line
                out.pop()
            elif len(out) < limit:
                out.append(k)

    def ready(self) -> bool:
        """Input can be read without waiting (a device polling its line: a UART's LSR,
        the 8042's status): buffered bytes, end of input, or a readable stdin."""
        if self.pending or self.eof:
            return True
        try:
            readable, _, _ = select.select([self.stdin], [], [], 0)
        except (OSError, ValueError, TypeError):
            return True                 # not a real descriptor (a test's BytesIO)
        return bool(readable)

    def wait_input(self) -> None:
        """Block until stdin has something to read (or has ended)."""
        if self.pending or self.eof:
            return
        self.flush()
        try:
            select.select([self.stdin], [], [])
        except (OSError, ValueError, TypeError):
            pass

    def poll_byte(self) -> Optional[int]:
        """The next raw input byte if one can be had without waiting, else None."""
        if not self.ready() or not self._fill(False):
            return None
        b = self.pending[0]
        del self.pending[0]
        return b

    def poll_key(self) -> Optional[int]:
        """The next key if one can be had without waiting, else None."""
        if not self.ready():
            return None
        return self.read_key()

    def read(self, n: int) -> bytes:
        """Raw bytes for a handle read (no line-end mapping); b'' at end of input."""
        if n <= 0 or not self._fill(True):
            return b""
        self._skip_lf = False
        data = bytes(self.pending[:n])
        del self.pending[:n]
        return data


def host_streams(stdin=None, stdout=None, stderr=None) -> tuple:
    """The binary host streams, defaulting to the process's own (an empty input or a
    sink where the process has none, e.g. started with stdin closed)."""
    import io
    import sys

    def own(given, stream, empty):
        if given is not None:
            return given
        return getattr(stream, "buffer", None) or empty()

    return (own(stdin, sys.stdin, io.BytesIO), own(stdout, sys.stdout, io.BytesIO),
            own(stderr, sys.stderr, io.BytesIO))

