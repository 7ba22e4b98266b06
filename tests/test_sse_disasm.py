"""Disassembly of every MMX/SSE/SSE2/SSE3 form equals ``objdump -d -M intel``, text and
all, after a normalisation of the two syntaxes (NASM's vs GNU's Intel): operand size words
(``QWORD PTR``) dropped, ``ds:0x10`` written ``[0x10]``, ``[es:eax]`` as ``es:[eax]``, the
compare predicates objdump folds into the mnemonic (``cmpltps``) written as the immediate,
and MONITOR/MWAIT's implicit operands dropped."""

from __future__ import annotations

import re
import subprocess

import x86_corpus as xc
from conftest import require_tool

from asm.errors import AsmError
from asm.x86.decoder import decode
from asm.x86.disasm import render
from asm.x86.encoder import encode
from asm.x86.table import forms

SIMD = {"sse", "sse2", "sse3", "mmx"}
PREDICATES = ["eq", "lt", "le", "unord", "neq", "nlt", "nle", "ord"]
_SIZE = re.compile(r"\b(byte|word|dword|qword|tword|oword|xmmword|mmword|fword)( ptr)? ",
                   re.I)


def _norm_objdump(text: str) -> str:
    text = _SIZE.sub("", text.lower()).strip()
    m = re.match(r"(\S+)\s*(.*)", text)
    mnem, ops = m.group(1), m.group(2).replace(" ", "")
    p = re.fullmatch(r"cmp(eq|lt|le|unord|neq|nlt|nle|ord)(ps|pd|ss|sd)", mnem)
    if p:
        mnem = "cmp" + p.group(2)
        ops += f",{PREDICATES.index(p.group(1)):#x}"
    if mnem in ("monitor", "mwait"):
        ops = ""
    ops = re.sub(r"\b(ds|es|cs|ss|fs|gs):(0x[0-9a-f]+)\b", lambda m: (
        f"[{m.group(2)}]" if m.group(1) == "ds" else f"{m.group(1)}:[{m.group(2)}]"), ops)
    return _common(f"{mnem} {ops}".strip())


def _common(text: str) -> str:
    """Spellings both sides may use: ``*1`` scales, ``+0x0`` displacements, an explicit
    ``ds:`` on an absolute address."""
    text = re.sub(r"\*1(?=[\]+-])", "", text)
    text = text.replace("+0x0]", "]").replace("ds:[0x", "[0x")
    return text


def _norm_ours(text: str) -> str:
    text = _SIZE.sub("", text.lower()).strip()
    m = re.match(r"(\S+)\s*(.*)", text)
    mnem, ops = m.group(1), m.group(2).replace(" ", "")
    ops = ops.replace("nosplit", "")
    ops = re.sub(r"\[(ds|es|cs|ss|fs|gs):", lambda m: f"{m.group(1)}:[", ops)
    # objdump prints an immediate byte as unsigned hex
    ops = re.sub(r",-0x([0-9a-f]+)$", lambda m: f",{(-int(m.group(1), 16)) & 0xFF:#x}", ops)
    ops = re.sub(r"\[\+", "[", ops)
    return _common(f"{mnem} {ops}".strip())


def _rows() -> list:
    simd = {f.index for f in forms() if f.flags & SIMD}
    rows = []
    for it in xc.items(seed=4, per_form=3, bits_list=(32,)):
        if it.form_index not in simd:
            continue
        try:
            raw = encode(it.mnemonic, xc.resolve(it, 0), 32).data
        except AsmError:
            continue
        if 0x67 in raw[:3]:             # 16-bit addressing in 32-bit code: objdump's own
            continue
        rows.append(raw)
    return rows


def test_simd_disassembly_matches_objdump(tmp_path):
    objdump = require_tool("objdump")
    rows = _rows()
    image = b"".join(r + b"\x90" * (16 - len(r)) for r in rows)
    path = tmp_path / "c.bin"
    path.write_bytes(image)
    out = subprocess.run([objdump, "-D", "-b", "binary", "-m", "i386", "-M", "intel",
                          str(path)], capture_output=True, text=True, check=True).stdout
    theirs = {}
    for line in out.splitlines():
        m = re.match(r"^\s*([0-9a-f]+):\s+((?:[0-9a-f]{2} )+)\s*(.*)$", line)
        if m and m.group(3).strip():
            theirs[int(m.group(1), 16)] = m.group(3)
    diffs = []
    for k, raw in enumerate(rows):
        ours = render(decode(raw, 0, 32, 0), 32)
        want = _norm_objdump(theirs.get(16 * k, "?"))
        got = _norm_ours(ours)
        if want != got:
            diffs.append(f"{raw.hex()}: ours {ours!r} objdump {theirs.get(16 * k)!r}")
    assert len(rows) > 600
    assert not diffs, f"{len(diffs)} of {len(rows)}:\n" + "\n".join(diffs[:40])
