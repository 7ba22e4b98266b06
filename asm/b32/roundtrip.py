"""Assemble, disassemble, reassemble: the bytes must come back identical."""

from __future__ import annotations

from typing import Optional

from asm.b32.assembler import assemble
from asm.b32.disassembler import decode_image, format_instruction
from asm.b32.disassembler import disassemble as disassemble_image
from asm.b32.instructions import Decoded
from asm.errors import AsmErrors
from formats.b32 import B32Image, read_b32


def roundtrip_file(path: str) -> Optional[str]:
    """None when ``path`` survives the round trip, else what differs first."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        return f"cannot read: {e}"
    try:
        original = assemble(text, path)
    except AsmErrors as e:
        return f"does not assemble: {e.errors[0]}"
    return roundtrip_bytes(original, path)


def roundtrip_bytes(original: bytes, name: str = "program") -> Optional[str]:
    """The round trip from an assembled .b32 file onwards."""
    image = read_b32(original)
    source = disassemble_image(image, name)
    try:
        again = read_b32(assemble(source, f"{name} (disassembled)", image.load))
    except AsmErrors as e:
        return f"the disassembly does not reassemble: {e.errors[0]}"
    if again.to_bytes() == original:
        return None
    return _first_difference(image, again)


def _first_difference(image: B32Image, again: B32Image) -> str:
    for item in decode_image(image):
        if not isinstance(item, Decoded):
            address, byte = item
            return f"${address:04X}: byte ${byte:02X} is not an instruction and was lost"
        start = item.address - image.load
        before = image.code[start:start + item.length]
        after = again.code[start:start + item.length]
        if before != after:
            return (f"${item.address:04X} {format_instruction(item)}: "
                    f"{before.hex(' ').upper()} became {after.hex(' ').upper() or 'nothing'}")
    if len(again.code) != len(image.code):
        return f"the image was {len(image.code)} bytes and became {len(again.code)}"
    return f"the entry address ${image.entry:04X} became ${again.entry:04X}"
