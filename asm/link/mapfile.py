"""The ``-Map`` file: where every input section and symbol landed, in ld's map style."""

from __future__ import annotations

from formats.elf.constants import STB_LOCAL, STT_FILE, STT_SECTION, segment_flags_text

from .objects import ABSOLUTE, COMMON, DEFINED, LINKER


def _row(name: str, addr: int, size: int, what: str = "", indent: str = " ") -> str:
    # ld: the name in 16 columns, or alone on its line when longer than 14 characters
    head = f"{indent}{name}"
    if len(head) > 15:
        head += "\n" + " " * 16
    else:
        head = head.ljust(16)
    return f"{head}{addr:#010x} {size:#10x} {what}".rstrip()


def _symbol_row(addr: int, name: str) -> str:
    return f"{'':16}{addr:#010x}                {name}"


def render_map(result) -> str:
    lines: list[str] = []
    if result.pulled:
        lines += ["Archive member included to satisfy reference by file (symbol)", ""]
        for archive, member, referrer, symbol in result.pulled:
            lines.append(f"{archive}({member.name})")
            lines.append(f"{'':30}{referrer} ({symbol})")
        lines.append("")

    commons = [s for s in result.table.symbols.values() if s.kind == COMMON]
    if commons:
        lines += ["Allocating common symbols", "Common symbol       size              file", ""]
        for sym in commons:
            lines.append(f"{sym.name:<19} {sym.size:<#17x} {sym.obj.name if sym.obj else ''}")
        lines.append("")

    discarded = [sec for obj in result.objects for sec in obj.sections.values() if sec.discarded]
    if discarded:
        lines += ["Discarded input sections", ""]
        for sec in discarded:
            lines.append(_row(sec.name, 0, sec.size, f"{sec.obj.name}  ({sec.discarded})"))
        lines.append("")

    lines += ["Memory map", ""]
    # (address, label) of every symbol defined in each input section; ld lists only the
    # globals, the locals (static functions, NASM labels) are shown too, marked as such
    by_section: dict[int, list[tuple[int, str]]] = {}
    for sym in result.table.symbols.values():
        if sym.kind == DEFINED and sym.section is not None:
            by_section.setdefault(id(sym.section), []).append((sym.address, sym.name))
    for obj in result.objects:
        for sym in obj.symbols:
            sec = obj.sections.get(sym.shndx)
            if sym.bind != STB_LOCAL or sym.type in (STT_SECTION, STT_FILE) or not sym.name \
                    or sec is None or sec.output is None or sec.discarded:
                continue
            by_section.setdefault(id(sec), []).append((sec.address + sym.value,
                                                       f"{sym.name} (local)"))
    for out in result.layout.sections:
        lines.append(_row(out.name, out.addr, out.size, indent=""))
        if out.synthetic is not None:
            lines.append(_row("*linker*", out.addr, out.size, "(global offset table)"))
        pos = 0
        for piece in out.pieces:
            if piece.offset > pos:
                lines.append(_row("*fill*", out.addr + pos, piece.offset - pos))
            if piece.section is not None:
                sec = piece.section
                lines.append(_row(sec.name, sec.address, sec.size, sec.obj.name))
                for addr, label in sorted(by_section.get(id(sec), [])):
                    lines.append(_symbol_row(addr, label))
            elif piece.common is not None:
                sym = piece.common
                lines.append(_row("COMMON", out.addr + piece.offset, piece.size,
                                  sym.obj.name if sym.obj else ""))
                lines.append(_symbol_row(out.addr + piece.offset, sym.name))
            pos = piece.offset + piece.size
        if out.size > pos and out.synthetic is None:
            lines.append(_row("*fill*", out.addr + pos, out.size - pos))
        lines.append("")

    defined = [s for s in result.table.symbols.values() if s.kind in (LINKER, ABSOLUTE)]
    if defined:
        lines += ["Linker-defined and absolute symbols", ""]
        for sym in sorted(defined, key=lambda s: (s.address, s.name)):
            origin = "linker" if sym.kind == LINKER else (sym.obj.name if sym.obj else "")
            lines.append(f"{'':16}{sym.address:#010x}                {sym.name} ({origin})")
        lines.append("")

    if result.flat_origin is not None:
        lines += [f"Flat binary: {len(result.output):#x} bytes, byte 0 at "
                  f"{result.flat_origin:#010x}", "", f"Entry point {result.entry:#010x}", ""]
        return "\n".join(lines)
    lines += ["Program headers", "",
              "  Type           Offset   VirtAddr   FileSiz  MemSiz   Flg"]
    for seg in sorted(result.layout.segments, key=lambda s: s.vaddr):
        names = " ".join(o.name for o in seg.sections)
        lines.append(f"  {'LOAD':<14} {seg.offset:#08x} {seg.vaddr:#010x} {seg.filesz:#08x} "
                     f"{seg.memsz:#08x} {segment_flags_text(seg.flags)}  {names}".rstrip())
    if result.layout.gnu_stack is not None:
        lines.append(f"  {'GNU_STACK':<14} {0:#08x} {0:#010x} {0:#08x} {0:#08x} "
                     f"{segment_flags_text(result.layout.gnu_stack)}".rstrip())
    lines += ["", f"Entry point {result.entry:#010x}", ""]
    return "\n".join(lines)
