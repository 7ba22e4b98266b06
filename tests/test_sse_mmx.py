"""MMX forms (and the SSE/SSE2 forms between MMX and XMM registers) against the real CPU,
one instruction at a time with random operands (``tests/simd/oracle.c``: MM0, MM1, XMM0,
XMM1 and ECX before and after); RCPPS/RSQRTPS against the real CPU's error bound; and C
programs with MMX intrinsics and x87 code after EMMS, built with gcc -m32 -mmmx -msse3,
identical to the native run."""

from __future__ import annotations

import random
import struct

import pytest
from linux.kit import build, run_native, run_pyvm
from simd.kit import describe, native, ours

from asm.x86.encoder import encode
from asm.x86.operands import Imm, Mem, Reg
from asm.x86.table import forms

EDGE = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]


def _q(rng: random.Random) -> int:
    k = rng.randrange(3)
    if k == 0:
        return rng.getrandbits(64)
    w = rng.choice([8, 16, 32])
    return sum((rng.choice(EDGE) & ((1 << w) - 1)) << (w * j) for j in range(64 // w))


def mmx_forms() -> list:
    """Forms with an MMX register operand (maskmovq writes to [edi]: left out)."""
    return [f for f in forms() if any(t in ("mm", "mmrm") for t in f.operands)
            and not f.flags & {"nd", "na"} and f.mnemonic != "maskmovq"]


def _case(form, rng: random.Random) -> tuple:
    ops = []
    for k, t in enumerate(form.operands):
        if t in ("mm", "mmrm"):
            reg = "mm0" if k == 0 else "mm1"
            ops.append(Reg(reg) if t == "mm" or rng.random() < 0.7 else Mem(regs=[("edx", 1)]))
        elif t == "xmm" or t.startswith("xmmrm"):
            reg = "xmm0" if k == 0 else "xmm1"
            ops.append(Reg(reg) if t == "xmm" or rng.random() < 0.7
                       else Mem(regs=[("edx", 1)]))
        elif t in ("r32", "rm32"):
            ops.append(Reg("ecx") if t == "r32" or rng.random() < 0.6
                       else Mem(regs=[("edx", 1)]))
        elif t in ("m64", "m16", "m128"):
            ops.append(Mem(regs=[("edx", 1)]))
        elif t == "imm8":
            ops.append(Imm(rng.choice([0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 63, 64, 0x1B, 0xE4,
                                       0x4E, 0xFF])))
        else:
            raise AssertionError(t)
    code = encode(form.mnemonic, ops, 32).data
    x1 = sum(_q(rng) << (64 * j) for j in range(2))
    if form.mnemonic.startswith("cvt"):         # floats in the xmm source
        x1 = sum(rng.choice([0x3F800000, 0xC2C80000, 0x4F000000, 0x7FC00000, 0x3EAAAAAB,
                             rng.getrandbits(32)]) << (32 * j) for j in range(4))
    return (code, sum(_q(rng) << (64 * j) for j in range(2)), x1, 0x1F80,
            rng.choice(EDGE + [rng.getrandbits(32)]), _q(rng), _q(rng))


@pytest.mark.parametrize("seed", [1, 2])
def test_mmx_forms_against_cpu(seed):
    rng = random.Random(seed)
    cases, names = [], {}
    for form in mmx_forms():
        for _ in range(25):
            c = _case(form, rng)
            names[c[0]] = form.mnemonic
            cases.append(c)
    want = native(cases)
    diffs = []
    for case, w in zip(cases, want):
        g = ours(case)
        w, g = w[:4] + w[5:], g[:4] + g[5:]          # EFLAGS: MMX writes none
        if w != g:
            diffs.append(describe(case, w[:4] + (0,) + w[4:], g[:4] + (0,) + g[4:],
                                  names[case[0]]))
    assert len(cases) > 1500
    assert not diffs, f"{len(diffs)} of {len(cases)} differ:\n" + "\n".join(diffs[:25])


def _f(v: int) -> float:
    return struct.unpack("<f", struct.pack("<I", v))[0]


@pytest.mark.parametrize("form", ["rcpps", "rsqrtps"])
def test_reciprocal_estimates_within_the_cpus_bound(form):
    """The CPU's table gives 1.5 * 2**-12 relative error at most; pyvm returns the correctly
    rounded value: each lane must be within the bound of the CPU's, and the special cases
    (zero, denormal, infinity, NaN, negative for rsqrt) identical."""
    rng = random.Random(5)
    code = encode(form, [Reg("xmm0"), Reg("xmm1")], 32).data
    cases = []
    for _ in range(300):
        lanes = [rng.choice([rng.getrandbits(32) & 0x7FFFFFFF, 0x3F800000, 0x00000001, 0,
                             0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xBF800000,
                             0x00800000, 0x7F7FFFFF]) for _ in range(4)]
        cases.append((code, 0, sum(v << (32 * k) for k, v in enumerate(lanes)), 0x1F80, 0, 0,
                      0))
    bad = []
    for case, w in zip(cases, native(cases)):
        g = ours(case)
        assert g[2] == w[2] == 0x1F80              # no flags
        for k in range(4):
            a, b = w[0] >> (32 * k) & 0xFFFFFFFF, g[0] >> (32 * k) & 0xFFFFFFFF
            fa, fb = _f(a), _f(b)
            special = a & 0x7F800000 in (0, 0x7F800000) or b & 0x7F800000 in (0, 0x7F800000)
            if special and a != b or not special and abs(fa - fb) > abs(fa) * 1.5 * 2 ** -12:
                bad.append(f"{case[2] >> (32 * k) & 0xFFFFFFFF:08x}: cpu {a:08x} pyvm {b:08x}")
    assert not bad, "\n".join(bad[:20])


PROGRAMS = ["mmx_intrinsics", "sse3_math", "simd_fpe"]
BUILDS = {
    "O2-sse3": ("O2", ("-static", "-mmmx", "-msse3", "-mfpmath=sse")),
    "O3-p4": ("O3", ("-static", "-msse2", "-mfpmath=sse", "-march=pentium4")),
}


@pytest.mark.parametrize("build_kind", sorted(BUILDS))
@pytest.mark.parametrize("name", PROGRAMS)
def test_simd_program_matches_native(name, build_kind, tmp_path):
    from simd.kit import HERE
    opt, flags = BUILDS[build_kind]
    if name == "sse3_math" and "-msse3" not in flags:
        flags = flags + ("-msse3",)
    exe = build(name, opt, flags, where=HERE)
    native_run = run_native(exe, cwd=tmp_path)
    emulated = run_pyvm(exe, cwd=tmp_path)
    assert native_run.status == 0, native_run
    assert emulated.stdout == native_run.stdout, emulated
    assert emulated.status == 0 and b"Traceback" not in emulated.stderr, emulated
