"""pyasm's process-wide encoding caches (asm/shapes.py's learned line shapes, the
assembler's encodings per immediate class) against nasm, the oracle: one process that
assembles several sources with different options must give each nasm's bytes for those
options, and an immediate's field found by probing (shapes.number_field) must be where
nasm puts the number, for every value of the number's class."""

from __future__ import annotations

import random

from nasm_parity import check

# lines whose shapes pass 1 learns at -Ox (a labelled line is a shape even with small
# numbers: `L1: add ecx, 5` is 83 C1 05 at -Ox, 81 C1 05 00 00 00 at -O0)
_BODY = ("L{k}: add ecx, 5", "L{k}x: mov eax, [ebx+{n}]", "add ecx, {n}", "push {n}",
         "imul eax, ebx, {n}", "L{k}y: sub dword [ebp-8], 3", "mov eax, [ebx+{n}]",
         "L{k}z: cmp ax, 100")


def _source(head: str, count: int = 40) -> str:
    lines = [head]
    for k in range(count):
        n = 300 + 37 * k
        lines += [t.format(k=k, n=n) for t in _BODY]
    return "\n".join(lines) + "\n"


def test_one_process_several_options(tmp_path):
    """The same shapes under -Ox, -O0, -O1, a lower `cpu`, bits 16 and elf32, in turn and
    back, in this one process: the caches filled by one assembly never lend another
    bytes that nasm, given the same options, does not produce."""
    from asm import shapes
    shapes._learned.clear()
    cases = [
        ("bits 32", (), {}),
        ("bits 32", ("-O0",), {"optimize": 0}),
        ("bits 32", ("-O1",), {"optimize": 1}),
        ("bits 32", (), {}),
        ("bits 32\ncpu 386", (), {}),
        ("bits 16", (), {}),
        ("bits 16", ("-O0",), {"optimize": 0}),
        ("bits 32", ("-f", "elf32"), {"fmt": "elf32"}),
        ("bits 32", ("-O0",), {"optimize": 0}),
    ]
    for k, (head, args, kwargs) in enumerate(cases):
        d = tmp_path / str(k)
        d.mkdir()
        check(d, _source(head), *args, **kwargs)
    # the -Ox runs did learn the shapes the -O0 and -O1 runs assembled otherwise
    assert any(v for v in shapes._learned.values())


# immediates beyond +-256 reached through an expression (so not by a learned line shape:
# Assembler._encode_static's encodings per number_class; `enter` has two, encoded each
# time), after a displacement or a ModRM byte
_IMM_FORMS = ("enter {n}+0, 0", "enter {n}+0, 3", "mov dword [ebx+{m}], {n}+0",
              "mov word [esi+{m}], {n}+0", "imul ecx, [ebx+{m}], {n}+0", "push {n}+0",
              "add ecx, {n}+0", "and ax, {n}+0", "ret {n}+0", "cmp dword [{m}], -{n}+0",
              "test ecx, {n}+0", "mov ecx, -{n}+0")
_EDGES = (257, 300, 0x7F7F, 0x7FFF, 0x8000, 0xFF00, 0xFF7F, 0xFF80, 0xFFFF, 0x10000,
          0x10001, 0x1FFFF, 0x7FFFFF7F, 0x7FFFFFFF, 0x80000000, 0xFFFFFF80, 0xFFFFFFFF)


def test_immediate_fields_by_class(tmp_path):
    """Many values of each class through the same instruction forms (the first of a class
    is encoded and probed, the others patch its field): nasm's bytes for each."""
    rnd = random.Random(5)
    for bits in (32, 16):
        lines = [f"bits {bits}"]
        for _ in range(600):
            n = rnd.choice(_EDGES) + rnd.choice((0, 1, 2, -1, -2))
            m = rnd.choice((0x300, 0x1234, 0x7FF0))
            form = rnd.choice(_IMM_FORMS)
            if form.startswith("enter") and n > 0xFFFF:
                n &= 0xFFFF     # (nasm warns beyond 16 bits there)
            if form.startswith("enter") and n < 257:
                n += 0x1000
            if form.startswith(("ret", "and ax", "mov word")) and n > 0xFFFF:
                n = 0x8000 + n % 0x7FFF
            if "-{n}" in form and n >= 0x80000000:
                n = 0x7FFFFF00 + n % 0xFF     # (pyasm's warnings differ beyond 32 bits)
            lines.append(form.format(n=n, m=m))
        d = tmp_path / str(bits)
        d.mkdir()
        check(d, "\n".join(lines) + "\n")


def test_negative_numbers_of_every_class_in_one_shape(tmp_path):
    """`add cx, -N`: one shape (the sign is part of its text) whose numbers take the imm16
    form, or the imm8 one where their low 16 bits sign-extend from a byte (-65409); each
    class must keep its own bytes (nasm's warnings for these differ: bytes only)."""
    values = (300, 301, 0x7FFF, 0x8000, 0xFF7F, 0xFF80, 0xFF81, 0xFFFF, 0x10001, 0x1FF90,
              0x7FFFFFFF, 0x80000000)
    for bits in (16, 32):
        lines = [f"bits {bits}"]
        for n in values + values[::-1]:
            lines += [f"add cx, -{n}", f"add ecx, -{n}", f"L{len(lines)}: cmp cx, -{n}",
                      f"push word -{n}"]
        d = tmp_path / str(bits)
        d.mkdir()
        check(d, "\n".join(lines) + "\n", messages=False)

