"""The V16 instruction table (v16-spec.md section 5): the single description of the ISA.

Each row gives the mnemonic, the opcode, the operands in source order (which is also the
encoding order) and the semantics as data: an operation family, implemented once in
``vm.v16.cpu``, plus what it acts on (a fixed register, a FLAGS bit, a jump condition).
The assembler's encoder, the disassembler and the CPU are all built from this table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Optional

REGISTERS = ("ax", "bx", "cx", "dx")           # operand numbers 0-3 (spec section 2)
OTHER_REGISTERS = ("sp", "ip", "flags")        # exist, but cannot be operands
REGISTER_NUMBER = {name: n for n, name in enumerate(REGISTERS)}

# FLAGS bits (spec section 2); bits 15-4 are reserved and always 0.
FLAG_E, FLAG_G, FLAG_H, FLAG_L = 0x8, 0x4, 0x2, 0x1
FLAG_LETTERS = "EGHL"                          # bits 3..0, as the dump shows them


class Operand(enum.Enum):
    """An operand's source shape and its encoded size in bytes."""

    REG = ("reg", 1)       # ax: a register-number byte
    IMM = ("value", 2)     # 0x5005, 'A', label: a 16-bit word
    MEM = ("[value]", 2)   # [0x8000]: an absolute address word
    IND = ("[reg]", 1)     # [bx]: a register-number byte
    FIXED = ("reg", 0)     # the register named by the opcode itself (mov ax, imm = 08)

    def __init__(self, shape: str, size: int):
        self.shape = shape
        self.size = size


# Flow after an instruction, for the fall-through check (spec 6.1 step 4).
NEXT, STOP, JUMP, COND = "next", "stop", "jump", "cond"


@dataclass(frozen=True)
class Instruction:
    mnemonic: str
    opcode: int
    operands: tuple[Operand, ...]
    op: str                         # operation family, implemented once in vm.v16.cpu
    flow: str = NEXT
    reg: Optional[int] = None       # FIXED operand: the register number
    mask: int = 0                   # flag instructions: the bit; jumps: FLAGS & mask ...
    value: int = 0                  # ... must equal value for the jump to be taken

    @property
    def length(self) -> int:
        return 1 + sum(o.size for o in self.operands)

    @property
    def usage(self) -> str:
        shapes = [REGISTERS[self.reg] if o is Operand.FIXED else o.shape
                  for o in self.operands]
        return f"{self.mnemonic} {', '.join(shapes)}".rstrip()

    def taken(self, flags: int) -> bool:
        """Conditional jumps: does FLAGS select the target?"""
        return flags & self.mask == self.value


def _rows() -> tuple[Instruction, ...]:
    I, R, V, M, P, F = Instruction, Operand.REG, Operand.IMM, Operand.MEM, Operand.IND, \
        Operand.FIXED
    rows = [
        I("nop", 0x01, (), "nop"),
        I("hlt", 0x02, (), "hlt", STOP),
        I("out", 0x03, (R,), "out"),
    ]
    rows += [I("mov", 0x08 + n, (F, V), "mov", reg=n) for n in range(4)]
    rows += [
        I("mov", 0x0C, (R, R), "mov"),
        I("mov", 0x0D, (R, M), "mov"),
        I("mov", 0x0E, (M, R), "mov"),
        I("mov", 0x0F, (R, P), "mov"),
        I("mov", 0x18, (P, R), "mov"),
    ]
    for n, (bit, letter) in enumerate(zip((FLAG_E, FLAG_G, FLAG_H, FLAG_L), "eghl")):
        rows.append(I(f"st{letter}", 0x10 + 2 * n, (), "setflag", mask=bit))
        rows.append(I(f"cl{letter}", 0x11 + 2 * n, (), "clearflag", mask=bit))
    rows += [
        I("push", 0x1A, (R,), "push"),
        I("pop", 0x1B, (R,), "pop"),
        I("call", 0x1C, (V,), "call"),          # pushes next, so it "falls through"
        I("ret", 0x1D, (), "ret", JUMP),
        I("add", 0x20, (R, R), "add"),
        I("add", 0x21, (R, V), "add"),
        I("sub", 0x22, (R, R), "sub"),
        I("sub", 0x23, (R, V), "sub"),
        I("inc", 0x24, (R,), "inc"),
        I("dec", 0x25, (R,), "dec"),
        I("cmp", 0x26, (R, R), "cmp"),
        I("cmp", 0x27, (R, V), "cmp"),
        I("jmp", 0x28, (V,), "jump", JUMP),
        I("je", 0x29, (V,), "jump", COND, mask=FLAG_E, value=FLAG_E),
        I("jne", 0x2A, (V,), "jump", COND, mask=FLAG_E, value=0),
        I("jg", 0x2B, (V,), "jump", COND, mask=FLAG_G, value=FLAG_G),
        I("jl", 0x2C, (V,), "jump", COND, mask=FLAG_E | FLAG_G, value=0),
        I("ja", 0x2D, (V,), "jump", COND, mask=FLAG_H, value=FLAG_H),
        I("jb", 0x2E, (V,), "jump", COND, mask=FLAG_L, value=FLAG_L),
    ]
    return tuple(rows)


TABLE: tuple[Instruction, ...] = _rows()
BY_OPCODE: dict[int, Instruction] = {i.opcode: i for i in TABLE}
MNEMONICS: dict[str, tuple[Instruction, ...]] = {}
for _insn in TABLE:
    MNEMONICS[_insn.mnemonic] = MNEMONICS.get(_insn.mnemonic, ()) + (_insn,)


@dataclass(frozen=True)
class Decoded:
    """One instruction found in memory: its address and its operand values in source
    order (register numbers or 16-bit words; a FIXED operand is its register number)."""

    address: int
    insn: Instruction
    args: tuple[int, ...]

    @property
    def length(self) -> int:
        return self.insn.length


def encode(insn: Instruction, args: tuple[int, ...]) -> bytes:
    """Bytes of one instruction; ``args`` in source order, already range-checked (16-bit
    values as 0..0xFFFF)."""
    out = bytearray((insn.opcode,))
    for kind, value in zip(insn.operands, args):
        if kind.size:
            out += value.to_bytes(kind.size, "little")
    return bytes(out)


def decode(code: bytes, offset: int, address: int) -> Optional[Decoded]:
    """Decode the instruction at ``code[offset]`` (loaded at ``address``).

    None for an illegal opcode, an illegal register byte (above 3) or an instruction cut
    off by the end of ``code``: the assembler could not have written any of these.
    """
    insn = BY_OPCODE.get(code[offset]) if offset < len(code) else None
    if insn is None or offset + insn.length > len(code):
        return None
    args = []
    at = offset + 1
    for kind in insn.operands:
        if kind is Operand.FIXED:
            args.append(insn.reg)
            continue
        value = int.from_bytes(code[at:at + kind.size], "little")
        if kind.size == 1 and value > 3:
            return None
        args.append(value)
        at += kind.size
    return Decoded(address, insn, tuple(args))


def format_instruction(d: Decoded) -> str:
    """Canonical text (spec 7.4): lowercase, values as 0x plus 4 uppercase hex digits."""
    parts = []
    for kind, value in zip(d.insn.operands, d.args):
        if kind in (Operand.REG, Operand.FIXED):
            parts.append(REGISTERS[value])
        elif kind is Operand.IND:
            parts.append(f"[{REGISTERS[value]}]")
        elif kind is Operand.MEM:
            parts.append(f"[0x{value:04X}]")
        else:
            parts.append(f"0x{value:04X}")
    return f"{d.insn.mnemonic} {', '.join(parts)}".rstrip()
