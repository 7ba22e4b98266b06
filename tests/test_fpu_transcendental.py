"""x87 transcendental instructions against the real CPU: fsin fcos fsincos fptan fpatan
f2xm1 fyl2x fyl2xp1 over a spread of arguments and every rounding mode, plus the special
operands of each.

The emulator rounds the exact value correctly (after reducing trig arguments by the chip's
66-bit pi). The hardware is not always correctly rounded: its result is off by one unit in
the last place, or its C1 (rounded-up) bit disagrees, for a few percent of arguments. Those
differences, and only those, are tolerated up to TOLERATED of the cases of each test;
every other bit of the fnsave image (values, C0 C2 C3, flags, stack) must match exactly."""

from __future__ import annotations

import random
import zlib

import pytest
from conftest import require_tool
from fpu.cases import EDGE, cw_of, f80, from_double
from fpu.oracle import Case, compare

J = 1 << 63


# the worst seen: fptan 57/344 (16.6%) on an Intel Xeon, under 15% everywhere on AMD EPYC
TOLERATED = 0.20


def _check(cases):
    require_tool("gcc")
    require_tool("nasm")
    soft: list = []
    diffs = compare(cases, tolerate=soft)
    assert not diffs, f"{len(diffs)}/{len(cases)} differ:\n" + "\n\n".join(diffs[:6])
    assert len(soft) <= TOLERATED * len(cases), \
        f"{len(soft)}/{len(cases)} differ in the last bit or C1:\n" + "\n\n".join(soft[:6])
    return len(soft)


def _rand(rng, lo_exp, hi_exp, sign=None):
    s = rng.getrandbits(1) if sign is None else sign
    return f80(s, 0x3FFF + rng.randint(lo_exp, hi_exp), J | rng.getrandbits(63))


def trig_args(rng, n):
    out = [_rand(rng, -3, 2) for _ in range(n)]                 # |x| < 8
    out += [_rand(rng, -40, -4) for _ in range(n // 4)]         # small
    out += [_rand(rng, 3, 62) for _ in range(n // 4)]           # large (reduction)
    out += [from_double(k * 3.141592653589793 / 4) for k in range(-8, 9)]
    return out


@pytest.mark.parametrize("insn", ["fsin", "fcos", "fsincos", "fptan"])
def test_trig(insn):
    rng = random.Random(zlib.crc32(insn.encode()))     # the same cases every run
    cases = [Case(insn, regs=[v], name=insn) for v in EDGE]
    cases.append(Case(insn, regs=[EDGE[10]] * 8, name=insn + "-full"))
    for rc in range(4):
        for v in trig_args(rng, 40):
            cases.append(Case(insn, regs=[v], cw=cw_of(rc), name=insn))
    _check(cases)


def test_fpatan():
    rng = random.Random(31)
    cases = []
    special = [v for v in EDGE if v not in (EDGE[5],)]
    for y in special[::2]:
        for x in special[::2]:
            cases.append(Case("fpatan", regs=[x, y], name="fpatan-special"))
    for rc in range(4):
        for _ in range(60):
            x = _rand(rng, -10, 10)
            y = _rand(rng, -10, 10) if rng.random() < 0.8 else _rand(rng, -70, 70)
            cases.append(Case("fpatan", regs=[x, y], cw=cw_of(rc), name="fpatan"))
    _check(cases)


def test_f2xm1():
    rng = random.Random(32)
    cases = [Case("f2xm1", regs=[v], name="f2xm1-special") for v in EDGE
             if (v >> 64) & 0x7FFF <= 0x3FFF or (v >> 64) & 0x7FFF == 0x7FFF]
    for rc in range(4):
        for _ in range(50):
            cases.append(Case("f2xm1", regs=[_rand(rng, -20, -1)], cw=cw_of(rc), name="f2xm1"))
        for x in (0.5, -0.5, 0.25, -1.0, 1.0, 1e-10, -3e-5):
            cases.append(Case("f2xm1", regs=[from_double(x)], cw=cw_of(rc), name="f2xm1"))
    _check(cases)


def test_fyl2x():
    rng = random.Random(33)
    cases = []
    for x in EDGE[::2]:
        for y in EDGE[::3]:
            cases.append(Case("fyl2x", regs=[x, y], name="fyl2x-special"))
    for rc in range(4):
        for _ in range(60):
            x = _rand(rng, -30, 30, 0) if rng.random() < 0.7 else _rand(rng, -1, 0, 0)
            y = _rand(rng, -5, 5)
            cases.append(Case("fyl2x", regs=[x, y], cw=cw_of(rc), name="fyl2x"))
        for x in (2.0, 0.125, 1024.0, 3.0, 1.0000001):
            cases.append(Case("fyl2x", regs=[from_double(x), from_double(-1.75)],
                              cw=cw_of(rc), name="fyl2x"))
    _check(cases)


def test_fyl2xp1():
    rng = random.Random(34)
    cases = []
    for x in EDGE[::2]:
        for y in EDGE[::3]:
            if (x >> 64) & 0x7FFF < 0x3FFD or (x >> 64) & 0x7FFF == 0x7FFF:
                cases.append(Case("fyl2xp1", regs=[x, y], name="fyl2xp1-special"))
    for rc in range(4):
        for _ in range(60):
            cases.append(Case("fyl2xp1", regs=[_rand(rng, -40, -3), _rand(rng, -5, 5)],
                              cw=cw_of(rc), name="fyl2xp1"))
    _check(cases)


@pytest.mark.slow
@pytest.mark.parametrize("insn", ["fsin", "fcos", "fsincos", "fptan", "fpatan", "f2xm1",
                                  "fyl2x", "fyl2xp1"])
def test_transcendental_exhaustive(insn):
    """2000 random arguments per instruction and rounding mode (-m slow)."""
    rng = random.Random(zlib.crc32(insn.encode()))     # the same cases every run
    cases = []
    for rc in range(4):
        for _ in range(500):
            if insn in ("fsin", "fcos", "fsincos", "fptan"):
                regs = [_rand(rng, -20, 62)]
            elif insn == "f2xm1":
                regs = [_rand(rng, -30, -1)]
            elif insn == "fyl2xp1":
                regs = [_rand(rng, -40, -3), _rand(rng, -20, 20)]
            elif insn == "fyl2x":
                regs = [_rand(rng, -200, 200, 0), _rand(rng, -20, 20)]
            else:
                regs = [_rand(rng, -100, 100), _rand(rng, -100, 100)]
            cases.append(Case(insn, regs=regs, cw=cw_of(rc), name=insn))
    _check(cases)
