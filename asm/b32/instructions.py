"""The B32 instruction table (spec section 3): the single description of the ISA.

Each row gives the mnemonic, opcode, operand kind and the semantics as data (an operation
family plus the register or compare bit it acts on). The assembler's encoder, the
disassembler and the CPU (``vm.b32.cpu``, which implements each family once) are all
built from this table, so they cannot disagree.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Optional


class Operand(enum.Enum):
    """How an instruction's operand is written and encoded."""

    NONE = ("", 0)          # INCA
    BYTE = ("#nn", 1)       # LDA #42: one byte
    WORD = ("#nnnn", 2)     # LDX #$A000 / JMP #Loop: two bytes, little-endian
    INDEX_X = (",X", 0)     # STA ,X: the only indexed form; nothing is encoded
    ENTRY = ("label", 0)    # END Start: the label goes into the header, not the code

    def __init__(self, form: str, size: int):
        self.form = form
        self.size = size


# Register widths; D is A (high byte) and B (low byte) seen as one 16-bit register.
REGISTER_MASK = {"A": 0xFF, "B": 0xFF, "D": 0xFFFF, "X": 0xFFFF, "Y": 0xFFFF}

# The compare register CF (spec 3.1): CMPr sets exactly one of EQ, or NE plus LT/GT.
CF_EQ, CF_NE, CF_LT, CF_GT = 0x01, 0x02, 0x04, 0x08

# The processor flags PF: OV is bit 0, CY is bit 1.
PF_OV, PF_CY = 0x01, 0x02


@dataclass(frozen=True)
class Instruction:
    mnemonic: str
    opcode: int
    operand: Operand
    op: str                      # operation family, implemented once in vm.b32.cpu
    reg: Optional[str] = None    # register the family acts on
    when: Optional[int] = None   # jumps: CF bit that must be set (None = always)

    @property
    def length(self) -> int:
        return 1 + self.operand.size

    @property
    def usage(self) -> str:
        return f"{self.mnemonic} {self.operand.form}".rstrip()


def _rows() -> tuple[Instruction, ...]:
    I, O = Instruction, Operand
    return (
        I("LDA", 0x01, O.BYTE, "load", "A"),
        I("LDX", 0x02, O.WORD, "load", "X"),
        I("STA", 0x03, O.INDEX_X, "store", "A"),
        I("END", 0x04, O.ENTRY, "halt"),
        I("CMPA", 0x05, O.BYTE, "compare", "A"),
        I("CMPB", 0x06, O.BYTE, "compare", "B"),
        I("CMPX", 0x07, O.WORD, "compare", "X"),
        I("CMPY", 0x08, O.WORD, "compare", "Y"),
        I("CMPD", 0x09, O.WORD, "compare", "D"),
        I("JMP", 0x0A, O.WORD, "jump"),
        I("JEQ", 0x0B, O.WORD, "jump", when=CF_EQ),
        I("JNE", 0x0C, O.WORD, "jump", when=CF_NE),
        # Section 9 #1: the documented meaning (register > operand), not the tutorial
        # code's swapped bits; the spec's "HIJKL" sample only works this way.
        I("JGT", 0x0D, O.WORD, "jump", when=CF_GT),
        I("JLT", 0x0E, O.WORD, "jump", when=CF_LT),
        I("INCA", 0x0F, O.NONE, "inc", "A"),
        I("INCB", 0x10, O.NONE, "inc", "B"),
        I("INCX", 0x11, O.NONE, "inc", "X"),
        I("INCY", 0x12, O.NONE, "inc", "Y"),
        I("INCD", 0x13, O.NONE, "inc", "D"),
        I("DECA", 0x14, O.NONE, "dec", "A"),
        I("DECB", 0x15, O.NONE, "dec", "B"),
        I("DECX", 0x16, O.NONE, "dec", "X"),
        I("DECY", 0x17, O.NONE, "dec", "Y"),
        I("DECD", 0x18, O.NONE, "dec", "D"),
        I("ROLA", 0x19, O.NONE, "rol", "A"),
        I("ROLB", 0x1A, O.NONE, "rol", "B"),
        I("RORA", 0x1B, O.NONE, "ror", "A"),
        I("RORB", 0x1C, O.NONE, "ror", "B"),
        I("ADCA", 0x1D, O.NONE, "adc", "A"),
        I("ADCB", 0x1E, O.NONE, "adc", "B"),
        I("ADDA", 0x1F, O.BYTE, "add", "A"),
        I("ADDB", 0x20, O.BYTE, "add", "B"),
        I("ADDAB", 0x21, O.NONE, "addab", "D"),
        I("LDB", 0x22, O.BYTE, "load", "B"),
        I("LDY", 0x23, O.WORD, "load", "Y"),
    )


TABLE: tuple[Instruction, ...] = _rows()
BY_MNEMONIC: dict[str, Instruction] = {i.mnemonic: i for i in TABLE}
BY_OPCODE: dict[int, Instruction] = {i.opcode: i for i in TABLE}


@dataclass(frozen=True)
class Decoded:
    """One instruction found in memory."""

    address: int
    insn: Instruction
    value: Optional[int]   # the encoded operand, None when nothing is encoded

    @property
    def length(self) -> int:
        return self.insn.length


def encode(insn: Instruction, value: Optional[int] = None) -> bytes:
    """Bytes of one instruction; ``value`` must already be range-checked."""
    size = insn.operand.size
    if size == 0:
        return bytes((insn.opcode,))
    return bytes((insn.opcode,)) + value.to_bytes(size, "little")


def decode(code: bytes, offset: int, address: int) -> Optional[Decoded]:
    """Decode the instruction at ``code[offset]`` (loaded at ``address``).

    Returns None for an unassigned opcode or an instruction cut off by the end of ``code``.
    """
    insn = BY_OPCODE.get(code[offset]) if offset < len(code) else None
    if insn is None or offset + insn.length > len(code):
        return None
    size = insn.operand.size
    value = int.from_bytes(code[offset + 1:offset + 1 + size], "little") if size else None
    return Decoded(address, insn, value)
