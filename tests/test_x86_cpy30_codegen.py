"""Code generated per instruction (vm/x86/emit.py), session 30: cheaper shapes that must
keep every result. Oracle: Unicorn (registers and flags after the run).

- A signed comparison of two registers (JL/JLE/JG/JGE, SETcc, CMOVcc after CMP) is the
  unsigned order reversed when the signs differ, not both operands flipped with
  ``^ 0x80000000`` (each flip makes a new two-digit int under CPython).
- An address with a negative displacement (``[ebx + ecx * 4 - 0x10]``) subtracts it,
  not adds 2**32 - d (the sum stayed a two-digit int until its mask).
"""

from __future__ import annotations

import pytest
from test_x86_stackpath import CODE, nasm, ours, run_uc, state, state_uc, unicorn

# every ordered pair of edge values, compared as registers (a signed and an unsigned
# verdict of each condition summed into esi/edi/ebp so that one wrong answer shows)
VALUES = (0, 1, 2, 0x7FFFFFFE, 0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFFFFFE, 0xFFFFFFFF,
          0x12345678, 0xEDCBA988)
SIGNED = f"""
start:  xor esi, esi
        xor edi, edi
        xor ebp, ebp
        mov ecx, {len(VALUES)}
outer:  mov edx, {len(VALUES)}
inner:  mov eax, [vals + ecx * 4 - 4]
        mov ebx, [vals + edx * 4 - 4]
        cmp eax, ebx
        jl .l1
        add esi, 1
.l1:    cmp eax, ebx
        jle .l2
        add esi, 0x100
.l2:    cmp eax, ebx
        jg .l3
        add edi, 1
.l3:    cmp eax, ebx
        jge .l4
        add edi, 0x100
.l4:    cmp eax, ebx
        setl al
        movzx eax, al
        add ebp, eax
        mov eax, [vals + ecx * 4 - 4]
        cmp eax, ebx
        setg al
        movzx eax, al
        shl eax, 8
        add ebp, eax
        mov eax, [vals + ecx * 4 - 4]
        cmp ax, bx
        setle al
        movzx eax, al
        shl eax, 16
        add ebp, eax
        mov eax, [vals + ecx * 4 - 4]
        cmp eax, ebx
        cmovge eax, ebx
        add ebp, eax
        cmp eax, ebx
        dec edx
        jnz inner
        dec ecx
        jnz outer
        jmp done
vals:   dd {", ".join(hex(v) for v in VALUES)}
done:   nop
"""


@pytest.mark.parametrize("tier0", ["0", "1"])
def test_signed_register_comparisons_match_unicorn(tmp_path, monkeypatch, tier0):
    monkeypatch.setenv("PYVM_TIER0", tier0)
    code = nasm(SIGNED, tmp_path)
    end = CODE + code.rindex(b"\x90")
    emu, X = unicorn(code, 0x9800)
    m = ours(code, 0x9800)
    stop = m.run(1000000, until=end)
    assert run_uc(emu, X, end) is None
    assert stop.reason != "fault"
    assert state(m) == state_uc(emu, X)


def test_signed_register_comparisons_flip_no_operand(tmp_path, monkeypatch):
    monkeypatch.setenv("PYVM_TIER0", "0")
    code = nasm(SIGNED, tmp_path)
    m = ours(code, 0x9800)
    m.run(1000000, until=CODE + code.rindex(b"\x90"))
    sources = [entry[6] for entry in m.tr.blocks.values()]
    assert any(") >= 0x80000000)" in src for src in sources)
    for src in sources:
        assert "^ 0x80000000)" not in src, src


# 8- and 16-bit operands are masked expressions: they keep the flipped form (the
# review of 95137a4: the two-compare form evaluated each mask twice, +9.5% Ir on an
# 8-bit compare loop); the sign bit is the operand's own
NARROW = """
start:  mov ecx, 40
again:  mov eax, ecx
        imul eax, eax, 0x9e3779b1
        mov ebx, eax
        shr ebx, 7
        cmp al, bl
        setl dl
        add esi, edx
        cmp ax, bx
        setg dl
        add edi, edx
        cmp ah, bh
        jle skip
        inc ebp
skip:   dec ecx
        jnz again
        nop
"""


def test_narrow_signed_comparisons_keep_their_sign_bit(tmp_path, monkeypatch):
    monkeypatch.setenv("PYVM_TIER0", "0")
    code = nasm(NARROW, tmp_path)
    end = CODE + code.rindex(b"\x90")
    m = ours(code, 0x9800)
    assert m.run(1000000, until=end).reason != "fault"
    text = "\n".join(entry[6] for entry in m.tr.blocks.values())
    assert "^ 0x80)" in text and "^ 0x8000)" in text, text
    assert ">= 0x80)" not in text and ">= 0x8000)" not in text, text
    emu, X = unicorn(code, 0x9800)
    assert run_uc(emu, X, end) is None
    assert state(m) == state_uc(emu, X)


# loads and stores through base + index * 4 - d (an array read backwards from its end)
NEGDISP = """
start:  mov ebx, table_end
        mov ecx, 4
        xor esi, esi
again:  mov eax, [ebx + ecx * 4 - 0x14]
        add esi, eax
        lea edx, [eax + 1]
        mov [ebx + ecx * 4 - 0x14], edx
        movzx edi, byte [ebx + ecx - 0x0c]
        add esi, edi
        dec ecx
        jnz again
        mov eax, [ebx - 0x10]
        mov edx, [ebx - 4]
        jmp done
table:  dd 0x11111111, 0x80000000, 0xfffffffe, 7
table_end:
done:   nop
"""


@pytest.mark.parametrize("tier0", ["0", "1"])
def test_negative_displacements_match_unicorn(tmp_path, monkeypatch, tier0):
    monkeypatch.setenv("PYVM_TIER0", tier0)
    code = nasm(NEGDISP, tmp_path)
    end = CODE + code.rindex(b"\x90")
    emu, X = unicorn(code, 0x9800)
    m = ours(code, 0x9800)
    stop = m.run(100000, until=end)
    assert run_uc(emu, X, end) is None
    assert stop.reason != "fault"
    assert state(m) == state_uc(emu, X)


def test_negative_displacement_is_subtracted(tmp_path, monkeypatch):
    monkeypatch.setenv("PYVM_TIER0", "0")
    code = nasm(NEGDISP, tmp_path)
    m = ours(code, 0x9800)
    m.run(100000, until=CODE + code.rindex(b"\x90"))
    sources = [entry[6] for entry in m.tr.blocks.values()]
    assert any(" * 4 - 0x14) & 0xffffffff" in src for src in sources), sources
    for src in sources:
        assert "0xffffffec" not in src, src
