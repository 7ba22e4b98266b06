"""x87 loads and stores against the real CPU: m32/m64/m80 reals, m16/m32/m64 integers
(fist, fistp, fisttp), packed BCD (fbld, fbstp), under every rounding and precision mode."""

from __future__ import annotations

import random

from conftest import require_tool
from fpu.cases import ALL_CW, EDGE, cw_of, f80, rand_val
from fpu.oracle import Case, compare

J = 1 << 63


def _check(cases):
    require_tool("gcc")
    require_tool("nasm")
    diffs = compare(cases)
    assert not diffs, f"{len(diffs)}/{len(cases)} differ:\n" + "\n\n".join(diffs[:8])


SINGLE_EDGE = [0, 0x80000000, 1, 0x807FFFFF, 0x00800000, 0x7F7FFFFF, 0x3F800000, 0x7F800000,
               0xFF800000, 0x7FC00000, 0x7F800001, 0xFFBFFFFF, 0x7FFFFFFF, 0x3EAAAAAB]
DOUBLE_EDGE = [0, 1 << 63, 1, 0x000FFFFFFFFFFFFF, 0x0010000000000000, 0x7FEFFFFFFFFFFFFF,
               0x3FF0000000000000, 0x7FF0000000000000, 0xFFF8000000000000, 0x7FF0000000000001,
               0x7FF7FFFFFFFFFFFF, 0x3FB999999999999A]


def test_real_loads():
    rng = random.Random(11)
    cases = []
    for v in SINGLE_EDGE + [rng.getrandbits(32) for _ in range(40)]:
        cases.append(Case("fld dword [ebx]", mem=v.to_bytes(4, "little"), name="fld32"))
    for v in DOUBLE_EDGE + [rng.getrandbits(64) for _ in range(40)]:
        cases.append(Case("fld qword [ebx]", mem=v.to_bytes(8, "little"), name="fld64"))
    for v in EDGE + [rand_val(rng) for _ in range(20)]:
        cases.append(Case("fld tword [ebx]", mem=v.to_bytes(10, "little"), name="fld80"))
    # a load that overflows the stack, and denormal loads with DE unmasked
    cases.append(Case("fld dword [ebx]", regs=[0] * 8, mem=b"\0\0\x80\x3f", name="overflow"))
    cases.append(Case("fld dword [ebx]", cw=0x37D, mem=b"\1\0\0\0", name="de-unmasked"))
    _check(cases)


def test_real_stores():
    rng = random.Random(12)
    cases = []
    pool = EDGE + [rand_val(rng) for _ in range(30)]
    # values straddling the single/double overflow and denormal thresholds
    for e in (0x3FFF + 127, 0x3FFF + 128, 0x3FFF - 126, 0x3FFF - 127, 0x3FFF - 149,
              0x3FFF - 150, 0x3FFF + 1023, 0x3FFF + 1024, 0x3FFF - 1022, 0x3FFF - 1074,
              0x3FFF - 1075, 0x3FFF - 140):
        for m in (J, (1 << 64) - 1, J | (1 << 39), J | (1 << 10) | 1):
            pool.append(f80(rng.getrandbits(1), e, m))
    for cw in ALL_CW[::3] + [cw_of(1), cw_of(2)]:
        for v in pool:
            insn = rng.choice(["fst dword [ebx]", "fstp qword [ebx]", "fstp dword [ebx]",
                               "fst qword [ebx]", "fstp tword [ebx]"])
            cases.append(Case(insn, regs=[v], cw=cw, mem=bytes([0xAA]) * 16, name="fst"))
    # unmasked overflow / underflow: nothing stored
    for cw in (0x377, 0x36F, 0x35F):
        for v in pool[-48:-24]:
            cases.append(Case("fstp dword [ebx]", regs=[v], cw=cw, mem=bytes([0xAA]) * 8,
                              name="fst-unmasked"))
    cases.append(Case("fst dword [ebx]; fst qword [ebx+4]; fstp tword [ebx+12]",
                      name="empty-store"))
    _check(cases)


def _ints():
    vals = []
    for k in (15, 31, 63):
        for d in (-1, 0, 1):
            vals += [f80(0, 0x3FFF + k - 1, (1 << 64) - (1 << (64 - k))) if d == -1 else 0,
                     f80(0, 0x3FFF + k, J), f80(1, 0x3FFF + k, J), f80(1, 0x3FFF + k, J | 1 << 40)]
    for x in (0.5, 1.5, 2.5, -0.5, -1.5, 32767.5, -32768.5, 32767.4, -32768.4, 0.49, 1e-5):
        from fpu.cases import from_double
        vals.append(from_double(x))
    return vals


def test_integer_loads_stores():
    rng = random.Random(13)
    cases = []
    for n, size in ((2, "word"), (4, "dword"), (8, "qword")):
        for v in (0, 1, (1 << (8 * n - 1)) - 1, 1 << (8 * n - 1), (1 << 8 * n) - 1,
                  rng.getrandbits(8 * n), rng.getrandbits(8 * n)):
            cases.append(Case(f"fild {size} [ebx]", mem=v.to_bytes(n, "little"), name="fild"))
    pool = EDGE + _ints() + [rand_val(rng, "short") for _ in range(10)]
    for cw in [cw_of(rc) for rc in range(4)]:
        for v in pool:
            size = rng.choice(["word", "dword", "qword"])
            insn = rng.choice([f"fistp {size} [ebx]", f"fisttp {size} [ebx]",
                               f"fist {'dword' if size == 'qword' else size} [ebx]"])
            cases.append(Case(insn, regs=[v], cw=cw, mem=bytes([0xAA]) * 8, name="fist"))
    _check(cases)


def _bcd(n: int, neg: bool = False) -> bytes:
    out = bytearray(10)
    for k in range(9):
        n, d = divmod(n, 100)
        out[k] = ((d // 10) << 4) | (d % 10)
    out[9] = 0x80 if neg else 0
    return bytes(out)


def test_bcd():
    rng = random.Random(14)
    cases = []
    for n in (0, 1, 99, 10 ** 17, 10 ** 18 - 1, rng.randrange(10 ** 18), 123456789012345678):
        for neg in (False, True):
            cases.append(Case("fbld [ebx]", mem=_bcd(n, neg), name="fbld"))
    from fpu.cases import from_double
    pool = EDGE + [from_double(x) for x in (1e18, 1e18 - 1, 999999999999999999.4, 0.5, 2.5,
                                            -7.5, 1234.5678, -1e17)]
    for cw in [cw_of(rc) for rc in range(4)]:
        for v in pool:
            cases.append(Case("fbstp [ebx]", regs=[v], cw=cw, mem=bytes([0xAA]) * 12,
                              name="fbstp"))
    _check(cases)
