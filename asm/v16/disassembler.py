"""The V16 disassembler: table-driven, and its output is source the assembler accepts.

Instructions are written in the canonical form of spec 7.4 (``mov bx, 0x5005``,
``jne 0x0003``); bytes that are no instruction (an illegal opcode or register byte, a
cut-off instruction) become ``.byte 0xNN``. The entry point gets the label ``start`` so
that ``.entry start`` reproduces the header.
"""

from __future__ import annotations

from typing import Optional, Union

from asm.sweep import linear_sweep
from asm.v16.instructions import Decoded, decode, format_instruction
from formats.v16 import V16Image, read_v16

_INDENT = " " * 8
ENTRY_LABEL = "start"


def decode_image(image: V16Image) -> list:
    """Linear sweep: Decoded items, or (address, byte) where no instruction decodes. The
    entry address always starts an item (it must carry the entry label)."""
    return linear_sweep(image.code, image.load, decode, sync=(image.entry,))


def instruction_at(mem: Union[bytes, bytearray], address: int) -> str:
    """Text of the instruction at ``address`` in a 64 KiB memory (``.byte 0xNN`` when
    there is none, e.g. an illegal opcode or an instruction running past 0xFFFF)."""
    window = bytes(mem[address:address + 4])
    found = decode(window, 0, address)
    return format_instruction(found) if found else f".byte 0x{mem[address]:02X}"


def disassemble_image(image: V16Image, name: Optional[str] = None,
                      listing: bool = True) -> list[str]:
    """Source lines for ``image``; with ``listing`` each line carries its address and
    bytes in a comment."""
    out = [f"; {name or 'V16 program'}: load 0x{image.load:04X}, entry 0x{image.entry:04X}, "
           f"{len(image.code)} bytes",
           f".org 0x{image.load:04X}",
           f".entry {ENTRY_LABEL}"]
    for item in decode_image(image):
        if isinstance(item, Decoded):
            address, size, text = item.address, item.length, format_instruction(item)
        else:
            address, size, text = item[0], 1, f".byte 0x{item[1]:02X}"
        if address == image.entry:
            out.append(f"{ENTRY_LABEL}:")
        if listing:
            raw = image.code[address - image.load:address - image.load + size]
            text = f"{text:<24}; {address:04X}: {raw.hex(' ').upper()}"
        out.append(_INDENT + text)
    return out


def disassemble(data: bytes, name: Optional[str] = None, listing: bool = True) -> list[str]:
    """Source lines for the bytes of a .v16 file; raises formats.v16.V16FormatError."""
    return disassemble_image(read_v16(data), name, listing)
