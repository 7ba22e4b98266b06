"""DIV and IDIV after XOR EDX, EDX (vm/x86/semantics.py, div): the high half is the
constant 0, so the block's inline division tests the divisor only (and, for IDIV, the
signs), not the high half. Oracle: Unicorn (quotients, remainders, flags the block
leaves, the #DE of a zero divisor at its instruction)."""

from __future__ import annotations

import pytest
from test_x86_stackpath import CODE, nasm, ours, run_uc, state, state_uc, unicorn

# unsigned and signed divisions of a counter by divisors from memory (one of them 0 in
# the last pass: #DE), of 16 and 32 bits
DIVS = """
start:  mov ecx, 12
        mov ebp, 0
top:    mov eax, ecx
        imul eax, eax, 0x9e3779b1
        xor edx, edx
        mov ebx, [table + ecx * 4 - 4]
        div ebx
        add ebp, eax
        add ebp, edx
        mov eax, ecx
        imul eax, eax, 0x2545f491
        shr eax, 1
        xor edx, edx
        idiv ebx
        add ebp, eax
        add esi, edx
        mov eax, ecx
        xor edx, edx
        div bx
        add edi, eax
        add edi, edx
        dec ecx
        jnz top
        jmp done
table:  dd 0, 7, 0x80000003, 3, 0xffffffff, 10, 0x7fffffff, 1, 0x10001, 255, 2, 0xfffe
done:   nop
"""


@pytest.mark.parametrize("tier0", ["0", "1"])
def test_divisions_after_xor_edx_match_unicorn(tmp_path, monkeypatch, tier0):
    monkeypatch.setenv("PYVM_TIER0", tier0)
    code = nasm(DIVS, tmp_path)
    end = CODE + code.rindex(b"\x90")
    emu, X = unicorn(code, 0x9800)
    m = ours(code, 0x9800)
    stop = m.run(100000, until=end)
    fault = run_uc(emu, X, end)
    assert stop.reason == "fault" and fault is not None     # table[0]: #DE
    assert state(m) == state_uc(emu, X)
    assert m.reg("ecx") == 1


def test_a_zero_high_half_is_not_tested(tmp_path, monkeypatch):
    monkeypatch.setenv("PYVM_TIER0", "0")
    code = nasm(DIVS, tmp_path)
    m = ours(code, 0x9800)
    m.run(100000, until=CODE + code.rindex(b"\x90"))
    sources = [entry[6] for entry in m.tr.blocks.values() if "divmod(" in entry[6]]
    assert sources
    for src in sources:
        assert "not 0 and" not in src, src
