"""The code inside compiled blocks (vm/x86/emit.py, semantics.py) against Unicorn:

- far frame and field offsets ([ebp - 0x1028], [esi + 0x1800]) share one page check per
  2 KiB window of offsets, tested from the window's low end (Builder._stack_ref,
  FAR_REACH): windows across page boundaries, bases whose low end is below address 0,
  faults on unmapped and read-only pages in the middle of a block;
- near offsets ([ebp - 0x34] .. [ebp + 0x44]): the check's bounds on the base's page offset
  (the lowest and highest bases it passes, one below/above), word and byte frames, the
  frame's page read-only or unmapped;
- flags kept as expressions computed only where read: SHL/SHR/SAR by CL (a count of 0
  keeps the flags), BT/BTS/BTR/BTC (CF the bit, read alone by a carry condition), the
  carry out of ADC/SBB read by a later INC/DEC or ADC, flags of operations over
  constants computed at translation.

Every case runs in a loop (the blocks run many times) and stores its flags
(PUSHFD, masked to the flags the instruction defines) and carry conditions to memory,
which must match Unicorn's byte for byte."""

from __future__ import annotations

import pytest
from test_x86_stackpath import CODE, nasm, ours, run_uc, state, state_uc, unicorn

OUT = 0x6000        # where the programs store what they saw


def _compare(tmp_path, src: str, esp: int = 0x9800, readonly=(), unmapped=(),
             fault: bool = False, prime=None, unequal=()) -> None:
    code = nasm(src, tmp_path)
    end = CODE + len(code) - 1          # the final nop
    emu, X = unicorn(code, esp, readonly, unmapped)
    m = ours(code, esp, readonly, unmapped)
    for addr, data in (prime or {}).items():
        emu.mem_write(addr, data)
        m.write(addr, data)
    stop = m.run(100000, until=None if fault else end)
    got = run_uc(emu, X, 0xFFFFFFF0 if fault else end)
    if fault:
        assert stop.reason == "fault" and got is not None
    else:
        assert stop.reason == "until" and got is None
    assert state(m) == state_uc(emu, X)
    for page in range(OUT, 0x20000, 0x1000):
        if page not in unmapped and page not in unequal:
            assert m.read(page, 0x1000) == bytes(emu.mem_read(page, 0x1000)), hex(page)


# -- far offsets ----------------------------------------------------------------------------

FAR_BODY = """
body:   mov [ebp - 0x1028], ecx
        mov eax, [ebp - 0x1028]
        add eax, [ebp - 0x1024]
        mov [ebp - 0x1020], eax
        mov byte [ebp - 0x101b], cl
        movzx edx, byte [ebp - 0x101c]
        mov [ebp - 0x1018], dx
        add edx, [ebp - 0x1020]
        mov [ebp + 0x1800], edx
        add edx, [ebp + 0x1804]
        mov [ebp + 0x1808], edx
        mov ebx, [ebp + 0x1800]
        mov [ebp - 8], ebx
        add esi, [ebp - 8]
        add esi, [ebp - 0x1018]
        ret
"""
GOOD = 0x14000      # a frame clear of the pages the cases unmap or protect


def _far(ebp_hot: int, ebp: int) -> str:
    """The body runs hot (a compiled block) with one frame, then once with another."""
    return f"""
start:  mov ecx, 12
        mov ebp, {ebp_hot:#x}
top:    call body
        dec ecx
        jnz top
        mov ebp, {ebp:#x}
        call body
        jmp done
{FAR_BODY}
done:   nop
"""


@pytest.mark.parametrize("ebp", [0x9000, 0x9800, 0x9ffc, 0x9002, 0x9003, 0xa018, 0xa030,
                                 0x9fe8])
def test_far_frame_offsets_match_unicorn(tmp_path, ebp):
    _compare(tmp_path, _far(ebp, ebp))
    _compare(tmp_path, _far(GOOD, ebp))


@pytest.mark.parametrize("ebp,readonly,unmapped", [
    (0x9800, (), (0x8000,)),        # [ebp - 0x1028] unmapped: the first access
    (0x9020, (), (0x7000,)),        # the window runs from an unmapped page into a mapped one
    (0x9020, (0x8000,), ()),        # from a writable page into a read-only one
    (0x9800, (0x8000,), ()),        # the first store into a read-only page
    (0x9800, (0xb000,), ()),        # [ebp + 0x1800]: read-only, later in the block
    (0x1000, (), ()),               # ebp - 0x1028 below 0: wraps to an unmapped address
])
def test_far_offset_faults_are_precise(tmp_path, ebp, readonly, unmapped):
    _compare(tmp_path, _far(GOOD, ebp), readonly=readonly, unmapped=unmapped, fault=True)


# -- near offsets: the page check's bounds ------------------------------------------------------

# words from [ebp - 0x34] to [ebp + 0x48): the check passes for ebp & 0xfff in
# [0x34, 0xfb8] (aligned); bytes from [ebp - 0x35] to [ebp + 0x47): [0x35, 0xfb9]
NEAR_WORDS = """
body:   mov eax, [ebp - 0x34]
        mov [ebp - 0x30], ecx
        add eax, [ebp + 0x40]
        mov [ebp + 0x44], eax
        add esi, [ebp - 0x2c]
        ret
"""
NEAR_BYTES = """
body:   movzx eax, byte [ebp - 0x35]
        mov [ebp - 0x30], cl
        add al, [ebp + 0x40]
        mov [ebp + 0x46], al
        movzx edx, byte [ebp - 0x2c]
        add esi, edx
        ret
"""


@pytest.mark.parametrize("body", [NEAR_WORDS, NEAR_BYTES], ids=["words", "bytes"])
@pytest.mark.parametrize("low,readonly,unmapped", [
    (0x34, (0xa000,), (0x8000,)),       # the lowest base the word check passes
    (0x30, (), (0x8000,)),              # below it: [ebp - 0x34] is on the unmapped page
    (0x35, (0xa000,), (0x8000,)),       # the lowest for bytes; misaligned for words
    (0x33, (), (0x8000,)),
    (0xfb8, (0xa000,), (0x8000,)),      # the highest for words
    (0xfb9, (0xa000,), ()),             # the highest for bytes; words run into 0xa000
    (0xfbc, (0xa000,), ()),             # [ebp + 0x44] stores into a read-only page
    (0x800, (0x9000,), ()),             # the frame's page read-only: the stores fault
    (0x800, (), (0x9000,)),             # unmapped: the first load faults
])
def test_near_offsets_at_the_check_bounds_match_unicorn(tmp_path, body, low, readonly,
                                                        unmapped):
    ebp = 0x9000 + low
    top = ebp + (0x48 if body is NEAR_WORDS else 0x47)
    lo = ebp - (0x34 if body is NEAR_WORDS else 0x35)
    fault = any(p in unmapped for p in range(lo & ~0xfff, top, 0x1000)) or \
        any(p in readonly for p in range((lo + 4) & ~0xfff, top, 0x1000))
    src = _far(GOOD, ebp).replace(FAR_BODY, body)
    _compare(tmp_path, src, esp=0x12800, readonly=readonly, unmapped=unmapped, fault=fault,
             unequal=(0x9000,) if fault and low & 3 else ())


# -- flags computed where read ----------------------------------------------------------------

# flags before the instruction: CF ZF PF OF set (so "kept" and "cleared" differ)
_PRIOR = "        mov edx, 0x80000000\n        add edx, edx\n"


def _case(body: str, mask: int) -> str:
    """Prior flags, body, then the flags (masked) and CF through a condition stored."""
    return (_PRIOR + body +
            f"        setc bl\n        pushfd\n        pop eax\n        and eax, {mask:#x}\n"
            "        mov dword [esp - 4], 0\n"      # (the undefined flags pushed)
            "        mov [edi], eax\n        mov [edi + 4], bl\n        mov [edi + 5], ecx\n"
            "        add edi, 12\n")


def _loop(cases: str) -> str:
    return f"""
start:  mov ebp, 3
again:  mov edi, {OUT:#x}
{cases}
        dec ebp
        jnz again
        jmp done
done:   nop
"""


DEFINED = 0x8D5
SHIFTS = []
for _size, _reg, _val in ((4, "esi", 0x80000001), (2, "si", 0x8001), (1, "al", 0x81)):
    for _op in ("shl", "shr", "sar"):
        for _n in (0, 1, 4, _size * 8 - 1, 31):
            # AF undefined for a non-zero count, OF for counts above 1; CF when the count
            # is not below the width (SHL, SHR)
            m = DEFINED if _n == 0 else 0x8C5 if _n == 1 else 0xC5
            if _n >= _size * 8:
                m &= ~1
            SHIFTS.append((_op, _reg, _val, _n, m))


@pytest.mark.parametrize("op,reg,val,n,mask", SHIFTS)
def test_shift_by_cl_flags_match_unicorn(tmp_path, op, reg, val, n, mask):
    body = (f"        mov esi, {val:#x}\n        mov eax, {val:#x}\n        mov cl, {n}\n"
            f"        {op} {reg}, cl\n        lea ecx, [esi + eax]\n")
    # the result, then a carry condition straight after (jc: within the block)
    jc = (f"        mov cl, {n}\n        mov esi, {val:#x}\n        mov eax, {val:#x}\n"
          f"        {op} {reg}, cl\n        jc .c{{}}\n        or ebx, 0x100\n.c{{}}:\n")
    src = _case(body, mask) if mask & 1 else _case(body, mask & ~1).replace("setc bl", "")
    if mask & 1:
        src += jc.format(1, 1) + "        mov [edi - 8], ebx\n"
    _compare(tmp_path, _loop(src))


def test_shift_by_cl_in_memory_matches_unicorn(tmp_path):
    cases = "".join(_case(f"        mov dword [0x7000], 0x80000011\n        mov cl, {n}\n"
                          f"        {op} dword [0x7000], cl\n        mov ecx, [0x7000]\n",
                          DEFINED if n == 0 else 0x8C5 if n == 1 else 0xC5)
                    for op in ("shl", "shr", "sar") for n in (0, 1, 3))
    _compare(tmp_path, _loop(cases))


@pytest.mark.parametrize("op", ["bt", "bts", "btr", "btc"])
def test_bit_test_flags_match_unicorn(tmp_path, op):
    # CF the bit, ZF kept; OF SF AF PF undefined
    cases = []
    for bit in (0, 3, 31):
        cases.append(_case(f"        mov ecx, 0x80000009\n        {op} ecx, {bit}\n", 0x41))
        cases.append(_case(f"        mov ecx, 0x80000009\n        mov esi, {bit + 32}\n"
                           f"        {op} ecx, esi\n", 0x41))
        cases.append(_case(f"        mov dword [0x7000], 0x80000009\n        {op} dword [0x7000], "
                           f"{bit}\n        mov ecx, [0x7000]\n", 0x41))
        cases.append(_case(f"        mov ecx, 0x80000009\n        {op} ecx, {bit}\n"
                           f"        jc .t{bit}\n        or ecx, 0x100\n.t{bit}:\n", 0x41))
    # a zero result before: ZF stays set across BT (the flags of a constant TEST)
    cases.append(_case("        xor ecx, ecx\n        test ecx, ecx\n"
                       f"        {op} ecx, 2\n        adc ecx, 0\n", 0x41))
    _compare(tmp_path, _loop("".join(cases)))


CARRIES = []
for _op in ("adc", "sbb"):
    for _a, _b, _cin in ((0xFFFFFFFF, 0, 1), (5, 0xFFFFFFFF, 1), (5, 0, 0), (5, 0xFFFFFFFF, 0),
                         (0, 0, 1), (0x80000000, 0x7FFFFFFF, 1), (7, 3, 0)):
        CARRIES.append((_op, _a, _b, _cin))


@pytest.mark.parametrize("op,a,b,cin", CARRIES)
def test_carry_out_read_later_matches_unicorn(tmp_path, op, a, b, cin):
    setc = "stc" if cin else "clc"
    cases = [
        # b in a register, then INC (keeps CF), then the carry read
        _case(f"        mov ecx, {a:#x}\n        mov esi, {b:#x}\n        {setc}\n"
              f"        {op} ecx, esi\n        inc esi\n", DEFINED),
        # b an immediate (a constant: 0 or not), then DEC, then ADC reads the carry
        _case(f"        mov ecx, {a:#x}\n        {setc}\n        {op} ecx, {b:#x}\n"
              "        dec esi\n        mov edx, 0\n        adc edx, 0\n        add ecx, edx\n"
              "        inc esi\n", DEFINED),
        # then a jump on the carry (and on CF or ZF)
        _case(f"        mov ecx, {a:#x}\n        {setc}\n        {op} ecx, {b:#x}\n"
              "        inc esi\n        jc .c1\n        or ecx, 0x100\n.c1:     inc esi\n"
              "        jbe .c2\n        or ecx, 0x200\n.c2:\n", DEFINED),
    ]
    _compare(tmp_path, _loop("".join(cases)))


def test_flags_of_constants_match_unicorn(tmp_path):
    # operations over constants (their flags computed at translation), then an
    # instruction that keeps some flags (INC, BT, a rotate) and PUSHFD
    cases = []
    for a, b in ((5, 7), (7, 5), (0, 0), (0x80000000, 1), (0x7FFFFFFF, 0xFFFFFFFF)):
        for op in ("cmp", "sub", "add", "test", "and"):
            cases.append(_case(f"        mov ecx, {a:#x}\n        {op} ecx, {b:#x}\n"
                               "        inc esi\n", DEFINED))
            cases.append(_case(f"        mov ecx, {a:#x}\n        {op} ecx, {b:#x}\n"
                               "        bt ecx, 1\n", 0x41))
            cases.append(_case(f"        mov ecx, {a:#x}\n        {op} ecx, {b:#x}\n",
                               DEFINED & ~0x10 if op in ("test", "and") else DEFINED))
    for zero in ("xor ecx, ecx", "sub ecx, ecx", "xor ecx, ecx\n        test ecx, ecx"):
        for then, mask in (("inc esi", DEFINED), ("bt ecx, 1", 0x41), ("rol esi, 1", 0xC4),
                           ("", DEFINED & ~0x10)):
            cases.append(_case(f"        {zero}\n        {then}\n", mask))
    _compare(tmp_path, _loop("".join(cases)))


# -- word stores through an address the block computes ([esi + ebx*4 + d]) --------------------

INDEXED = """
start:  mov ecx, 12
        mov esi, {hot:#x}
top:    call body
        dec ecx
        jnz top
        mov esi, {esi:#x}
        call body
        jmp done
body:   mov ebx, ecx
        and ebx, 3
        lea eax, [ecx + 0x11223344]
        mov [esi + ebx*4], eax
        mov edx, [esi + ebx*4]
        add edi, edx
        mov [esi + ebx*4 + 16], edi
        mov dx, [esi + ebx*4 + 2]
        mov [esi + ebx*4 + 33], eax
        add edi, edx
        ret
done:   nop
"""


@pytest.mark.parametrize("esi,readonly", [
    (0x8000, ()), (0x8001, ()), (0x8ff0, ()), (0x8ffe, ()), (0x8fd0, ()),
    (0x8ff0, (0x9000,)),        # an aligned word store into a read-only page
    (0x8ffe, (0x9000,)),        # a misaligned one running into it (*)
    (0x8fd0, (0x9000,)),        # [esi + 33] runs into it
])
def test_word_stores_through_computed_addresses_match_unicorn(tmp_path, esi, readonly):
    # (*) Unicorn writes the first page's bytes of a store that faults in the second
    # (the CPU writes none, nor does pyvm): that page is not compared
    _compare(tmp_path, INDEXED.format(hot=0x7000, esi=esi), esp=0x5800, readonly=readonly,
             fault=bool(readonly), unequal=(0x8000,) if esi & 3 and readonly else ())
