"""x87 arithmetic against the real CPU: every form of fadd/fsub/fsubr/fmul/fdiv/fdivr,
fsqrt, frndint, fscale, fxtract, fprem/fprem1, under every rounding and precision mode."""

from __future__ import annotations

import random
import zlib

import pytest
from conftest import require_tool
from fpu.cases import ALL_CW, EDGE, FINITE_EDGE, cw_of, rand_val
from fpu.oracle import Case, compare

OPS = ["fadd", "fsub", "fsubr", "fmul", "fdiv", "fdivr"]


def _check(cases):
    require_tool("gcc")
    require_tool("nasm")
    diffs = compare(cases)
    assert not diffs, f"{len(diffs)}/{len(cases)} differ:\n" + "\n\n".join(diffs[:8])


def test_edge_pairs():
    cases = []
    for i, a in enumerate(EDGE):
        for j, b in enumerate(EDGE):
            op = OPS[(i + j) % len(OPS)]
            cases.append(Case(f"{op} st0, st1", regs=[a, b], name="edge"))
            cases.append(Case(f"{OPS[(i * 7 + j) % 6]}p st1, st0", regs=[a, b], name="edgep"))
    _check(cases)


def test_random_all_modes():
    rng = random.Random(5)
    cases = []
    forms = ["{op} st0, st1", "{op} st1, st0", "{op}p st1, st0", "{op} st0, st2",
             "{op}p st2, st0"]
    for cw in ALL_CW:
        for _ in range(60):
            op = rng.choice(OPS)
            form = rng.choice(forms).format(op=op)
            kind = rng.choice(["near", "mixed", "wide", "short"])
            regs = [rand_val(rng, kind) for _ in range(3)]
            cases.append(Case(form, regs=regs, cw=cw, name="rand"))
    _check(cases)


def test_memory_operands():
    rng = random.Random(6)
    cases = []
    for cw in ALL_CW:
        for _ in range(25):
            op = rng.choice(OPS)
            size = rng.choice(["dword", "qword", "word", "dword_i"])
            mem = rng.getrandbits(64).to_bytes(8, "little")
            if size == "dword" and rng.random() < 0.3:
                mem = rng.choice([b"\x01\0\0\0", b"\0\0\x80\x7f", b"\x01\0\x80\x7f",
                                  b"\0\0\xc0\xff", b"\0\0\0\x80"]) + bytes(4)
            insn = {"dword": f"{op} dword [ebx]", "qword": f"{op} qword [ebx]",
                    "word": f"fi{op[1:]} word [ebx]", "dword_i": f"fi{op[1:]} dword [ebx]"}[size]
            cases.append(Case(insn, regs=[rand_val(rng)], cw=cw, mem=mem, name="mem"))
    _check(cases)


@pytest.mark.parametrize("insn", ["fsqrt", "frndint", "fabs", "fchs"])
def test_unary(insn):
    rng = random.Random(zlib.crc32(insn.encode()))     # the same cases every run
    cases = [Case(insn, regs=[v], name=insn) for v in EDGE]
    for cw in ALL_CW:
        for _ in range(12):
            cases.append(Case(insn, regs=[rand_val(rng, rng.choice(["near", "mixed"]))],
                              cw=cw, name=insn))
    _check(cases)


def test_fscale_fxtract():
    rng = random.Random(8)
    cases = []
    scales = [0, 1, -1, 5, 100, -100, 16383, -16383, 20000, -20000, 0.5, -2.7, 70000]
    from fpu.cases import from_double
    for v in EDGE:
        cases.append(Case("fxtract", regs=[v], name="fxtract"))
        cases.append(Case("fscale", regs=[v, from_double(rng.choice(scales))], name="fscale"))
    for v in EDGE[:20]:
        for s in EDGE:
            cases.append(Case("fscale", regs=[v, s], name="fscale-edge"))
    for cw in ALL_CW:
        for _ in range(10):
            cases.append(Case("fscale", regs=[rand_val(rng), from_double(rng.choice(scales))],
                              cw=cw, name="fscale"))
    _check(cases)


@pytest.mark.parametrize("insn", ["fprem", "fprem1"])
def test_fprem(insn):
    rng = random.Random(9)
    cases = []
    for a in FINITE_EDGE + EDGE[16:24]:
        for b in FINITE_EDGE[::3] + EDGE[16:24:2]:
            cases.append(Case(insn, regs=[a, b], name=insn))
    for _ in range(200):
        d = rng.choice([0, 1, 3, 10, 62, 63, 64, 65, 90, 127, 128, 200, 3000, -1, -2])
        b = rand_val(rng, "near")
        e = ((b >> 64) & 0x7FFF) + d
        a = (rng.getrandbits(1) << 79) | (e << 64) | (1 << 63) | rng.getrandbits(63)
        cases.append(Case(insn, regs=[a, b], cw=cw_of(rng.randrange(4)), sw=0x4700,
                          name=insn))
    _check(cases)


@pytest.mark.slow
def test_random_exhaustive():
    """Many more random operands through every arithmetic form and mode (-m slow)."""
    rng = random.Random(99)
    cases = []
    forms = ["{op} st0, st1", "{op} st1, st0", "{op}p st1, st0", "{op} qword [ebx]",
             "{op} dword [ebx]", "fi{iop} dword [ebx]", "fi{iop} word [ebx]"]
    for _ in range(20000):
        op = rng.choice(OPS)
        form = rng.choice(forms).format(op=op, iop=op[1:])
        cases.append(Case(form, regs=[rand_val(rng, rng.choice(["near", "mixed", "wide"]))
                                      for _ in range(2)],
                          cw=rng.choice(ALL_CW), mem=rng.getrandbits(64).to_bytes(8, "little"),
                          name="exhaustive"))
    for v in range(0, 20000, 5000):
        _check(cases[v:v + 5000])
