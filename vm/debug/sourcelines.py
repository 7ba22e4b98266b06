"""Source lines for ``pyvm --debug`` from a program's DWARF line table (``pyasm -g``,
``gcc -g`` up to DWARF 4): which file and line an address belongs to, where a
``FILE:LINE`` starts, and the text of that line when the source file is at hand."""

from __future__ import annotations

import bisect
import os
import stat
from typing import Optional

from formats.elf import ElfError, read_elf
from formats.elf.dwarfline import line_rows
from formats.hostflags import O_PATH
from formats.inputs import InputError, read_open


class SourceLines:
    def __init__(self, rows: list, program_dir: str = "", bias: int = 0):
        self.program_dir = program_dir
        spans = []                    # (start, end, file, line), one per row of a sequence
        for a, b in zip(rows, rows[1:]):
            if not a.end_sequence and b.address > a.address:
                spans.append((a.address + bias, b.address + bias, a.file, a.line))
        spans.sort()
        self._spans = spans
        self._starts = [s[0] for s in spans]
        self._texts: dict = {}

    @classmethod
    def from_elf(cls, data: bytes, path: str = "", bias: int = 0) -> Optional[SourceLines]:
        """None when the program has no (readable) line table. ``bias``: where a PIE
        was loaded (its table's addresses are relative to 0)."""
        try:
            elf = read_elf(data)
        except (ElfError, ValueError):      # not an ELF program (flat, B32, V16...)
            return None
        sec = elf.section(".debug_line")
        if sec is None:
            return None
        extra = [elf.section(n) for n in (".debug_line_str", ".debug_str")]
        rows = line_rows(bytes(sec.data), *(bytes(x.data) if x is not None else b""
                                             for x in extra))
        table = cls(rows, os.path.dirname(os.path.abspath(path)) if path else "", bias)
        return table if table._spans else None

    def line_at(self, addr: int) -> Optional[tuple]:
        """(file, line) of the instruction at ``addr``, if the table covers it."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0:
            start, end, file, line = self._spans[i]
            if start <= addr < end:
                return file, line
        return None

    def address_of(self, file: str, line: int) -> Optional[int]:
        """Where ``file:line`` starts (as gdb: the next line with code if that one has
        none); the file matches by its name as recorded or by its last component."""
        base = os.path.basename(file)
        best = None
        for start, _end, f, n in self._spans:
            if (f == file or os.path.basename(f) == base) and n >= line:
                key = (n, start)
                if best is None or key < best:
                    best = key
        return best[1] if best is not None else None

    def text(self, file: str, line: int) -> Optional[str]:
        lines = self._texts.get(file)
        if lines is None:
            lines = []
            for where in dict.fromkeys((file, os.path.join(self.program_dir, file))):
                data = _read_source(where)          # (each name once: a path is tried once)
                if data is not None:
                    lines = data.decode("utf-8", "replace").splitlines()
                    break
            self._texts[file] = lines
        return lines[line - 1] if 0 < line <= len(lines) else None


# A source file is text a person wrote: past this it is not one (and not read); the
# program's line table names it, so whatever it names costs at most this.
MAX_SOURCE = 8 << 20
_PSEUDO = ("/proc", "/sys")     # file systems of generated files (sizes 0 or 4096: lies)


def _pseudo_devices() -> set:
    devs = set()
    for top in _PSEUDO:
        try:
            devs.add(os.stat(top).st_dev)
        except OSError:
            pass
    return devs


def _read_source(path: str) -> Optional[bytes]:
    """A source file's bytes, or None. The name comes from the program's line table,
    which whoever made the program wrote: only a regular file is read, at most
    MAX_SOURCE bytes, never a device or a FIFO (``#line 1 "/dev/zero"`` read until
    memory ran out; a FIFO or ``/dev/tty`` hung the debugger) nor a file of /proc or
    /sys (regular files of size 0: ``/proc/self/pagemap`` read 256 MiB), and nothing
    else is opened to find out: the name is looked at through an O_PATH descriptor,
    then opened through it."""
    try:
        held = os.open(path, O_PATH | os.O_CLOEXEC)
    except (OSError, ValueError):
        return None
    try:
        st = os.fstat(held)
        # (a generated file states size 0, also on file systems mounted under /sys or
        # /proc such as tracefs, whose trace_pipe blocks: an empty source shows nothing)
        if not stat.S_ISREG(st.st_mode) or not 0 < st.st_size <= MAX_SOURCE or \
                st.st_dev in _pseudo_devices():
            return None
        with open(f"/proc/self/fd/{held}", "rb") as f:
            return read_open(f, path, st.st_size)
    except (OSError, InputError):
        return None
    finally:
        os.close(held)
