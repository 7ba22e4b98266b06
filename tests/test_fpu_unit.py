"""X87 and float80 without the hardware oracle: the public API, exact rounding against a
Fraction reference, #MF delivery, and that the modules run under PyPy 3.9."""

from __future__ import annotations

import math
import random
import struct
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest
from conftest import require_tool

from asm.x86.decoder import decode
from asm.x86.operands import Mem
from vm.x86 import float80 as f80
from vm.x86.fpu import X87, X87Fault

ROOT = Path(__file__).resolve().parent.parent


class Ctx:
    def __init__(self):
        self.mem = bytearray(256)
        self.eflags = 0x202
        self.ax = None

    def read(self, addr, n):
        return bytes(self.mem[addr:addr + n])

    def write(self, addr, data):
        self.mem[addr:addr + len(data)] = data

    def get_eflags(self):
        return self.eflags

    def set_eflags_zpc(self, zf, pf, cf):
        self.eflags = (self.eflags & ~0x45) | (0x40 if zf else 0) | (4 if pf else 0) | int(cf)

    def set_ax(self, value):
        self.ax = value


def run(x87, ctx, hexcode):
    code = bytes.fromhex(hexcode)
    pos = 0
    while pos < len(code):
        insn = decode(code, pos, 32, 0x1000 + pos)
        mem = [op for op in insn.operands if isinstance(op, Mem)]
        x87.execute(insn, mem[0].disp if mem else None, ctx)
        pos += insn.length


def test_initial_state_and_accessors():
    x = X87()
    assert (x.control, x.status, x.tag) == (0x037F, 0, 0xFFFF)
    assert x.st(0) is None
    assert len(x.state_bytes_fxsave()) == 512
    ctx = Ctx()
    run(x, ctx, "d9e8 d9eb")                        # fld1; fldpi
    assert x.st(0) == (0, 0x4000, 0xC90FDAA22168C235)
    assert x.st(1) == f80.ONE
    assert x.status >> 11 & 7 == 6 and x.tag == 0x0FFF
    assert x.fpu_ip == 0x1002


def test_program_results():
    x, ctx = X87(), Ctx()
    # fld1; fldpi; fmulp st1; fstp qword [0x40]; fldz; fld1; fcomip st1; fnstsw ax
    run(x, ctx, "d9e8 d9eb dec9 dd1d40000000 d9ee d9e8 dff1 dfe0")
    assert struct.unpack_from("<d", ctx.mem, 0x40)[0] == math.pi
    assert ctx.eflags & 0x45 == 0                   # 1 > 0
    assert ctx.ax == x.status


def test_unmasked_exception_faults_at_next_waiting_insn():
    x, ctx = X87(), Ctx()
    ctx.mem[0:2] = (0x037B).to_bytes(2, "little")   # unmask ZE
    run(x, ctx, "d92d00000000 d9ee d9e8 def1")      # fldcw; fldz; fld1; fdivrp: 1/0
    assert x.status & 0x8084 == 0x8084              # B, ES, ZE
    with pytest.raises(X87Fault):
        run(x, ctx, "9b")
    run(x, ctx, "dbe2 9b")                          # fnclex clears it
    assert x.status & 0x80 == 0


def _ref_round(q: Fraction) -> int:
    """Round a nonzero rational (in the normal range) to 64 bits, nearest-even: raw bits."""
    s = 1 if q < 0 else 0
    q = abs(q)
    e = q.numerator.bit_length() - q.denominator.bit_length()
    while Fraction(2) ** e > q:
        e -= 1
    while Fraction(2) ** (e + 1) <= q:
        e += 1
    scaled = q / Fraction(2) ** (e - 63)
    m = scaled.numerator // scaled.denominator
    rem = scaled - m
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and m & 1):
        m += 1
    if m >> 64:
        m >>= 1
        e += 1
    return f80.to_bits((s, e + 16383, m))


def test_arithmetic_matches_exact_reference():
    rng = random.Random(1)
    for _ in range(400):
        a = (rng.getrandbits(1), 16383 + rng.randint(-60, 60), (1 << 63) | rng.getrandbits(63))
        b = (rng.getrandbits(1), 16383 + rng.randint(-60, 60), (1 << 63) | rng.getrandbits(63))
        fa, fb = f80.to_fraction(a), f80.to_fraction(b)
        for op, ref in ((f80.add, fa + fb), (f80.mul, fa * fb), (f80.div, fa / fb)):
            v, _ = op(a, b, 0x037F)
            if ref == 0:
                continue
            assert f80.to_bits(v) == _ref_round(ref), (op.__name__, a, b)
        r, _ = f80.sqrt(f80.absval(a), 0x037F)
        sq = f80.to_fraction(r)
        ulp = Fraction(2) ** (r[1] - 16383 - 63)
        assert abs(sq * sq - abs(fa)) <= 2 * sq * ulp / 2 + ulp * ulp


def test_runs_under_pypy():
    pypy = require_tool("pypy3")
    script = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from vm.x86 import float80 as f\n"
        "from vm.x86.fpu import X87\n"
        "x = X87()\n"
        "v, fl, _ = f.trig(f.ONE, 0x37F, 'sin')\n"
        "w, _ = f.yl2x(f.from_float(3.0), f.ONE, 0x37F)\n"
        "print(hex(f.to_bits(v)), hex(f.to_bits(w)), hex(f.to_bits(f.constant('pi', 0x37F))))\n"
    )
    out = subprocess.run([pypy, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0x3ffed76aa47848677021", "0x3fffcae00d1cfdeb43d0",
                                  "0x4000c90fdaa22168c235"]
