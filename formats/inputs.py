"""Reading an input file with a bound, for every tool (pyasm, pyld, pyvm, pyvm-tools).

No input may exceed MAX_INPUT (256 MiB): a regular file beyond it is refused from its size
before anything is read, and anything else (a pipe, ``/dev/stdin``, a device such as
``/dev/zero`` that never ends) is read up to one byte past the limit, then refused. The
tools report the InputError as one line, ``TOOL: PATH: message``, with exit status 1.
"""

from __future__ import annotations

import os
import stat

MAX_INPUT = 256 << 20
_CHUNK = 1 << 20


class InputError(Exception):
    """An input that cannot be used: too large (or a directory). ``str()`` is the reason
    without the path; ``path`` names the file."""

    def __init__(self, path: str, reason: str):
        super().__init__(reason)
        self.path = path
        self.reason = reason


def _size_text(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and not n & ((1 << 20) - 1) else f"{n} bytes"


def read_input(path: str, limit: int = MAX_INPUT) -> bytes:
    """The bytes of ``path``, at most ``limit`` of them. Raises InputError for a larger
    input or a directory, and OSError (unchanged) when the file cannot be opened or read."""
    with open(path, "rb") as f:
        return read_open(f, path, limit)


def read_open(f, path: str, limit: int = MAX_INPUT) -> bytes:
    """read_input for a file the caller opened (and keeps, e.g. to write back to it)."""
    st = os.fstat(f.fileno())
    if stat.S_ISDIR(st.st_mode):
        raise InputError(path, "is a directory")
    if stat.S_ISREG(st.st_mode) and st.st_size > limit:
        raise InputError(path, f"file too large: {st.st_size} bytes, more than the "
                               f"{_size_text(limit)} an input may have")
    if stat.S_ISREG(st.st_mode):
        # sized by the file: read(limit + 1) would first allocate 256 MiB (0.15 s a
        # file under PyPy); a file that grew since fstat is read on up to the limit
        data = f.read(st.st_size + 1)
        if len(data) > st.st_size:
            data += f.read(limit + 1 - len(data))
    else:       # a pipe or a device: its size says nothing, read in chunks
        chunks, total = [], 0
        while total <= limit:
            chunk = f.read(min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            chunks.clear()
            data = None
        else:
            data = b"".join(chunks)
    if data is None or len(data) > limit:
        raise InputError(path, f"input too large: more than the {_size_text(limit)} an "
                               "input may have (not a regular file, or it grew)")
    return data


def decode_source(data: bytes) -> str:
    """Source text as ``open(path, encoding='utf-8', errors='surrogateescape')`` reads it
    (universal newlines: CR LF and CR become LF)."""
    text = data.decode("utf-8", "surrogateescape")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def read_source(path: str, limit: int = MAX_INPUT) -> str:
    """A source file's text, bounded as read_input."""
    return decode_source(read_input(path, limit))
