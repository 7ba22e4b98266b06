"""A tiny NASM-subset assembler on top of ``asm.x86.encoder`` for the CPU tests (so they
need neither NASM nor the full assembler), and its own checks.

Syntax: one instruction per line, ``label:``, ``;`` comments, registers, numbers
(0x.., decimal, 'c'), labels and ``$``, ``byte/word/dword [seg:base+index*scale+disp]``,
``db``/``dw``/``dd`` with numbers or "strings", ``rep``/``lock``/``o16``... prefixes.
"""

from __future__ import annotations

import re

from asm.x86.encoder import encode, is_prefix
from asm.x86.operands import FarPtr, Imm, Mem, Reg
from asm.x86.registers import is_register

SIZES = {"byte": 1, "word": 2, "dword": 4, "qword": 8, "tword": 10}


def _value(text: str, labels: dict, here: int) -> int:
    text = text.strip()
    total = 0
    for sign, term in re.findall(r"([+-]?)\s*([^+-]+)", text.replace(" ", "")):
        if term == "$":
            v = here
        elif term in labels:
            v = labels[term]
        elif term.startswith("'") and term.endswith("'"):
            v = ord(term[1])
        else:
            try:
                v = int(term, 0)
            except ValueError:
                v = here    # a label not seen yet (first pass): near enough for rel8
        total += -v if sign == "-" else v
    return total


def _operand(text: str, labels: dict, here: int):
    text = text.strip()
    size = None
    words = text.split(None, 1)
    if words[0].lower() == "far" and len(words) > 1:
        m = _operand(words[1], labels, here)
        m.jump = "far"
        return m
    if words[0].lower() in SIZES and len(words) > 1:
        size = SIZES[words[0].lower()]
        text = words[1].strip()
    if text.startswith("["):
        inner = text[1:-1].strip()
        seg = None
        m = re.match(r"(\w\w)\s*:\s*(.*)", inner)
        if m and m.group(1).lower() in ("es", "cs", "ss", "ds", "fs", "gs"):
            seg, inner = m.group(1).lower(), m.group(2)
        regs, disp, scaled = [], 0, []
        for sign, term in re.findall(r"([+-]?)\s*([^+-]+)", inner.replace(" ", "")):
            if "*" in term:
                r, s = term.split("*")
                if is_register(s):
                    r, s = s, r
                regs.append((r.lower(), int(s, 0)))
                scaled.append(r.lower())
            elif is_register(term):
                regs.append((term.lower(), 1))
            else:
                v = _value(term, labels, here)
                disp += -v if sign == "-" else v
        return Mem(size=size, seg=seg, regs=regs, disp=disp, scaled=tuple(scaled))
    if is_register(text):
        return Reg(text.lower())
    if ":" in text:
        seg, off = text.split(":", 1)
        return FarPtr(_value(seg, labels, here), _value(off, labels, here))
    return Imm(_value(text, labels, here), size=size)


def _split_operands(text: str) -> list:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += ch == "["
        depth -= ch == "]"
        cur += ch
    if cur.strip():
        out.append(cur)
    return out


def _data(kind: str, text: str, labels: dict, here: int) -> bytes:
    size = {"db": 1, "dw": 2, "dd": 4}[kind]
    out = b""
    for item in re.findall(r'"[^"]*"|[^,]+', text):
        item = item.strip()
        if item.startswith('"'):
            out += item[1:-1].encode().replace(b"\\n", b"\n")
        else:
            out += (_value(item, labels, here) & ((1 << 8 * size) - 1)).to_bytes(size, "little")
    return out


def asm(source: str, bits: int = 32, org: int = 0) -> bytes:
    """Assemble source; labels may be used before they are defined."""
    labels: dict = {}
    for _ in range(8):
        out = bytearray()
        new: dict = {}
        for raw in source.splitlines():
            line = raw.split(";", 1)[0].strip()
            here = org + len(out)
            m = re.match(r"([.\w]+):\s*(.*)", line)
            if m:
                new[m.group(1)] = here
                line = m.group(2)
            if not line:
                continue
            words = line.split(None, 1)
            prefixes = []
            while words and is_prefix(words[0]) and len(words) > 1:
                prefixes.append(words[0].lower())
                words = words[1].split(None, 1)
            mn = words[0].lower()
            rest = words[1] if len(words) > 1 else ""
            if mn in ("db", "dw", "dd"):
                out += _data(mn, rest, labels, here)
                continue
            ops = [_operand(o, labels, here) for o in _split_operands(rest)]
            out += encode(mn, ops, bits, here, prefixes).data
        if new == labels:
            return bytes(out)
        labels = new
    raise AssertionError("labels do not settle")


def test_mini_assembler_matches_known_encodings():
    assert asm("mov eax, 1") == bytes.fromhex("b801000000")
    assert asm("add byte [ebx+esi*4+8], 0x7f") == bytes.fromhex("80 44 b3 08 7f")
    assert asm("top: dec ecx\njnz top") == bytes.fromhex("49 0f85 f9ffffff")
    assert asm("mov ax, [es:bx+si]", bits=16) == bytes.fromhex("268b00")
    assert asm('db "hi", 10\ndd 0x01020304') == b"hi\n\x04\x03\x02\x01"
    assert asm("rep movsb") == b"\xf3\xa4"
    assert asm("jmp done\nnop\ndone:") == bytes.fromhex("e901000000 90")
    assert asm("jmp far [bx]", bits=16) == bytes.fromhex("ff2f")
