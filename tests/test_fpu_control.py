"""x87 control and state against the real CPU: fnstenv/fldenv/fnsave/frstor (32- and 16-bit
layouts), fxsave/fxrstor, fninit/fnclex/fldcw/fnstcw/fnstsw, the FPU instruction and data
pointers, stack management (ffree fincstp fdecstp fxch), stack faults, and unmasked
exceptions (delivered at the next waiting instruction as #MF)."""

from __future__ import annotations

import random

from conftest import require_tool
from fpu.cases import EDGE, f80, rand_val
from fpu.oracle import Case, compare

J = 1 << 63
ONE = f80(0, 0x3FFF, J)
FILL = bytes([0xAA]) * 600
# fxsave bytes that are not x87 state: MXCSR/MXCSR_MASK and the XMM registers
FXSAVE_AT = 64
FX_MASK = [(FXSAVE_AT + 24, FXSAVE_AT + 32), (FXSAVE_AT + 160, FXSAVE_AT + 416)]


def _check(cases, buf_mask=None):
    require_tool("gcc")
    require_tool("nasm")
    diffs = compare(cases, buf_mask)
    assert not diffs, f"{len(diffs)}/{len(cases)} differ:\n" + "\n\n".join(diffs[:8])


def test_environment_images():
    rng = random.Random(41)
    cases = []
    for _ in range(30):
        regs = [rand_val(rng) for _ in range(rng.randint(0, 8))]
        sw = rng.getrandbits(16) & 0xC7FF
        cw = 0x40 | rng.getrandbits(13) & 0x1F3F | 0x3F
        cases.append(Case("fnstenv [ebx]", regs=regs, sw=sw, cw=cw, mem=FILL, name="fnstenv"))
        cases.append(Case("o16 fnstenv [ebx]", regs=regs, sw=sw, cw=cw, mem=FILL,
                          name="fnstenv16"))
        cases.append(Case("fnsave [ebx]", regs=regs, sw=sw, cw=cw, mem=FILL, name="fnsave"))
        cases.append(Case("o16 fnsave [ebx]", regs=regs, sw=sw, cw=cw, mem=FILL,
                          name="fnsave16"))
        cases.append(Case("fld1; fadd dword [ebx+200]; fnstenv [ebx]; fstp st0",
                          regs=regs[:6], mem=FILL, name="pointers"))
    # tags recomputed from contents, whatever fldenv loaded
    env = bytearray(28)
    env[0:2] = (0x037F).to_bytes(2, "little")
    env[4:6] = (0x3000).to_bytes(2, "little")    # TOP=6
    env[8:10] = (0x0FFF).to_bytes(2, "little")   # R6, R7 tagged valid
    env[12:28] = bytes(range(16))
    cases.append(Case("fldenv [ebx]; fnstenv [ebx+32]", mem=bytes(env) + FILL[:60],
                      phys=[EDGE[k] for k in (0, 2, 8, 10, 16, 18, 1, 21)], name="fldenv"))
    cases.append(Case("o16 fldenv [ebx]; fnstenv [ebx+32]", mem=bytes(env) + FILL[:60],
                      name="fldenv16"))
    # frstor of an image, then fnsave it again
    img = bytearray(108)
    img[0:2] = (0x0A7F).to_bytes(2, "little")
    img[4:6] = (0x2841).to_bytes(2, "little")
    img[8:10] = (0x5A5A).to_bytes(2, "little")
    for i in range(8):
        img[28 + 10 * i:38 + 10 * i] = EDGE[i * 3].to_bytes(10, "little")
    cases.append(Case("frstor [ebx]; fnsave [ebx+112]", mem=bytes(img) + FILL[:120],
                      name="frstor"))
    cases.append(Case("o16 frstor [ebx]; o16 fnsave [ebx+112]",
                      mem=bytes(img[:14]) + bytes(img[28:108]) + FILL[:100], name="frstor16"))
    _check(cases)


def test_fxsave_fxrstor():
    rng = random.Random(42)
    cases = []
    for _ in range(12):
        regs = [rand_val(rng) for _ in range(rng.randint(0, 8))]
        cases.append(Case(f"fld1; fmul dword [ebx]; fxsave [ebx+{FXSAVE_AT}]", regs=regs[:7],
                          mem=FILL, sw=rng.getrandbits(16) & 0x477F, name="fxsave"))
    # with an exception pending (ES set) the pointers are saved too
    cases.append(Case(f"fld1; fmul dword [ebx]; fxsave [ebx+{FXSAVE_AT}]", regs=[EDGE[12]],
                      cw=0x035F, mem=b"\xab\xaa\xaa\x3e" + FILL, name="fxsave-es"))
    img = bytearray(FILL[:512])
    img[0:2] = (0x027F).to_bytes(2, "little")
    img[2:4] = (0x1A21).to_bytes(2, "little")
    img[4] = 0b10110011
    img[5] = 0
    img[6:24] = bytes(range(1, 19))
    img[24:32] = (0x1F80).to_bytes(4, "little") + bytes(4)
    for i in range(8):
        img[32 + 16 * i:42 + 16 * i] = EDGE[i * 2 + 1].to_bytes(10, "little")
    cases.append(Case(f"fxrstor [ebx+{FXSAVE_AT}]; fnsave [ebx+{FXSAVE_AT + 512}]",
                      mem=bytes(64) + bytes(img), name="fxrstor"))
    _check(cases, FX_MASK)


def test_control_words_and_clears():
    cases = [
        Case("fnstcw [ebx]; fnstsw [ebx+2]; fnstsw ax", regs=[ONE], sw=0x47FF, name="st"),
        Case("fldcw [ebx]", mem=(0xFFFF).to_bytes(2, "little"), name="fldcw-all"),
        Case("fldcw [ebx]", mem=(0x0000).to_bytes(2, "little"), sw=0x0001, name="fldcw-unmask"),
        Case("fldcw [ebx]", mem=(0x037F).to_bytes(2, "little"), sw=0x80A1, name="fldcw-mask"),
        Case("fnclex", sw=0xFFFF, name="fnclex"),
        Case("fninit", regs=[ONE, ONE], sw=0x47FF, cw=0x0F00, name="fninit"),
        Case("fnop", regs=[ONE], sw=0x4700, name="fnop"),
        Case("fld1; fneni", sw=0x4700, name="fneni"),
        Case("fld1; fndisi", sw=0x4700, name="fndisi"),
        Case("fld1; fsetpm", sw=0x4700, name="fsetpm"),
        Case("fld1; fwait", sw=0x4700, name="fwait"),
        Case("fincstp; fincstp", regs=[ONE, EDGE[0]], sw=0x0200, name="fincstp"),
        Case("fdecstp", regs=[ONE], sw=0x0200, name="fdecstp"),
        Case("ffree st1; ffreep st0", regs=[ONE, ONE, ONE], sw=0x4700, name="ffree"),
        Case("fxch st3", regs=[EDGE[k] for k in range(5)], sw=0x0200, name="fxch"),
        Case("fxch", regs=[ONE], name="fxch-empty"),
        Case("fld st2", regs=[ONE], name="fld-empty"),
        Case("fst st3; fstp st1", regs=[EDGE[8], EDGE[20]], sw=0x0200, name="fst-reg"),
        Case("fld1", regs=[ONE] * 8, name="push-full"),
        Case("fldpi", regs=[ONE] * 8, cw=0x037E, name="push-full-unmasked"),
        Case("fadd st0, st5", regs=[ONE], name="arith-empty"),
        Case("fsubp st3, st0", regs=[ONE], name="arithp-empty"),
        Case("fsqrt", name="unary-empty"),
        Case("fxtract", regs=[ONE] * 8, name="fxtract-full"),
        Case("fprem", regs=[ONE], name="fprem-empty"),
        Case("fistp dword [ebx]", mem=FILL[:8], name="fistp-empty"),
        Case("fbstp [ebx]", mem=FILL[:12], name="fbstp-empty"),
    ]
    _check(cases)


def test_unmasked_exceptions():
    cases = []
    big = f80(0, 0x7FF0, J)
    tiny = f80(0, 0x0010, J)
    for body, regs, cw in [
        ("fdiv st0, st1", [ONE, 0], 0x037B),
        ("fdiv st0, st1; fwait", [ONE, 0], 0x037B),
        ("fdiv st0, st1; fld1", [ONE, 0], 0x037B),
        ("fdiv st0, st1; fnstsw ax; fnclex; fld1", [ONE, 0], 0x037B),
        ("fsqrt; fwait", [f80(1, 0x3FFF, J)], 0x037E),
        ("fmul st0, st1", [big, big], 0x0377),
        ("fmul st0, st1", [tiny, tiny], 0x036F),
        ("fmul st0, st1", [tiny, tiny], 0x037F),
        ("fdiv st0, st1", [ONE, f80(0, 0x4000, J | 1 << 62)], 0x035F),
        ("fdiv st0, st1; fwait", [ONE, f80(0, 0x4000, J | 1 << 62)], 0x035F),
        ("fadd st0, st1", [ONE, f80(0, 0, 5)], 0x037D),
        ("fld1", [ONE] * 8, 0x037E),
        ("fadd st0, st3", [ONE], 0x037E),
        ("fcom st1; fwait", [ONE, EDGE[20]], 0x037E),
        ("fistp word [ebx]", [big], 0x037E),
        ("fld dword [ebx]", [], 0x037E),
        ("fstp dword [ebx+8]", [big], 0x0377),
        ("fstp qword [ebx+8]", [tiny], 0x036F),
        ("fscale", [ONE, f80(0, 0x400D, J)], 0x0377),
    ]:
        cases.append(Case(body, regs=regs, cw=cw, mem=b"\x01\0\x80\x7f" + FILL[:20],
                          name="unmasked"))
    _check(cases)


def test_glibc_like_sequences():
    """What printf's long double formatting and rint/lrint do: store/restore the control
    word around a truncating conversion, integer round trips, tword moves."""
    rng = random.Random(43)
    cases = []
    body = ("fld tword [ebx]; fnstcw [ebx+16]; fldcw [ebx+18]; frndint; fld st0; "
            "fistp qword [ebx+24]; fldcw [ebx+16]; fld tword [ebx]; fild qword [ebx+24]; "
            "fsubp st1, st0; fmul dword [ebx+32]; fxch st1; fdivr st0, st1; "
            "fstp tword [ebx+40]; fstp qword [ebx+56]; fnstsw ax")
    for _ in range(60):
        v = rand_val(rng, rng.choice(["near", "mixed", "short"]))
        mem = (v.to_bytes(10, "little") + bytes(6) + bytes(2) + (0x0F7F).to_bytes(2, "little")
               + bytes(12) + (0x41200000).to_bytes(4, "little") + bytes(28))
        cases.append(Case(body, mem=mem, cw=0x037F | rng.choice([0, 0x400, 0x800, 0xC00]),
                          name="glibc"))
    _check(cases)
