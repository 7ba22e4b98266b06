"""The first tier makes a near jump's or call's instance without decoding it when one
with the same bytes before its displacement was decoded (Tier0._note_rel / _alike,
session 33): its target is the start plus its length plus the displacement, wrapped at
32 bits, and the shape is the decoded one's while the same targets are 0. A 16-bit
operand size (a target wrapped at 16 bits) and a target of 0 are decoded. Also: the
mask folder compiles its patterns at its first fold, not at import (PyPy never folds).
Oracle: unicorn runs the same code, assembled by nasm."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import require_module, require_tool
from test_x86_cpu_asm import asm
from test_x86_tier0 import (  # noqa: F401
    CODE,
    _after_int3,
    _count_fetches,
    _ours,
    _state,
    _unicorn,
    fresh,
)

from asm.x86.decoder import decode
from vm.x86 import tier0

pytestmark = pytest.mark.usefixtures("fresh")      # (no code cache: test_x86_tier0.py)

# every kind of near branch twice or more with other displacements (forward, backward,
# taken and not), calls, loop/jecxz, a not-taken jz whose target is address 0, and two
# jumps with a 16-bit operand size (targets wrapped at 16 bits)
RELS = """
        mov ecx, 3
        xor eax, eax
        mov ebx, 0x8000
again:  jmp short s1
        nop
s1:     add eax, 1
        jmp short s2
        nop
        nop
s2:     jmp near s3
        times 200 nop
s3:     call f1
        call f2
        mov [ebx], eax
        add ebx, 4
        cmp eax, 0x1000
        jb short b1
        int3
b1:     jb near b2
        times 300 nop
b2:     jb near b3
        times 150 nop
b3:     ja short bad
        ja near bad
        jecxz bad
        test esp, esp
        jz near bad
        jz near 0
        db 0x66, 0xe9
        dw w1 - ($ + 2)
        nop
w1:     db 0x66, 0xe9
        dw w2 - ($ + 2)
        nop
w2:     loop l1
l1:     test ecx, ecx
        jnz near again
        int3
bad:    mov eax, -1
        int3
f1:     add eax, 2
        ret
f2:     add eax, 3
        jmp short f3
        nop
f3:     ret
"""


def _at(code: bytes, n: int, first: int) -> list:
    """The starts of the instructions whose bytes begin ``first`` (a linear decode)."""
    out, i = [], 0
    while i < len(code):
        insn = decode(code, i, 32, CODE + i)
        if insn.raw[:n] == first:
            out.append(CODE + i)
        i += insn.length
    return out


def _nasm(text: str, tmp_path) -> bytes:
    src, out = tmp_path / "rels.asm", tmp_path / "rels.bin"
    src.write_text(f"bits 32\norg {CODE:#x}\n{text}")
    subprocess.run([require_tool("nasm"), "-f", "bin", "-o", str(out), str(src)], check=True)
    return out.read_bytes()


def test_branches_run_as_unicorn_runs_them_without_decoding(monkeypatch, tmp_path):
    require_module("unicorn")
    code = _nasm(RELS, tmp_path)
    fetched = _count_fetches(monkeypatch)
    m = _ours(code)
    assert m.run(100_000).reason == "fault"
    emu, X = _unicorn(code)
    emu.emu_start(CODE, CODE + code.rindex(b"\xcc\xb8"))
    assert _state(m) == _after_int3(emu, X)
    for a in range(0x8000, 0x8010, 4):
        assert m.read(a, 4) == bytes(emu.mem_read(a, 4)), hex(a)
    decoded = set(fetched)
    # after the first of each kind, a near branch with 32-bit targets is not decoded
    calls = _at(code, 1, b"\xe8")
    shorts = _at(code, 1, b"\xeb")
    jbs = _at(code, 2, b"\x0f\x82")
    assert len(calls) == 2 and len(shorts) == 3 and len(jbs) == 2
    for starts in (calls, shorts, jbs):
        assert sum(a in decoded for a in starts) == 1, [hex(a) for a in starts]
    # a target of 0 (the shape says which constants are 0) and 16-bit targets are
    jz0 = _at(code, 2, b"\x0f\x84")
    words = _at(code, 2, b"\x66\xe9")
    assert len(jz0) == 2 and len(words) == 2
    assert all(a in decoded for a in jz0 + words)


def test_rel_field_reads_the_decoders_target():
    for text in ("jmp short $+0x10", "jmp near $-0x300", "call $+0x1234", "jz short $-4",
                 "jnz near $+0x4000", "loop $", "jecxz $+8"):
        insn = decode(asm(text, 32, CODE), 0, 32, CODE)
        k, fields = tier0._rel_field(insn)
        d = tier0._read_fields(insn.raw, fields)[0]
        assert (CODE + insn.length + d) & 0xFFFFFFFF == tier0._values(insn)[0], text
    for text in ("o16 jmp near $+0x10", "jmp eax", "call [eax]", "add eax, 5"):
        assert tier0._rel_field(decode(asm(text, 32, CODE), 0, 32, CODE)) is None, text


def test_maskfold_compiles_its_patterns_at_the_first_fold():
    probe = (
        "import re\n"
        "made = []\n"
        "plain = re.compile\n"
        "re.compile = lambda *a, **k: made.append(a[0]) or plain(*a, **k)\n"
        "from vm.x86 import maskfold\n"
        "assert made == [], made\n"
        "maskfold.ENABLED = True\n"
        "out = maskfold.fold([(1, 'eax1 = (eax0 + 0x10) & 0xffffffff')], True)\n"
        "assert out == [(1, 'eax1 = eax0 + 0x10; eax1 = eax1 if eax1 <= 0xffffffff "
        "else eax1 - 0x100000000')], out\n"
        "assert len(made) == 3\n")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
