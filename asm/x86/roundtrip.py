"""x86 roundtrip: assemble a source, disassemble the image, reassemble the disassembly and
compare the bytes. A difference names the first instruction that did not survive."""

from __future__ import annotations

import re
from typing import Optional

from asm.errors import AsmErrors
from asm.x86.disasm import disassemble


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


_EXTERN = re.compile(r"^\s*extern\b", re.IGNORECASE | re.MULTILINE)


def _pieces(result, section, base: int) -> list:
    """(offset, bits) runs of a section's bytes, from where `bits`/`useNN` took effect."""
    runs = [(0, result.default_bits)]
    for sec, off, bits in result.modes:
        if sec is section:
            runs = [r for r in runs if r[0] < off] + [(off, bits)]
    return [(base + off, bits) for off, bits in runs]


def roundtrip_file(path: str) -> Optional[str]:
    """None when the file survives assemble -> disassemble -> reassemble byte for byte.
    Each run of bytes is disassembled in the mode its source gave it (a boot sector that
    switches to 32-bit code); a source with `extern` is an object's: its code sections
    are compared (relocated fields hold their addends, which survive as plain numbers)."""
    from asm.assembler import assemble
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError as e:
        return f"cannot read: {e.strerror or e}"
    fmt = "elf32" if _EXTERN.search(text) else "bin"
    try:
        result = assemble(text, path, fmt=fmt)
    except AsmErrors as e:
        return f"does not assemble: {e.errors[0]}"
    if fmt == "bin":
        image, org = result.image(), result.org or 0
        runs = []
        for sec in result.sections:
            runs += _pieces(result, sec, result.layout.base(sec) - org)
        chunks = [(image, sorted(r for r in runs if 0 <= r[0] < len(image)) or
                   [(0, result.default_bits)], org)]
    else:
        chunks = [(bytes(sec.data), _pieces(result, sec, 0), 0)
                  for sec in result.sections if sec.name.startswith(".text") and sec.data]
    for data, runs, origin in chunks:
        for i, (at, bits) in enumerate(runs):
            end = runs[i + 1][0] if i + 1 < len(runs) else len(data)
            if end > at:
                problem = roundtrip_bytes(data[at:end], bits, origin + at, path)
                if problem:
                    return problem
    return None
