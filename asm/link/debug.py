"""Debug sections in pyld's output, as GNU ld's default script keeps them.

``.debug_*`` input sections are not allocated, yet ld keeps them: each output section
``.debug_x 0 : { *(.debug_x) }`` concatenates the inputs of that name (each at its own
alignment) at address 0, after the allocated sections in the file, in the script's
order. Their relocations are applied like any other, so a reference to ``.text`` becomes
the code's final address and one to another debug section its offset in the output
(where that object's part starts). ``-s`` drops them, as ``ld -s`` does. Unlike ld, the
strings of ``.debug_str``/``.debug_line_str`` are not merged across objects (each
object's references stay valid, the section is only larger).
"""

from __future__ import annotations

from formats.elf.constants import SHF_MERGE, SHF_STRINGS, SHT_PROGBITS

from .objects import InputSection, OutputSection, Piece

DEBUG = "debug"             # OutputSection.kind of a debug section
# ld's default script (elf_i386), DWARF 1.1 to 5, in its order
SCRIPT_ORDER = (".debug_srcinfo", ".debug_sfnames", ".debug_aranges", ".debug_pubnames",
                ".debug_info", ".debug_abbrev", ".debug_line", ".debug_frame", ".debug_str",
                ".debug_loc", ".debug_macinfo", ".debug_weaknames", ".debug_funcnames",
                ".debug_typenames", ".debug_varnames", ".debug_pubtypes", ".debug_ranges",
                ".debug_addr", ".debug_line_str", ".debug_loclists", ".debug_macro",
                ".debug_names", ".debug_rnglists", ".debug_str_offsets", ".debug_sup")


def is_debug_section(name: str, sh_type: int) -> bool:
    return name.startswith(".debug_") and sh_type == SHT_PROGBITS


def debug_outputs(inputs: list[InputSection]) -> list[OutputSection]:
    """One output section per debug section name (ld's order, then others in input order),
    inputs in command-line order; sets each input's output and offset (address 0)."""
    by_name: dict[str, OutputSection] = {}
    for sec in inputs:
        out = by_name.get(sec.name)
        if out is None:
            out = by_name[sec.name] = OutputSection(sec.name, DEBUG, flags=0)
        out.inputs.append(sec)
    rank = {name: i for i, name in enumerate(SCRIPT_ORDER)}
    ordered = sorted(by_name.values(), key=lambda o: rank.get(o.name, len(rank)))
    for out in ordered:
        pos = 0
        for sec in out.inputs:
            pos = (pos + sec.align - 1) // sec.align * sec.align
            sec.output, sec.offset = out, pos
            out.pieces.append(Piece(pos, sec.size, sec))
            out.align = max(out.align, sec.align)
            pos += sec.size
        out.size = pos
        # ld keeps "MS" (mergeable strings, .debug_str) when every input has it; pyld
        # does not merge the strings themselves, each object's part stays as it is
        flags = [sec.flags & (SHF_MERGE | SHF_STRINGS) for sec in out.inputs]
        if flags and all(f == flags[0] for f in flags):
            out.flags = flags[0]
            out.entsize = out.inputs[0].entsize if flags[0] else 0
    return [o for o in ordered if o.size]


def place_in_file(outputs: list[OutputSection], file_end: int) -> None:
    """File offsets for the debug sections, after everything allocated."""
    pos = file_end
    for out in outputs:
        pos = (pos + out.align - 1) // out.align * out.align
        out.offset = pos
        pos += out.size
