"""The first tier makes an instruction's instance without decoding it when one with the
same bytes but for its constants (immediates, displacements) was decoded before
(Tier0._note_shape / _alike, asm.x86.decoder.const_fields, session 30): the shape is
that one's while the same constants are 0 and the same 32-bit displacements fit in a
byte. Oracle: unicorn runs the same nasm-assembled code."""

from __future__ import annotations

import pytest
from conftest import require_module
from test_x86_cpu_asm import asm
from test_x86_tier0 import CODE, _after_int3, _ours, _state, _unicorn, fresh  # noqa: F401

from vm.x86 import tier0
from vm.x86.compiler import Translator

pytestmark = pytest.mark.usefixtures("fresh")      # (no code cache: test_x86_tier0.py)

# runs of one shape with other constants, and the cases its shape tells apart: a zero
# constant, a 32-bit displacement that fits in a byte or not, an 8-bit one of 0, SIB,
# an absolute address, two constants (a displacement and an immediate), a negative
# sign-extended immediate, a shift by 1 (no byte) and by a count
ALIKE = """
        mov ebp, 0x8000
        mov ecx, 2
again:  add eax, 0x11
        add eax, 0x22
        add eax, 0
        add eax, -3
        add eax, 0x12345678
        add eax, 0x9abcdef0
        mov [ebp + 8], eax
        mov [ebp + 12], eax
        mov [ebp + 0], eax
        db 0x89, 0x85, 16, 0, 0, 0          ; mov [dword ebp + 16], eax
        mov [ebp + 0x200], eax
        db 0x89, 0x85, 0, 0, 0, 0           ; mov [dword ebp + 0], eax
        mov ebx, [ebp + 8]
        add ebx, [ebp + 12]
        add ebx, [ebp + 16]
        add ebx, [ebp + 0x200]
        mov dword [ebp + 0x20], 0x1111
        mov dword [ebp + 0x24], 0
        mov dword [ebp + 0x28], 0x2222
        add ebx, [ebp + 0x20]
        add ebx, [ebp + 0x28]
        lea esi, [eax + ecx * 4 + 0x10]
        lea edi, [eax + ecx * 4 + 0x20]
        lea edx, [eax + ecx * 4 + 0x1000]
        mov [0x8100], esi
        mov [0x8104], edi
        add edx, [0x8100]
        add edx, [0x8104]
        imul esi, ebx, 7
        imul edi, ebx, -9
        shl esi, 1
        shl edi, 3
        shl edx, 5
        xor esi, edi
        xor edx, esi
        dec ecx
        jnz again
        int3
"""


def test_alike_instructions_run_as_unicorn_runs_them_without_decoding(monkeypatch):
    require_module("unicorn")
    code = asm(ALIKE, 32, CODE)
    fetched: list = []
    plain = Translator.fetch

    def counting(self, key, ip):
        fetched.append(ip)
        return plain(self, key, ip)

    monkeypatch.setattr(Translator, "fetch", counting)
    m = _ours(code)
    assert m.run(100_000).reason == "fault"
    emu, X = _unicorn(code)
    emu.emu_start(CODE, CODE + len(code) - 1)
    assert _state(m) == _after_int3(emu, X)
    for a in range(0x8000, 0x8210, 4):
        assert m.read(a, 4) == bytes(emu.mem_read(a, 4)), hex(a)
    # the second "add eax, imm32" and "add eax, simm8" were not decoded: the first's
    # bytes but for the constant
    add2 = CODE + code.index(bytes.fromhex("83c022"))
    add4 = CODE + code.index(bytes.fromhex("05f0debc9a"))
    assert add2 not in fetched and add4 not in fetched


def test_a_shape_told_apart_by_its_constants_is_decoded(monkeypatch):
    """A zero immediate, and a 32-bit displacement that fits in a byte after one that
    did not: their shapes differ, so each is decoded."""
    code = asm("mov ebp, 0x8000\nadd eax, 5\nadd eax, 0\nmov [ebp + 0x200], eax\n"
               "db 0x89, 0x85, 16, 0, 0, 0\nint3\n", 32, CODE)
    fetched: list = []
    plain = Translator.fetch
    monkeypatch.setattr(Translator, "fetch",
                        lambda self, key, ip: fetched.append(ip) or plain(self, key, ip))
    m = _ours(code)
    assert m.run(1000).reason == "fault"
    zero = CODE + code.index(bytes.fromhex("83c000"))
    small = CODE + code.index(bytes.fromhex("89851000"))
    assert zero in fetched and small in fetched
    assert m.read(0x8010, 4) == m.read(0x8200, 4) == (5).to_bytes(4, "little")


@pytest.mark.parametrize("text", ["add eax, 0x11", "mov [ebp + 8], eax", "shl esi, 3",
                                  "lea esi, [eax + ecx * 4 + 0x10]", "imul esi, ebx, -9",
                                  "mov dword [ebp + 0x20], 0x1111", "mov [0x8100], esi"])
def test_const_fields_give_the_decoders_values(text):
    from asm.x86.decoder import const_fields, decode
    insn = decode(asm(text, 32, CODE), 0, 32, CODE)
    lay = const_fields(insn)
    assert lay is not None
    assert tier0._read_fields(insn.raw, lay[1]) == tier0._values(insn)
