"""How many pieces NASM writes an encoded instruction in: its output format sees each
prefix byte, the opcode's literal bytes (a `+r` byte apart), the ModRM byte with its SIB,
the displacement and each immediate field as separate writes. In a nobits section each
write gets its own "attempt to initialize memory" warning, so pyasm counts them the same."""

from __future__ import annotations

from typing import TYPE_CHECKING

from asm.x86.table import IMM_TOKENS

if TYPE_CHECKING:
    from asm.x86 import decoder


def nasm_pieces(data: bytes, bits: int, bare: bool = False) -> int:
    """The number of writes NASM makes for the instruction encoded in ``data`` (the
    decoder may see more than one: `fstsw` is `fwait` and `fnstsw`); ``bare``: written
    without operands (NASM's x87 `fadd` is one literal, `fadd st1` two pieces)."""
    # (imported here: 8 ms of PyPy's start-up, for instructions in nobits sections only)
    from asm.x86 import decoder
    count = at = 0
    while at < len(data):
        try:
            insn = decoder.decode(data, at, bits)
        except decoder.DecodeError:
            return count or 1
        count += _pieces(insn, bare)
        at += insn.length
    return count or 1


def _pieces(insn: decoder.Insn, bare: bool) -> int:
    form = insn.form
    wait = 1 if form.wait_prefix else 0
    opcode = len(form.opcode) - wait
    count = len(insn.prefixes) + wait + (form.mandatory is not None)
    count += 2 if form.plus_r and opcode > 1 and not bare else 1
    imm_bytes = 0
    for tok in form.imms:
        if tok == "mo":
            imm_bytes += insn.asize // 8
            count += 1
        else:
            imm_bytes += IMM_TOKENS.get(tok, 0)
            count += 2 if tok in ("pw", "pd") else 1
    if form.modrm is not None:
        modrm = insn.modrm
        sib = insn.asize == 32 and modrm >> 6 != 3 and modrm & 7 == 4
        head = len(insn.prefixes) + (form.mandatory is not None) + len(form.opcode)
        disp = insn.length - head - 1 - sib - imm_bytes
        count += 1 + (disp > 0)
    return count
