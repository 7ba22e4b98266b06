"""Where everything goes: input sections into output sections, addresses, segments, offsets.

This follows GNU ld's default script for ``elf_i386`` (``ld --verbose``), trimmed to what a
static link needs, so that pyld and ld place the same objects at the same addresses:

- output sections in ld's order (.init .text .fini | .rodata .rodata1 | .preinit_array
  .init_array .fini_array .data.rel.ro .got .data .data1 | .bss), each gathering input
  sections by ld's name patterns in ld's pattern order (so ``.text.startup`` precedes
  ``.text``); sections matching no pattern become "orphan" output sections of their own,
  after the output sections of their kind (code, read-only, writable, NOBITS);
- the ELF headers get a read-only segment at 0x08048000; code starts on the next page;
  read-only data starts on the page after the code (``-z separate-code``); the data
  segment starts at the next page plus the in-page offset of the end of the read-only data,
  unless starting on a page boundary saves a page (ld's DATA_SEGMENT_ALIGN);
- file offsets are congruent to addresses modulo the page size so the kernel can map them.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Optional

from formats.elf.constants import (
    PF_R,
    PF_W,
    PF_X,
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHF_TLS,
    SHF_WRITE,
    SHT_NOBITS,
    SHT_PROGBITS,
)
from formats.elf.executable import headers_size

from .objects import GlobalSymbol, InputSection, LinkError, OutputSection, Piece

PAGE = 0x1000
DEFAULT_BASE = 0x08048000
TEXT, RODATA, DATA, BSS = "text", "rodata", "data", "bss"
SEGMENT_FLAGS = {TEXT: PF_R | PF_X, RODATA: PF_R, DATA: PF_R | PF_W, BSS: PF_R | PF_W}
COMMON_PATTERN = "COMMON"
MAX_FLAT_BINARY = 256 << 20

# (output section, segment class, input pattern groups in placement order)
STATEMENTS: list[tuple[str, str, list[list[str]]]] = [
    (".init", TEXT, [[".init"]]),
    (".text", TEXT, [[".text.unlikely", ".text.*_unlikely", ".text.unlikely.*"],
                     [".text.exit", ".text.exit.*"],
                     [".text.startup", ".text.startup.*"],
                     [".text.hot", ".text.hot.*"],
                     [".text", ".stub", ".text.*", ".gnu.linkonce.t.*"]]),
    (".fini", TEXT, [[".fini"]]),
    (".rodata", RODATA, [[".rodata", ".rodata.*", ".gnu.linkonce.r.*"]]),
    (".rodata1", RODATA, [[".rodata1"]]),
    (".preinit_array", DATA, [[".preinit_array"]]),
    (".init_array", DATA, [[".init_array.*", ".ctors.*"], [".init_array", ".ctors"]]),
    (".fini_array", DATA, [[".fini_array.*", ".dtors.*"], [".fini_array", ".dtors"]]),
    (".data.rel.ro", DATA, [[".data.rel.ro.local*", ".gnu.linkonce.d.rel.ro.local.*"],
                            [".data.rel.ro", ".data.rel.ro.*", ".gnu.linkonce.d.rel.ro.*"]]),
    (".got", DATA, []),                       # synthesised when something uses the GOT
    (".data", DATA, [[".data", ".data.*", ".gnu.linkonce.d.*"]]),
    (".data1", DATA, [[".data1"]]),
    (".bss", BSS, [[".dynbss"], [".bss", ".bss.*", ".gnu.linkonce.b.*"], [COMMON_PATTERN]]),
]
# Orphans go after the last output section statement of their kind.
ORPHANS_AFTER = {TEXT: ".fini", RODATA: ".rodata1", DATA: ".data1", BSS: ".bss"}
_SORTED_BY_PRIORITY = {".init_array.*", ".fini_array.*", ".ctors.*", ".dtors.*"}


def _priority_key(sec: InputSection):
    suffix = sec.name.rsplit(".", 1)[-1]
    return (0, int(suffix)) if suffix.isdigit() else (1, sec.name)


def assign_sections(inputs: list[InputSection], commons: list[GlobalSymbol],
                    need_got: bool) -> list[OutputSection]:
    """Gather kept input sections into output sections, in output order."""
    outputs: dict[str, OutputSection] = {}
    ordered: list[str] = []
    claimed: dict[int, tuple[int, int]] = {}         # id(input) -> (statement, group)
    for sec in inputs:
        for s_index, (_, _, groups) in enumerate(STATEMENTS):
            hit = next((g for g, pats in enumerate(groups)
                        if any(fnmatch.fnmatchcase(sec.name, p) for p in pats)), None)
            if hit is not None:
                claimed[id(sec)] = (s_index, hit)
                break
    for s_index, (name, kind, groups) in enumerate(STATEMENTS):
        out = OutputSection(name, kind)
        for g_index, pats in enumerate(groups):
            members = [s for s in inputs if claimed.get(id(s)) == (s_index, g_index)]
            if set(pats) & _SORTED_BY_PRIORITY:
                members.sort(key=_priority_key)
            out.inputs += members
        if name == ".bss":
            out.commons = list(commons)
        if name == ".got" and need_got:
            out.synthetic = bytearray()
        if out.inputs or out.commons or out.synthetic is not None:
            outputs[name] = out
            ordered.append(name)
    # orphans: one output section per distinct name, after the statements of their kind
    orphans: dict[str, OutputSection] = {}
    for sec in inputs:
        if id(sec) in claimed:
            continue
        out = orphans.get(sec.name)
        if out is None:
            out = orphans[sec.name] = OutputSection(sec.name, _orphan_kind(sec))
        out.inputs.append(sec)
    result: list[OutputSection] = []
    placed_orphans: set[str] = set()
    statement_names = [s[0] for s in STATEMENTS]
    for name in statement_names:
        if name in outputs:
            result.append(outputs[name])
        for kind, after in ORPHANS_AFTER.items():
            if after == name:
                for oname, out in orphans.items():
                    if out.kind == kind and oname not in placed_orphans:
                        result.append(out)
                        placed_orphans.add(oname)
    for out in result:
        _set_attributes(out)
    return result


def _orphan_kind(sec: InputSection) -> str:
    # ld's rule (ldelf_place_orphan): NOBITS -> bss; writable -> data; not code -> rodata.
    if sec.type == SHT_NOBITS:
        return BSS
    if sec.flags & SHF_WRITE:
        return DATA
    if not sec.flags & SHF_EXECINSTR:
        return RODATA
    return TEXT


def _set_attributes(out: OutputSection) -> None:
    flags = SHF_ALLOC
    align = 1
    nobits = True
    for sec in out.inputs:
        flags |= sec.flags & (SHF_WRITE | SHF_EXECINSTR | SHF_TLS)
        align = max(align, sec.align)
        nobits = nobits and sec.type == SHT_NOBITS
        if sec.flags & SHF_TLS:
            raise LinkError(f"{sec.obj.name}: thread-local storage (section {sec.name}) "
                            f"is not supported")
    for sym in out.commons:
        align = max(align, sym.value)
        flags |= SHF_WRITE
    if out.synthetic is not None:
        flags |= SHF_WRITE
        align = 4
        nobits = False
    out.flags = flags
    out.align = align
    out.type = SHT_NOBITS if nobits else SHT_PROGBITS


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to if to > 1 else value


def size_section(out: OutputSection, addr: int) -> None:
    """Place the inputs (and commons) of an output section at ``addr``; set its size.

    Alignment is of addresses, not offsets: an output section put at an unaligned address
    by -Ttext still gets its inputs aligned, as ld does.
    """
    out.addr = addr
    pos = addr
    out.pieces = []
    for sec in out.inputs:
        pos = _align(pos, sec.align)
        sec.output = out
        sec.offset = pos - addr
        out.pieces.append(Piece(pos - addr, sec.size, sec))
        pos += sec.size
    for sym in out.commons:
        pos = _align(pos, sym.value)
        out.pieces.append(Piece(pos - addr, sym.size, common=sym))
        pos += sym.size
    if out.synthetic is not None:
        pos = addr + len(out.synthetic)
    if out.name == ".bss" and pos > addr:
        pos = _align(pos, 4)          # ld: . = ALIGN(. != 0 ? 32 / 8 : 1)
    out.size = pos - addr


@dataclass
class Segment:
    kind: str                          # "headers", TEXT, RODATA, DATA, BSS
    flags: int
    vaddr: int
    memsz: int
    filesz: int
    sections: list[OutputSection]
    offset: int = 0


@dataclass
class Layout:
    sections: list[OutputSection]
    segments: list[Segment]
    headers_vaddr: Optional[int]
    symbols: dict[str, tuple[int, Optional[OutputSection]]]    # linker-defined values
    gnu_stack: Optional[int] = None                            # PT_GNU_STACK flags


@dataclass
class Addresses:
    text: Optional[int] = None
    data: Optional[int] = None
    bss: Optional[int] = None


def assign_addresses(sections: list[OutputSection], where: Addresses,
                     extra_segments: int, headers: bool = True) -> Layout:
    """Give every output section an address and a file offset; build the segments.

    ``headers=False`` (a flat binary) leaves no room for ELF headers below the code, so by
    default the code starts at the base address itself, as with ld --oformat binary.
    """
    by_kind = {k: [s for s in sections if s.kind == k] for k in (TEXT, RODATA, DATA, BSS)}
    # like ld, -Tdata / -Tbss do nothing when there is no such section to move
    where = Addresses(where.text, where.data if by_kind[DATA] else None,
                      where.bss if by_kind[BSS] else None)

    def place(group: list[OutputSection], dot: int, exact: bool = False) -> int:
        # an address given with -T is used as is (like ld's --section-start), unaligned
        for i, out in enumerate(group):
            dot = dot if exact and i == 0 else _align(dot, out.align)
            size_section(out, dot)
            dot += out.size
        return dot

    text_start = where.text if where.text is not None else DEFAULT_BASE + (PAGE if headers else 0)
    dot = place(by_kind[TEXT], text_start, where.text is not None)
    etext = dot
    dot = _align(dot, PAGE)
    dot = place(by_kind[RODATA], dot)

    rw = by_kind[DATA] + ([] if where.bss is not None else by_kind[BSS])
    if where.data is not None:
        data_start = where.data
    else:
        data_start = _align(dot, PAGE) + (dot & (PAGE - 1))
        end = _align(place(rw, data_start), 4)
        first, last = -data_start & (PAGE - 1), end & (PAGE - 1)
        if first and last and data_start // PAGE != end // PAGE and first + last <= PAGE:
            data_start = _align(dot, PAGE)       # a page saved: start on the boundary
    dot = place(by_kind[DATA], data_start, where.data is not None)
    edata = dot
    if where.bss is not None:
        dot = where.bss
    dot = place(by_kind[BSS], dot, where.bss is not None)
    end = _align(dot, 4)

    segments = _segments(by_kind, where)
    headers_vaddr = _place_in_file(segments, extra_segments)
    _check_overlaps(sections)

    last_data = (by_kind[DATA] or by_kind[RODATA] or by_kind[TEXT] or [None])[-1]
    first_bss = by_kind[BSS][0] if by_kind[BSS] else last_data
    last_any = (by_kind[BSS] or by_kind[DATA] or by_kind[RODATA] or by_kind[TEXT] or [None])[-1]
    last_text = by_kind[TEXT][-1] if by_kind[TEXT] else None
    first_text = by_kind[TEXT][0] if by_kind[TEXT] else None
    symbols = {
        # ld: SEGMENT_START("text-segment", 0x08048000), which -Ttext does not move
        "__executable_start": (DEFAULT_BASE, first_text),
        "_etext": (etext, last_text), "etext": (etext, last_text), "__etext": (etext, last_text),
        "_edata": (edata, last_data), "edata": (edata, last_data),
        "__bss_start": (edata, first_bss),
        "_end": (end, last_any), "end": (end, last_any),
    }
    for name in ("preinit_array", "init_array", "fini_array"):
        out = next((s for s in sections if s.name == "." + name), None)
        start = out.addr if out else edata
        symbols[f"__{name}_start"] = (start, out)
        symbols[f"__{name}_end"] = (start + (out.size if out else 0), out)
    return Layout(sections, segments, headers_vaddr, symbols)


def _segments(by_kind, where: Addresses) -> list[Segment]:
    segments = []

    def add(kind: str, group: list[OutputSection]) -> None:
        if not group or all(s.size == 0 for s in group):
            return
        start = group[0].addr
        progbits = [s for s in group if not s.nobits]
        file_end = max((s.end for s in progbits), default=start)
        mem_end = max(s.end for s in group)
        segments.append(Segment(kind, SEGMENT_FLAGS[kind], start, mem_end - start,
                                file_end - start, group))

    add(TEXT, by_kind[TEXT])
    add(RODATA, by_kind[RODATA])
    if where.bss is None:
        add(DATA, by_kind[DATA] + by_kind[BSS])
    else:
        add(DATA, by_kind[DATA])
        add(BSS, by_kind[BSS])
    segments = _merge_shared_pages(sorted(segments, key=lambda s: s.vaddr))
    for seg in segments:
        for out in seg.sections:
            if out.nobits and out.addr < seg.vaddr + seg.filesz:
                # a NOBITS section before PROGBITS data in one segment must be file-backed
                out.type = SHT_PROGBITS
    return segments


def _merge_shared_pages(segments: list[Segment]) -> list[Segment]:
    """Segments that would share a page (possible with -T addresses) become one segment
    with both permissions, as ld does: the kernel maps whole pages, so one page cannot
    have two sets of permissions or come from two places in the file."""
    merged: list[Segment] = []
    for seg in segments:
        last = merged[-1] if merged else None
        if last is not None and (last.vaddr + last.memsz - 1) // PAGE >= seg.vaddr // PAGE:
            end = max(last.vaddr + last.memsz, seg.vaddr + seg.memsz)
            file_end = seg.vaddr + seg.filesz if seg.filesz else last.vaddr + last.filesz
            last.kind += "+" + seg.kind
            last.flags |= seg.flags
            last.sections += seg.sections
            last.memsz = end - last.vaddr
            last.filesz = max(file_end - last.vaddr, last.filesz)
        else:
            merged.append(seg)
    return merged


def _place_in_file(segments: list[Segment], extra_segments: int) -> Optional[int]:
    """Choose file offsets (congruent to addresses modulo PAGE); map the ELF headers.

    Returns the address the headers are mapped at, or None if they are not mapped.
    """
    hsize = headers_size(len(segments) + 1 + extra_segments)
    headers_vaddr = None
    pos = hsize
    for i, seg in enumerate(segments):
        offset = pos - (pos & (PAGE - 1)) + (seg.vaddr & (PAGE - 1))
        if offset < pos:
            offset += PAGE
        seg.offset = offset
        pos = max(pos, offset + seg.filesz)
        if i == 0:
            # the headers: their own read-only segment on the page below the code, or the
            # start of the first segment when they share its page (as ld does)
            hvaddr = seg.vaddr - offset
            if hvaddr >= 0:
                headers_vaddr = hvaddr
                if hvaddr // PAGE == seg.vaddr // PAGE:
                    seg.vaddr, seg.offset = hvaddr, 0
                    seg.memsz += offset
                    seg.filesz += offset
                    seg.kind = "headers+" + seg.kind
    if headers_vaddr is not None and not segments[0].kind.startswith("headers+"):
        segments.insert(0, Segment("headers", PF_R, headers_vaddr, hsize, hsize, [], 0))
    for seg in segments:
        for out in seg.sections:
            out.offset = seg.offset + (out.addr - seg.vaddr)
            if out.nobits:
                out.offset = min(out.offset, seg.offset + seg.filesz)
    return headers_vaddr


def _check_overlaps(sections: list[OutputSection]) -> None:
    placed = sorted((s for s in sections if s.size), key=lambda s: s.addr)
    for a, b in zip(placed, placed[1:]):
        if b.addr < a.end:
            raise LinkError(f"section {b.name} [{b.addr:#x}, {b.end:#x}) overlaps section "
                            f"{a.name} [{a.addr:#x}, {a.end:#x})")
    for s in placed:
        if s.end > 1 << 32:
            raise LinkError(f"section {s.name} at {s.addr:#x} runs past the 4 GiB address space")


def flat_image(sections: list[OutputSection]) -> tuple[int, bytes]:
    """``--oformat binary``: memory from the lowest loaded byte to the highest, gaps zeroed."""
    loaded = [s for s in sections if not s.nobits and s.size]
    if not loaded:
        return 0, b""
    start = min(s.addr for s in loaded)
    stop = max(s.end for s in loaded)
    if stop - start > MAX_FLAT_BINARY:
        raise LinkError(f"flat binary would be {stop - start:#x} bytes: loaded sections span "
                        f"{start:#x}..{stop:#x}")
    image = bytearray(stop - start)
    for s in loaded:
        image[s.addr - start:s.end - start] = s.contents()
    return start, bytes(image)

