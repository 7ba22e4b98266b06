"""x86 roundtrip: assemble a source, disassemble the image, reassemble the disassembly and
compare the bytes. A difference names the first instruction that did not survive."""

from __future__ import annotations

import re
from typing import Optional

from asm.errors import AsmErrors
from asm.x86.disasm import disassemble

_BITS = re.compile(r"^\s*(?:\[\s*bits\s+(16|32)\s*\]|bits\s+(16|32)|use(16|32))\b",
                   re.IGNORECASE | re.MULTILINE)


def source_bits(text: str) -> int:
    """The code size a flat source is written for (NASM's `bin` default is 16)."""
    found = {next(g for g in m.groups() if g) for m in _BITS.finditer(text)}
    if len(found) > 1:
        raise ValueError("the source switches between 16- and 32-bit code; roundtrip "
                         "needs one mode per file")
    return int(found.pop()) if found else 16


def disassembly_source(image: bytes, bits: int, origin: int) -> tuple:
    """NASM source for a flat image, and the Line records it was made from."""
    lines = list(disassemble(image, bits, origin))
    text = [f"bits {bits}", f"org 0x{origin:x}"] + [ln.text for ln in lines]
    return "\n".join(text) + "\n", lines


def roundtrip_bytes(image: bytes, bits: int, origin: int, name: str = "image") -> Optional[str]:
    from asm.assembler import assemble
    text, lines = disassembly_source(image, bits, origin)
    try:
        again = assemble(text, f"{name} (disassembled)", fmt="bin", bits=bits).image()
    except AsmErrors as e:
        return f"the disassembly does not assemble: {e.errors[0]}"
    if again == image:
        return None
    for ln in lines:
        off = ln.address - origin
        if again[off:off + len(ln.raw)] != ln.raw:
            got = again[off:off + len(ln.raw)].hex(" ")
            return (f"first difference at 0x{ln.address:x}: '{ln.text}' was "
                    f"{ln.raw.hex(' ')}, reassembled as {got}")
    return f"reassembled image has {len(again)} bytes, original {len(image)}"


def roundtrip_file(path: str) -> Optional[str]:
    """None when the file survives assemble -> disassemble -> reassemble byte for byte."""
    from asm.assembler import assemble
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError as e:
        return f"cannot read: {e.strerror or e}"
    try:
        bits = source_bits(text)
        result = assemble(text, path, fmt="bin")
    except ValueError as e:
        return str(e)
    except AsmErrors as e:
        return f"does not assemble: {e.errors[0]}"
    return roundtrip_bytes(result.image(), bits, result.org or 0, path)
