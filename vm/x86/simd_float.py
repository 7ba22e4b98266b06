"""IEEE single/double arithmetic as SSE does it, under MXCSR: the four rounding modes, DAZ
and FTZ, and the six exception flags.

Every operation works on bits and returns ``(result bits, flags)``; ``mx`` is MXCSR. The
exact result is computed with integers (sums and products exactly, quotients and square
roots with three or more extra bits and a sticky bit) and rounded once by ``round_pack``,
which also decides overflow, underflow (tininess after rounding, as x86 detects it) and
inexactness. The common case (round to nearest, no DAZ/FTZ, normal operands and result)
takes a float fast path in ``vm/x86/sse.py``'s callers: see ``fast_*``.

NaN rules (Intel SDM vol. 1, table 4-7): a signalling NaN operand raises invalid; the
result is the first source's NaN if it is one, else the second's, made quiet; an invalid
operation on non-NaNs gives the default NaN (negative, quiet).
"""

from __future__ import annotations

import math
import struct

IE, DE, ZE, OE, UE, PE = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
DAZ, FTZ = 0x40, 0x8000
PRE = IE | DE | ZE                 # detected before the computation (no result at all)

_d_s, _f_s, _q_s, _i_s = struct.Struct("<d"), struct.Struct("<f"), struct.Struct("<Q"), \
    struct.Struct("<I")


class Fmt:
    """A binary interchange format: p significand bits (with the hidden one), e exponent
    bits."""
    __slots__ = ("p", "ebits", "bias", "emin", "emax", "width", "mant", "expm", "sign",
                 "quiet", "default_nan", "hidden", "max_finite")

    def __init__(self, p: int, ebits: int):
        self.p, self.ebits = p, ebits
        self.bias = (1 << (ebits - 1)) - 1
        self.emin, self.emax = 1 - self.bias, self.bias
        self.width = p + ebits
        self.mant = (1 << (p - 1)) - 1
        self.expm = ((1 << ebits) - 1) << (p - 1)
        self.sign = 1 << (self.width - 1)
        self.quiet = 1 << (p - 2)
        self.default_nan = self.sign | self.expm | self.quiet
        self.hidden = 1 << (p - 1)
        self.max_finite = self.expm - 1


SINGLE, DOUBLE = Fmt(24, 8), Fmt(53, 11)


def is_nan(f: Fmt, v: int) -> bool:
    return v & f.expm == f.expm and v & f.mant != 0


def is_snan(f: Fmt, v: int) -> bool:
    return v & f.expm == f.expm and v & f.mant != 0 and not v & f.quiet


def is_denormal(f: Fmt, v: int) -> bool:
    return v & f.expm == 0 and v & f.mant != 0


def _inf(f: Fmt, neg) -> int:
    return f.expm | (f.sign if neg else 0)


def _zero(f: Fmt, neg) -> int:
    return f.sign if neg else 0


def _operand(f: Fmt, v: int, mx: int) -> tuple:
    """(bits after DAZ, DE flag) for a non-NaN operand."""
    if v & f.expm == 0 and v & f.mant:
        if mx & DAZ:
            return v & f.sign, 0
        return v, DE
    return v, 0


def _parts(f: Fmt, v: int) -> tuple:
    """(negative, integer significand, exponent) of a finite value: value = m * 2**e."""
    e = (v & f.expm) >> (f.p - 1)
    m = v & f.mant
    if e:
        m |= f.hidden
    else:
        e = 1
    return bool(v & f.sign), m, e - f.bias - (f.p - 1)


def round_pack(f: Fmt, neg: bool, m: int, e: int, sticky: bool, mx: int) -> tuple:
    """(bits, flags) of (m + sticky's fraction) * 2**e rounded by MXCSR. ``sticky`` says
    the true value is a little above m * 2**e (callers keep at least two more bits than
    the format has, so it never decides a tie)."""
    if m == 0:
        return _zero(f, neg), (PE if sticky else 0)
    rc = (mx >> 13) & 3
    p = f.p
    n = m.bit_length()
    top = e + n - 1                                  # exponent of the leading bit
    lsb = max(top - p + 1, f.emin - p + 1)
    q, inexact, up = _round_at(m, e, lsb, sticky, neg, rc)
    if q >> p:                                       # carried into a new binade
        q >>= 1
        lsb += 1
    flags = 0
    # tiny: below the smallest normal even when rounded to p bits with no lower exponent
    # limit (x86 detects tininess after rounding)
    tiny = False
    if top < f.emin:
        q2, inexact_p, _ = _round_at(m, e, top - p + 1, sticky, neg, rc)
        tiny = not (q2 >> p and top + 1 >= f.emin)
    if tiny:
        if not mx & 0x0800:
            # UM clear: no result; UE even when exact, PE when the p-bit result (the one
            # a handler would get, exponent adjusted) is inexact
            return None, UE | (PE if inexact_p else 0)
        if mx & FTZ:
            return _zero(f, neg), UE | PE
        if inexact:
            flags |= UE
    if inexact:
        flags |= PE
    if q >> (p - 1):                                 # normal
        be = lsb + p - 1 + f.bias
        if be > 2 * f.bias:                          # overflow
            if not mx & 0x0400:
                return None, OE | (PE if inexact else 0)
            flags |= OE | PE
            to_inf = rc == 0 or (rc == 1 and neg) or (rc == 2 and not neg)
            return (_inf(f, neg) if to_inf else f.max_finite | (f.sign if neg else 0)), flags
        return (f.sign if neg else 0) | be << (p - 1) | (q & f.mant), flags
    return (f.sign if neg else 0) | q, flags         # subnormal (or zero after rounding)


def _round_at(m: int, e: int, lsb: int, sticky: bool, neg: bool, rc: int) -> tuple:
    """m * 2**e rounded to an integer multiple of 2**lsb: (multiple, inexact, rounded up)."""
    shift = lsb - e
    if shift <= 0:
        q, rem, half = m << -shift, 0, 1
        above_half = False
        at_half = False
    else:
        q = m >> shift
        rem = m & ((1 << shift) - 1)
        half = 1 << (shift - 1)
        above_half = rem > half or rem == half and sticky
        at_half = rem == half and not sticky
    inexact = bool(rem) or sticky
    if not inexact:
        return q, False, False
    if rc == 0:
        up = above_half or at_half and q & 1
    elif rc == 1:
        up = neg
    elif rc == 2:
        up = not neg
    else:
        up = False
    return q + up, True, bool(up)


def _nan_result(f: Fmt, a: int, b: int) -> tuple:
    flags = IE if is_snan(f, a) or is_snan(f, b) else 0
    return (a if is_nan(f, a) else b) | f.quiet, flags


def add(f: Fmt, a: int, b: int, mx: int, negate_b: bool = False) -> tuple:
    if is_nan(f, a) or is_nan(f, b):
        return _nan_result(f, a, b)
    if negate_b:
        b ^= f.sign
    a, fa = _operand(f, a, mx)
    b, fb = _operand(f, b, mx)
    flags = fa | fb
    ainf, binf = a & ~f.sign == f.expm, b & ~f.sign == f.expm
    if ainf or binf:
        if ainf and binf and (a ^ b) & f.sign:
            return f.default_nan, IE
        return (a if ainf else b), flags
    na, ma, ea = _parts(f, a)
    nb, mb, eb = _parts(f, b)
    e = min(ea, eb)
    s = (-ma if na else ma) << (ea - e)
    s += (-mb if nb else mb) << (eb - e)
    if s == 0:
        if ma == 0 and mb == 0 and na == nb:
            return _zero(f, na), flags
        return _zero(f, (mx >> 13) & 3 == 1), flags
    r, fl = round_pack(f, s < 0, abs(s), e, False, mx)
    return r, flags | fl


def _product_operands(f: Fmt, a: int, b: int, mx: int) -> tuple:
    """mul and div: the operands after DAZ, their flags, the result's sign, and which
    operand is infinite or zero."""
    a, fa = _operand(f, a, mx)
    b, fb = _operand(f, b, mx)
    inf_a, inf_b = a & ~f.sign == f.expm, b & ~f.sign == f.expm
    return (a, b, fa | fb, bool((a ^ b) & f.sign), inf_a, inf_b,
            a & ~f.sign == 0, b & ~f.sign == 0)


def mul(f: Fmt, a: int, b: int, mx: int) -> tuple:
    if is_nan(f, a) or is_nan(f, b):
        return _nan_result(f, a, b)
    a, b, flags, neg, ainf, binf, azero, bzero = _product_operands(f, a, b, mx)
    if ainf or binf:
        if azero or bzero:
            return f.default_nan, IE
        return _inf(f, neg), flags
    if azero or bzero:
        return _zero(f, neg), flags
    _, ma, ea = _parts(f, a)
    _, mb, eb = _parts(f, b)
    r, fl = round_pack(f, neg, ma * mb, ea + eb, False, mx)
    return r, flags | fl


def div(f: Fmt, a: int, b: int, mx: int) -> tuple:
    if is_nan(f, a) or is_nan(f, b):
        return _nan_result(f, a, b)
    a, b, flags, neg, ainf, binf, azero, bzero = _product_operands(f, a, b, mx)
    if ainf and binf or azero and bzero:
        return f.default_nan, IE
    if ainf:
        return _inf(f, neg), flags
    if binf:
        return _zero(f, neg), flags
    if bzero:
        return _inf(f, neg), ZE                      # ZE outranks DE
    if azero:
        return _zero(f, neg), flags
    _, ma, ea = _parts(f, a)
    _, mb, eb = _parts(f, b)
    k = f.p + 3 + max(0, mb.bit_length() - ma.bit_length()) + 1
    q, rem = divmod(ma << k, mb)
    r, fl = round_pack(f, neg, q, ea - eb - k, rem != 0, mx)
    return r, flags | fl


def sqrt(f: Fmt, a: int, mx: int) -> tuple:
    if is_nan(f, a):
        return a | f.quiet, (IE if is_snan(f, a) else 0)
    a, flags = _operand(f, a, mx)
    if a & ~f.sign == 0:
        return a, flags
    if a & f.sign:
        return f.default_nan, IE
    if a == f.expm:
        return a, flags
    _, m, e = _parts(f, a)
    k = 2 * f.p + 6
    if (e - k) & 1:
        k += 1
    m <<= k
    s = math.isqrt(m)
    r, fl = round_pack(f, False, s, (e - k) // 2, s * s != m, mx)
    return r, flags | fl


def minmax(f: Fmt, a: int, b: int, mx: int, is_max: bool) -> tuple:
    """MIN/MAX: any NaN, or both zeros, give the second operand; invalid for any NaN."""
    if is_nan(f, a) or is_nan(f, b):
        return (b & f.sign if mx & DAZ and is_denormal(f, b) else b), IE
    a, fa = _operand(f, a, mx)
    b, fb = _operand(f, b, mx)
    x, y = _value(f, a), _value(f, b)
    if is_max:
        return (a if x > y else b), fa | fb
    return (a if x < y else b), fa | fb


def _value(f: Fmt, v: int) -> float:
    if f is DOUBLE:
        return _d_s.unpack(_q_s.pack(v))[0]
    return _f_s.unpack(_i_s.pack(v))[0]


SIGNALLING_PREDICATES = (1, 2, 5, 6)        # LT LE NLT NLE: invalid for a quiet NaN too


def compare(f: Fmt, a: int, b: int, mx: int, pred: int) -> tuple:
    """CMPxx predicate 0..7: (true?, flags)."""
    flags = 0
    if is_nan(f, a) or is_nan(f, b):
        if is_snan(f, a) or is_snan(f, b) or pred & 7 in SIGNALLING_PREDICATES:
            flags = IE
        return pred & 7 in (3, 4, 5, 6), flags
    a, fa = _operand(f, a, mx)
    b, fb = _operand(f, b, mx)
    x, y = _value(f, a), _value(f, b)
    p = pred & 7
    res = (x == y, x < y, x <= y, False, x != y, not x < y, not x <= y, True)[p]
    return res, fa | fb


def comi(f: Fmt, a: int, b: int, mx: int, signalling: bool) -> tuple:
    """(U)COMIS: (ZF PF CF bits, flags)."""
    if is_nan(f, a) or is_nan(f, b):
        inv = signalling or is_snan(f, a) or is_snan(f, b)
        return 0x45, (IE if inv else 0)
    a, fa = _operand(f, a, mx)
    b, fb = _operand(f, b, mx)
    x, y = _value(f, a), _value(f, b)
    return (0x01 if x < y else 0x40 if x == y else 0), fa | fb


def convert(src: Fmt, dst: Fmt, a: int, mx: int) -> tuple:
    """CVTSS2SD / CVTSD2SS & co."""
    if is_nan(src, a):
        flags = IE if is_snan(src, a) else 0
        neg = bool(a & src.sign)
        payload = a & src.mant
        shift = dst.p - src.p
        payload = payload << shift if shift >= 0 else payload >> -shift
        return (dst.sign if neg else 0) | dst.expm | dst.quiet | payload, flags
    a, flags = _operand(src, a, mx)
    neg = bool(a & src.sign)
    if a & ~src.sign == src.expm:
        return _inf(dst, neg), flags
    if a & ~src.sign == 0:
        return _zero(dst, neg), flags
    _, m, e = _parts(src, a)
    r, fl = round_pack(dst, neg, m, e, False, mx)
    return r, flags | fl


INDEFINITE = 0x80000000


def to_int32(f: Fmt, a: int, mx: int, truncate: bool) -> tuple:
    """CVT(T)S?2SI & co.: (int32 bits, flags); NaN and out-of-range give the indefinite."""
    if is_nan(f, a) or a & ~f.sign == f.expm:
        return INDEFINITE, IE
    a, _ = _operand(f, a, mx)           # DAZ applies; a denormal is no DE here
    flags = 0
    if a & ~f.sign == 0:
        return 0, flags
    neg, m, e = _parts(f, a)
    rc = 3 if truncate else (mx >> 13) & 3
    q, inexact, _ = _round_at(m, e, 0, False, neg, rc)
    v = -q if neg else q
    if not -0x80000000 <= v <= 0x7FFFFFFF:
        return INDEFINITE, IE
    return v & 0xFFFFFFFF, flags | (PE if inexact else 0)


def from_int32(f: Fmt, v: int, mx: int) -> tuple:
    v &= 0xFFFFFFFF
    if v & 0x80000000:
        v -= 1 << 32
    if v == 0:
        return 0, 0
    return round_pack(f, v < 0, abs(v), 0, False, mx)
