"""NASM-syntax disassembler. Every line it prints reassembles to the same bytes: the decoded
operands are re-encoded, and when NASM's optimiser would choose another encoding the line
gets the keywords (strict, near, o16, byte displacement...) that pin the original one; bytes
that no form reproduces are printed as ``db``."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Iterator, Optional

from asm.errors import AsmError
from asm.x86.decoder import DecodeError, Insn, decode
from asm.x86.encoder import encode
from asm.x86.operands import FarPtr, Imm, Mem, Reg, SectionRel

SIZE_NAME = {1: "byte", 2: "word", 4: "dword", 8: "qword", 10: "tword", 16: "oword"}
STRING_OPS = {"movs", "cmps", "stos", "lods", "scas", "ins", "outs"}


def hexnum(v: int) -> str:
    return f"-0x{-v:x}" if v < 0 else f"0x{v:x}"


def format_operand(op, symbols: Optional[dict] = None) -> str:
    if isinstance(op, Reg):
        return op.name
    if isinstance(op, Imm):
        text = _sym(op.value, symbols) or hexnum(op.value)
        kw = []
        if op.strict:
            kw.append("strict")
        if op.jump:
            kw.append(op.jump)
        if op.size:
            kw.append(SIZE_NAME[op.size])
        return " ".join(kw + [text])
    if isinstance(op, FarPtr):
        kw = f"{SIZE_NAME[op.size]} " if op.size else ""
        return f"{kw}0x{op.seg:x}:0x{op.offset:x}"
    if isinstance(op, Mem):
        parts = []
        for i, (reg, mult) in enumerate(op.regs):
            term = reg if mult == 1 and reg not in op.scaled else f"{reg}*{mult}"
            parts.append(term if i == 0 else "+" + term)
        disp = op.disp
        if not op.regs:
            parts.append(_sym(disp, symbols) or hexnum(disp))
        elif disp or op.disp_size or op.nosplit:
            parts.append(("-" if disp < 0 else "+") + hexnum(abs(disp)))
        inner = "".join(parts)
        if op.seg:
            inner = f"{op.seg}:{inner}"
        if op.disp_size:
            inner = f"{SIZE_NAME[op.disp_size]} {inner}"
        if op.nosplit:
            inner = f"nosplit {inner}"
        pre = ""
        if op.jump == "far":
            pre = "far "
        elif op.size:
            pre = SIZE_NAME[op.size] + " "
        return f"{pre}[{inner}]"
    raise TypeError(op)


def _sym(value: int, symbols: Optional[dict]) -> Optional[str]:
    if symbols and value in symbols:
        return symbols[value]
    return None


def _prefix_words(insn: Insn) -> list:
    words = []
    base = insn.form.mnemonic.rstrip("bwd")
    if insn.lock:
        words.append("lock")
    if insn.rep:
        if insn.rep == "rep" and base in ("cmps", "scas"):
            words.append("repe")
        else:
            words.append(insn.rep)
    has_mem = any(isinstance(op, Mem) for op in insn.operands)
    if insn.seg and not has_mem:
        words.append(insn.seg)
    if insn.unused_osize:
        words.append(f"o{insn.osize}")
    if insn.unused_asize:
        words.append(f"a{insn.asize}")
    return words


def _variants(insn: Insn, bits: int):
    """Operand lists (and prefixes) to try, from plainest to most pinned."""
    ops = insn.operands
    prefixes = _prefix_words(insn)
    yield prefixes, ops
    pinned = copy.deepcopy(ops)
    sized_imm = False
    for t, op in zip(insn.form.operands, pinned):
        if isinstance(op, Imm):
            if t in ("imm8", "imm16", "imm32"):
                op.size, op.strict = int(t[3:]) // 8, True
                sized_imm = True
            elif t == "simm8":
                op.size = 1
                sized_imm = True
            elif t == "rel8":
                op.jump = "short"
            elif t in ("rel16", "rel32"):
                if int(t[3:]) == bits:
                    op.jump = "near"
                else:
                    op.size = int(t[3:]) // 8
        elif isinstance(op, FarPtr) and insn.form.osize != bits:
            op.size = insn.form.osize // 8
    yield prefixes, pinned
    if insn.form.osize and insn.form.osize != bits:
        yield prefixes + [f"o{insn.form.osize}"], pinned
        plain_rel = copy.deepcopy(pinned)
        for op in plain_rel:
            if isinstance(op, Imm) and op.size and not sized_imm:
                op.size, op.jump = None, "near"
        yield prefixes + [f"o{insn.form.osize}"], plain_rel
    if insn.form.asize and insn.form.asize != bits:
        yield prefixes + [f"a{insn.form.asize}"], pinned


@dataclass
class Line:
    address: int
    raw: bytes
    text: str
    insn: Optional[Insn] = None


HERE = SectionRel(".text")


def _format_rel(op: Imm, address: int, symbols: Optional[dict]) -> str:
    """A jump target as a label, or relative to `$` (a plain number is not a local target
    for NASM, which would neither optimise nor resolve it the same way)."""
    kw = [w for w in (op.jump, SIZE_NAME.get(op.size)) if w]
    target = _sym(op.value, symbols)
    if target is None:
        delta = op.value - address
        target = "$" if delta == 0 else f"$+0x{delta:x}" if delta > 0 else f"$-0x{-delta:x}"
    return " ".join(kw + [target])


def render(insn: Insn, bits: int, symbols: Optional[dict] = None) -> Optional[str]:
    """The NASM text that reassembles to insn.raw, or None when no text does."""
    roles = insn.form.roles
    for prefixes, ops in _variants(insn, bits):
        ops = [Imm(o.value, o.size, o.strict, o.jump, HERE) if r == "rel" else o
               for r, o in zip(roles, ops)]
        try:
            enc = encode(insn.form.mnemonic, ops, bits, insn.address, prefixes, ".text")
        except AsmError:
            continue
        if enc.data == insn.raw:
            text = insn.form.display
            if ops:
                text += " " + ", ".join(
                    _format_rel(o, insn.address, symbols) if r == "rel" else
                    format_operand(o, symbols) for r, o in zip(roles, ops))
            return " ".join(prefixes + [text])
    return None


def db_line(address: int, data: bytes) -> Line:
    return Line(address, data, "db " + ", ".join(f"0x{b:02x}" for b in data))


def disassemble(code: bytes, bits: int = 32, origin: int = 0,
                symbols: Optional[dict] = None) -> Iterator[Line]:
    """Linear sweep. Undecodable or unreproducible bytes become `db` lines."""
    pos = 0
    while pos < len(code):
        try:
            insn = decode(code, pos, bits, origin + pos)
        except DecodeError:
            yield db_line(origin + pos, code[pos:pos + 1])
            pos += 1
            continue
        text = render(insn, bits, symbols)
        if text is None:
            yield db_line(origin + pos, code[pos:pos + 1])
            pos += 1
            continue
        yield Line(origin + pos, insn.raw, text, insn)
        pos += insn.length


def x86_listing(code: bytes, bits: int, origin: int, symbols: dict | None = None) -> list:
    """Source lines for a flat x86 image loaded at ``origin``."""
    lines = []
    for line in disassemble(code, bits, origin, symbols):
        if symbols and line.address in symbols:
            lines.append(f"{symbols[line.address]}:")
        lines.append(f"    {line.text:<40} ; {line.address:08X}: {line.raw.hex(' ').upper()}")
    return lines
