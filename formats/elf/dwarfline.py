"""The rows of a DWARF ``.debug_line`` section (versions 2 to 5), decoded as a consumer
sees them: ``(address, file name, line, end_sequence)``.

Enough for a debugger to map addresses to source lines and back: the line-number state
machine with every standard and extended opcode (unknown standard opcodes are skipped by
their declared operand counts), and DWARF 5's described directory and file tables (names
inline or in ``.debug_line_str``/``.debug_str``). 64-bit DWARF is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from .tables import ENCODING, ERRORS

# The section is the program's, whoever made it: what one may make a consumer hold is
# bounded. Rows, file and directory entries together: at most this many (a table of
# more is cut there, as a malformed one is; gcc -g of a 100,000-line program makes
# ~150,000 rows), else each byte of a 256 MiB section could be a row (a special opcode)
# or a file entry (DWARF 5, with no content described). And a LEB128 number keeps only
# its low 64 bits: a run of continuation bytes was a number of millions of bits, each
# byte shifted in at a cost growing with it (1 MB: ~100 s; quadratic).
MAX_ITEMS = 1 << 20
_LEB_BITS = 64
_LEB_MASK = (1 << _LEB_BITS) - 1


@dataclass(frozen=True)
class LineRow:
    address: int
    file: str
    line: int
    end_sequence: bool = False


class _Reader:
    def __init__(self, data: bytes, pos: int, end: int, room: int = MAX_ITEMS):
        self.data, self.pos, self.end = data, pos, end
        self.room = room                # rows and table entries this reader may still make

    def take(self) -> None:
        """Count one more row or entry (ValueError past MAX_ITEMS: decoding ends)."""
        if self.room <= 0:
            raise ValueError("line table too large")
        self.room -= 1

    def u(self, n: int) -> int:
        if self.pos + n > self.end:
            raise ValueError("truncated")
        v = int.from_bytes(self.data[self.pos:self.pos + n], "little")
        self.pos += n
        return v

    def s8(self) -> int:
        v = self.u(1)
        return v - 256 if v & 0x80 else v

    def uleb(self) -> int:
        result = shift = 0
        while True:
            b = self.u(1)
            if shift < _LEB_BITS:
                result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result & _LEB_MASK

    def sleb(self) -> int:
        """As readelf: the low 64 bits, sign-extended from the last byte's bit 6 when
        the number ends within them, read as a signed 64-bit value (a padded -1 of 11
        bytes is -1)."""
        result = shift = 0
        while True:
            b = self.u(1)
            if shift < _LEB_BITS:
                result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        if shift < _LEB_BITS and b & 0x40:
            result -= 1 << shift
        result &= _LEB_MASK
        return result - (1 << _LEB_BITS) if result >> (_LEB_BITS - 1) else result

    def cstr(self) -> str:
        stop = self.data.find(b"\0", self.pos, self.end)
        if stop < 0:
            raise ValueError("unterminated string")
        text = self.data[self.pos:stop].decode(ENCODING, ERRORS)
        self.pos = stop + 1
        return text


def line_rows(data: bytes, line_str: bytes = b"", strings: bytes = b"") -> list[LineRow]:
    """Every row of every (supported) unit, in section order; ``line_str`` and ``strings``
    are the ``.debug_line_str`` and ``.debug_str`` contents DWARF 5 names may point
    into. Malformed units end the decoding quietly: what was decoded before is kept."""
    rows: list[LineRow] = []
    pos = 0
    room = MAX_ITEMS
    while pos + 4 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "little")
        if length >= 0xFFFFFFF0:
            break                                   # 64-bit DWARF: not for i386 programs
        end = min(pos + 4 + length, len(data))
        r = _Reader(data, pos + 4, end, room)
        try:
            _unit(r, rows, line_str, strings)
        except ValueError:
            break
        room = r.room
        pos = end
    return rows


def _unit(r: _Reader, rows: list[LineRow], line_str: bytes, strings: bytes) -> None:
    version = r.u(2)
    if version not in (2, 3, 4, 5):
        return
    if version >= 5:
        r.u(2)                                      # address_size, segment_selector_size
    header_length = r.u(4)
    program = r.pos + header_length
    min_inst = r.u(1)
    if version >= 4:
        r.u(1)                                      # maximum_operations_per_instruction
    default_is_stmt = r.u(1)
    del default_is_stmt
    line_base = r.s8()
    line_range = r.u(1) or 1
    opcode_base = r.u(1)
    lengths = [r.u(1) for _ in range(opcode_base - 1)]
    if version >= 5:
        dirs = [_text(e.get(_DW_LNCT_PATH)) for e in _entries(r, line_str, strings)]
        files = [_join(dirs, _int(e.get(_DW_LNCT_DIRECTORY_INDEX)),
                       _text(e.get(_DW_LNCT_PATH)))
                 for e in _entries(r, line_str, strings)]
    else:
        dirs = [""]
        while True:
            d = r.cstr()
            if not d:
                break
            r.take()
            dirs.append(d)
        files = [""]
        while True:
            name = r.cstr()
            if not name:
                break
            r.take()
            files.append(_join(dirs, r.uleb(), name))
            r.uleb()
            r.uleb()
    r.pos = program
    address, file, line = 0, 1, 1

    def emit(end: bool = False) -> None:
        r.take()
        rows.append(LineRow(address, files[file] if file < len(files) else "", line, end))

    while r.pos < r.end:
        op = r.u(1)
        if op >= opcode_base:
            adj = op - opcode_base
            address += (adj // line_range) * min_inst
            line += line_base + adj % line_range
            emit()
        elif op == 0:
            size = r.uleb()
            stop = r.pos + size
            sub = r.u(1) if size else 0
            if sub == 1:
                emit(True)
                address, file, line = 0, 1, 1
            elif sub == 2:
                address = r.u(size - 1)
            elif sub == 3:
                name = r.cstr()
                r.take()
                files.append(_join(dirs, r.uleb(), name))
            r.pos = stop
        elif op == 1:
            emit()
        elif op == 2:
            address += r.uleb() * min_inst
        elif op == 3:
            line += r.sleb()
        elif op == 4:
            file = r.uleb()
        elif op == 8:
            address += ((255 - opcode_base) // line_range) * min_inst
        elif op == 9:
            address += r.u(2)
        else:                                       # 5, 6, 7, 10, 11, 12 and unknown ones
            for _ in range(lengths[op - 1] if op - 1 < len(lengths) else 0):
                r.uleb()
        address &= 0xFFFFFFFF


_DW_LNCT_PATH, _DW_LNCT_DIRECTORY_INDEX = 1, 2
_FIXED_FORMS = {0x0B: 1, 0x05: 2, 0x06: 4, 0x07: 8, 0x1E: 16, 0x11: 1, 0x12: 2, 0x13: 4,
                0x14: 8, 0x25: 1, 0x26: 2, 0x27: 3, 0x28: 4, 0x29: 1, 0x2A: 2, 0x2B: 3,
                0x2C: 4}    # data1/2/4/8/16, ref*, strx1-4, addrx1-4


def _entries(r: _Reader, line_str: bytes, strings: bytes) -> list:
    """A DWARF 5 directory or file table: ``{content type: value}`` per entry."""
    formats = [(r.uleb(), r.uleb()) for _ in range(r.u(1))]
    count = r.uleb()
    if count > r.end - r.pos:
        raise ValueError("file table larger than its unit")
    entries = []
    for _ in range(count):
        r.take()
        entry: dict = {}
        for kind, form in formats:
            if form == 0x08:                        # DW_FORM_string
                value: object = r.cstr()
            elif form in (0x1F, 0x0E):              # DW_FORM_line_strp, DW_FORM_strp
                value = _string_at(line_str if form == 0x1F else strings, r.u(4))
            elif form == 0x0F:                      # DW_FORM_udata
                value = r.uleb()
            elif form == 0x09:                      # DW_FORM_block
                r.pos += r.uleb()
                value = None
            elif form in _FIXED_FORMS:
                value = r.u(_FIXED_FORMS[form])
            else:
                raise ValueError(f"unsupported form {form:#x}")
            entry[kind] = value
        entries.append(entry)
    return entries


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _int(value) -> int:
    return value if isinstance(value, int) else 0


def _string_at(table: bytes, offset: int) -> str:
    end = table.find(b"\0", offset)
    return table[offset:end if end >= 0 else len(table)].decode(ENCODING, ERRORS)


def _join(dirs: list, index: int, name: str) -> str:
    """A file's name with its directory; directory 0 (the compilation's own, named in
    DWARF 5) is left out, as gdb and readelf show the names."""
    if name.startswith("/") or index == 0 or index >= len(dirs) or not dirs[index]:
        return name
    return dirs[index].rstrip("/") + "/" + name
