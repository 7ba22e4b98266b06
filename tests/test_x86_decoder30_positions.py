"""The decoder reads an instruction by positions (no reader object, session 30): every
field's bytes where NASM put them, and an instruction cut short raises a DecodeError
within the bytes it had (Truncated when only its last byte is missing), as before. Oracle: nasm's encodings, assembled one
instruction at a time (its byte count is the instruction's length)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from asm.x86.decoder import MAX_LEN, DecodeError, Truncated, decode

pytestmark = pytest.mark.skipif(shutil.which("nasm") is None, reason="nasm not installed")

# (bits, instruction): prefixes, ModRM with SIB and each displacement size, 16-bit
# addressing, immediates of 1, 2 and 4 bytes, a far pointer, moffs, a group opcode
CASES = [
    (32, "add eax, ecx"), (32, "mov eax, [ebp+8]"), (32, "mov [esp+0x100], edx"),
    (32, "lea eax, [ebx+ecx*4+0x12345678]"), (32, "mov eax, [0x12345678]"),
    (32, "mov eax, [ecx*8+0x10]"), (32, "cmp dword [eax], 0x7f"),
    (32, "cmp word [eax+ebx*2-4], 0x1234"), (32, "add byte [esi], 5"),
    (32, "mov ax, [bx+si+3]"), (32, "mov eax, [fs:0x30]"), (32, "rep movsd"),
    (32, "lock xadd [ecx], eax"), (32, "jmp 0x10:0x12345678"), (32, "mov al, [0x1234]"),
    (32, "shr dword [ebp-0x200], 3"), (32, "imul eax, [edx+4], 1000"),
    (32, "enter 0x100, 2"), (32, "movsd xmm0, [esp+8]"), (32, "push word 0x1234"),
    (16, "mov ax, [bx+di+0x1234]"), (16, "mov ax, [0x1234]"), (16, "add word [bp], 7"),
    (16, "mov eax, [ebx+ecx*2]"), (16, "jmp 0x1234:0x5678"),
]


def _nasm(tmp_path, bits: int, text: str) -> bytes:
    src = tmp_path / "one.asm"
    out = tmp_path / "one.bin"
    src.write_text(f"bits {bits}\n{text}\n")
    subprocess.run(["nasm", "-f", "bin", "-o", str(out), str(src)], check=True,
                   capture_output=True)
    return out.read_bytes()


@pytest.mark.parametrize("bits,text", CASES)
def test_positions_and_cuts(tmp_path, bits, text):
    code = _nasm(tmp_path, bits, text)
    pad = b"\x90\x90\x90"
    insn = decode(pad + code + pad, len(pad), bits, 0x1000)
    assert (insn.length, insn.raw, insn.address) == (len(code), code, 0x1000)
    for n in range(1, len(code)):
        # (a cut inside a two-byte opcode reads as another opcode: maybe invalid)
        with pytest.raises(Truncated if n == len(code) - 1 else DecodeError) as e:
            decode(code[:n], 0, bits, 0x2000)
        assert e.value.address == 0x2000 and 0 < e.value.length <= n


def test_too_long():
    """Prefixes past 15 bytes: the longest-instruction error, its length 15."""
    with pytest.raises(DecodeError) as e:
        decode(b"\x66" * 16 + b"\x90", 0, 32, 0x3000)
    assert not isinstance(e.value, Truncated)
    assert (e.value.address, e.value.length) == (0x3000, MAX_LEN)


def test_every_field_set(tmp_path):
    """decode() stores an Insn's fields one by one: all of them, in declaration order
    (what Insn(...) would make: equality, repr and tier0's copies read them)."""
    from dataclasses import fields

    from asm.x86.decoder import Insn
    code = _nasm(tmp_path, 32, "lock add dword [fs:eax+ecx*2+0x100], 0x12345678")
    insn = decode(code, 0, 32, 0x1000)
    assert list(vars(insn)) == [f.name for f in fields(Insn)]
    assert insn == Insn(**vars(insn))
