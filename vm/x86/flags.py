"""Lazy arithmetic flags.

The last flag-setting operation is kept as ``(op, res, a, b)`` and CF PF AF ZF SF OF are
computed only when something reads them. ``op = kind << 2 | size index`` (0: 8, 1: 16,
2: 32 bits). Every other EFLAGS bit lives in ``CPUState.flags`` (whose six arithmetic bits
are stale while ``lz`` holds a lazy operation).

Kinds and what a/b hold (res is always the masked result):
  NONE   res = the six flag bits themselves (already materialised)
  ADD ADC SUB SBB   a, b = operands (the carry-in of ADC/SBB is recovered from res;
                    res may be None for SUB, i.e. CMP, and for LOGIC, i.e. TEST)
  LOGIC  CF = OF = 0, AF = 0 (undefined)
  INC DEC  a = operand, b = the CF to keep
  NEG    a = operand
  FIX    a = the CF|OF|AF bits, precomputed (shifts, multiplies, BCD...); SZP from res
An op of KEEP_CF and up (BT, BTS, BTR, BTC) is ``KEEP_CF + (prev << 1 | cf)``: CF is cf,
the other five flags those of the lazy state (prev, res, a, b) before it, so that a block
leaving after a bit test stores a tuple instead of calling ``arith`` for the flags before.
The compiler (``semantics.py``) turns a condition read right after a known operation into
a direct expression (``a < b`` for JB after CMP) and calls ``arith`` only otherwise.
"""

from __future__ import annotations

CF, PF, AF, ZF, SF, TF, IF, DF, OF = 0x1, 0x4, 0x10, 0x40, 0x80, 0x100, 0x200, 0x400, 0x800
ARITH = CF | PF | AF | ZF | SF | OF
NT, AC, ID, IOPL = 0x4000, 0x40000, 0x200000, 0x3000

NONE, ADD, ADC, SUB, SBB, LOGIC, INC, DEC, NEG, FIX = range(10)
KIND_NAMES = ("none", "add", "adc", "sub", "sbb", "logic", "inc", "dec", "neg", "fix")

SIZE_INDEX = {1: 0, 2: 1, 4: 2}
MASKS = (0xFF, 0xFFFF, 0xFFFFFFFF)
SIGNS = (0x80, 0x8000, 0x80000000)

# PF for each low byte: even number of set bits
PARITY = bytes(PF if bin(i).count("1") % 2 == 0 else 0 for i in range(256))

NO_LAZY = (NONE, 0, 0, 0)

KEEP_CF = 64        # above every kind << 2 | size: see the module docstring


def opcode(kind: int, size: int) -> int:
    """The lazy op for a kind at an operand size in bytes."""
    return kind << 2 | SIZE_INDEX[size]


def arith(op: int, res: int, a: int, b: int) -> int:
    """The six arithmetic flag bits of a lazy state."""
    kind = op >> 2
    if kind == NONE:
        return res
    if op >= KEEP_CF:
        x = op - KEEP_CF
        return arith(x >> 1, res, a, b) & 0xFFE | x & 1
    sz = op & 3
    m = MASKS[sz]
    s = SIGNS[sz]
    if res is None:         # CMP/TEST whose result nobody computed
        res = (a - b) & m if kind == SUB else a & b
    f = PARITY[res & 0xFF]
    if res == 0:
        f |= ZF
    if res & s:
        f |= SF
    if kind == ADD:
        if res < a:
            f |= CF
        f |= (a ^ b ^ res) & AF
        if (a ^ res) & (b ^ res) & s:
            f |= OF
    elif kind == SUB:
        if a < b:
            f |= CF
        f |= (a ^ b ^ res) & AF
        if (a ^ b) & (a ^ res) & s:
            f |= OF
    elif kind == LOGIC:
        pass
    elif kind == ADC:
        cin = (res - a - b) & m
        if a + b + cin > m:
            f |= CF
        f |= (a ^ b ^ res) & AF
        if (a ^ res) & (b ^ res) & s:
            f |= OF
    elif kind == SBB:
        cin = (a - b - res) & m
        if a < b + cin:
            f |= CF
        f |= (a ^ b ^ res) & AF
        if (a ^ b) & (a ^ res) & s:
            f |= OF
    elif kind == INC:
        f |= (b & 1) | ((a ^ 1 ^ res) & AF)
        if res == s:
            f |= OF
    elif kind == DEC:
        f |= (b & 1) | ((a ^ 1 ^ res) & AF)
        if res == s - 1:
            f |= OF
    elif kind == NEG:
        if a:
            f |= CF
        f |= (a ^ res) & AF
        if res == s:
            f |= OF
    else:  # FIX
        f |= a & (CF | OF | AF)
    return f


def arith_of(lz: tuple) -> int:
    return arith(*lz)


def flag_names(eflags: int) -> str:
    """``CF ZF IF``: the set flags, for register dumps."""
    names = [(CF, "CF"), (PF, "PF"), (AF, "AF"), (ZF, "ZF"), (SF, "SF"), (TF, "TF"),
             (IF, "IF"), (DF, "DF"), (OF, "OF")]
    return " ".join(n for bit, n in names if eflags & bit)


def popf_mask(real: bool, size: int) -> int:
    """EFLAGS bits POPF may change: everything in real mode (IOPL, NT too); in flat user
    mode (CPL 3, IOPL 0) not IF or IOPL."""
    m = 0x7FD5 if real else 0x4DD5
    if size == 4:
        m |= AC | ID
    return m
