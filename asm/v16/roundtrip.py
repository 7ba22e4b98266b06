"""Assemble, disassemble, reassemble: the bytes must come back identical."""

from __future__ import annotations

from typing import Optional

from asm.errors import AsmErrors
from asm.v16.assembler import assemble
from asm.v16.disassembler import decode_image, disassemble_image
from asm.v16.instructions import Decoded, format_instruction
from formats.v16 import V16FormatError, V16Image, read_v16


def roundtrip_file(path: str) -> Optional[str]:
    """None when the source at ``path`` survives the round trip, else what differs first."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        return f"cannot read: {e}"
    return roundtrip_source(text, path)


def roundtrip_source(text: str, name: str = "program") -> Optional[str]:
    try:
        original = assemble(text, name)
    except AsmErrors as e:
        return f"does not assemble: {e.errors[0]}"
    return roundtrip_bytes(original, name)


def roundtrip_bytes(original: bytes, name: str = "program") -> Optional[str]:
    """The round trip from the bytes of a .v16 file onwards."""
    try:
        image = read_v16(original)
    except V16FormatError as e:
        return f"not a valid V16 file: {e}"
    source = "\n".join(disassemble_image(image, name)) + "\n"
    try:
        again = read_v16(assemble(source, f"{name} (disassembled)"))
    except AsmErrors as e:
        return f"the disassembly does not reassemble: {e.errors[0]}"
    if again.to_bytes() == original:
        return None
    return _first_difference(image, again)


def _first_difference(image: V16Image, again: V16Image) -> str:
    for item in decode_image(image):
        if isinstance(item, Decoded):
            address, size, text = item.address, item.length, format_instruction(item)
        else:
            address, size, text = item[0], 1, f".byte 0x{item[1]:02X}"
        start = address - image.load
        before, after = image.code[start:start + size], again.code[start:start + size]
        if before != after:
            return (f"0x{address:04X} {text}: {before.hex(' ').upper()} became "
                    f"{after.hex(' ').upper() or 'nothing'}")
    if len(again.code) != len(image.code):
        return f"the image was {len(image.code)} bytes and became {len(again.code)}"
    if again.load != image.load:
        return f"the load address 0x{image.load:04X} became 0x{again.load:04X}"
    return f"the entry address 0x{image.entry:04X} became 0x{again.entry:04X}"
