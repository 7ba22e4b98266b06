"""-O0 and -O1: NASM's unoptimised encodings, on every instruction form of the table and
on the cases that differ from -Ox (long immediates, near jumps, sized `mov sreg`)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import x86_corpus as xc
from conftest import require_tool
from nasm_parity import check

SMALL = ("bits 32\nadd eax, 1\nadd ebx, 1\npush 1\nimul eax, ebx, 2\nx: jmp x\njmp y\nje y\n"
         "je x\ny: nop\nadd eax, z\nmov eax, [ebx+4]\nmov eax, [ebx+z]\nz equ 4\n"
         "add ax, byte 5\npush word 3\nmov ds, ax\nmov ds, eax\nmov ax, ds\n"
         "bits 16\nmov ds, ax\nmov ds, eax\nshl ax, 1\nint 3\nenter 4, 0\ncmp word [bx], 1\n"
         "call q\nq: ret\njmp short q\njmp near q\nje near q\nje far_\ntimes 200 nop\n"
         "far_: loop far_\n")


@pytest.mark.parametrize("level", ["-O0", "-O1", "-Ox", "-O2"])
def test_small_cases(tmp_path, level):
    check(tmp_path, SMALL, level, optimize={"-O0": 0, "-O1": 1}.get(level, 2))


@pytest.mark.parametrize("bits", [16, 32])
@pytest.mark.parametrize("level", ["-O0", "-O1"])
def test_every_form_unoptimised(tmp_path, bits, level):
    exe = require_tool("nasm")
    items = list(xc.items(seed=5, per_form=2, bits_list=(bits,)))
    src = tmp_path / "c.asm"
    for _ in range(3):      # drop the forms nasm rejects out of the corpus's slot layout
        src.write_text(xc.source(items, bits))
        bad = set()
        for o in ("-O0", "-O1", "-Ox"):
            r = subprocess.run([exe, o, str(src), "-o", str(tmp_path / "n.bin")],
                               capture_output=True, text=True)
            bad |= {(int(m) - 3) // 2 for m in re.findall(r":(\d+): error", r.stderr)}
        if not bad:
            break
        items = [it for k, it in enumerate(items) if k not in bad]
    assert len(items) > 1500
    n = subprocess.run([exe, level, str(src), "-o", str(tmp_path / "n.bin")],
                       capture_output=True, text=True)
    p = subprocess.run([sys.executable, "-m", "asm.cli", level, str(src), "-o",
                        str(tmp_path / "p.bin")], capture_output=True, text=True)
    assert n.returncode == p.returncode == 0, p.stderr[:2000]
    a, b = (tmp_path / "n.bin").read_bytes(), (tmp_path / "p.bin").read_bytes()
    bad = [items[k // 16].text for k in range(0, len(a), 16) if a[k:k + 16] != b[k:k + 16]]
    assert not bad, bad[:20]
