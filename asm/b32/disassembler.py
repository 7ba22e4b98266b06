"""The B32 disassembler: table-driven, and its output is source the assembler accepts.

Jump targets and the entry point inside the image get labels (``L1003``, ``START``);
everything else is written as absolute hex (``#$A000``).
"""

from __future__ import annotations

from typing import Optional

from asm.b32.instructions import Decoded, Operand, decode
from asm.sweep import linear_sweep
from formats.b32 import B32Image

_INDENT = " " * 8


def decode_image(image: B32Image) -> list:
    """Linear sweep: a list of Decoded, or (address, byte) where no instruction decodes."""
    return linear_sweep(image.code, image.load, decode)


def format_instruction(d: Decoded, labels: Optional[dict] = None) -> str:
    """Source text of one instruction; ``labels`` maps addresses to label names."""
    insn, value = d.insn, d.value
    kind = insn.operand
    label = (labels or {}).get(value) if kind is not Operand.BYTE else None
    if kind is Operand.NONE:
        return insn.mnemonic
    if kind is Operand.INDEX_X:
        return f"{insn.mnemonic} ,X"
    if kind is Operand.BYTE:
        return f"{insn.mnemonic} #${value:02X}"
    if kind is Operand.WORD:
        return f"{insn.mnemonic} #{label}" if label else f"{insn.mnemonic} #${value:04X}"
    return insn.mnemonic       # ENTRY: END's label comes from the header, see disassemble()


def instruction_at(mem: bytes, address: int) -> str:
    """'JMP #$1003'-style text of the instruction at ``address`` in a 64 KiB memory."""
    window = bytes(mem[(address + i) & 0xFFFF] for i in range(3))   # IP wraps at $FFFF
    found = decode(window, 0, address)
    return format_instruction(found) if found else f"${mem[address]:02X} (not an instruction)"


def disassemble(image: B32Image, name: Optional[str] = None) -> str:
    """B32 source for ``image``; assemble it with origin ``image.load``."""
    items = decode_image(image)
    starts = {d.address for d in items if isinstance(d, Decoded)}
    targets = {d.value for d in items
               if isinstance(d, Decoded) and d.insn.op == "jump" and d.value in starts}
    labels = {address: f"L{address:04X}" for address in sorted(targets)}
    if image.entry in starts:
        labels[image.entry] = "START"
    entry = labels.get(image.entry, f"#${image.entry:04X}")

    out = [f"; {name or 'B32 program'}: load ${image.load:04X}, entry ${image.entry:04X}",
           f"; assemble with origin ${image.load:04X}"]
    for d in items:
        if not isinstance(d, Decoded):
            address, byte = d
            out.append(f"{_INDENT}; ${address:04X}: ${byte:02X} is not a B32 instruction")
            continue
        if d.address in labels:
            out.append(f"{labels[d.address]}:")
        text = format_instruction(d, labels)
        if d.insn.operand is Operand.ENTRY:
            text = f"END {entry}"
        raw = image.code[d.address - image.load:d.address - image.load + d.length]
        out.append(f"{_INDENT}{text:<16}; ${d.address:04X}: {raw.hex(' ').upper()}")
    return "\n".join(out) + "\n"
