"""``pyvm-tools info FILE``: what a program file is and what is in it.

ELF (relocatable or executable): header, sections, segments, symbols, relocations, notes.
B32: origin, entry and size. Archives: members and index. Anything else: a flat binary.
"""

from __future__ import annotations

import struct
import sys

import click

from formats import detect
from formats.ar import ArchiveError, is_archive, read_archive
from formats.elf import ElfError, ElfFile, read_elf
from formats.elf.constants import (
    EM_386,
    PT_NAMES,
    R_386_NAMES,
    SHN_NAMES,
    SHT_NAMES,
    STB_NAMES,
    STT_NAMES,
    STV_NAMES,
    section_flags_text,
    segment_flags_text,
    type_name,
)

ELF_KINDS = {1: "relocatable object", 2: "executable", 3: "shared object", 4: "core file"}


def _b32_header(data: bytes) -> tuple[int, int, int]:
    """(origin, entry, image size); uses formats.b32 when it is there."""
    try:
        from formats.b32 import read_b32
    except ImportError:
        if len(data) < 7:
            raise ValueError(f"truncated B32 header ({len(data)} bytes, need 7)") from None
        origin, entry = struct.unpack_from("<HH", data, 3)
        return origin, entry, len(data) - 7
    image = read_b32(data)
    return image.load, image.entry, len(image.code)


def describe_elf(elf: ElfFile, symbols: bool = True) -> list[str]:
    hdr = elf.header
    machine = "Intel 80386" if elf.machine == EM_386 else f"machine {elf.machine}"
    kind = ELF_KINDS.get(elf.type, f"type {elf.type}")
    out = [f"format:   ELF32 {kind} ({elf.type_name}), {machine}, little-endian",
           f"entry:    {hdr.e_entry:#010x}",
           f"headers:  {len(elf.segments)} program headers at {hdr.e_phoff}, "
           f"{len(elf.sections)} section headers at {hdr.e_shoff}, flags {hdr.e_flags:#x}"]

    out += ["", f"sections ({len(elf.sections)}):",
            "  [Nr] Name                 Type           Address    Offset   Size     Flg  Al"]
    for sec in elf.sections:
        out.append(f"  [{sec.index:2}] {sec.name[:20]:<20} "
                   f"{type_name(SHT_NAMES, sec.type)[:14]:<14} {sec.addr:#010x} "
                   f"{sec.offset:#08x} {sec.size:#08x} {section_flags_text(sec.flags):<4} "
                   f"{sec.align:>2}")

    if elf.segments:
        out += ["", f"segments ({len(elf.segments)}):",
                "  Type           Offset   VirtAddr   FileSiz  MemSiz   Flg Align  Sections"]
        for seg in elf.segments:
            inside = [s.name for s in elf.sections if s.flags & 2 and s.size and
                      seg.vaddr <= s.addr < seg.vaddr + max(seg.memsz, 1)]
            out.append(f"  {type_name(PT_NAMES, seg.type):<14} {seg.offset:#08x} "
                       f"{seg.vaddr:#010x} {seg.filesz:#08x} {seg.memsz:#08x} "
                       f"{segment_flags_text(seg.flags)} {seg.align:#06x} {' '.join(inside)}")

    if symbols:
        table = elf.symbols()
        out += ["", f"symbols ({max(len(table) - 1, 0)}):"]
        if table:
            out.append("  Value      Size     Type    Bind   Vis       Ndx   Name")
        for sym in table[1:]:
            ndx = SHN_NAMES.get(sym.shndx, str(sym.shndx))
            out.append(f"  {sym.value:#010x} {sym.size:<8} {type_name(STT_NAMES, sym.type):<7} "
                       f"{type_name(STB_NAMES, sym.bind):<6} "
                       f"{type_name(STV_NAMES, sym.visibility):<9} {ndx:>5} {sym.name}")
        for rel_sec in elf.relocation_sections():
            relocs = elf.relocations(rel_sec)
            out += ["", f"relocations in {rel_sec.name} ({len(relocs)}):"]
            for r in relocs:
                name = table[r.symbol].name if r.symbol < len(table) else str(r.symbol)
                addend = "" if r.addend is None else f" {r.addend:+#x}"
                out.append(f"  {r.offset:#010x} {R_386_NAMES.get(r.type, r.type):<14} "
                           f"{name}{addend}")
    notes = elf.notes()
    if notes:
        out += ["", f"notes ({len(notes)}):"]
        for note in notes:
            out.append(f"  {note.name or '-'} type {note.type} ({len(note.desc)} bytes)")
    return out


def describe(path: str, data: bytes, symbols: bool = True) -> list[str]:
    """Lines describing the file (raises ElfError / ArchiveError / ValueError if corrupt)."""
    if is_archive(data):
        archive = read_archive(data)
        lines = [f"format:   ar archive, {len(archive.members)} members, "
                 f"{len(archive.symbol_index or {})} indexed symbols"]
        for member in archive.members:
            lines.append(f"  {member.name} ({len(member.data)} bytes)")
        return lines
    kind = detect(path, data)
    if kind == "elf":
        return describe_elf(read_elf(data), symbols)
    if kind == "b32":
        origin, entry, size = _b32_header(data)
        return ["format:   B32 program", f"origin:   ${origin:04X}", f"entry:    ${entry:04X}",
                f"size:     {size} bytes of code (file {len(data)} bytes)"]
    if kind == "v16":
        from formats.v16 import read_v16
        image = read_v16(data)
        return ["format:   V16 program", f"load:     0x{image.load:04X}",
                f"entry:    0x{image.entry:04X}",
                f"size:     {len(image.code)} bytes of code (file {len(data)} bytes)"]
    if kind == "com":
        return ["format:   DOS .COM program (loaded at 0100h)", f"size:     {len(data)} bytes"]
    if kind == "asm":
        return ["format:   assembly source", f"size:     {len(data)} bytes"]
    return ["format:   flat binary", f"size:     {len(data)} bytes"]


@click.command(name="info")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--no-symbols", is_flag=True, help="Leave out symbols and relocations.")
def command(file: str, no_symbols: bool) -> None:
    """Show a program file's format, headers, sections, segments, symbols and entry."""
    from formats.inputs import InputError, read_input
    try:
        data = read_input(file)
    except (OSError, InputError) as e:
        click.echo(f"pyvm-tools info: error: {file}: {getattr(e, 'strerror', None) or e}",
                   err=True)
        sys.exit(1)
    try:
        lines = describe(file, data, symbols=not no_symbols)
    except (ElfError, ArchiveError, ValueError) as e:
        click.echo(f"pyvm-tools info: error: {file}: {e}", err=True)
        sys.exit(1)
    # names in a file are bytes (decoded with surrogateescape): give them back as bytes
    click.echo("\n".join([f"file:     {file}"] + lines).encode("utf-8", "surrogateescape"))
