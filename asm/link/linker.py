"""pyld: link ELF32 relocatable objects and static archives into a static i386 executable.

    result = link([("start.o", data), ("libgcc.a", data)], LinkOptions(entry="_start"))
    result.output        # the executable (or flat binary) bytes
    result.map_text      # what -Map writes

Stages (one module each): inputs -> symbol resolution and archive members
(symbols) -> output sections, addresses and segments (layout) -> relocations
and GOT (relocs) -> the file (formats.elf.executable) and the map (mapfile).
Every problem in the inputs raises LinkError carrying one line per error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from formats.ar import ArchiveError, defined_symbols, is_archive, read_archive
from formats.elf import ABS, ElfError, ObjSymbol, build_executable, is_elf
from formats.elf.constants import (
    PF_R,
    PF_W,
    PF_X,
    PT_GNU_STACK,
    PT_LOAD,
    SHN_ABS,
    SHN_UNDEF,
    STB_GLOBAL,
    STB_LOCAL,
    STB_WEAK,
    STT_FILE,
    STT_SECTION,
)
from formats.elf.executable import ExecSection, ExecSegment

from .debug import debug_outputs, place_in_file
from .inputs import load_object
from .layout import (
    PAGE,
    Addresses,
    Layout,
    assign_addresses,
    assign_sections,
    flat_image,
)
from .mapfile import render_map
from .objects import (
    ABSOLUTE,
    COMMON,
    DEFINED,
    LINKER,
    UNDEF,
    GlobalSymbol,
    InputObject,
    InputSection,
    LinkError,
    OutputSection,
)
from .relocs import Got, Relocator, scan_got
from .symbols import ArchiveInput, SymbolTable, pull_members

__all__ = ["LinkError", "LinkOptions", "LinkResult", "link"]

GOT_SYMBOL = "_GLOBAL_OFFSET_TABLE_"
# Defined by the linker when referenced (ld's PROVIDE); the first three always, as ld does.
ALWAYS_DEFINED = ("_edata", "__bss_start", "_end")
PROVIDED_HIDDEN = ("__preinit_array_start", "__preinit_array_end", "__init_array_start",
                   "__init_array_end", "__fini_array_start", "__fini_array_end")
PROVIDED = ("etext", "_etext", "__etext", "edata", "end", "__executable_start") + PROVIDED_HIDDEN


@dataclass
class LinkOptions:
    entry: Optional[str] = None        # symbol, or a number if no such symbol; default _start
    text: Optional[int] = None         # -Ttext
    data: Optional[int] = None         # -Tdata
    bss: Optional[int] = None          # -Tbss
    oformat: str = "elf"               # "elf" or "binary"
    strip: bool = False                # -s


@dataclass
class LinkResult:
    output: bytes
    entry: int
    layout: Layout
    objects: list[InputObject]
    table: SymbolTable
    pulled: list = field(default_factory=list)         # (archive path, member, referrer, sym)
    warnings: list[str] = field(default_factory=list)
    got: Optional[Got] = None
    flat_origin: Optional[int] = None                  # --oformat binary: address of byte 0

    @property
    def map_text(self) -> str:
        return render_map(self)


def link(inputs: list[tuple[str, bytes]], options: Optional[LinkOptions] = None) -> LinkResult:
    """Link ``(name, bytes)`` inputs in command-line order; raise LinkError on any error."""
    options = options or LinkOptions()
    if not inputs:
        raise LinkError("no input files")
    table = SymbolTable()
    objects: list[InputObject] = []
    archives: list[ArchiveInput] = []
    pulled: list[tuple] = []

    def load_member(archive: ArchiveInput):
        def load(member) -> None:
            obj = load_object(f"{archive.path}({member.name})", member.data, from_archive=True)
            objects.append(obj)
            table.add_object(obj)
        return load

    for path, data in inputs:
        if is_archive(data):
            archive = _open_archive(path, data)
            archives.append(archive)
            new = pull_members(table, archive, load_member(archive))
            pulled += [(archive.path, *p) for p in new]
        elif is_elf(data):
            obj = load_object(path, data)
            objects.append(obj)
            table.add_object(obj)
        else:
            raise LinkError(f"{path}: not an ELF32 relocatable object or archive "
                            f"(unknown file format)")
    # Unlike ld, revisit earlier archives for symbols later inputs left undefined (as if
    # all archives were in one --start-group), so argument order matters less.
    changed = True
    while changed:
        changed = False
        for archive in archives:
            new = pull_members(table, archive, load_member(archive))
            pulled += [(archive.path, *p) for p in new]
            changed = changed or bool(new)
    table.check()

    for name in (GOT_SYMBOL,) + ALWAYS_DEFINED + PROVIDED:
        entry = table.get(name)
        if entry is None and name in ALWAYS_DEFINED:
            entry = table.symbols[name] = GlobalSymbol(name)
        if entry is not None and entry.kind == UNDEF:
            entry.kind = LINKER
            entry.bind = STB_GLOBAL

    kept = [sec for obj in objects for sec in _in_order(obj)
            if not sec.discarded and not sec.debug]
    got, needs_got = scan_got(kept)
    got_entry = table.get(GOT_SYMBOL)
    needs_got = needs_got or (got_entry is not None and got_entry.kind == LINKER)
    commons = [s for s in table.commons if s.kind == COMMON]
    outputs = assign_sections(kept, commons, needs_got)
    got_out = next((o for o in outputs if o.synthetic is not None), None)
    if got_out is not None:
        got_out.synthetic = bytearray(got.size)

    stack_flags = _gnu_stack(objects)
    layout = assign_addresses(outputs, Addresses(options.text, options.data, options.bss),
                              1 if stack_flags is not None else 0,
                              headers=options.oformat != "binary")
    layout.gnu_stack = stack_flags
    got.address = got_out.addr if got_out is not None else 0
    _assign_symbol_addresses(table, layout, got)

    relocator = Relocator(got, got.address if got_out is not None else None)
    for sec in kept:
        if sec.relocs:
            relocator.apply(sec)
    for obj, sym_index in got.targets:      # a static link fills the GOT itself
        value, _, _ = relocator.symbol(obj, sym_index, f"{obj.name}(GOT entry)")
        pos = got.entry_address(obj, sym_index) - got.address
        got_out.synthetic[pos:pos + 4] = (value & 0xFFFFFFFF).to_bytes(4, "little")
    if relocator.errors:
        raise LinkError(relocator.errors)
    debug = [] if options.strip or options.oformat == "binary" else _debug_sections(objects, got)

    warnings: list[str] = []
    entry = _entry_address(options, table, layout, warnings)
    flat_origin = None
    if options.oformat == "binary":
        flat_origin, output = flat_image(outputs)
    else:
        output = _executable(entry, layout, objects, table, options.strip, debug)
    return LinkResult(output, entry, layout, objects, table, pulled, warnings, got, flat_origin)


def _debug_sections(objects: list[InputObject], got: Got) -> list[OutputSection]:
    """The kept .debug_* sections, relocated. As ld, a reference from debug information
    into a discarded section resolves to 0 instead of failing the link."""
    outputs = debug_outputs([sec for obj in objects for sec in _in_order(obj)
                             if sec.debug and not sec.discarded])
    relocator = Relocator(got, got.address or None)
    for out in outputs:
        for sec in out.inputs:
            if sec.relocs:
                relocator.apply(sec)
    errors = [e for e in relocator.errors if "in a discarded section" not in e]
    if errors:
        raise LinkError(errors)
    return outputs


def _in_order(obj: InputObject) -> list[InputSection]:
    return [obj.sections[i] for i in sorted(obj.sections)]


def _open_archive(path: str, data: bytes) -> ArchiveInput:
    try:
        archive = read_archive(data)
    except ArchiveError as e:
        raise LinkError(f"{path}: {e}") from None
    index = archive.symbol_index
    if index is None:                       # no "/" member: index the members ourselves
        index = {}
        for member in archive.members:
            for name in defined_symbols(member.data):
                index.setdefault(name, member.offset)
    return ArchiveInput(path, archive.members, index)


def _gnu_stack(objects: list[InputObject]) -> Optional[int]:
    """PT_GNU_STACK flags as ld sets them: present if any input has .note.GNU-stack;
    executable if any input asks for it or lacks the note."""
    marks = [obj.gnu_stack for obj in objects]
    if all(m is None for m in marks):
        return None
    executable = any(m is None or m for m in marks)
    return PF_R | PF_W | (PF_X if executable else 0)


def _assign_symbol_addresses(table: SymbolTable, layout: Layout, got: Got) -> None:
    common_at = {}
    for out in layout.sections:
        for piece in out.pieces:
            if piece.common is not None:
                common_at[id(piece.common)] = (out.addr + piece.offset, out)
    for entry in table.symbols.values():
        if entry.kind == DEFINED:
            entry.address = entry.section.address + entry.value
        elif entry.kind == ABSOLUTE:
            entry.address = entry.value
        elif entry.kind == COMMON:
            entry.address = common_at[id(entry)][0]
        elif entry.kind == LINKER:
            if entry.name == GOT_SYMBOL:
                entry.address = got.address
            else:
                entry.address = layout.symbols[entry.name][0]
        entry.address &= 0xFFFFFFFF


def _entry_address(options: LinkOptions, table: SymbolTable, layout: Layout,
                   warnings: list[str]) -> int:
    name = options.entry or "_start"
    entry = table.get(name)
    if entry is not None and entry.kind != UNDEF:
        return entry.address
    if options.entry is not None:
        try:
            return int(options.entry, 0) & 0xFFFFFFFF
        except ValueError:
            pass
    text = next((o for o in layout.sections if o.name == ".text"), None)
    default = text.addr if text is not None else (layout.segments[0].vaddr
                                                  if layout.segments else 0)
    warnings.append(f"cannot find entry symbol {name}; defaulting to {default:#010x}")
    return default


def _executable(entry: int, layout: Layout, objects: list[InputObject], table: SymbolTable,
                strip: bool, debug: Sequence[OutputSection] = ()) -> bytes:
    # like ld, empty output sections get no header; their symbols go to the section before
    home: dict[str, str] = {}
    previous = ABS
    for out in layout.sections:
        if out.size:
            previous = out.name
        home[out.name] = previous
    sections = [ExecSection(o.name, o.addr, o.offset, b"" if o.nobits else o.contents(),
                            o.type, o.flags, o.align, o.size) for o in layout.sections if o.size]
    if debug:
        place_in_file(list(debug), max((o.offset + (0 if o.nobits else o.size)
                                        for o in layout.sections), default=0))
        sections += [ExecSection(o.name, 0, o.offset, o.contents(), o.type, o.flags,
                                 o.align, o.size, o.entsize) for o in debug]
    segments = [ExecSegment(PT_LOAD, seg.flags, seg.vaddr, seg.offset, seg.filesz, seg.memsz,
                            PAGE) for seg in sorted(layout.segments, key=lambda s: s.vaddr)]
    if layout.gnu_stack is not None:
        segments.append(ExecSegment(PT_GNU_STACK, layout.gnu_stack, 0, 0, 0, 0, 0x10))
    symbols = None if strip else _output_symbols(layout, objects, table)
    for sym in symbols or ():
        if sym.section in home:
            sym.section = home[sym.section]
    try:
        return build_executable(entry, sections, segments, symbols).to_bytes()
    except ElfError as e:
        raise LinkError(str(e)) from None


def _output_symbols(layout: Layout, objects: list[InputObject],
                    table: SymbolTable) -> list[ObjSymbol]:
    """Locals per object (file symbol first), then the defined globals, like ld's table."""
    symbols: list[ObjSymbol] = []
    for obj in objects:
        for sym in obj.symbols:
            if sym.bind != STB_LOCAL or sym.index == 0 or sym.type == STT_SECTION:
                continue
            if sym.type == STT_FILE:
                symbols.append(ObjSymbol(sym.name, ABS, 0, 0, STB_LOCAL, STT_FILE))
                continue
            if sym.shndx == SHN_ABS:
                symbols.append(ObjSymbol(sym.name, ABS, sym.value, sym.size, STB_LOCAL,
                                         sym.type, sym.visibility))
                continue
            sec = obj.sections.get(sym.shndx)
            if sym.shndx == SHN_UNDEF or sec is None or sec.discarded or sec.output is None:
                continue
            symbols.append(ObjSymbol(sym.name, sec.output.name, sec.address + sym.value,
                                     sym.size, STB_LOCAL, sym.type, sym.visibility))
    for entry in table.symbols.values():
        if entry.kind == UNDEF:
            if entry.bind == STB_WEAK or not entry.strong_ref:
                symbols.append(ObjSymbol(entry.name, None, 0, 0, STB_WEAK, entry.type))
            continue
        section: Optional[str] = ABS
        if entry.kind == DEFINED:
            section = entry.section.output.name
        elif entry.kind == COMMON:
            section = ".bss"
        elif entry.kind == LINKER:
            out: Optional[OutputSection] = (layout.symbols.get(entry.name, (0, None))[1]
                                            if entry.name != "_GLOBAL_OFFSET_TABLE_" else
                                            next((o for o in layout.sections
                                                  if o.synthetic is not None), None))
            section = out.name if out is not None else ABS
        hidden = entry.kind == LINKER and entry.name in PROVIDED_HIDDEN   # ld: PROVIDE_HIDDEN
        symbols.append(ObjSymbol(entry.name, section, entry.address, entry.size,
                                 STB_LOCAL if hidden else entry.bind, entry.type,
                                 entry.visibility))
    return symbols
