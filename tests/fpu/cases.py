"""Operand pools and case generators for the x87 differential tests."""

from __future__ import annotations

import random
import struct

J = 1 << 63


def f80(sign: int, exp: int, mant: int) -> int:
    return (sign << 79) | (exp << 64) | mant


def from_double(x: float) -> int:
    from vm.x86 import float80
    return float80.to_bits(float80.from_float(x))


ONE = f80(0, 0x3FFF, J)
EDGE = [
    f80(0, 0, 0), f80(1, 0, 0),                         # zeros
    f80(0, 0, 1), f80(1, 0, 0x7FFFFFFFFFFFFFFF),        # denormals
    f80(0, 0, 0x4000000000000123),
    f80(0, 0, J | 5),                                   # pseudo-denormal
    f80(0, 1, J), f80(1, 1, J | 0xABC),                 # smallest normals
    f80(0, 0x7FFE, (1 << 64) - 1), f80(1, 0x7FFE, J),   # largest normals
    ONE, f80(1, 0x3FFF, J),
    f80(0, 0x3FFE, J), f80(0, 0x3FFF, J | (1 << 62)),    # 0.5, 1.5
    f80(0, 0x4000, J | (1 << 61)),                      # 2.5
    f80(1, 0x3FFE, J | (1 << 62)),                      # -0.75
    f80(0, 0x7FFF, J), f80(1, 0x7FFF, J),               # infinities
    f80(0, 0x7FFF, J | (1 << 62)),                      # QNaN
    f80(1, 0x7FFF, J | (1 << 62) | 0x1234),             # QNaN with payload
    f80(0, 0x7FFF, J | 0x5555),                         # SNaN
    f80(1, 0x7FFF, J | (1 << 62)),                      # indefinite
    f80(0, 0x4000, 0x4000000000000000),                 # unnormal
    f80(0, 0x7FFF, 0), f80(0, 0x7FFF, 0x4000000000000000),   # pseudo-inf, pseudo-NaN
    f80(0, 0x403E, J), f80(1, 0x403E, J),               # +-2**63
    f80(0, 0x403D, (1 << 64) - 1),                      # 2**63 - 1
    f80(0, 0x401D, J | (1 << 62) | 1 << 40),            # ~2**30 with fraction bits
    from_double(3.0), from_double(0.1), from_double(-1e10), from_double(1e-300),
    from_double(123456.789), from_double(-0.3),
]
FINITE_EDGE = [v for v in EDGE if (v >> 64) & 0x7FFF != 0x7FFF and
               ((v >> 64) & 0x7FFF == 0 or v >> 63 & 1)]


def rand_val(rng: random.Random, kind: str = "mixed") -> int:
    s = rng.getrandbits(1)
    m = J | rng.getrandbits(63)
    if kind == "near":                              # near 1: exercises rounding
        e = 0x3FFF + rng.randint(-8, 8)
    elif kind == "wide":
        e = rng.randint(1, 0x7FFE)
    elif kind == "short":                           # few significand bits: exact cases
        m = J | (rng.getrandbits(12) << 51)
        e = 0x3FFF + rng.randint(-20, 20)
    else:
        r = rng.random()
        if r < 0.6:
            e = 0x3FFF + rng.randint(-70, 70)
        elif r < 0.75:
            e = rng.choice([rng.randint(1, 80), rng.randint(0x7FFE - 80, 0x7FFE)])
        elif r < 0.85:
            return rng.choice(EDGE)
        elif r < 0.92:
            m = J | (rng.getrandbits(20) << 43)
            e = 0x3FFF + rng.randint(-30, 30)
        else:
            e = 0
            m = rng.getrandbits(rng.randint(1, 63))
    return f80(s, e, m)


def cw_of(rc: int, pc: int = 3, masks: int = 0x3F) -> int:
    return 0x40 | masks | (pc << 8) | (rc << 10)


ALL_CW = [cw_of(rc, pc) for rc in range(4) for pc in (0, 2, 3)]


def tword(v: int) -> bytes:
    return v.to_bytes(10, "little")


def dword_f(x: float) -> bytes:
    return struct.pack("<f", x)
