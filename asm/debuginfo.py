"""``pyasm -g -F dwarf|stabs`` for ``-f elf32``: the debug sections NASM 2.16.01 writes.

Two halves:

- :class:`LineRecorder` rides along the assembler's final pass. NASM tells its debug
  back end the source location each time output goes to a section from another source
  line (or another section) than the previous output did, so the recorder keeps one
  ``(file, line, section, offset)`` record per such change. Lines inside a macro are
  located in the macro's definition (NASM's own ``-Lb``-free locations), lines of the
  built-in macros (``align``...) at the line that invoked them. It also reproduces
  NASM's ``debug_typevalue``: with debug information on, the last label defined before
  a data or reservation line, if local and untyped, becomes an ``STT_OBJECT`` of that
  element's size.
- :func:`dwarf_sections` and :func:`stabs_sections` turn the records into the sections
  (and their relocations) that NASM's ``outelf.c`` builds, quirks included: one line
  program per executable section in order of first output, DW_AT_high_pc as the sum of
  their sizes, the end-of-sequence ``advance_pc`` operand as a single byte, and
  ``.debug_pubnames``, ``.debug_frame`` and ``.debug_loc`` left empty.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Sequence

from asm.errors import noted_frames
from formats.elf import ObjReloc, ObjSection
from formats.elf.constants import R_386_32, SHT_PROGBITS, SHT_STRTAB

PRODUCER = "NASM 2.16.01"         # NASM's signature, which its DW_AT_producer carries
DW_LANG_MIPS_ASSEMBLER = 0x8001   # what NASM declares (readelf: "MIPS assembler")
STDMAC = "<stdmac>"

# NASM's TY_* element types (nasm.h) and the STT_OBJECT size each one gives a label
_TY_BY_ELEMENT = {1: 0x10, 2: 0x18, 4: 0x20, 8: 0x30, 10: 0x38, 16: 0x48, 32: 0x50}
_TY_FLOAT = 0x28
_TY_RESERVE = {1: 0x10, 2: 0x18, 4: 0x20, 8: 0x30, 10: 0x38, 16: 0x40, 32: 0x48, 64: 0x50}
_TY_SIZE = {0x10: 1, 0x18: 2, 0x20: 4, 0x28: 4, 0x30: 8, 0x38: 10, 0x40: 16, 0x48: 32,
            0x50: 64}


def source_location(sl) -> tuple:
    """Where NASM says a preprocessed line comes from: its own line, inside a user macro
    the macro body's line, inside a `.nolist` one (all built-in macros are) the line that
    invoked it."""
    if not sl.trace:
        return sl.file, sl.line         # (where a %line directive would put it)
    frames = noted_frames(sl.trace)
    if len(frames) == len(sl.trace) and sl.list_file and sl.list_file != STDMAC:
        return sl.list_file, sl.list_line
    return frames[-1][:2] if frames else (sl.file, sl.line)


class LineRecorder:
    """What the assembler's last pass tells the debug writer (see the module docstring).
    The assembler calls it only when debug information was asked for."""

    def __init__(self) -> None:
        self.begin_pass()

    def begin_pass(self) -> None:
        self.lines: list = []       # (file, line, Section, offset)
        self._last: Optional[tuple] = None
        self._lastsym = None
        self.types: dict = {}       # Symbol -> STT_OBJECT size

    def mark(self, asm) -> None:
        """Output is about to go to ``asm.cur`` at ``asm.pos`` for line ``asm.sl``."""
        sl = asm.sl
        if sl is None or asm.cur is None:
            return
        key = (source_location(sl), asm.cur)
        if key != self._last:
            self._last = key
            self.lines.append((key[0][0], key[0][1], asm.cur, asm.pos))

    def label(self, sym) -> None:
        """A label (or an EQU relative to a section) was defined. A global one takes the
        place too, though NASM never types it (the writer applies types to locals only)."""
        self._lastsym = sym

    def data(self, action) -> None:
        if self._lastsym is None or self._lastsym in self.types:
            return                      # nothing left to type
        from asm.expr import float_item
        unit = action.unit
        ty = 0
        for ce in action.items:
            if ce is not None and unit == 4 and float_item(ce.node) is not None:
                ty |= _TY_FLOAT
            else:
                ty |= _TY_BY_ELEMENT.get(unit, 0)
        self._typed(ty)

    def reserve(self, unit: int) -> None:
        self._typed(_TY_RESERVE.get(unit, 0))

    def _typed(self, ty: int) -> None:
        size = _TY_SIZE.get(ty & 0xF8)
        sym = self._lastsym
        if size and sym is not None and sym not in self.types:
            self.types[sym] = size


@dataclass
class _SectLines:
    """One executable section's line-number program (NASM's ``struct sectlist``)."""
    name: str
    size: int
    program: bytearray
    line: int = 1
    offset: int = 0
    file: int = 1


def _uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _sleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40):
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def _u32(value: int) -> bytes:
    return (value & 0xFFFFFFFF).to_bytes(4, "little")


def _line_programs(records: Sequence[tuple], exec_sections: dict) -> tuple[list, list]:
    """NASM's dwarf_linenum/dwarf_output over the records: (file names, _SectLines list)."""
    files: list = []
    file_index: dict = {}
    progs: list = []
    by_section: dict = {}
    line_base, line_range, opcode_base = -5, 14, 13
    for file, line, section, offset in records:
        cur_file = file_index.get(file)
        if cur_file is None:
            files.append(file)
            cur_file = file_index[file] = len(files)
        if section.name not in exec_sections:
            continue        # line information only for executable sections
        sect = by_section.get(section.name)
        if sect is None:
            sect = by_section[section.name] = _SectLines(
                section.name, exec_sections[section.name],
                bytearray(b"\x00\x05\x02" + bytes(4)))      # DW_LNE_set_address 0
            progs.append(sect)
        ln = line - sect.line
        aa = offset - sect.offset
        out = sect.program
        if cur_file != sect.file:
            out += bytes((4, cur_file & 0xFF))              # DW_LNS_set_file
            sect.file = cur_file
        if ln:
            soc = (ln - line_base) + line_range * aa + opcode_base
            if line_base <= ln < line_base + line_range and soc < 256:
                out.append(soc & 0xFF)
            else:
                out.append(3)                               # DW_LNS_advance_line
                out += _sleb(ln)
                if aa:
                    out.append(2)                           # DW_LNS_advance_pc
                    out += _uleb(aa & 0xFFFFFFFF)
                out.append(1)                               # DW_LNS_copy
            sect.line = line
            sect.offset = offset
    return files, progs


def comp_dir(file_name: str) -> str:
    """NASM's DW_AT_comp_dir: the directory of the source file's real path, with '/'."""
    return os.path.dirname(os.path.realpath(file_name)).rstrip("/") + "/"


def dwarf_sections(records: Sequence[tuple], sections: Sequence, exec_names: set,
                   file_name: str) -> tuple[list, list]:
    """The .debug_* sections (after ``sections``, the user's, in output order) and their
    relocations, as ``nasm -f elf32 -F dwarf`` writes them."""
    sizes = {s.name: s.size for s in sections if s.name in exec_names}
    files, progs = _line_programs(records, sizes)
    if not progs:
        # nothing in an executable section: NASM still writes every section, empty
        return [ObjSection(name, b"", SHT_PROGBITS, 0, 8 if name == ".debug_frame" else 1,
                           rel_after=name, section_symbol=symbol, empty_rel=rel)
                for name, symbol, rel in _DWARF_SECTIONS], []
    relocs: list = []

    def reloc(section: str, offset: int, target: str) -> None:
        relocs.append(ObjReloc(section, offset, R_386_32, target))

    # .debug_aranges: one range per executable section, each from 0
    aranges = bytearray(b"\x02\x00")
    reloc(".debug_aranges", len(aranges) + 4, ".debug_info")
    aranges += _u32(0) + b"\x04\x00" + _u32(0)
    highaddr = 0
    for p in progs:
        p.program += bytes((2, (p.size - p.offset) & 0xFF, 0, 1, 1))  # end of sequence
        reloc(".debug_aranges", len(aranges) + 4, p.name)
        aranges += _u32(0) + _u32(p.size)
        highaddr += p.size
    aranges += _u32(0) + _u32(0)
    aranges = _u32(len(aranges)) + aranges

    # .debug_info: a compile unit and one subprogram at the first section's start
    first = progs[0].name
    info = bytearray(b"\x02\x00")
    reloc(".debug_info", len(info) + 4, ".debug_abbrev")
    info += _u32(0) + b"\x04\x01"
    reloc(".debug_info", len(info) + 4, first)
    info += _u32(0)
    reloc(".debug_info", len(info) + 4, first)
    info += _u32(highaddr)
    reloc(".debug_info", len(info) + 4, ".debug_line")
    info += _u32(0)
    for text in (file_name, comp_dir(file_name), PRODUCER):
        info += text.encode("utf-8", "surrogateescape") + b"\0"
    info += DW_LANG_MIPS_ASSEMBLER.to_bytes(2, "little") + b"\x02"
    reloc(".debug_info", len(info) + 4, first)
    info += _u32(0) + _u32(0) + b"\x00"
    info = _u32(len(info)) + info

    # .debug_abbrev: DW_TAG_compile_unit (low/high pc, stmt_list, name, comp_dir,
    # producer, language) and DW_TAG_subprogram (low_pc, frame_base)
    abbrev = bytes((1, 0x11, 1, 0x11, 1, 0x12, 1, 0x10, 6, 0x03, 8, 0x1B, 8, 0x25, 8,
                    0x13, 5, 0, 0, 2, 0x2E, 0, 0x11, 1, 0x40, 6, 0, 0, 0))

    # .debug_line: a version 2 header, then the programs back to back
    header = bytearray((1, 1, (-5) & 0xFF, 14, 13, 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1, 0))
    for name in files:
        header += name.encode("utf-8", "surrogateescape") + b"\0\0\0\0"
    header.append(0)
    body = b"".join(bytes(p.program) for p in progs)
    line = bytearray(_u32(2 + 4 + len(header) + len(body)) + b"\x02\x00" +
                     _u32(len(header)) + header)
    at = len(line) + 3
    for p in progs:
        reloc(".debug_line", at, p.name)
        at += len(p.program)
    line += body

    def debug(name: str, data: bytes, symbol: bool = False, align: int = 1) -> ObjSection:
        # (relocations against the debug sections' own symbols resolve in the writer)
        return ObjSection(name, bytes(data), SHT_PROGBITS, 0, align, rel_after=name,
                          section_symbol=symbol)

    out = [debug(".debug_aranges", aranges), debug(".debug_pubnames", b""),
           debug(".debug_info", info, True), debug(".debug_abbrev", abbrev, True),
           debug(".debug_line", line, True), debug(".debug_frame", b"", align=8),
           debug(".debug_loc", b"")]
    return out, relocs


# (name, has a section symbol, has a .rel section) in NASM's order
_DWARF_SECTIONS = ((".debug_aranges", False, True), (".debug_pubnames", False, False),
                   (".debug_info", True, True), (".debug_abbrev", True, False),
                   (".debug_line", True, True), (".debug_frame", False, False),
                   (".debug_loc", False, False))


# --------------------------------------------------------------------------- stabs

N_SO, N_SOL, N_SLINE = 0x64, 0x84, 0x44


def stabs_sections(records: Sequence[tuple], exec_names: set,
                   file_name: str) -> tuple[list, list]:
    """``.stab``/``.stabstr`` (and ``.rel.stab``) as ``nasm -f elf32 -F stabs`` writes
    them: a header stab, N_SO for the main file, an N_SOL at each change of file, one
    N_SLINE per line record in an executable section, and a closing N_SO."""
    lines = [(file, line, section.name, offset) for file, line, section, offset in records
             if section.name in exec_names]
    if not lines:
        # NASM: only the closing N_SO, whose n_desc then gets the count (1)
        return [ObjSection(".stab", _u32(0) + bytes((N_SO, 0, 1, 0)) + _u32(0), SHT_PROGBITS,
                           0, 4, 12, rel_after=".stabstr", link=".stabstr",
                           section_symbol=False, empty_rel=True),
                ObjSection(".stabstr", b"\0", SHT_STRTAB, 0, 4, section_symbol=False)], []
    files: list = []
    for file, *_ in lines:
        if file not in files:
            files.append(file)
    strx = {}
    size = 1
    for f in files:
        strx[f] = size
        size += len(f.encode("utf-8", "surrogateescape")) + 1
    stabstr = b"\0" + b"".join(f.encode("utf-8", "surrogateescape") + b"\0" for f in files)
    main = file_name if file_name in strx else files[0]
    stabs = bytearray()
    relocs: list = []

    def stab(strx_: int, kind: int, desc: int, value: int) -> None:
        stabs.extend(_u32(strx_) + bytes((kind, 0)) + (desc & 0xFFFF).to_bytes(2, "little")
                     + _u32(value))

    stab(strx[files[0]], 0, 0, len(stabstr))
    stab(strx[main], N_SO, 0, 0)
    relocs.append(ObjReloc(".stab", len(stabs) - 4, R_386_32, lines[0][2]))
    count = 1
    cur = main
    for file, line, section, offset in lines:
        if file != cur:
            cur = file
            stab(strx[file], N_SOL, 0, offset)
            relocs.append(ObjReloc(".stab", len(stabs) - 4, R_386_32, section))
            count += 1
        stab(0, N_SLINE, line, offset)
        relocs.append(ObjReloc(".stab", len(stabs) - 4, R_386_32, section))
        count += 1
    stab(0, N_SO, 0, 0)
    count += 1
    stabs[6:8] = (count & 0xFFFF).to_bytes(2, "little")     # n_desc: 16 bits, as in NASM
    return [ObjSection(".stab", bytes(stabs), SHT_PROGBITS, 0, 4, 12, rel_after=".stabstr",
                       link=".stabstr", section_symbol=False),
            ObjSection(".stabstr", stabstr, SHT_STRTAB, 0, 4, section_symbol=False)], relocs
