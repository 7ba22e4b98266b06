"""The x87 fast paths against the real CPU: the per-instruction plans of vm/x86/x87fast.py
(fld/fst/fstp m32/m64, fild, fist/fistp/fisttp, fld/fst/fstp st(i), fxch) and float80's
normal-operand paths (add/sub/mul/div, compare, to_ieee, to_int).

Operands sit on and around each fast path's edges (the double/single/integer ranges, the
exponent range of an 80-bit result, rounding ties, carries into the next binade), under
every rounding and precision mode and with exceptions unmasked; the stack is full or has
holes where a fast path must hand over to the general one. The last tests run loops in a
flat 32-bit Machine, where each instruction's plan is reused and the selectors come from
the CPU, against the same loops run natively."""

from __future__ import annotations

import random
import struct
import zlib

import pytest
from conftest import require_tool
from fpu.cases import ALL_CW, EDGE, cw_of, f80, rand_val
from fpu.oracle import BUF, Case, assemble, compare, describe, offsets, run_native

J = 1 << 63
M64 = (1 << 64) - 1
BIAS = 0x3FFF
C1 = 0x200


def _check(cases):
    require_tool("gcc")
    require_tool("nasm")
    diffs = compare(cases)
    assert not diffs, f"{len(diffs)}/{len(cases)} differ:\n" + "\n\n".join(diffs[:8])


def _mants(rng: random.Random, sh: int) -> list:
    """Significands whose low ``sh`` bits (the ones a rounding drops) are a tie, just
    below and above one, zero, all ones (a carry into the next binade), or random."""
    half = 1 << (sh - 1)
    hi = J | (rng.getrandbits(63) & ~((1 << sh) - 1))
    return [hi | half, hi | (half - 1), hi | (half + 1), hi, M64, (hi | half) & ~(1 << sh),
            J | rng.getrandbits(63)]


def _edge_values(rng: random.Random, exps, sh: int) -> list:
    return [f80(rng.getrandbits(1), e, m) for e in exps for m in _mants(rng, sh)]


# masks: all, PE unmasked, UE+OE unmasked, everything unmasked but DE
MASKS = (0x3F, 0x1F, 0x27, 0x02)


def _cws(rng: random.Random, n: int) -> list:
    return [cw_of(rng.randrange(4), rng.choice((0, 2, 3)), rng.choice(MASKS)) for _ in range(n)]


def test_real_load_fast_path():
    """fld m32/m64 (normal, zero: the plan's own conversion; the rest: the general path),
    onto an empty slot, a full stack, and with a store after it."""
    rng = random.Random(21)
    cases = []
    for n, size, ebits in ((4, "dword", 8), (8, "qword", 11)):
        fb = 8 * n - 1 - ebits
        pool = [0, 1 << (8 * n - 1), 1, (1 << fb) - 1, 1 << fb, ((1 << ebits) - 2) << fb,
                ((1 << ebits) - 1) << fb, (((1 << ebits) - 1) << fb) | 1]
        pool += [rng.getrandbits(8 * n) for _ in range(30)]
        for v in pool:
            mem = v.to_bytes(n, "little")
            cases.append(Case(f"fld {size} [ebx]", mem=mem, cw=rng.choice(_cws(rng, 4)),
                              name="fld"))
            cases.append(Case(f"fld {size} [ebx]; fstp {size} [ebx+16]", mem=mem,
                              regs=[rand_val(rng)] * rng.randrange(2), name="fld-fstp"))
            cases.append(Case(f"fld {size} [ebx]", mem=mem, regs=[rand_val(rng)] * 8,
                              cw=rng.choice((0x37F, 0x37E)), name="fld-overflow"))
    _check(cases)


@pytest.mark.parametrize("part", range(4))
def test_real_store_fast_path(part):
    """fst/fstp m32/m64 of values at the formats' exponent limits, with rounding ties and
    carries, every RC (PC does not apply to stores) and unmasked PE/UE/OE."""
    rng = random.Random(22 + part)
    cases = []
    for size, bias, sh in (("dword", 127, 40), ("qword", 1023, 11)):
        exps = [BIAS + d for d in (bias, bias - 1, bias + 1, 1 - bias, 2 - bias, -bias,
                                   -bias - 20, 0, 5, -5)]
        for v in _edge_values(rng, exps, sh)[part::4]:
            for cw in [cw_of(rc) for rc in range(4)] + _cws(rng, 2):
                insn = rng.choice([f"fst {size} [ebx]", f"fstp {size} [ebx]"])
                cases.append(Case(insn, regs=[v, rand_val(rng)], cw=cw, sw=rng.choice((0, C1)),
                                  mem=bytes([0xAA]) * 8, name="fst"))
    if part == 0:
        for size in ("dword", "qword"):     # ST0 empty: the general path
            cases.append(Case(f"fstp {size} [ebx]", mem=bytes([0xAA]) * 8, name="fst-empty"))
            cases.append(Case(f"fstp {size} [ebx]", cw=0x37E, mem=bytes([0xAA]) * 8,
                              name="fst-empty-ie"))
        for v in EDGE:
            cases.append(Case("fstp qword [ebx]; fstp dword [ebx+8]", regs=[v, v],
                              mem=bytes([0xAA]) * 12, name="fst-edge"))
    _check(cases)


def test_float80_conversions_match_native_stores():
    """float80.to_ieee and to_int themselves (the general path of an Intel part's pointer
    model, which this host may not run) against the bytes and C1/PE the CPU stored."""
    require_tool("gcc")
    require_tool("nasm")
    from vm.x86 import float80
    rng = random.Random(31)
    cases, expect = [], []
    for size, n, fmt, bias, sh in (("dword", 4, float80.SINGLE, 127, 40),
                                   ("qword", 8, float80.DOUBLE, 1023, 11)):
        exps = [BIAS + d for d in (bias, bias - 1, 1 - bias, 2 - bias, -bias, 0, 7)]
        for v in _edge_values(rng, exps, sh):
            for rc in range(4):
                cases.append(Case(f"fst {size} [ebx]", regs=[v], cw=cw_of(rc), name="to_ieee"))
                expect.append(("ieee", v, cw_of(rc), fmt, n))
    for k, n in ((15, 2), (31, 4), (62, 8)):
        for v in _edge_values(rng, [BIAS + k - 1, BIAS + k, BIAS, BIAS + 2], 60):
            for rc in range(4):
                size = {2: "word", 4: "dword", 8: "qword"}[n]
                cases.append(Case(f"fistp {size} [ebx]", regs=[v], cw=cw_of(rc), name="to_int"))
                expect.append(("int", v, cw_of(rc), None, n))
    _, native = run_native(cases)
    bad = []
    for c, (kind, v, cw, fmt, n), res in zip(cases, expect, native):
        t = ((v >> 79) & 1, (v >> 64) & 0x7FFF, v & M64)
        if kind == "ieee":
            raw, fl = float80.to_ieee(t, cw, fmt)
        else:
            raw, fl = float80.to_int(t, cw, 8 * n)
            raw = (1 << (8 * n - 1)) if raw is None else raw & ((1 << 8 * n) - 1)
        sw = struct.unpack_from("<H", res.save, 4)[0]
        got = (raw.to_bytes(n, "little"), fl & (0x3F | C1))
        want = (res.buf[:n], sw & (0x3F | C1))
        if got != want:
            bad.append(f"{c.body} {v:020x} cw={cw:04x}: float80 {got} CPU {want}")
    assert not bad, f"{len(bad)}/{len(cases)} differ:\n" + "\n".join(bad[:8])


def test_integer_fast_paths():
    """fild m16/m32/m64; fist/fistp/fisttp of values at the integer formats' limits and at
    halves, every RC, and with PE unmasked."""
    rng = random.Random(26)
    cases = []
    for n, size in ((2, "word"), (4, "dword"), (8, "qword")):
        for v in (0, 1, M64 >> (64 - 8 * n), 1 << (8 * n - 1), (1 << (8 * n - 1)) - 1,
                  rng.getrandbits(8 * n), rng.getrandbits(8 * n)):
            cases.append(Case(f"fild {size} [ebx]", mem=v.to_bytes(n, "little"),
                              regs=[rand_val(rng)] * rng.choice((0, 1, 8)), name="fild"))
    pool = []
    for k in (15, 31, 63):                  # 2**k and just below, rounding into it
        pool += _edge_values(rng, [BIAS + k - 1, BIAS + k], 63 - (k - 1))
    pool += _edge_values(rng, [BIAS, BIAS + 1, BIAS - 1, BIAS + 62, BIAS + 3], 60)
    pool += [f80(s, BIAS + e, J | (1 << 62) >> e) for s in (0, 1) for e in range(0, 6)]  # x.5
    for v in pool:
        for cw in [cw_of(rng.randrange(4), 3, rng.choice((0x3F, 0x1F, 0x3E)))]:
            size = rng.choice(["word", "dword", "qword"])
            insn = rng.choice([f"fistp {size} [ebx]", f"fisttp {size} [ebx]",
                               f"fist {'dword' if size == 'qword' else size} [ebx]"])
            cases.append(Case(insn, regs=[v, rand_val(rng)], cw=cw, sw=rng.choice((0, C1)),
                              mem=bytes([0xAA]) * 8, name="fist"))
    for insn in ("fistp dword [ebx]", "fisttp word [ebx]", "fist word [ebx]"):
        cases.append(Case(insn, mem=bytes([0xAA]) * 8, name="fist-empty"))
    _check(cases)


def test_control_word_loads():
    """fldcw (inline in the unit) with exception flags pending: ES and B follow the new
    masks both ways; fnstcw and a load after it."""
    rng = random.Random(32)
    cases = []
    for _ in range(40):
        flags = rng.choice((0x01, 0x20, 0x30, 0x08, 0x3F, 0))
        old = cw_of(rng.randrange(4), 3, rng.choice((0x3F, 0x1F, 0x00, 0x37)))
        new = cw_of(rng.randrange(4), rng.choice((0, 2, 3)), rng.choice((0x3F, 0x1F, 0x00, 0x2F)))
        new |= rng.choice((0, 0x1080))      # reserved bits and IC: dropped / kept as read
        body = rng.choice(["fldcw [ebx]; fnstsw ax", "fldcw [ebx]; fnstcw [ebx+4]; fnstsw ax",
                           "fnstcw [ebx+4]; fldcw [ebx]; fldcw [ebx+4]; fnstsw ax"])
        cases.append(Case(body, cw=old, sw=flags, mem=struct.pack("<H", new), name="fldcw"))
    _check(cases)


def test_register_moves():
    """fld st(i), fxch, fst/fstp st(i): with both operands present (the plans' inline
    moves) and with empty registers or a full stack (the general path's IE/SF and
    indefinite), masked and unmasked."""
    rng = random.Random(27)
    cases = []
    bodies = ["fld st{i}", "fxch st{i}", "fst st{i}", "fstp st{i}", "fld st{i}; fxch st1",
              "fxch st{i}; fstp st{i}", "fld st0; fld st{i}; fxch st2; fstp st3"]
    for body in bodies:
        for i in range(8):
            for n in (0, 1, i + 1, 7, 8):
                regs = [rand_val(rng) for _ in range(n)]
                tags = None
                if n > 2 and rng.random() < 0.4:        # a hole inside the stack
                    top = (8 - n) % 8
                    tags = [0 if (p - top) % 8 < n else 3 for p in range(8)]
                    tags[(top + rng.randrange(1, n)) % 8] = 3
                cases.append(Case(body.format(i=i), regs=regs, tags=tags,
                                  cw=rng.choice((0x37F, 0x37E)), sw=rng.choice((0, 0x200)),
                                  name="moves"))
    _check(cases)


@pytest.mark.parametrize("op", ["fadd", "fsub", "fmul", "fdiv"])
def test_arithmetic_normal_operands(op):
    """Normal operands whose result lands near the 80-bit exponent limits (where the
    fast path hands over to the general one) or anywhere, in every RC x PC."""
    rng = random.Random(zlib.crc32(op.encode()))
    cases = []
    for cw in ALL_CW + _cws(rng, 6):
        for _ in range(14):
            kind = rng.random()
            if kind < 0.3:                  # results near the smallest/largest normals
                lo = rng.random() < 0.5
                if op == "fmul":
                    ea = rng.randint(1, 40) if lo else 0x7FFE - rng.randint(0, 40)
                    eb = BIAS + rng.randint(-3, 3)
                elif op == "fdiv":
                    ea = rng.randint(1, 40) if lo else 0x7FFE - rng.randint(0, 40)
                    eb = BIAS + rng.randint(-3, 3)
                else:
                    ea = rng.randint(1, 4) if lo else 0x7FFE - rng.randint(0, 2)
                    eb = max(1, ea - rng.randint(0, 2))
                a = f80(rng.getrandbits(1), ea, J | rng.getrandbits(63))
                b = f80(rng.getrandbits(1), eb, J | rng.getrandbits(63))
            elif kind < 0.5:                # cancellation and near-equal operands
                a = rand_val(rng, "near")
                b = a ^ rng.getrandbits(rng.randint(1, 20)) ^ (rng.getrandbits(1) << 79)
            elif kind < 0.6:                # far apart: the sticky bit
                a = rand_val(rng, "near")
                b = f80(rng.getrandbits(1), BIAS - rng.randint(64, 200), J | rng.getrandbits(63))
            else:
                a, b = rand_val(rng, "near"), rand_val(rng, rng.choice(["near", "short"]))
            forms = [f"{op} st0, st1", f"{op}p st1, st0", f"{op} st1, st0"]
            if op in ("fsub", "fdiv"):
                forms.append(f"{op}r st0, st1")
            form = rng.choice(forms)
            cases.append(Case(form, regs=[a, b], cw=cw, sw=rng.choice((0, C1)), name="arith"))
        for _ in range(2):              # normal or zero operands inline, the rest general
            a = rng.choice([rand_val(rng, "near"), rand_val(rng)])
            x = rng.choice([rng.uniform(-4, 4), 0.0, -0.0, 5e-324, float("inf"), float("nan"),
                            rng.uniform(-1e30, 1e30)])
            size, fmt = rng.choice([("qword", "<d"), ("dword", "<f")])
            insn = f"{op}{rng.choice(['', 'r']) if op in ('fsub', 'fdiv') else ''} {size} [ebx]"
            cases.append(Case(insn, regs=[a] * rng.choice((0, 1, 1, 1)), cw=cw,
                              mem=struct.pack(fmt, x), name="arith-mem"))
    _check(cases)


def test_compare_normal_operands():
    """fcom/fucomi/fcomip on normal operands: equal exponents, equal values, opposite
    signs; and the special operands the fast path leaves to the general one."""
    rng = random.Random(29)
    cases = []
    for _ in range(60):
        a = rand_val(rng, "near")
        r = rng.random()
        if r < 0.3:
            b = a
        elif r < 0.6:
            b = a ^ rng.getrandbits(8)      # same exponent, close significands
        elif r < 0.8:
            b = a ^ (1 << 79)
        else:
            b = rng.choice(EDGE)
        form = rng.choice(["fcom st1", "fucomi st0, st1", "fcomip st0, st1",
                           "fucomip st0, st1", "fcompp", "fucom st1; fnstsw ax"])
        cases.append(Case(form, regs=[a, b], eflags=rng.choice((0x202, 0xAD7)),
                          name="cmp"))
    _check(cases)


# ---- whole machine: loops (each plan reused), selectors from the CPU ---------------------

LOOPS = [
    # awk-like: doubles summed, truncated to int with a saved and restored control word
    """mov ecx, 40
    fninit
    .l: fld qword [ebx]
    fadd qword [ebx+8]
    fst qword [ebx]
    fnstcw [ebx+16]
    mov ax, [ebx+16]
    or ax, 0xC00
    mov [ebx+18], ax
    fldcw [ebx+18]
    fistp dword [ebx+20]
    fldcw [ebx+16]
    fild dword [ebx+20]
    fld1
    faddp st1, st0
    fstp dword [ebx+24]
    loop .l""",
    # printf-like: scale by a divisor, compare, swap, integer part
    """mov ecx, 30
    fld qword [ebx+8]
    .l: fld qword [ebx]
    fdiv st0, st1
    fxch st1
    fucomi st0, st1
    fld st1
    fabs
    fstp qword [ebx+32]
    fxch st1
    fistp qword [ebx+40]
    fld qword [ebx]
    fmul qword [ebx+8]
    fstp qword [ebx]
    loop .l
    fstp st0""",
    # rounding modes and precisions cycled inside the loop
    """mov ecx, 24
    fninit
    .l: mov eax, ecx
    and eax, 12
    mov edx, ecx
    and edx, 3
    cmp edx, 1
    jne .pc
    xor edx, edx
    .pc: or eax, edx
    shl eax, 8
    or eax, 0x7F
    mov [ebx+16], ax
    fldcw [ebx+16]
    fld qword [ebx]
    fld qword [ebx+8]
    fdivp st1, st0
    fst dword [ebx+24]
    fst qword [ebx+32]
    fistp word [ebx+40]
    fld qword [ebx+8]
    fadd dword [ebx+24]
    fstp qword [ebx+8]
    loop .l""",
]


def _loop_mem(rng: random.Random) -> bytes:
    return struct.pack("<dd", rng.uniform(-1e3, 1e3), rng.choice((3.0, 0.1, 1.0000001, -7.25)))


def _run_machine(blob: bytes, entry: int, image: bytes, mem: bytes) -> tuple:
    """The case function at ``entry`` in a flat 32-bit Machine: (fnsave image, eflags,
    eax, buffer, code base, buffer base)."""
    from vm.x86.machine import Machine
    code, state, buf, out, stack, ret = 0x10000, 0x80000, 0x90000, 0xA0000, 0xF0000, 0xB0000
    m = Machine("flat32", 1 << 20)
    m.load(code, blob)
    m.load(ret, b"\xf4")
    m.load(state, image)
    m.load(buf, mem + bytes(BUF - len(mem)))
    esp = stack - 16
    m.write(esp, struct.pack("<4I", ret, state, buf, out))
    m.set_reg("esp", esp)
    m.set_reg("eip", code + entry)
    m.run(until=ret, max_steps=100000)
    assert m.eip == ret, f"stopped at {m.eip:#x}"
    res = m.read(out, 116)
    return res[:108], struct.unpack_from("<I", res, 108)[0], struct.unpack_from(
        "<I", res, 112)[0], m.read(buf, BUF), code, buf


def test_loops_in_a_machine():
    """Loops of the instructions glibc's printf and busybox awk use, run by pyvm's engine
    (compiled blocks, plans reused every iteration, FCS/FDS from the CPU) and natively:
    same registers, status, control and tag words, pointers (relative to the code and
    buffer), memory and EFLAGS."""
    require_tool("gcc")
    require_tool("nasm")
    rng = random.Random(30)
    cases = [Case(body, mem=_loop_mem(rng), name=f"loop{k}")
             for k, body in enumerate(LOOPS) for _ in range(3)]
    addrs, native = run_native(cases)
    blob = assemble(cases)
    code_n, _, buf_n, _ = addrs
    bad = []
    for c, (entry, _, _), n in zip(cases, offsets(blob, len(cases)), native):
        save, eflags, eax, buf, code_p, buf_p = _run_machine(blob, entry, c.image(), c.mem)
        ns = bytearray(n.save)
        fip, fcs_op, fdp, fds = struct.unpack_from("<4I", ns, 12)
        if (fip, fcs_op, fdp, fds & 0xFFFF) == (0, 0, 0, 0):
            ns[12:28] = save[12:28]     # cleared by a context switch: see oracle.diff
        else:                           # relative to where code and buffer are in each run
            struct.pack_into("<I", ns, 12, fip - code_n + code_p)
            if fcs_op == 0:
                # FCS deprecated (CPUID.7:EBX bit 13) and FOP kept only for an unmasked
                # exception (a CPU in FOP compatibility mode off): stored as 0
                ns[16:20] = save[16:20]
            if fdp == 0 and fds & 0xFFFF == 0:
                # a CPU with FDP_EXCPTN_ONLY (CPUID.7:EBX bit 6) writes FDP and FDS only
                # for an unmasked exception: the pointer is then not the oracle's to tell
                ns[20:28] = save[20:28]
            else:
                struct.pack_into("<I", ns, 20, fdp - buf_n + buf_p)
        if bytes(ns) != save:
            bad.append(f"[{c.name}] native   {describe(bytes(ns))}\n"
                       f"          pyvm     {describe(save)}")
        if n.buf != buf:
            bad.append(f"[{c.name}] buffer native {n.buf[:48].hex()}\n"
                       f"                pyvm   {buf[:48].hex()}")
        if (n.eflags & 0x8D5, n.eax & 0xFFFF) != (eflags & 0x8D5, eax & 0xFFFF):
            bad.append(f"[{c.name}] eflags/ax native {n.eflags:#x}/{n.eax:#x} "
                       f"pyvm {eflags:#x}/{eax:#x}")
    assert not bad, "\n".join(bad)


def test_fault_state_and_flags_in_a_program(tmp_path):
    """A static glibc program (tests/linux/x87_fault_state.c) natively and under pyvm:
    x87 instructions no longer flush the block's registers and flags around them, so a
    #MF's SIGFPE context (registers, pending flags), fucomip's EFLAGS and fnstsw ax in the
    middle of a block must still come out as on the CPU."""
    from linux.kit import build, run_native, run_pyvm
    exe = build("x87_fault_state")
    native = run_native(exe, (), tmp_path)
    emulated = run_pyvm(exe, (), tmp_path)
    assert native.status == 0 and native.stdout.count(b"sig 8") == 4, native
    assert emulated.stdout == native.stdout, emulated
    assert emulated.status == native.status, emulated
