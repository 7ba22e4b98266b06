"""x87 compares against the real CPU: condition codes of fcom/fucom families, ficom, ftst,
fxam classes, and EFLAGS of fcomi/fucomi (and their popping forms)."""

from __future__ import annotations

import random

from conftest import require_tool
from fpu.cases import EDGE, rand_val
from fpu.oracle import Case, compare


def _check(cases):
    require_tool("gcc")
    require_tool("nasm")
    diffs = compare(cases)
    assert not diffs, f"{len(diffs)}/{len(cases)} differ:\n" + "\n\n".join(diffs[:8])


REG_FORMS = ["fcom st1", "fcomp st1", "fcompp", "fucom st1", "fucomp st1", "fucompp",
             "fcomi st0, st1", "fcomip st0, st1", "fucomi st0, st1", "fucomip st0, st1"]


def test_register_compares():
    cases = []
    for i, a in enumerate(EDGE):
        for j, b in enumerate(EDGE):
            form = REG_FORMS[(i * 3 + j) % len(REG_FORMS)]
            # start with every condition bit and flag set so clearing is visible too
            cases.append(Case(form, regs=[a, b], sw=0x4700, eflags=0x8D7, name="cmp"))
    _check(cases)


def test_memory_compares():
    rng = random.Random(21)
    cases = []
    for _ in range(150):
        size = rng.choice(["dword", "qword"])
        form = rng.choice(["fcom", "fcomp", "ficom", "ficomp"])
        if form.startswith("fi"):
            size = rng.choice(["word", "dword"])
        mem = rng.getrandbits(64).to_bytes(8, "little")
        if rng.random() < 0.4:
            mem = rng.choice([bytes(8), b"\0\0\x80\x3f" + bytes(4), b"\1\0\0\0" + bytes(4),
                              b"\0\0\xc0\x7f" + bytes(4), b"\x01\0\x80\x7f" + bytes(4)])
        cases.append(Case(f"{form} {size} [ebx]", regs=[rand_val(rng)], mem=mem, sw=0x4700,
                          name="cmpmem"))
    _check(cases)


def test_ftst_fxam():
    cases = []
    for v in EDGE:
        cases.append(Case("ftst", regs=[v], sw=0x4700, name="ftst"))
        cases.append(Case("fxam", regs=[v], name="fxam"))
        cases.append(Case("fxam", regs=[v], sw=0x4700, name="fxam"))
    cases.append(Case("fxam", name="fxam-empty"))
    cases.append(Case("fxam", phys=[1 << 79] * 8, top=3, tags=[3] * 8, name="fxam-empty-neg"))
    cases.append(Case("ftst", name="ftst-empty"))
    cases.append(Case("fcomi st0, st3", regs=[EDGE[10]], name="fcomi-empty"))
    cases.append(Case("fcompp", regs=[EDGE[10]], name="fcompp-empty"))
    _check(cases)


def test_fcmov():
    rng = random.Random(22)
    cases = []
    forms = ["fcmovb", "fcmove", "fcmovbe", "fcmovu", "fcmovnb", "fcmovne", "fcmovnbe",
             "fcmovnu"]
    for form in forms:
        for fl in (0x202, 0x203, 0x206, 0x242, 0x247):
            cases.append(Case(f"{form} st0, st2", regs=[rand_val(rng), EDGE[3], rand_val(rng)],
                              eflags=fl, name="fcmov"))
        cases.append(Case(f"{form} st0, st1", regs=[EDGE[10]], eflags=0x247, name="fcmov-empty"))
    _check(cases)
