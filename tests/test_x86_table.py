"""The x86 table against NASM: every form, encoded by our encoder and by NASM, byte for byte;
then decoded and disassembled, and the disassembly reassembled by NASM to the same bytes."""

from __future__ import annotations

import re
import subprocess

import pytest
import x86_corpus as xc
from conftest import require_tool

from asm.errors import AsmError
from asm.x86.decoder import decode
from asm.x86.disasm import render
from asm.x86.encoder import encode

CC = b"\xcc"


def nasm_slots(tmp_path, lines: list[str], bits: int) -> tuple[bytes, set]:
    """Assemble one line per 16-byte slot; return the image and the rejected line indexes."""
    nasm = require_tool("nasm")
    rejected: set = set()
    while True:
        keep = [k for k in range(len(lines)) if k not in rejected]
        src = [f"bits {bits}", "org 0"]
        for slot, k in enumerate(keep):
            src += [lines[k], f"times {xc.SLOT}*({slot}+1)-($-$$) db 0xCC"]
        path = tmp_path / f"c{bits}.s"
        path.write_text("\n".join(src) + "\n")
        r = subprocess.run([nasm, "-f", "bin", "-o", str(path.with_suffix(".bin")), str(path)],
                           capture_output=True, text=True)
        bad = {keep[(int(m.group(1)) - 3) // 2]
               for m in re.finditer(r":(\d+): error", r.stderr)}
        if not bad:
            return path.with_suffix(".bin").read_bytes(), rejected, keep
        rejected |= bad


@pytest.mark.parametrize("bits", [16, 32])
def test_encoder_matches_nasm_on_every_form(tmp_path, bits):
    items = list(xc.items(seed=11, per_form=3, bits_list=(bits,)))
    image, rejected, keep = nasm_slots(tmp_path, [it.text for it in items], bits)
    mismatches = []
    for slot, k in enumerate(keep):
        it = items[k]
        ip = slot * xc.SLOT
        want = image[ip:ip + xc.SLOT]
        try:
            got = encode(it.mnemonic, xc.resolve(it, ip), bits, ip=ip, section=".text").data
        except AsmError as e:
            got = str(e).encode()
        if want[:len(got)] != got or want[len(got):].strip(CC):
            mismatches.append(f"{it.text}: nasm {want.rstrip(CC).hex()} ours {got.hex()}")
    accepted = [items[k].text for k in rejected if _accepts(items[k], bits)]
    assert len(keep) > 1500
    assert not mismatches, "\n".join(mismatches[:30])
    assert not accepted, "NASM rejects, we accept:\n" + "\n".join(accepted[:30])


def _accepts(it, bits) -> bool:
    try:
        encode(it.mnemonic, xc.resolve(it, 0), bits, ip=0, section=".text")
        return True
    except AsmError:
        return False


@pytest.mark.parametrize("bits", [16, 32])
def test_disassembly_reassembles_identically_with_nasm(tmp_path, bits):
    texts, raws, missing = [], [], []
    for it in xc.items(seed=5, per_form=2, bits_list=(bits,)):
        ip = len(texts) * xc.SLOT
        try:
            raw = encode(it.mnemonic, xc.resolve(it, ip), bits, ip=ip, section=".text").data
        except AsmError:
            continue
        if raw[0] == 0x9B and it.mnemonic not in ("wait", "fwait"):
            continue     # fstsw & co. decode as `wait` + the no-wait form
        insn = decode(raw, 0, bits, ip)
        text = render(insn, bits) if insn.length == len(raw) else None
        if text is None:
            missing.append(f"{it.text} ({raw.hex()})")
            continue
        texts.append(text)
        raws.append(raw)
    assert not missing, "not disassembled:\n" + "\n".join(missing[:30])
    image, rejected, keep = nasm_slots(tmp_path, texts, bits)
    assert not rejected, "NASM rejects our disassembly:\n" + "\n".join(texts[k] for k in rejected)
    diffs = [f"{texts[k]}: want {raws[k].hex()} nasm {image[k * 16:k * 16 + 16].hex()}"
             for k in range(len(texts)) if image[k * 16:k * 16 + len(raws[k])] != raws[k]]
    assert not diffs, "\n".join(diffs[:30])
