"""Code generated per block (vm/x86/maskfold.py), session 31: a 32-bit sum of known
32-bit operands (registers, loads of at most 4 bytes, constants) is an add or subtract
and a comparison under CPython, not the add and a ``& 0xffffffff`` (CPython 3.11 has no
specialised ``&``: it is a call and a new int). Oracle: Unicorn (registers and flags
after the run), on edge values that wrap both ways.
"""

from __future__ import annotations

import re
import sys

import pytest
from test_x86_cpy30_codegen import VALUES  # (the edge values that wrap both ways)
from test_x86_stackpath import CODE, nasm, ours, run_uc, state, state_uc, unicorn

from vm.x86 import maskfold

# every ordered pair: reg+reg, reg-reg, reg+load, reg-load, reg+/-constant, inc/dec,
# adc/sbb after a compare, each result and its flags (pushfd: the arithmetic ones)
# folded into esi/edi/ebp so that one wrong one shows
SUMS = f"""
start:  xor esi, esi
        xor edi, edi
        xor ebp, ebp
        mov ecx, {len(VALUES)}
outer:  mov edx, {len(VALUES)}
inner:  mov eax, [vals + ecx * 4 - 4]
        mov ebx, [vals + edx * 4 - 4]
        add eax, ebx
        pushfd
        add esi, eax
        pop eax
        and eax, 0x8d5
        xor edi, eax
        rol edi, 3
        mov eax, [vals + ecx * 4 - 4]
        sub eax, ebx
        pushfd
        sub esi, eax
        pop eax
        and eax, 0x8d5
        add ebp, eax
        rol ebp, 5
        mov eax, [vals + ecx * 4 - 4]
        add eax, [vals + edx * 4 - 4]
        add edi, eax
        mov eax, [vals + ecx * 4 - 4]
        sub eax, [vals + edx * 4 - 4]
        jnc .nc
        add ebp, 0x1001
.nc:    xor esi, eax
        rol esi, 7
        mov eax, [vals + ecx * 4 - 4]
        add eax, 0x80000001
        add edi, eax
        sub ebx, 0x7fffffff
        add ebp, ebx
        inc ebx
        dec eax
        pushfd
        add esi, ebx
        sub edi, eax
        pop eax
        and eax, 0x8d5
        xor ebp, eax
        mov eax, [vals + ecx * 4 - 4]
        mov ebx, [vals + edx * 4 - 4]
        cmp eax, ebx
        adc eax, ebx
        pushfd
        add edi, eax
        pop eax
        and eax, 0x8d5
        xor esi, eax
        rol esi, 11
        mov eax, [vals + ecx * 4 - 4]
        cmp ebx, eax
        sbb eax, ebx
        pushfd
        add ebp, eax
        pop eax
        and eax, 0x8d5
        xor edi, eax
        dec edx
        jnz inner
        dec ecx
        jnz outer
        jmp done
vals:   dd {", ".join(hex(v) for v in VALUES)}
done:   nop
"""


@pytest.mark.parametrize("tier0", ["0", "1"])
@pytest.mark.parametrize("everywhere", [False, True])
def test_unmasked_sums_match_unicorn(tmp_path, monkeypatch, tier0, everywhere):
    monkeypatch.setenv("PYVM_TIER0", tier0)
    # (every block folded: this program's loop body is longer than one block)
    monkeypatch.setattr(maskfold, "EVERYWHERE", everywhere)
    code = nasm(SUMS, tmp_path)
    end = CODE + code.rindex(b"\x90")
    emu, X = unicorn(code, 0x9800)
    m = ours(code, 0x9800)
    stop = m.run(1000000, until=end)
    assert run_uc(emu, X, end) is None
    assert stop.reason != "fault"
    assert state(m) == state_uc(emu, X)


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="a CPython shape")
def test_sums_of_registers_and_loads_are_unmasked(tmp_path, monkeypatch):
    monkeypatch.setenv("PYVM_TIER0", "0")
    monkeypatch.setattr(maskfold, "EVERYWHERE", True)
    code = nasm(SUMS, tmp_path)
    m = ours(code, 0x9800)
    m.run(1000000, until=CODE + code.rindex(b"\x90"))
    text = "\n".join(entry[6] for entry in m.tr.blocks.values() if entry[6])
    assert " <= 0xffffffff else " in text and " >= 0 else " in text, text
    # a load's sum (add eax, [vals + edx * 4 - 4]) too
    assert re.search(r"(\w+) = \w+ [+-] m\d+; \1 = \1 if ", text), text
    assert re.search(r"(\w+) = \w+ \+ \w+ \+ \(\w+ < \w+\); \1 = \1 if ", text), text


# a loop that is one block: folded as it is (loops and traces are the hot code)
LOOP = """
start:  mov ecx, 200
        mov eax, 0x7fffff00
        mov ebx, 0x9e3779b9
        mov esi, 5
        xor edi, edi
        xor ebp, ebp
again:  add eax, ebx
        sub esi, ecx
        add edi, [vals + ecx * 4 - 4]
        cmp eax, ebx
        adc ebp, esi
        dec ecx
        jnz again
        jmp done
vals:   times 200 dd 0xfffffff0
done:   nop
"""


def test_a_loop_block_is_unmasked_and_matches_unicorn(tmp_path, monkeypatch):
    monkeypatch.setenv("PYVM_TIER0", "0")
    code = nasm(LOOP, tmp_path)
    end = CODE + code.rindex(b"\x90")
    emu, X = unicorn(code, 0x9800)
    m = ours(code, 0x9800)
    assert m.run(1000000, until=end).reason != "fault"
    assert run_uc(emu, X, end) is None
    assert state(m) == state_uc(emu, X)
    if maskfold.ENABLED:
        text = "\n".join(entry[6] for entry in m.tr.blocks.values() if entry[6])
        assert "while True:" in text and " <= 0xffffffff else " in text, text


# the string step with DF set is a negative number (-size): a sum with it is not of two
# known 32-bit operands, and folding it would leave esi/edi at -1 instead of 0xffffffff
STRINGS = """
start:  mov ecx, 50
again:  std
        mov esi, 0x1000
        lodsb
        mov esi, 1
        lodsb
        lodsb
        add eax, esi
        mov edi, 1
        stosw
        add ebx, edi
        mov esi, 2
        mov edi, 0x2001
        movsb
        movsb
        movsb
        add edx, esi
        add ebp, edi
        cld
        dec ecx
        jnz again
        jmp done
done:   nop
"""


@pytest.mark.parametrize("tier0", ["0", "1"])
def test_a_string_step_backwards_is_not_a_known_32_bit_operand(tmp_path, monkeypatch, tier0):
    monkeypatch.setenv("PYVM_TIER0", tier0)
    monkeypatch.setattr(maskfold, "EVERYWHERE", True)
    code = nasm(STRINGS, tmp_path)
    end = CODE + code.rindex(b"\x90")
    emu, X = unicorn(code, 0x9800)
    m = ours(code, 0x9800)
    assert m.run(1000000, until=end).reason != "fault"
    assert run_uc(emu, X, end) is None
    assert state(m) == state_uc(emu, X)
