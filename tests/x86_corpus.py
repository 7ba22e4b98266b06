"""Generates every x86 instruction form of the table with a spread of registers, edge-value
immediates and addressing modes, as NASM source lines plus the operands the encoder gets.

Used by the NASM parity test (tests/test_asm_corpus.py), the roundtrip corpus and the
assembler benchmark. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from asm.x86.operands import FarPtr, Imm, Mem, Reg, SectionRel
from asm.x86.table import forms

SIZE_NAME = {1: "byte", 2: "word", 4: "dword", 8: "qword", 10: "tword", 16: "oword"}
TYPE_SIZE = {"8": 1, "16": 2, "32": 4, "64": 8, "80": 10}

R8 = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"]
R16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"]
R32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"]
XMM = [f"xmm{n}" for n in range(8)]
XMM_MEM = {"xmmrm": 16, "xmmrm32": 4, "xmmrm64": 8, "m128": 16, "mmrm": 8}
MM = [f"mm{n}" for n in range(8)]

# (text inside the brackets, regs, disp, scaled)  -- 32-bit and 16-bit addressing forms
EA32 = [
    ("eax", [("eax", 1)], 0, ()), ("ebx", [("ebx", 1)], 0, ()), ("esp", [("esp", 1)], 0, ()),
    ("ebp", [("ebp", 1)], 0, ()), ("esi+4", [("esi", 1)], 4, ()),
    ("edi-128", [("edi", 1)], -128, ()), ("ebp+127", [("ebp", 1)], 127, ()),
    ("ecx+128", [("ecx", 1)], 128, ()), ("edx-129", [("edx", 1)], -129, ()),
    ("esp+0x12345678", [("esp", 1)], 0x12345678, ()), ("0x1234", [], 0x1234, ()),
    ("0", [], 0, ()), ("eax+ebx", [("eax", 1), ("ebx", 1)], 0, ()),
    ("ebx+ecx*2", [("ebx", 1), ("ecx", 2)], 0, ("ecx",)),
    ("esi*4+edi+8", [("esi", 4), ("edi", 1)], 8, ("esi",)),
    ("ebp+eax*8-4", [("ebp", 1), ("eax", 8)], -4, ("eax",)),
    ("eax*4+0x100", [("eax", 4)], 0x100, ("eax",)), ("ecx*2", [("ecx", 2)], 0, ("ecx",)),
    ("edx*3+1", [("edx", 3)], 1, ("edx",)), ("ebx*5", [("ebx", 5)], 0, ("ebx",)),
    ("ebx*9", [("ebx", 9)], 0, ("ebx",)), ("esp+esi", [("esp", 1), ("esi", 1)], 0, ()),
    ("esi+esp", [("esi", 1), ("esp", 1)], 0, ()), ("ebp+ecx", [("ebp", 1), ("ecx", 1)], 0, ()),
    ("ecx+ebp", [("ecx", 1), ("ebp", 1)], 0, ()),
    ("ebp*1+ebx", [("ebp", 1), ("ebx", 1)], 0, ("ebp",)), ("eax*1", [("eax", 1)], 0, ("eax",)),
    ("edi+0xFFFFFFFF", [("edi", 1)], 0xFFFFFFFF, ()), ("esp-1", [("esp", 1)], -1, ()),
]
EA16 = [
    ("bx+si", [("bx", 1), ("si", 1)], 0, ()), ("bx+di+5", [("bx", 1), ("di", 1)], 5, ()),
    ("bp+si-3", [("bp", 1), ("si", 1)], -3, ()), ("bp+di+0x200", [("bp", 1), ("di", 1)], 0x200, ()),
    ("si", [("si", 1)], 0, ()), ("di+127", [("di", 1)], 127, ()), ("bp", [("bp", 1)], 0, ()),
    ("bx-128", [("bx", 1)], -128, ()), ("bp+0x1234", [("bp", 1)], 0x1234, ()),
    ("si+bx", [("si", 1), ("bx", 1)], 0, ()), ("0x1234", [], 0x1234, ()),
]
SEGS = ["es", "cs", "ss", "ds", "fs", "gs"]

IMM8 = [0, 1, 0x7F, 0x80, 0xFF, -1, -128]
IMM16 = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0xFFFF, -1, -128, -129, 0x1234]
IMM32 = [0, 1, 0x7F, 0x80, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF, -1, -128, -129,
         0x12345678]
SIMM8 = [0, 1, 0x7F, -1, -128, 0x80, 0xFF]


@dataclass
class Item:
    bits: int
    text: str
    mnemonic: str
    operands: list
    form_index: int


def _fmt_num(v: int) -> str:
    return f"-0x{-v:x}" if v < 0 else f"0x{v:x}"


def _mem(rng: random.Random, bits: int, size: int | None, sized: bool):
    pool = EA32 if bits == 32 or rng.random() < 0.2 else EA16
    if bits == 32 and rng.random() < 0.15:
        pool = EA16
    text, regs, disp, scaled = rng.choice(pool)
    seg = rng.choice(SEGS) if rng.random() < 0.15 else None
    inner = f"{seg}:{text}" if seg else text
    prefix = f"{SIZE_NAME[size]} " if (sized and size) else ""
    op = Mem(size=size if sized else None, seg=seg, regs=list(regs), disp=disp,
             scaled=tuple(scaled))
    return f"{prefix}[{inner}]", op


def _operand(rng: random.Random, t: str, bits: int, form, pinned: bool):
    """Return (text, operand) for one operand type."""
    if t in ("r8", "r16", "r32"):
        name = rng.choice({"r8": R8, "r16": R16, "r32": R32}[t])
        return name, Reg(name)
    if t in ("xmm", "mm"):
        name = rng.choice(XMM if t == "xmm" else MM)
        return name, Reg(name)
    if t in XMM_MEM:
        if t != "m128" and rng.random() < 0.4:
            name = rng.choice(MM if t == "mmrm" else XMM)
            return name, Reg(name)
        return _mem(rng, bits, XMM_MEM[t], sized=rng.random() < 0.5)
    if t.startswith("rm"):
        size = TYPE_SIZE[t[2:]]
        if rng.random() < 0.4:
            name = rng.choice({1: R8, 2: R16, 4: R32}[size])
            return name, Reg(name)
        return _mem(rng, bits, size, sized=not pinned or rng.random() < 0.5)
    if t == "m":
        return _mem(rng, bits, None, sized=False)
    if t[0] == "m" and t[1:] in TYPE_SIZE:
        size = TYPE_SIZE[t[1:]]
        return _mem(rng, bits, size, sized=not pinned or rng.random() < 0.5)
    if t == "mfar":
        text, op = _mem(rng, bits, None, sized=False)
        op.jump = "far"
        return "far " + text, op
    if t.startswith("moffs"):
        size = TYPE_SIZE[t[5:]]
        addr = rng.choice([0, 0x10, 0x1234, 0xFFFF] + ([0x12345678] if bits == 32 else []))
        seg = rng.choice(SEGS) if rng.random() < 0.2 else None
        inner = f"{seg}:{_fmt_num(addr)}" if seg else _fmt_num(addr)
        return f"[{inner}]", Mem(size=None, seg=seg, regs=[], disp=addr)
    if t in ("imm8", "imm16", "imm32", "simm8"):
        pool = {"imm8": IMM8, "imm16": IMM16, "imm32": IMM32, "simm8": SIMM8}[t]
        v = rng.choice(pool)
        if form.mnemonic in ("enter", "ret", "retn", "retf") or t == "imm8" and (
                form.mnemonic in ("int", "in", "out", "aam", "aad") or len(form.operands) > 1
                and form.operands[-1] == "imm8" and form.opcode[-1] in (0xC0, 0xC1, 0xBA)):
            v = abs(v) & (0xFF if t == "imm8" else 0xFFFF)
        size = None
        if not pinned:
            size = {"imm8": 1, "imm16": 2, "imm32": 4}.get(t, (form.osize or bits) // 8)
            if form.mnemonic in ("int", "in", "out", "aam", "aad", "enter", "ret", "retn",
                                 "retf") or form.mnemonic == "push" and t == "simm8":
                size = None
        text = _fmt_num(v)
        if size:
            text = f"{SIZE_NAME[size]} {text}"
        return text, Imm(v, size=size)
    if t == "one":
        return "1", Imm(1)
    if t in ("rel8", "rel16", "rel32"):
        if t == "rel8":
            off = rng.choice([0, 2, 0x7F, -0x80 + 2, -2, 0x40])
            return f"short $+{off}" if off >= 0 else f"short $-{-off}", ("rel", off, "short")
        off = rng.choice([0x1000, -0x1000, 0x200, -0x300])
        kw = "near " if bits == int(t[3:]) else {16: "word ", 32: "dword "}[int(t[3:])]
        return (f"{kw}$+0x{off:x}" if off >= 0 else f"{kw}$-0x{-off:x}",
                ("rel", off, "near" if kw == "near " else int(t[3:]) // 8))
    if t in ("ptr16", "ptr32"):
        seg, off = rng.choice([(0x10, 0x20), (0xFFFF, 0xFFFF), (0x1234, 0x5678)])
        if t == "ptr32":
            off = rng.choice([off, 0x12345678])
        kw = "" if bits == int(t[3:]) else {16: "word ", 32: "dword "}[int(t[3:])]
        return f"{kw}0x{seg:x}:0x{off:x}", FarPtr(seg, off, int(t[3:]) // 8 if kw else None)
    if t == "sreg":
        name = rng.choice(SEGS)
        return name, Reg(name)
    if t == "creg":
        name = rng.choice(["cr0", "cr2", "cr3", "cr4"])
        return name, Reg(name)
    if t == "dreg":
        name = rng.choice(["dr0", "dr1", "dr2", "dr3", "dr6", "dr7"])
        return name, Reg(name)
    if t == "treg":
        name = rng.choice(["tr3", "tr4", "tr5", "tr6", "tr7"])
        return name, Reg(name)
    if t == "sti":
        name = rng.choice([f"st{i}" for i in range(8)])
        return name, Reg(name)
    return t, Reg(t)   # a specific register


def items(seed: int = 1, per_form: int = 4, bits_list=(16, 32)):
    """Yield Items: each non-`na` form `per_form` times in each mode."""
    rng = random.Random(seed)
    for bits in bits_list:
        for form in forms():
            if "na" in form.flags or "nd" in form.flags and rng.random() < 0.5:
                continue
            if "obsolete" in form.flags:    # `pop cs`: bytes no decoder reads back
                continue
            for _ in range(per_form):
                pinned = any(t in ("r8", "r16", "r32", "sreg", "al", "ax", "eax")
                             for t in form.operands)
                texts, ops = [], []
                for t in form.operands:
                    text, op = _operand(rng, t, bits, form, pinned)
                    texts.append(text)
                    ops.append(op)
                line = form.mnemonic + (" " + ", ".join(texts) if texts else "")
                yield Item(bits, line, form.mnemonic, ops, form.index)


def resolve(item: Item, ip: int) -> list:
    """Operands with `$`-relative jump targets resolved for an instruction at ip."""
    out = []
    for op in item.operands:
        if isinstance(op, tuple) and op[0] == "rel":
            _, off, kind = op
            here = SectionRel(".text")      # `$` is relative to the current section
            if kind in ("short", "near"):
                out.append(Imm(ip + off, jump=kind, reloc=here))
            else:
                out.append(Imm(ip + off, size=kind, reloc=here))
        else:
            out.append(op)
    return out


SLOT = 16


def source(items_: list, bits: int) -> str:
    """NASM source laying out one instruction per 16-byte slot."""
    lines = [f"bits {bits}", "org 0"]
    for k, it in enumerate(items_):
        lines.append(it.text)
        lines.append(f"times {SLOT}*({k}+1)-($-$$) db 0xCC")
    return "\n".join(lines) + "\n"
