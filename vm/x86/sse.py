"""SSE and SSE2: the XMM registers (``CPUState.xmm``, eight 128-bit ints) and MXCSR.

Each instruction compiles to a line or two of Python: the operands are read (an XMM
register, or memory of the instruction's width), a helper of this module combines them and
the result goes back to the register, memory or a general register. Results are exact
IEEE single/double for the default MXCSR (round to nearest even, exceptions masked, no
DAZ/FTZ): Python floats are IEEE doubles rounded to nearest even, and single-precision
results are computed in double (exact or rounded once, which for + - * / and sqrt gives
the correctly rounded single after rounding to single) and rounded through
``struct.pack('<f')``. NaN operands follow the SSE rules (the first source's NaN, made
quiet; the default NaN is negative) by bits, never through Python's own NaN handling.

Not modelled yet: the exception flags of MXCSR (they stay as software set them), other
rounding modes, DAZ/FTZ and unmasked exceptions (LDMXCSR of such a value stops the machine
with Unsupported).
"""

from __future__ import annotations

import math
import struct

from asm.x86.operands import Imm, Mem, Reg
from asm.x86.registers import REGISTERS
from vm.x86.emit import SEMANTICS, Builder, family
from vm.x86.faults import GP, Unsupported

M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF
M128 = (1 << 128) - 1

_D, _F = struct.Struct("<d"), struct.Struct("<f")
_Q, _I = struct.Struct("<Q"), struct.Struct("<I")
_QQ = struct.Struct("<QQ")
_d_unpack, _d_pack, _f_unpack, _f_pack = _D.unpack, _D.pack, _F.unpack, _F.pack
_q_unpack, _q_pack, _i_unpack, _i_pack = _Q.unpack, _Q.pack, _I.unpack, _I.pack

D_EXP, D_MANT, D_QUIET, D_SIGN = 0x7FF0000000000000, 0xFFFFFFFFFFFFF, 1 << 51, 1 << 63
D_DEFAULT_NAN = 0xFFF8000000000000
F_EXP, F_MANT, F_QUIET, F_SIGN = 0x7F800000, 0x7FFFFF, 1 << 22, 1 << 31
F_DEFAULT_NAN = 0xFFC00000
INT_INDEFINITE = 0x80000000


# ---- bits <-> values -----------------------------------------------------------------------

def dval(q: int) -> float:
    return _d_unpack(_q_pack(q))[0]


def dbits(x: float) -> int:
    return _q_unpack(_d_pack(x))[0]


def fval(w: int) -> float:
    return _f_unpack(_i_pack(w))[0]


def fbits(x: float) -> int:
    """A double rounded to single (to nearest even; too large: infinity)."""
    try:
        return _i_unpack(_f_pack(x))[0]
    except OverflowError:
        return F_EXP | (F_SIGN if x < 0 else 0)


def dnan(q: int) -> bool:
    return q & D_EXP == D_EXP and q & D_MANT != 0


def fnan(w: int) -> bool:
    return w & F_EXP == F_EXP and w & F_MANT != 0


def _div(x: float, y: float, ybits_neg: bool, nan: int, to_bits) -> int:
    """x / y where Python refuses (y is a zero)."""
    if x == 0:
        return nan
    neg = (x < 0) != ybits_neg
    return to_bits(-math.inf if neg else math.inf)


def _arith(fmt: tuple, op: int, a: int, b: int) -> int:
    """One operation on bits of one format: 0 add, 1 mul, 2 sub, 3 min, 4 div, 5 max."""
    val, bits, isnan, quiet, sign, default_nan = fmt
    if op == 3 or op == 5:
        x, y = val(a), val(b)
        if op == 3:
            return a if x < y else b
        return a if x > y else b
    if isnan(a) or isnan(b):
        return (a if isnan(a) else b) | quiet
    x, y = val(a), val(b)
    if op == 0:
        r = x + y
    elif op == 1:
        r = x * y
    elif op == 2:
        r = x - y
    elif y == 0:
        return _div(x, y, bool(b & sign), default_nan, bits)
    else:
        r = x / y
    if r != r:
        return default_nan
    return bits(r)       # a single's result is the double's, rounded once by fbits


_DOUBLE = (dval, dbits, dnan, D_QUIET, D_SIGN, D_DEFAULT_NAN)
_SINGLE = (fval, fbits, fnan, F_QUIET, F_SIGN, F_DEFAULT_NAN)


def _arith_d(op: int, a: int, b: int) -> int:
    return _arith(_DOUBLE, op, a, b)


def _arith_f(op: int, a: int, b: int) -> int:
    return _arith(_SINGLE, op, a, b)


def _sqrt_d(q: int) -> int:
    if dnan(q):
        return q | D_QUIET
    x = dval(q)
    if x < 0:
        return D_DEFAULT_NAN
    return dbits(math.sqrt(x))


def _sqrt_f(w: int) -> int:
    if fnan(w):
        return w | F_QUIET
    x = fval(w)
    if x < 0:
        return F_DEFAULT_NAN
    return fbits(math.sqrt(x))


def s2d(w: int) -> int:
    """Single bits -> double bits (exact; a NaN keeps its payload and becomes quiet)."""
    if fnan(w):
        return (w & F_SIGN) << 32 | D_EXP | D_QUIET | (w & F_MANT) << 29
    return dbits(fval(w))


def d2s(q: int) -> int:
    if dnan(q):
        return (q >> 32) & F_SIGN | F_EXP | F_QUIET | (q & D_MANT) >> 29
    return fbits(dval(q))


def to_int32(x: float, truncate: bool) -> int:
    """cvt(t)sd2si & co.: the integer indefinite for NaN and out-of-range values."""
    if x != x or x in (math.inf, -math.inf):
        return INT_INDEFINITE
    v = int(x) if truncate else round(x)        # round(): to nearest even
    if not -0x80000000 <= v <= 0x7FFFFFFF:
        return INT_INDEFINITE
    return v & M32


def _s32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


# ---- lanes -----------------------------------------------------------------------------------

def split(x: int, w: int) -> list:
    m = (1 << w) - 1
    return [(x >> s) & m for s in range(0, 128, w)]


def join(lanes, w: int) -> int:
    m = (1 << w) - 1
    v = 0
    for k, x in enumerate(lanes):
        v |= (x & m) << (k * w)
    return v


def _packed(fn, w: int):
    def run(a: int, b: int) -> int:
        return join([fn(x, y) for x, y in zip(split(a, w), split(b, w))], w)
    return run


def _scalar(fn, w: int):
    m = (1 << w) - 1

    def run(a: int, b: int) -> int:
        return a & ~m & M128 | fn(a & m, b & m)
    return run


def _signed(v: int, w: int) -> int:
    return v - (1 << w) if v >> (w - 1) else v


def _sat(v: int, lo: int, hi: int) -> int:
    return lo if v < lo else hi if v > hi else v


# float compare predicates (CMPPS & co., imm8 bits 2:0)
def _cmp_pred(x: float, y: float, pred: int) -> bool:
    unordered = x != x or y != y
    if pred == 0:
        return x == y
    if pred == 1:
        return x < y
    if pred == 2:
        return x <= y
    if pred == 3:
        return unordered
    if pred == 4:
        return not x == y
    if pred == 5:
        return not x < y
    if pred == 6:
        return not x <= y
    return not unordered


def _cmp_lanes(a: int, b: int, imm: int, w: int, count: int) -> int:
    """CMP{PS,PD,SS,SD}: ``count`` lanes of width w compared, the rest of a kept."""
    val = dval if w == 64 else fval
    m = (1 << w) - 1
    out = a >> (w * count) << (w * count) if count < 128 // w else 0
    for k in range(count):
        x, y = val((a >> (k * w)) & m), val((b >> (k * w)) & m)
        if _cmp_pred(x, y, imm & 7):
            out |= m << (k * w)
    return out


def _comi(a: int, b: int, w: int) -> int:
    """(U)COMISS/SD: ZF PF CF; unordered sets all three; OF SF AF are cleared."""
    val = dval if w == 64 else fval
    m = (1 << w) - 1
    x, y = val(a & m), val(b & m)
    if x != x or y != y:
        return 0x45
    if x < y:
        return 0x01
    if x == y:
        return 0x40
    return 0


# ---- integer lanes ---------------------------------------------------------------------------

def _pack_ss(a: int, b: int, w: int, signed_out: bool) -> int:
    """PACKSSWB / PACKSSDW / PACKUSWB: signed w-bit lanes of a then b, saturated to w/2."""
    h = w // 2
    lo, hi = ((-(1 << (h - 1)), (1 << (h - 1)) - 1) if signed_out else (0, (1 << h) - 1))
    src = [_signed(x, w) for x in split(a, w) + split(b, w)]
    return join([_sat(x, lo, hi) for x in src], h)


def _unpack(a: int, b: int, w: int, high: bool) -> int:
    la, lb = split(a, w), split(b, w)
    n = len(la) // 2
    if high:
        la, lb = la[n:], lb[n:]
    out = []
    for x, y in zip(la[:n], lb[:n]):
        out += (x, y)
    return join(out, w)


def _shift(a: int, count: int, w: int, kind: str) -> int:
    """PSLL/PSRL/PSRA by count on every w-bit lane (PSLLDQ/PSRLDQ: bytes of the whole)."""
    if kind == "lq":
        return 0 if count > 15 else (a << (8 * count)) & M128
    if kind == "rq":
        return 0 if count > 15 else a >> (8 * count)
    m = (1 << w) - 1
    if kind == "ra":
        c = min(count, w - 1)
        return join([(_signed(x, w) >> c) & m for x in split(a, w)], w)
    if count >= w:
        return 0
    if kind == "l":
        return join([(x << count) & m for x in split(a, w)], w)
    return join([x >> count for x in split(a, w)], w)


def _pmovmskb(a: int) -> int:
    v = 0
    for k, byte in enumerate(a.to_bytes(16, "little")):
        if byte & 0x80:
            v |= 1 << k
    return v


def _movmsk(a: int, w: int) -> int:
    v = 0
    for k, x in enumerate(split(a, w)):
        if x >> (w - 1):
            v |= 1 << k
    return v


def _pshufd(b: int, imm: int) -> int:
    d = split(b, 32)
    return join([d[(imm >> (2 * k)) & 3] for k in range(4)], 32)


def _pshufw(b: int, imm: int, high: bool) -> int:
    w = split(b, 16)
    part = w[4:] if high else w[:4]
    new = [part[(imm >> (2 * k)) & 3] for k in range(4)]
    return join(w[:4] + new if high else new + w[4:], 16)


def _shufps(a: int, b: int, imm: int) -> int:
    x, y = split(a, 32), split(b, 32)
    return join([x[imm & 3], x[(imm >> 2) & 3], y[(imm >> 4) & 3], y[(imm >> 6) & 3]], 32)


def _shufpd(a: int, b: int, imm: int) -> int:
    x, y = split(a, 64), split(b, 64)
    return join([x[imm & 1], y[(imm >> 1) & 1]], 64)


def _psadbw(a: int, b: int) -> int:
    x, y = a.to_bytes(16, "little"), b.to_bytes(16, "little")
    lo = sum(abs(p - q) for p, q in zip(x[:8], y[:8]))
    hi = sum(abs(p - q) for p, q in zip(x[8:], y[8:]))
    return lo | hi << 64


def _pmaddwd(a: int, b: int) -> int:
    x = [_signed(v, 16) for v in split(a, 16)]
    y = [_signed(v, 16) for v in split(b, 16)]
    return join([x[2 * k] * y[2 * k] + x[2 * k + 1] * y[2 * k + 1] for k in range(4)], 32)


def _pmuludq(a: int, b: int) -> int:
    return (a & M32) * (b & M32) | (((a >> 64) & M32) * ((b >> 64) & M32)) << 64


def _s(fn, w):
    """A lane function on signed values."""
    return lambda x, y: fn(_signed(x, w), _signed(y, w))


INT_OPS = {
    "paddb": _packed(lambda x, y: x + y, 8), "paddw": _packed(lambda x, y: x + y, 16),
    "paddd": _packed(lambda x, y: x + y, 32), "paddq": _packed(lambda x, y: x + y, 64),
    "psubb": _packed(lambda x, y: x - y, 8), "psubw": _packed(lambda x, y: x - y, 16),
    "psubd": _packed(lambda x, y: x - y, 32), "psubq": _packed(lambda x, y: x - y, 64),
    "paddusb": _packed(lambda x, y: min(x + y, 0xFF), 8),
    "paddusw": _packed(lambda x, y: min(x + y, 0xFFFF), 16),
    "psubusb": _packed(lambda x, y: max(x - y, 0), 8),
    "psubusw": _packed(lambda x, y: max(x - y, 0), 16),
    "paddsb": _packed(_s(lambda x, y: _sat(x + y, -128, 127), 8), 8),
    "paddsw": _packed(_s(lambda x, y: _sat(x + y, -32768, 32767), 16), 16),
    "psubsb": _packed(_s(lambda x, y: _sat(x - y, -128, 127), 8), 8),
    "psubsw": _packed(_s(lambda x, y: _sat(x - y, -32768, 32767), 16), 16),
    "pcmpeqb": _packed(lambda x, y: -(x == y), 8), "pcmpeqw": _packed(lambda x, y: -(x == y), 16),
    "pcmpeqd": _packed(lambda x, y: -(x == y), 32),
    "pcmpgtb": _packed(_s(lambda x, y: -(x > y), 8), 8),
    "pcmpgtw": _packed(_s(lambda x, y: -(x > y), 16), 16),
    "pcmpgtd": _packed(_s(lambda x, y: -(x > y), 32), 32),
    "pminub": _packed(min, 8), "pmaxub": _packed(max, 8),
    "pminsw": _packed(_s(min, 16), 16), "pmaxsw": _packed(_s(max, 16), 16),
    "pavgb": _packed(lambda x, y: (x + y + 1) >> 1, 8),
    "pavgw": _packed(lambda x, y: (x + y + 1) >> 1, 16),
    "pmullw": _packed(lambda x, y: x * y, 16),
    "pmulhw": _packed(_s(lambda x, y: (x * y) >> 16, 16), 16),
    "pmulhuw": _packed(lambda x, y: (x * y) >> 16, 16),
    "pmuludq": _pmuludq, "pmaddwd": _pmaddwd, "psadbw": _psadbw,
    "packsswb": lambda a, b: _pack_ss(a, b, 16, True),
    "packssdw": lambda a, b: _pack_ss(a, b, 32, True),
    "packuswb": lambda a, b: _pack_ss(a, b, 16, False),
    "punpcklbw": lambda a, b: _unpack(a, b, 8, False),
    "punpcklwd": lambda a, b: _unpack(a, b, 16, False),
    "punpckldq": lambda a, b: _unpack(a, b, 32, False),
    "punpcklqdq": lambda a, b: _unpack(a, b, 64, False),
    "punpckhbw": lambda a, b: _unpack(a, b, 8, True),
    "punpckhwd": lambda a, b: _unpack(a, b, 16, True),
    "punpckhdq": lambda a, b: _unpack(a, b, 32, True),
    "punpckhqdq": lambda a, b: _unpack(a, b, 64, True),
    "unpcklps": lambda a, b: _unpack(a, b, 32, False),
    "unpckhps": lambda a, b: _unpack(a, b, 32, True),
    "unpcklpd": lambda a, b: _unpack(a, b, 64, False),
    "unpckhpd": lambda a, b: _unpack(a, b, 64, True),
}
SHIFTS = {"psllw": (16, "l"), "pslld": (32, "l"), "psllq": (64, "l"), "psrlw": (16, "r"),
          "psrld": (32, "r"), "psrlq": (64, "r"), "psraw": (16, "ra"), "psrad": (32, "ra"),
          "pslldq": (8, "lq"), "psrldq": (8, "rq")}

ARITH = {"add": 0, "mul": 1, "sub": 2, "min": 3, "div": 4, "max": 5}
FP_OPS: dict = {}
for _name, _op in ARITH.items():
    FP_OPS[_name + "sd"] = _scalar(lambda x, y, _op=_op: _arith_d(_op, x, y), 64)
    FP_OPS[_name + "ss"] = _scalar(lambda x, y, _op=_op: _arith_f(_op, x, y), 32)
    FP_OPS[_name + "pd"] = _packed(lambda x, y, _op=_op: _arith_d(_op, x, y), 64)
    FP_OPS[_name + "ps"] = _packed(lambda x, y, _op=_op: _arith_f(_op, x, y), 32)
FP_OPS.update({
    "sqrtsd": _scalar(lambda x, y: _sqrt_d(y), 64), "sqrtss": _scalar(lambda x, y: _sqrt_f(y), 32),
    "sqrtpd": _packed(lambda x, y: _sqrt_d(y), 64), "sqrtps": _packed(lambda x, y: _sqrt_f(y), 32),
    "cvtss2sd": _scalar(lambda x, y: s2d(y & M32), 64),
    "cvtsd2ss": lambda a, b: a & ~M32 & M128 | d2s(b & M64),
    "cvtps2pd": lambda a, b: s2d(b & M32) | s2d((b >> 32) & M32) << 64,
    "cvtpd2ps": lambda a, b: d2s(b & M64) | d2s(b >> 64) << 32,
    "cvtdq2pd": lambda a, b: dbits(float(_s32(b & M32))) | dbits(float(_s32(b >> 32 & M32))) << 64,
    "cvtdq2ps": _packed(lambda x, y: fbits(float(_s32(y))), 32),
    "cvtps2dq": _packed(lambda x, y: INT_INDEFINITE if fnan(y) else to_int32(fval(y), False),
                        32),
    "cvttps2dq": _packed(lambda x, y: INT_INDEFINITE if fnan(y) else to_int32(fval(y), True),
                         32),
    "cvtpd2dq": lambda a, b: to_int32(dval(b & M64), False) | to_int32(dval(b >> 64), False) << 32,
    "cvttpd2dq": lambda a, b: to_int32(dval(b & M64), True) | to_int32(dval(b >> 64), True) << 32,
    "andps": lambda a, b: a & b, "andpd": lambda a, b: a & b,
    "orps": lambda a, b: a | b, "orpd": lambda a, b: a | b,
    "xorps": lambda a, b: a ^ b, "xorpd": lambda a, b: a ^ b,
    "andnps": lambda a, b: ~a & b & M128, "andnpd": lambda a, b: ~a & b & M128,
})
# bitwise operations: inline Python
INLINE = {"pand": "{a} & {b}", "por": "{a} | {b}", "pxor": "{a} ^ {b}",
          "pandn": "~{a} & {b} & " + hex(M128), "andps": "{a} & {b}", "andpd": "{a} & {b}",
          "orps": "{a} | {b}", "orpd": "{a} | {b}", "xorps": "{a} ^ {b}", "xorpd": "{a} ^ {b}",
          "andnps": "~{a} & {b} & " + hex(M128), "andnpd": "~{a} & {b} & " + hex(M128)}

UNALIGNED = {"movups", "movupd", "movdqu"}
WIDTH = {"xmmrm": 16, "m128": 16, "xmmrm64": 8, "m64": 8, "xmmrm32": 4, "m32": 4, "rm32": 4}


# ---- memory access from compiled code --------------------------------------------------------

def _u128(mem, a: int) -> int:
    lo, hi = _QQ.unpack_from(mem, a)
    return lo | hi << 64


def _p128(mem, a: int, v: int) -> None:
    _QQ.pack_into(mem, a, v & M64, v >> 64)


_LOADS = {4: ("U32", None), 8: ("U64", _Q.unpack_from), 16: ("U128", _u128)}
_STORES = {4: ("P32", None), 8: ("P64", _Q.pack_into), 16: ("P128", _p128)}


def _xmm(b: Builder) -> str:
    return b.glob(b.tr.cpu.xmm, "XMM")


def _num(op) -> int:
    return REGISTERS[op.name].num


def _addr(b: Builder, i, op: Mem, n: int) -> str:
    a = b.bind(b.ea(op, n), "a")
    if n == 16 and i.form.mnemonic not in UNALIGNED:
        b.raise_if(f"{a} & 15", GP, f"{i.form.mnemonic}: unaligned 16-byte operand")
    return a


def load(b: Builder, a: str, n: int) -> str:
    b.may_fault()
    name, fn = _LOADS[n]
    fname = name if fn is None else b.glob(fn, name)
    fast = f"{fname}(mem, {a})" + ("[0]" if n != 16 else "")
    if b.tr.mem.guarded:
        fast = f"({fast} if not rf[{a} >> 12] else READ({a}, {n}))"
    t = b.tmp("m")
    b.emit(f"{t} = {fast}")
    return t


def store(b: Builder, a: str, n: int, v: str) -> None:
    b.may_fault()
    b.has_store = True
    v = b.bind(v)
    name, fn = _STORES[n]
    fname = name if fn is None else b.glob(fn, name)
    write = b.glob(b.tr.mem.write, "MWRITE")
    b.emit(f"if wf[{a} >> 12] or wf[({a} + {n - 1}) >> 12]:\n"
           f"    {write}({a}, {v}.to_bytes({n}, 'little'))\nelse:\n    {fname}(mem, {a}, {v})")


def read(b: Builder, i, op, n: int) -> str:
    """An operand's value: an XMM register's low n bytes, memory, or a GPR."""
    if isinstance(op, Reg):
        if op.name.startswith("xmm"):
            x = f"{_xmm(b)}[{_num(op)}]"
            return x if n == 16 else b.bind(f"{x} & {(1 << (8 * n)) - 1:#x}")
        return b.reg(op.name)
    return load(b, _addr(b, i, op, n), n)


def width(i, k: int) -> int:
    if i.form.mnemonic == "cmpsd":          # xmmrm in the table (NASM), 64 bits read
        return 8
    return WIDTH.get(i.form.operands[k], 16)


def set_xmm(b: Builder, op, expr: str) -> None:
    b.emit(f"{_xmm(b)}[{_num(op)}] = {expr}")


# ---- families --------------------------------------------------------------------------------

def _call(b: Builder, fn, *args) -> str:
    return f"{b.glob(fn, 'sse_' + getattr(fn, '__name__', 'fn').strip('<>'))}({', '.join(args)})"


@family(*sorted(set(FP_OPS) | set(INT_OPS) | set(INLINE)))
def binary(b: Builder, i) -> None:
    """dest xmm = f(dest, source)."""
    m = i.form.mnemonic
    d, s = i.operands
    src = read(b, i, s, width(i, 1))
    dst = f"{_xmm(b)}[{_num(d)}]"
    if m in INLINE:
        set_xmm(b, d, INLINE[m].format(a=dst, b=src))
        return
    fn = FP_OPS.get(m) or INT_OPS[m]
    set_xmm(b, d, f"{b.glob(fn, 'sse_' + m)}({dst}, {src})")


def _cmp_fn(m: str):
    w = 64 if m[-1] == "d" else 32
    count = 1 if m[-2] == "s" else 128 // w
    return lambda a, b, imm: _cmp_lanes(a, b, imm, w, count)


CMP_FNS = {m: _cmp_fn(m) for m in ("cmpps", "cmppd", "cmpss", "cmpsd")}
IMM3 = {"shufps": _shufps, "shufpd": _shufpd, **CMP_FNS}


@family("cmpps", "cmppd", "cmpss", "shufps", "shufpd", "pshufd", "pshufhw", "pshuflw")
def with_imm(b: Builder, i) -> None:
    m = i.form.mnemonic
    d, s, imm = i.operands
    src = read(b, i, s, width(i, 1))
    dst = f"{_xmm(b)}[{_num(d)}]"
    v = imm.value & 0xFF
    if m == "pshufd":
        set_xmm(b, d, f"{b.glob(_pshufd, 'sse_pshufd')}({src}, {v})")
    elif m in ("pshufhw", "pshuflw"):
        set_xmm(b, d, f"{b.glob(_pshufw, 'sse_pshufw')}({src}, {v}, {m == 'pshufhw'})")
    else:
        set_xmm(b, d, f"{b.glob(IMM3[m], 'sse_' + m)}({dst}, {src}, {v})")


def _string_or(sse_gen):
    """movsd/cmpsd name both a string instruction and an SSE2 one."""
    string_gen = SEMANTICS.pop(sse_gen.__name__)

    def gen(b: Builder, i) -> None:
        (sse_gen if i.operands else string_gen)(b, i)
    SEMANTICS[sse_gen.__name__] = gen
    return sse_gen


def cmpsd(b: Builder, i) -> None:
    with_imm(b, i)


_string_or(cmpsd)


@family("psllw", "pslld", "psllq", "psrlw", "psrld", "psrlq", "psraw", "psrad", "pslldq",
        "psrldq")
def shifts(b: Builder, i) -> None:
    m = i.form.mnemonic
    d, s = i.operands
    w, kind = SHIFTS[m]
    if isinstance(s, Imm):
        count = str(s.value & 0xFF)
    else:
        count = b.bind(f"{read(b, i, s, 16)} & {M64:#x}")
    dst = f"{_xmm(b)}[{_num(d)}]"
    set_xmm(b, d, f"{b.glob(_shift, 'sse_shift')}({dst}, {count}, {w}, {kind!r})")


@family("comiss", "ucomiss", "comisd", "ucomisd")
def comi(b: Builder, i) -> None:
    d, s = i.operands
    w = 64 if i.form.mnemonic.endswith("d") else 32
    src = read(b, i, s, w // 8)
    b.set_mat(f"{b.glob(_comi, 'sse_comi')}({_xmm(b)}[{_num(d)}], {src}, {w})")


@family("movaps", "movapd", "movups", "movupd", "movdqa", "movdqu", "movntps", "movntpd",
        "movntdq")
def move128(b: Builder, i) -> None:
    d, s = i.operands
    v = read(b, i, s, 16)
    if isinstance(d, Mem):
        store(b, _addr(b, i, d, 16), 16, v)
    else:
        set_xmm(b, d, v)


def _move_low(b: Builder, i, n: int) -> None:
    """movss/movsd/movq/movd/movlps/movlpd: the low n bytes."""
    m = i.form.mnemonic
    d, s = i.operands
    v = read(b, i, s, n)
    if isinstance(d, Mem):
        store(b, _addr(b, i, d, n), n, v)
    elif not d.name.startswith("xmm"):
        b.set_reg(d.name, v)                    # movd r32, xmm
    elif m in ("movss", "movsd") and isinstance(s, Reg) or m in ("movlps", "movlpd"):
        mask = M128 & ~((1 << (8 * n)) - 1)
        set_xmm(b, d, f"{_xmm(b)}[{_num(d)}] & {mask:#x} | {v}")
    else:
        set_xmm(b, d, v)                        # zero-extended


@family("movss", "movd", "movnti")
def move32(b: Builder, i) -> None:
    _move_low(b, i, 4)


@family("movq", "movlps", "movlpd")
def move64(b: Builder, i) -> None:
    _move_low(b, i, 8)


def movsd(b: Builder, i) -> None:
    _move_low(b, i, 8)


_string_or(movsd)


@family("movhps", "movhpd")
def move_high(b: Builder, i) -> None:
    d, s = i.operands
    x = _xmm(b)
    if isinstance(d, Mem):
        store(b, _addr(b, i, d, 8), 8, f"{x}[{_num(s)}] >> 64")
    else:
        v = read(b, i, s, 8)
        set_xmm(b, d, f"{x}[{_num(d)}] & {M64:#x} | {v} << 64")


@family("movhlps", "movlhps")
def move_halves(b: Builder, i) -> None:
    d, s = i.operands
    x = _xmm(b)
    a, c = f"{x}[{_num(d)}]", f"{x}[{_num(s)}]"
    if i.form.mnemonic == "movhlps":
        set_xmm(b, d, f"{a} & {M128 & ~M64:#x} | {c} >> 64")
    else:
        set_xmm(b, d, f"{a} & {M64:#x} | ({c} & {M64:#x}) << 64")


@family("movmskps", "movmskpd", "pmovmskb")
def move_mask(b: Builder, i) -> None:
    d, s = i.operands
    x = f"{_xmm(b)}[{_num(s)}]"
    m = i.form.mnemonic
    if m == "pmovmskb":
        b.set_reg(d.name, f"{b.glob(_pmovmskb, 'sse_pmovmskb')}({x})")
    else:
        b.set_reg(d.name, f"{b.glob(_movmsk, 'sse_movmsk')}({x}, {64 if m[-1] == 'd' else 32})")


def _cvt_si2(w: int):
    def run(a: int, v: int) -> int:
        x = float(_s32(v))
        return a & ~((1 << w) - 1) & M128 | (dbits(x) if w == 64 else fbits(x))
    return run


_SI2SD, _SI2SS = _cvt_si2(64), _cvt_si2(32)


@family("cvtsi2sd", "cvtsi2ss")
def cvt_from_int(b: Builder, i) -> None:
    d, s = i.operands
    v = read(b, i, s, 4)
    fn = _SI2SD if i.form.mnemonic == "cvtsi2sd" else _SI2SS
    set_xmm(b, d, f"{b.glob(fn, 'sse_' + i.form.mnemonic)}({_xmm(b)}[{_num(d)}], {v})")


def _cvt2si(v: int, double: bool, truncate: bool) -> int:
    if double:
        return INT_INDEFINITE if dnan(v) else to_int32(dval(v & M64), truncate)
    return INT_INDEFINITE if fnan(v) else to_int32(fval(v & M32), truncate)


@family("cvttsd2si", "cvtsd2si", "cvttss2si", "cvtss2si")
def cvt_to_int(b: Builder, i) -> None:
    m = i.form.mnemonic
    d, s = i.operands
    double = "sd" in m
    v = read(b, i, s, 8 if double else 4)
    b.set_reg(d.name, f"{b.glob(_cvt2si, 'sse_cvt2si')}({v}, {double}, {m.startswith('cvtt')})")


def ldmxcsr(cpu, value: int) -> None:
    if value & ~0xFFFF:
        from vm.x86.faults import CPUException
        raise CPUException(GP, "ldmxcsr: reserved bits set")
    if value & 0xFFC0 != 0x1F80:
        raise Unsupported(f"MXCSR {value:#x}: only round-to-nearest with every exception "
                          "masked and no DAZ/FTZ is implemented")
    cpu.mxcsr = value


@family("ldmxcsr", "stmxcsr")
def mxcsr(b: Builder, i) -> None:
    op = i.operands[0]
    a = b.bind(b.ea(op, 4), "a")
    if i.form.mnemonic == "ldmxcsr":
        v = load(b, a, 4)
        b.call(ldmxcsr, v, reads=(), writes=(), flags=False)
    else:
        store(b, a, 4, "cpu.mxcsr")


@family("sfence", "lfence", "mfence", "prefetchnta", "prefetcht0", "prefetcht1",
        "prefetcht2")
def hint(b: Builder, i) -> None:
    """Memory ordering and cache hints: nothing to do for one in-order CPU."""
