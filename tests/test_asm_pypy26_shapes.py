"""Line shapes (asm/shapes.py) at the edges of the number classes that number_class gives
as one int each (0x8000..0xFEFF; 2**16..2**31 with a low word of 0x101..0xFEFF), lines
with two numbers (_shape's unrolled case) and `jcc name` lines made from their
mnemonic's first line (its kind and target filled in). Each source is assembled by nasm
(the oracle) and pyasm: a shape learned from one number and patched with another whose
encoding differs (an imm8 form, a 16-bit wrap) would show as different bytes."""

from __future__ import annotations

import random

import pytest
from nasm_parity import check
from test_asm_helpers import pyasm, write

from asm import shapes

# around each edge of the two int classes, and of the classes next to them
_EDGES = (0x7FFF, 0x8000, 0xFEFF, 0xFF00, 0xFF7F, 0xFF80, 0xFFFF, 0x10000, 0x100FF, 0x10100,
          0x10101, 0x1FEFF, 0x1FF00, 0x1FF80, 0x2FFFF, 0x7FFF0100, 0x7FFFFEFF, 0x7FFFFF00,
          0x7FFFFF80, 0x7FFFFFFF)

# shapes whose encoding depends on the class: imm8 forms (`add cx, 0xff80` wraps to -128),
# 16-bit immediates and displacements, two numbers on a line (small ones too)
_ONE = ("add cx, {a}", "and ax, {a}", "cmp cx, -{a}", "add ecx, {a}", "add ecx, -{a}",
        "mov eax, [ebx+{a}]", "push {a}", "push word {a}", "mov cx, {a}", "imul eax, ebx, {a}")
_TWO = ("sub dword [ebp-{a}], {b}", "mov dword [eax*2+{a}], {b}", "imul ecx, [ebx+{a}], {b}",
        "add word [bx+{a}], {b}", "L{k}: mov dword [{a}], -{b}", "lea edx, [esi+edi*4+{a}]",
        "mov byte [edi+{a}], {s}", "add dword [ebx+{s}], {b}")


def _number(rnd: random.Random) -> int:
    return rnd.choice(_EDGES) + rnd.choice(_NEAR)


_NEAR = (0, 1, -1, 2)


def _lines(rnd: random.Random, two: int) -> list:
    """Every one-number shape with every number near an edge, and ``two`` random lines
    of two numbers, in random order (a shape is learned from whichever comes first)."""
    out = [shape.format(a=e + d) for shape in _ONE for e in _EDGES for d in _NEAR]
    for k in range(two):
        shape = rnd.choice(_TWO)
        out.append(shape.format(a=_number(rnd), b=_number(rnd), s=rnd.randint(1, 256), k=k))
    rnd.shuffle(out)
    return out


@pytest.mark.parametrize("bits", (32, 16))
def test_class_edges_one_and_two_numbers(tmp_path, bits):
    lines = _lines(random.Random(26 + bits), 400)
    check(tmp_path, f"bits {bits}\n" + "\n".join(lines) + "\n")


def test_class_edges_in_an_object_file(tmp_path):
    lines = _lines(random.Random(5), 300)
    check(tmp_path, "bits 32\nsection .text\n" + "\n".join(lines) + "\n", "-f", "elf32",
          fmt="elf32")


def test_branches_after_a_first_line_that_failed(tmp_path):
    """The first `jne name` line of the process fails before its kind is known (absolute
    space): the later ones, made from it, still get their kind and NASM's bytes (short
    and near, forward and back)."""
    shapes._branches.clear()
    failed = write(tmp_path, "f.asm", "bits 32\nabsolute 0x100\njne B1\ncall B2\n")
    assert pyasm(failed)[0] == 1
    assert shapes._branches["jne"]._kind is None and shapes._branches["call"]._kind is None
    rnd = random.Random(9)
    lines = ["bits 32"]
    for k in range(200):
        if k % 8 == 0:
            lines.append(f"B{k // 8}:")
        lines.append(f"{rnd.choice(('jne', 'call', 'jmp', 'JNE'))} B{rnd.randint(0, 24)}")
        lines.append(rnd.choice(("add ecx, 70000", "mov eax, [ebx+300]", "nop")))
    check(tmp_path, "\n".join(lines) + "\n")
