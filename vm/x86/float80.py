"""Software x87 double-extended (80-bit) arithmetic, exact to the last bit.

A value is the tuple ``(sign, exp, mant)`` of the raw fields: sign 0/1, the 15-bit biased
exponent and the 64-bit significand with its explicit integer bit (J). Keeping the raw
fields means unnormals, pseudo-denormals and pseudo-NaNs survive loads and stores untouched.

Every operation returns ``(value, flags)``: ``flags`` holds the status-word exception bits
(IE DE ZE OE UE PE, same positions) plus ``C1`` when the result was rounded up in magnitude.
Results are computed exactly with Python integers and rounded once, with guard bits folded
into a sticky flag, according to the control word passed in (rounding control, precision
control, and the OE/UE masks, which change what an overflowing or underflowing result is).
"""

from __future__ import annotations

from typing import Tuple

F80 = Tuple[int, int, int]

IE, DE, ZE, OE, UE, PE = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
C1 = 0x200                      # rounded up (status word C1)

BIAS = 16383
EXP_SPECIAL = 0x7FFF
J = 1 << 63
QBIT = 1 << 62
M64 = (1 << 64) - 1
EMIN = -16382                   # smallest normal exponent
DLSB = EMIN - 63                # weight of the lowest denormal bit
WRAP = 24576                    # exponent bias adjust for unmasked overflow/underflow

POS_ZERO = (0, 0, 0)
NEG_ZERO = (1, 0, 0)
POS_INF = (0, EXP_SPECIAL, J)
NEG_INF = (1, EXP_SPECIAL, J)
ONE = (0, BIAS, J)
INDEFINITE = (1, EXP_SPECIAL, J | QBIT)

RC_NEAREST, RC_DOWN, RC_UP, RC_ZERO = 0, 1, 2, 3
PRECISION = (24, 64, 53, 64)    # precision control field -> significand bits (1 reserved)

# operand classes
ZERO, DENORMAL, NORMAL, INF, QNAN, SNAN, UNSUPPORTED = range(7)


def classify(v: F80) -> int:
    s, e, m = v
    if 0 < e < EXP_SPECIAL:
        return NORMAL if m >> 63 else UNSUPPORTED
    if e == 0:
        return ZERO if m == 0 else DENORMAL        # pseudo-denormals (J set) included
    if not m >> 63:
        return UNSUPPORTED                         # pseudo-infinity / pseudo-NaN
    if m == J:
        return INF
    return QNAN if m & QBIT else SNAN


def is_nan(v: F80) -> bool:
    return v[1] == EXP_SPECIAL and v[2] & (M64 >> 1) != 0 and v[2] >> 63 == 1


def from_bits(raw: int) -> F80:
    return (raw >> 79) & 1, (raw >> 64) & 0x7FFF, raw & M64


def to_bits(v: F80) -> int:
    return (v[0] << 79) | (v[1] << 64) | v[2]


def from_bytes(b: bytes) -> F80:
    return from_bits(int.from_bytes(b[:10], "little"))


def to_bytes(v: F80) -> bytes:
    return to_bits(v).to_bytes(10, "little")


def _finite(v: F80) -> Tuple[int, int, int]:
    """(sign, m, e) with value m * 2**e and m normalised to 64 bits (v finite, nonzero)."""
    s, e, m = v
    if e:
        return s, m, e - BIAS - 63
    sh = 64 - m.bit_length()
    return s, m << sh, DLSB - sh


def quiet(v: F80) -> F80:
    return v[0], v[1], v[2] | QBIT


# ---- rounding ---------------------------------------------------------------------------

def _rounds_up(rc: int, sign: int, q: int, r: int, half: int, sticky: bool = False) -> bool:
    """Whether ``q`` (the kept bits) goes up by one for the dropped bits ``r`` (``half``
    is their half-way value; ``sticky``: something nonzero lies below them) under
    rounding control ``rc``."""
    if rc == RC_NEAREST:
        return r > half or (r == half and (sticky or q & 1 == 1))
    if rc == RC_ZERO:
        return False
    return sign == 1 if rc == RC_DOWN else sign == 0


def _round(sign: int, m: int, e: int, sticky: bool, prec: int, rc: int, dlsb):
    """Round (m + f) * 2**e, 0 <= f < 1 (f > 0 iff sticky), to ``prec`` bits with the lowest
    bit weight at least 2**dlsb (None: unbounded). Callers pass sticky only when m has at
    least prec + 2 bits. Returns (q, lsb, inexact, up): the result is q * 2**lsb."""
    lsb = e + m.bit_length() - prec
    if dlsb is not None and lsb < dlsb:
        lsb = dlsb
    sh = lsb - e
    if sh <= 0:
        return m << -sh, lsb, sticky, False
    q = m >> sh
    r = m & ((1 << sh) - 1)
    if not r and not sticky:
        return q, lsb, False, False
    up = _rounds_up(rc, sign, q, r, 1 << (sh - 1), sticky)
    if up:
        q += 1
        if q >> prec:
            q >>= 1
            lsb += 1
    return q, lsb, True, up


def _encode80(sign: int, q: int, lsb: int) -> F80:
    if q == 0:
        return sign, 0, 0
    E = lsb + q.bit_length() - 1
    if E < EMIN:
        return sign, 0, q << (lsb - DLSB)
    return sign, E + BIAS, q << (63 - E + lsb)


def pack80(sign: int, m: int, e: int, sticky: bool, cw: int, prec: int = 64) -> tuple:
    """Round an exact value (see _round) into an x87 register: returns (value, flags)."""
    rc = (cw >> 10) & 3
    if m == 0 and not sticky:
        return (sign, 0, 0), 0
    # reduced precision keeps its bit positions in the denormal range too
    q, lsb, inexact, up = _round(sign, m, e, sticky, prec, rc, EMIN - prec + 1)
    flags = (PE | (C1 if up else 0)) if inexact else 0
    E = lsb + q.bit_length() - 1 if q else DLSB - 1
    if E > 16383:
        if not cw & OE:             # unmasked: deliver the result with the exponent wrapped
            return _encode80(sign, q, lsb - WRAP), flags | OE
        return _overflow(sign, rc, prec), OE | PE | _overflow_c1(sign, rc)
    if E < EMIN or (e + m.bit_length() - 1 < EMIN):
        qu, lu, inx_u, up_u = _round(sign, m, e, sticky, prec, rc, None)
        if lu + qu.bit_length() - 1 < EMIN:        # tiny after rounding, unbounded exponent
            if not cw & UE:
                f = (PE | (C1 if up_u else 0)) if inx_u else 0
                return _encode80(sign, qu, lu + WRAP), f | UE
            if inexact:
                flags |= UE
    return _encode80(sign, q, lsb), flags


def _pack_normal(sign: int, m: int, e: int, sticky: bool, cw: int) -> tuple:
    """pack80 for the common case, same results: a result whose leading bit lies safely
    inside the normal exponent range (no overflow or underflow even after rounding up),
    rounded per RC and PC without the general path's range checks; otherwise pack80."""
    n = m.bit_length()
    E = e + n - 1                   # unbiased exponent of the leading bit
    if not EMIN <= E < 16383 or not m:
        return pack80(sign, m, e, sticky, cw, PRECISION[(cw >> 8) & 3])
    prec = PRECISION[(cw >> 8) & 3]
    sh = n - prec
    if sh <= 0:                     # exact (sticky is only passed with prec + 2 bits)
        return (sign, E + BIAS, m << (64 - n)), 0
    q = m >> sh
    r = m & ((1 << sh) - 1)
    if not r and not sticky:
        return (sign, E + BIAS, q << (64 - prec)), 0
    rc = (cw >> 10) & 3
    up = _rounds_up(rc, sign, q, r, 1 << (sh - 1), sticky)
    if up:
        q += 1
        if q >> prec:               # carried into a new leading bit (E + 1 <= 16383)
            q >>= 1
            E += 1
        return (sign, E + BIAS, q << (64 - prec)), PE | C1
    return (sign, E + BIAS, q << (64 - prec)), PE


def _overflow(sign: int, rc: int, prec: int) -> F80:
    if rc == RC_NEAREST or (rc == RC_UP and not sign) or (rc == RC_DOWN and sign):
        return sign, EXP_SPECIAL, J
    return sign, EXP_SPECIAL - 1, (M64 >> (64 - prec)) << (64 - prec)


def _overflow_c1(sign: int, rc: int) -> int:
    inf = rc == RC_NEAREST or (rc == RC_UP and not sign) or (rc == RC_DOWN and sign)
    return C1 if inf else 0


def round_prec(v: F80, cw: int, prec: int = 64) -> tuple:
    """Round a register value to a precision (as the arithmetic would deliver it)."""
    c = classify(v)
    if c == ZERO or c >= INF:
        return v, 0
    s, m, e = _finite(v)
    return pack80(s, m, e, False, cw, prec)


# ---- NaN propagation ----------------------------------------------------------------------

def _nan2(a: F80, ca: int, b: F80, cb: int) -> tuple:
    """Result of a two-operand operation with a NaN or unsupported operand."""
    if ca == UNSUPPORTED or cb == UNSUPPORTED:
        return INDEFINITE, IE
    flags = IE if ca == SNAN or cb == SNAN else 0
    an = ca == QNAN or ca == SNAN
    bn = cb == QNAN or cb == SNAN
    if an and bn:
        if ca != cb:                # one QNaN, one SNaN: the QNaN
            return (a if ca == QNAN else b), flags
        ma = a[2] & (M64 >> 1)
        mb = b[2] & (M64 >> 1)
        if ma == mb:
            r = a if a[0] == 0 else b
        else:
            r = a if ma > mb else b
        return quiet(r), flags
    return quiet(a if an else b), flags


def _nan1(a: F80, ca: int) -> tuple:
    if ca == UNSUPPORTED:
        return INDEFINITE, IE
    return quiet(a), (IE if ca == SNAN else 0)


def _den(ca: int, cb: int) -> int:
    return DE if ca == DENORMAL or cb == DENORMAL else 0


# ---- basic arithmetic ---------------------------------------------------------------------

def add(a: F80, b: F80, cw: int, sub: bool = False) -> tuple:
    """a + b (a - b when sub), rounded per the control word's RC and PC."""
    sa, ea, ma = a
    sb, eb, mb = b
    if 0 < ea < EXP_SPECIAL and 0 < eb < EXP_SPECIAL and ma >> 63 and mb >> 63:
        # both normal: no classification, no NaN/denormal cases
        sb ^= sub
        if ea < eb:
            sa, ma, ea, sb, mb, eb = sb, mb, eb, sa, ma, ea
        d = ea - eb
        if d > 140:                 # b only matters as a sticky bit below a's last bit
            eb = ea - 140
            mb = 1
            d = 140
        m = (ma << d) + mb if sa == sb else (ma << d) - mb
        if m > 0:
            return _pack_normal(sa, m, eb - BIAS - 63, False, cw)
        if m < 0:
            return _pack_normal(sa ^ 1, -m, eb - BIAS - 63, False, cw)
        return ((1 if (cw >> 10) & 3 == RC_DOWN else 0), 0, 0), 0
    ca = classify(a)
    cb = classify(b)
    if ca >= INF or cb >= INF:
        if ca > INF or cb > INF:
            return _nan2(a, ca, b, cb)
        sb = b[0] ^ sub
        if ca == INF and cb == INF:
            if a[0] != sb:
                return INDEFINITE, IE
            return a, 0
        if ca == INF:
            return a, _den(cb, cb)
        return (sb, EXP_SPECIAL, J), _den(ca, ca)
    flags = _den(ca, cb)
    prec = PRECISION[(cw >> 8) & 3]
    sa = a[0]
    sb = b[0] ^ sub
    if cb == ZERO:
        if ca == ZERO:
            if sa == sb:
                return (sa, 0, 0), flags
            return ((1 if (cw >> 10) & 3 == RC_DOWN else 0), 0, 0), flags
        s, m, e = _finite(a)
        v, f = pack80(s, m, e, False, cw, prec)
        return v, f | flags
    if ca == ZERO:
        s, m, e = _finite(b)
        v, f = pack80(sb, m, e, False, cw, prec)
        return v, f | flags
    _, ma, ea = _finite(a)
    _, mb, eb = _finite(b)
    if ea < eb:
        sa, ma, ea, sb, mb, eb = sb, mb, eb, sa, ma, ea
    d = ea - eb
    if d > 140:                     # b only matters as a sticky bit below a's last bit
        eb = ea - 140
        mb = 1
        d = 140
    m = (ma << d) + mb if sa == sb else (ma << d) - mb
    if m == 0:
        return ((1 if (cw >> 10) & 3 == RC_DOWN else 0), 0, 0), flags
    s = sa
    if m < 0:
        m = -m
        s ^= 1
    v, f = pack80(s, m, eb, False, cw, prec)
    return v, f | flags


def mul(a: F80, b: F80, cw: int) -> tuple:
    ea, eb = a[1], b[1]
    if 0 < ea < EXP_SPECIAL and 0 < eb < EXP_SPECIAL and a[2] >> 63 and b[2] >> 63:
        return _pack_normal(a[0] ^ b[0], a[2] * b[2], ea + eb - 2 * (BIAS + 63), False, cw)
    ca = classify(a)
    cb = classify(b)
    s = a[0] ^ b[0]
    if ca >= INF or cb >= INF:
        if ca > INF or cb > INF:
            return _nan2(a, ca, b, cb)
        if ca == ZERO or cb == ZERO:
            return INDEFINITE, IE
        return (s, EXP_SPECIAL, J), _den(ca, cb)
    flags = _den(ca, cb)
    if ca == ZERO or cb == ZERO:
        return (s, 0, 0), flags
    _, ma, ea = _finite(a)
    _, mb, eb = _finite(b)
    v, f = pack80(s, ma * mb, ea + eb, False, cw, PRECISION[(cw >> 8) & 3])
    return v, f | flags


def div(a: F80, b: F80, cw: int) -> tuple:
    """a / b."""
    ea, eb = a[1], b[1]
    if 0 < ea < EXP_SPECIAL and 0 < eb < EXP_SPECIAL and a[2] >> 63 and b[2] >> 63:
        q, r = divmod(a[2] << 67, b[2])
        return _pack_normal(a[0] ^ b[0], q, ea - eb - 67, r != 0, cw)
    ca = classify(a)
    cb = classify(b)
    s = a[0] ^ b[0]
    if ca >= INF or cb >= INF:
        if ca > INF or cb > INF:
            return _nan2(a, ca, b, cb)
        if ca == INF:
            if cb == INF:
                return INDEFINITE, IE
            return (s, EXP_SPECIAL, J), _den(cb, cb)
        return (s, 0, 0), _den(ca, ca)
    flags = _den(ca, cb)
    if cb == ZERO:
        if ca == ZERO:
            return INDEFINITE, IE
        return (s, EXP_SPECIAL, J), ZE             # zero divide outranks a denormal dividend
    if ca == ZERO:
        return (s, 0, 0), flags
    _, ma, ea = _finite(a)
    _, mb, eb = _finite(b)
    q, r = divmod(ma << 67, mb)
    v, f = pack80(s, q, ea - eb - 67, r != 0, cw, PRECISION[(cw >> 8) & 3])
    return v, f | flags


def sqrt(a: F80, cw: int) -> tuple:
    ca = classify(a)
    if ca >= INF:
        if ca > INF:
            return _nan1(a, ca)
        return (INDEFINITE, IE) if a[0] else (a, 0)
    if ca == ZERO:
        return a, 0
    flags = DE if ca == DENORMAL else 0
    if a[0]:
        return INDEFINITE, IE
    _, m, e = _finite(a)
    if e & 1:
        m <<= 1
        e -= 1
    m <<= 134                       # 67+ bit root: prec + guard bits
    r = _isqrt(m)
    v, f = pack80(0, r, (e - 134) // 2, r * r != m, cw, PRECISION[(cw >> 8) & 3])
    return v, f | flags


def _isqrt(n: int) -> int:
    x = 1 << ((n.bit_length() + 1) // 2)
    while True:
        y = (x + n // x) >> 1
        if y >= x:
            return x
        x = y


def compare(a: F80, b: F80, quiet_nan: bool = False) -> tuple:
    """Returns (relation, flags): relation -1 (a<b), 0, 1 (a>b) or None (unordered).
    ``quiet_nan``: fucom* semantics (QNaN operands raise no IE)."""
    sa, ea, ma = a
    sb, eb, mb = b
    if 0 < ea < EXP_SPECIAL and 0 < eb < EXP_SPECIAL and ma >> 63 and mb >> 63:
        if sa != sb:
            return (-1 if sa else 1), 0
        r = (ea > eb) - (ea < eb) or (ma > mb) - (ma < mb)
        return (-r if sa else r), 0
    ca = classify(a)
    cb = classify(b)
    if ca > INF or cb > INF:
        if ca == UNSUPPORTED or cb == UNSUPPORTED or ca == SNAN or cb == SNAN or not quiet_nan:
            return None, IE
        return None, 0
    flags = _den(ca, cb)
    if ca == INF or cb == INF or ca == ZERO or cb == ZERO or a[0] != b[0]:
        d = _order(a, ca) - _order(b, cb)
        return (d > 0) - (d < 0), flags
    return _cmp_same_sign(a, b), flags


def _order(v: F80, c: int) -> int:
    """Coarse rank: -2 -inf, -1 negative finite, 0 zero, 1 positive finite, 2 +inf."""
    if c == ZERO:
        return 0
    r = 2 if c == INF else 1
    return -r if v[0] else r


def _cmp_same_sign(a: F80, b: F80) -> int:
    _, ma, ea = _finite(a)
    _, mb, eb = _finite(b)
    if ea != eb:
        r = 1 if ea > eb else -1
    else:
        r = (ma > mb) - (ma < mb)
    return -r if a[0] else r


# ---- integer and format conversions ---------------------------------------------------------

def from_int(i: int) -> F80:
    if i == 0:
        return POS_ZERO
    s = 1 if i < 0 else 0
    m = -i if s else i
    n = m.bit_length()
    return s, n - 1 + BIAS, m << (64 - n)


def to_int(v: F80, cw: int, bits: int, truncate: bool = False) -> tuple:
    """Round to an integer of ``bits`` bits (RC, or toward zero for fisttp).
    Returns (int or None for the integer indefinite, flags)."""
    s, e, m = v
    E = e - BIAS
    if 0 <= E < 63 and m >> 63:     # normal, |v| >= 1: shift out the fraction bits
        sh = 63 - E
        q = m >> sh
        r = m & ((1 << sh) - 1)
        flags = 0
        if r:
            rc = RC_ZERO if truncate else (cw >> 10) & 3
            up = _rounds_up(rc, s, q, r, 1 << (sh - 1))
            if up:
                q += 1
            flags = PE | C1 if up else PE
        i = -q if s else q
        lim = 1 << (bits - 1)
        if not -lim <= i < lim:
            return None, IE
        return i, flags
    c = classify(v)
    if c >= INF:
        return None, IE
    if c == ZERO:
        return 0, 0
    flags = 0                       # stores do not report denormal operands
    rc = RC_ZERO if truncate else (cw >> 10) & 3
    i, inexact, up = _round_int(v, rc)
    lim = 1 << (bits - 1)
    if not -lim <= i < lim:
        return None, IE | flags
    if inexact:
        flags |= PE | (C1 if up else 0)
    return i, flags


def _round_int(v: F80, rc: int) -> tuple:
    """(integer, inexact, up) for a finite nonzero value."""
    s, m, e = _finite(v)
    if e >= 0:
        i = m << e
        return (-i if s else i), False, False
    sh = -e
    if sh > 66:                     # |v| < 2**-2: below half, and nonzero
        q, r, half = 0, 1, 2
    else:
        q = m >> sh
        r = m & ((1 << sh) - 1)
        half = 1 << (sh - 1)
    if not r:
        return (-q if s else q), False, False
    up = _rounds_up(rc, s, q, r, half)
    if up:
        q += 1
    return (-q if s else q), True, up


def rndint(v: F80, cw: int) -> tuple:
    """frndint: round to an integral value per RC."""
    c = classify(v)
    if c >= INF:
        return (v, 0) if c == INF else _nan1(v, c)
    if c == ZERO:
        return v, 0
    flags = DE if c == DENORMAL else 0
    if v[1] - BIAS >= 63:
        return v, flags
    i, inexact, up = _round_int(v, (cw >> 10) & 3)
    r = from_int(i) if i else (v[0], 0, 0)
    if inexact:
        flags |= PE | (C1 if up else 0)
    return r, flags


# IEEE single/double: (significand bits with the hidden one, exponent bits)
SINGLE = (24, 8)
DOUBLE = (53, 11)


def from_ieee(raw: int, fmt: tuple, quiet_snan: bool = True) -> tuple:
    """Load an IEEE single/double (raw bits) exactly: returns (value, flags). A signalling
    NaN is quieted (IE) for loads; arithmetic operands keep it signalling."""
    p, ebits = fmt
    fbits = p - 1
    s = raw >> (fbits + ebits)
    emax = (1 << ebits) - 1
    e = (raw >> fbits) & emax
    f = raw & ((1 << fbits) - 1)
    bias = emax >> 1
    if e == emax:
        if f == 0:
            return (s, EXP_SPECIAL, J), 0
        m = J | (f << (64 - p))
        if not f >> (fbits - 1) and quiet_snan:
            return (s, EXP_SPECIAL, m | QBIT), IE
        return (s, EXP_SPECIAL, m), 0
    if e == 0:
        if f == 0:
            return (s, 0, 0), 0
        n = f.bit_length()
        return (s, (1 - bias - fbits) + n - 1 + BIAS, f << (64 - n)), DE
    return (s, e - bias + BIAS, J | (f << (64 - p))), 0


def to_ieee(v: F80, cw: int, fmt: tuple) -> tuple:
    """Round to an IEEE single/double: returns (raw bits or None when nothing is stored
    because an unmasked overflow/underflow occurred, flags)."""
    p, ebits = fmt
    s, e, m = v
    bias = (1 << (ebits - 1)) - 1
    E = e - BIAS
    if 1 - bias <= E < bias and m >> 63:
        # normal in the target too, even after rounding up: no overflow/underflow cases
        sh = 64 - p
        q = m >> sh
        r = m & ((1 << sh) - 1)
        flags = 0
        if r:
            rc = (cw >> 10) & 3
            up = _rounds_up(rc, s, q, r, 1 << (sh - 1))
            if up:
                q += 1
                if q >> p:
                    q >>= 1
                    E += 1
                flags = PE | C1
            else:
                flags = PE
        return (s << (p - 1 + ebits)) | ((E + bias) << (p - 1)) | (q & ((1 << (p - 1)) - 1)), \
            flags
    fbits = p - 1
    emax = (1 << ebits) - 1
    bias = emax >> 1
    c = classify(v)
    s = v[0]
    sbit = s << (fbits + ebits)
    if c == ZERO:
        return sbit, 0
    if c == INF:
        return sbit | (emax << fbits), 0
    if c > INF:
        if c == UNSUPPORTED:
            return _ieee_indefinite(fmt), IE
        f = (v[2] & (M64 >> 1)) >> (64 - p) | (1 << (fbits - 1))
        return sbit | (emax << fbits) | f, (IE if c == SNAN else 0)
    flags = 0
    rc = (cw >> 10) & 3
    _, m, e = _finite(v)
    emin = 1 - bias
    q, lsb, inexact, up = _round(s, m, e, False, p, rc, emin - fbits)
    if inexact:
        flags |= PE | (C1 if up else 0)
    E = lsb + q.bit_length() - 1 if q else emin - 1
    if E > bias:
        if not cw & OE:             # unmasked: nothing stored, PE not reported
            return None, OE
        if rc == RC_NEAREST or (rc == RC_UP and not s) or (rc == RC_DOWN and s):
            return sbit | (emax << fbits), flags | OE | PE | C1
        return sbit | ((emax - 1) << fbits) | ((1 << fbits) - 1), (flags | OE | PE) & ~C1
    if E < emin:
        qu, lu, inx_u, _ = _round(s, m, e, False, p, rc, None)
        tiny = lu + qu.bit_length() - 1 < emin
        if tiny and not cw & UE:
            return None, UE
        if tiny and inexact:
            flags |= UE
        return sbit | (q << (lsb - (emin - fbits))), flags
    return sbit | ((E + bias) << fbits) | ((q << (fbits - (E - lsb))) & ((1 << fbits) - 1)), \
        flags


def _ieee_indefinite(fmt: tuple) -> int:
    p, ebits = fmt
    return ((1 << (ebits + 2)) - 1) << (p - 2)


def ieee_indefinite(fmt: tuple) -> int:
    return _ieee_indefinite(fmt)


def from_bcd(b: bytes) -> F80:
    """fbld: 18 packed BCD digits and a sign byte (invalid digits give undefined values)."""
    n = 0
    for i in range(8, -1, -1):
        n = n * 100 + (b[i] >> 4) * 10 + (b[i] & 15)
    v = from_int(n)
    return ((1 if b[9] & 0x80 else 0), v[1], v[2])


BCD_INDEFINITE = bytes(7) + b"\xc0\xff\xff"


def to_bcd(v: F80, cw: int) -> tuple:
    """fbstp: returns (10 bytes, flags)."""
    c = classify(v)
    if c >= INF:
        return BCD_INDEFINITE, IE
    if c == ZERO:
        return bytes(9) + bytes([0x80 if v[0] else 0]), 0
    flags = 0
    i, inexact, up = _round_int(v, (cw >> 10) & 3)
    n = -i if i < 0 else i
    if n >= 10 ** 18:
        return BCD_INDEFINITE, IE
    if inexact:
        flags |= PE | (C1 if up else 0)
    out = bytearray(10)
    for k in range(9):
        n, d = divmod(n, 100)
        out[k] = ((d // 10) << 4) | (d % 10)
    out[9] = 0x80 if v[0] else 0
    return bytes(out), flags


# ---- fscale, fxtract, fprem -------------------------------------------------------------------

def scale(a: F80, b: F80, cw: int) -> tuple:
    """fscale: a * 2**trunc(b)."""
    ca = classify(a)
    cb = classify(b)
    if ca > INF or cb > INF:
        return _nan2(a, ca, b, cb)
    if cb == INF:
        if b[0]:                    # * 2**-inf
            if ca == INF:
                return INDEFINITE, IE
            return (a[0], 0, 0), _den(ca, ca)
        if ca == ZERO:
            return INDEFINITE, IE
        return (a[0], EXP_SPECIAL, J), _den(ca, ca)
    flags = _den(ca, cb)
    if ca == ZERO or ca == INF:
        return a, flags
    if cb == ZERO:
        n = 0
    else:
        sb, mb, eb = _finite(b)
        n = min(mb >> -eb, 1 << 20) if eb < 0 else 1 << 20
        if sb:
            n = -n
    s, m, e = _finite(a)
    v, f = pack80(s, m, e + n, False, cw)
    return v, f | flags


def xtract(a: F80) -> tuple:
    """fxtract: returns (exponent, significand, flags)."""
    c = classify(a)
    if c > INF:
        r, f = _nan1(a, c)
        return r, r, f
    if c == INF:
        return POS_INF, a, 0
    if c == ZERO:
        return NEG_INF, a, ZE
    s, m, e = _finite(a)
    return from_int(e + 63), (s, BIAS, m), (DE if c == DENORMAL else 0)


def prem(a: F80, b: F80, cw: int, nearest: bool) -> tuple:
    """fprem (truncating quotient) / fprem1 (IEEE, round-to-nearest quotient).

    Returns (value, flags, q, complete): q holds the low quotient bits when complete.
    A partial remainder reduces the exponent difference D >= 64 down to at most
    (D & ~31) - 32, which is what the real hardware delivers."""
    ca = classify(a)
    cb = classify(b)
    if ca > INF or cb > INF:
        r, f = _nan2(a, ca, b, cb)
        return r, f, 0, True
    if ca == INF or cb == ZERO:
        return INDEFINITE, IE, 0, True
    flags = _den(ca, cb)
    if ca == ZERO:
        return a, flags, 0, True
    sa, ma, ea = _finite(a)
    if cb == INF:                   # a itself, normalised (pseudo-denormals too)
        v, _ = pack80(sa, ma, ea, False, cw)
        return v, flags, 0, True
    _, mb, eb = _finite(b)
    d = ea - eb
    if d >= 64:
        k = (d & ~31) - 32
        q = (ma << (d - k)) // mb
        r = (ma << (d - k)) - q * mb        # at scale 2**(eb + k)
        v, f = pack80(sa, r, eb + k, False, cw)
        if r == 0:
            v = (sa, 0, 0)
        return v, flags | (f & ~(PE | C1)), 0, False
    e0 = eb if d >= 0 else ea
    A = ma << (ea - e0)
    B = mb << (eb - e0)
    q, r = divmod(A, B)
    if nearest and (r << 1 > B or (r << 1 == B and q & 1)):
        q += 1
        r -= B
    if r == 0:
        return (sa, 0, 0), flags, q, True
    s = sa
    if r < 0:
        s ^= 1
        r = -r
    v, f = pack80(s, r, e0, False, cw)
    return v, flags | (f & ~(PE | C1)), q, True


# ---- constants ------------------------------------------------------------------------------------

def constant(name: str, cw: int) -> F80:
    """fldpi & co.: the constant (pi l2e l2t lg2 ln2) rounded per RC, no flags."""
    c, sc = CONSTANTS[name]
    v, _ = pack80(0, c, sc, True, cw | 0x3F)
    return v


def neg(v: F80) -> F80:
    return v[0] ^ 1, v[1], v[2]


def absval(v: F80) -> F80:
    return 0, v[1], v[2]


def to_fraction(v: F80):
    """Exact value as a Fraction (None for NaN/unsupported, +-inf as a string)."""
    from fractions import Fraction
    c = classify(v)
    if c == ZERO:
        return Fraction(0)
    if c == INF:
        return "-inf" if v[0] else "inf"
    if c > INF:
        return None
    s, m, e = _finite(v)
    f = Fraction(m) * (Fraction(2) ** e)
    return -f if s else f


def to_float(v: F80) -> float:
    """Nearest Python float (for display)."""
    c = classify(v)
    if c == INF:
        return float("-inf") if v[0] else float("inf")
    if c > INF:
        return float("nan")
    f = to_fraction(v)
    return float(f)


def from_float(x: float) -> F80:
    import struct
    return from_ieee(struct.unpack("<Q", struct.pack("<d", x))[0], DOUBLE)[0]



# ---- transcendental functions -------------------------------------------------------------------
# Values are computed in fixed point (integers scaled by 2**W) with a bound on the error, and
# W grows until the whole error interval rounds to one result (Ziv's strategy), so results
# are correctly rounded. Arguments of fsin/fcos/fsincos/fptan are reduced modulo the 66-bit
# pi the hardware uses (documented by Intel; this AMD part agrees), not the true pi.

PI66 = 0x3243F6A8885A308D3          # pi ~ PI66 * 2**-64, the on-chip 66-bit value
_FIXED_CACHE: dict = {}


def _atan_inv(n: int, W: int) -> int:
    """atan(1/n) * 2**W (error a few units)."""
    x = (1 << W) // n
    n2 = n * n
    total = x
    k = 1
    sign = -1
    while x:
        x //= n2
        total += sign * (x // (2 * k + 1))
        sign = -sign
        k += 1
    return total


def _pi_fx(W: int) -> int:
    key = ("pi", W)
    v = _FIXED_CACHE.get(key)
    if v is None:
        g = W + 16
        v = (16 * _atan_inv(5, g) - 4 * _atan_inv(239, g)) >> 16
        _FIXED_CACHE[key] = v
    return v


def _ln2_fx(W: int) -> int:
    key = ("ln2", W)
    v = _FIXED_CACHE.get(key)
    if v is None:
        g = W + 16                  # ln 2 = 2 atanh(1/3)
        x = (1 << g) // 3
        total = 0
        k = 1
        while x:
            total += x // k
            x //= 9
            k += 2
        v = (2 * total) >> 16
        _FIXED_CACHE[key] = v
    return v


def _mulfx(a: int, b: int, W: int) -> int:
    p = a * b
    return p >> W if p >= 0 else -((-p) >> W)


def _sincos_fx(x: int, W: int) -> tuple:
    """(sin, cos) * 2**W for |x| <= pi/4 (fixed point); error a few units."""
    one = 1 << W
    x2 = _mulfx(x, x, W)
    s = t = x
    c = tc = one
    k = 1
    while t or tc:
        t = -_mulfx(t, x2, W) // ((2 * k) * (2 * k + 1))
        tc = -_mulfx(tc, x2, W) // ((2 * k - 1) * (2 * k))
        s += t
        c += tc
        k += 1
    return s, c


def _atan_fx(x: int, W: int) -> int:
    """atan(x) * 2**W for 0 <= x <= 1 (fixed point)."""
    one = 1 << W
    halvings = 0
    while x > one >> 3:             # atan x = 2 atan(x / (1 + sqrt(1 + x^2)))
        x = (x << W) // (one + _isqrt((one << W) + x * x))
        halvings += 1
    x2 = _mulfx(x, x, W)
    total = t = x
    k = 1
    while t:
        t = -_mulfx(t, x2, W)
        total += t // (2 * k + 1)
        k += 1
    return total << halvings


def _ln_fx(t: int, W: int) -> int:
    """ln(t) * 2**W for t (fixed point) in [0.7, 1.42]: 2 atanh((t-1)/(t+1))."""
    one = 1 << W
    u = ((t - one) << W) // (t + one)
    return _atanh2_fx(u, W)


def _atanh2_fx(u: int, W: int) -> int:
    """2 atanh(u) * 2**W for |u| < 0.2."""
    u2 = _mulfx(u, u, W)
    total = t = u
    k = 3
    while t:
        t = _mulfx(t, u2, W)
        total += t // k
        k += 2
    return 2 * total


def _expm1_fx(z: int, W: int) -> tuple:
    """(e**z - 1) * 2**W and the number of squarings (error grows as 2**k)."""
    k = 0
    lim = (1 << W) >> 10
    while abs(z) > lim:
        z = z // 2 if z >= 0 else -((-z) // 2)
        k += 1
    total = t = z
    n = 2
    while t:
        t = _mulfx(t, z, W) // n
        total += t
        n += 1
    for _ in range(k):               # e^2a - 1 = (e^a - 1)(e^a + 1)
        total = _mulfx(total, total + (2 << W), W)
    return total, k


def _fx_of(v: F80, W: int) -> int:
    """|v| * 2**W truncated (v finite)."""
    _, m, e = _finite(v)
    sh = e + W
    return m << sh if sh >= 0 else m >> -sh


def _ziv(approx, cw: int, w0: int = 96) -> tuple:
    """Correctly round a value given by approx(W) -> (sign, Y, S, err), meaning
    (-1)**sign * Y * 2**S within err * 2**S, raising W until the result is certain."""
    rc = (cw >> 10) & 3
    W = w0
    for _ in range(60):
        s, Y, S, err = approx(W)
        need = err.bit_length() + 64 + 24
        if Y.bit_length() < need:
            W += (need - Y.bit_length() + 16) if Y else W + 256
            continue
        lo = _round(s, Y - err - 1, S, True, 64, rc, DLSB)
        hi = _round(s, Y + err, S, True, 64, rc, DLSB)
        if lo[0] == hi[0] and lo[1] == hi[1] and lo[3] == hi[3]:
            return pack80(s, Y + err, S, True, cw)
        W += W // 2
    raise ArithmeticError("transcendental rounding did not converge")


def _reduce(v: F80, W: int) -> tuple:
    """x = k * (pi66/2) + r with |r| <= ~pi/4: returns (k, r * 2**W as a signed int)."""
    s, m, e = _finite(v)
    t = min(e, -65)
    num = m << (e - t)                 # x = num * 2**t
    hp = PI66 << (-65 - t)             # pi66/2 at scale 2**t
    k = (num + (hp >> 1)) // hp
    r = num - k * hp
    sh = t + W
    rf = r << sh if sh >= 0 else (r >> -sh if r >= 0 else -((-r) >> -sh))
    if s:
        k, rf = -k, -rf
    return k, rf


def _trig(v: F80, cw: int, which: str) -> tuple:
    """sin/cos/tan of a finite nonzero |v| < 2**63, reduced by the 66-bit pi."""
    def approx(W):
        g = W + 8
        k, r = _reduce(v, g)
        sn, cs = _sincos_fx(r, g)
        q = k & 3
        if which == "sin":
            y = (sn, cs, -sn, -cs)[q]
        elif which == "cos":
            y = (cs, -sn, -cs, sn)[q]
        else:
            num, den = (sn, cs) if q & 1 == 0 else (-cs, sn)
            if den == 0:
                return 0, 0, -W, 1
            y = (num << g) // den
            err = (abs(y) * 8) // max(abs(den), 1) + (abs(y) * 8) // max(abs(num), 1) + 8
            return (1 if y < 0 else 0), abs(y), -g, err
        return (1 if y < 0 else 0), abs(y), -g, 64
    return _ziv(approx, cw)


def trig(v: F80, cw: int, which: str) -> tuple:
    """fsin / fcos / fptan (tan) of ST(0): returns (value, flags, out_of_range)."""
    c = classify(v)
    if c > INF:
        r, f = _nan1(v, c)
        return r, f, False
    if c == INF:
        return INDEFINITE, IE, False
    if c == ZERO:
        return (ONE if which == "cos" else v), 0, False
    if v[1] - BIAS >= 63:
        return v, 0, True
    flags = DE if c == DENORMAL else 0
    if which == "cos" and v[1] < BIAS - 40:     # cos x = 1 - x^2/2: just below one
        r, f = pack80(0, (1 << 100) - 1, -100, True, cw)
        return r, f | flags, False
    if which != "cos" and v[1] < BIAS - 40:    # tiny: sin x ~ tan x ~ x (fast path below)
        r, f = _tiny_odd(v, cw, which)
        return r, f | flags, False
    r, f = _trig(v, cw, which)
    return r, f | flags, False


def _tiny_odd(v: F80, cw: int, which: str) -> tuple:
    """sin x = x - x^3/6..., tan x = x + x^3/3... for |x| < 2**-40: the x^3 term only
    decides the rounding direction, so round x with a sticky bit on the proper side."""
    s, m, e = _finite(v)
    # value = m*2^e -/+ tiny: represent as (m*2^k -/+ 1) * 2^(e-k)
    k = 80
    mm = (m << k) - 1 if which == "sin" else (m << k) + 1
    return pack80(s, mm, e - k, True, cw)


def atan2(y: F80, x: F80, cw: int) -> tuple:
    """fpatan: atan(ST1 / ST0) with the quadrant from both signs."""
    cy = classify(y)
    cx = classify(x)
    if cy > INF or cx > INF:
        return _nan2(x, cx, y, cy)
    flags = _den(cx, cy)
    sy = y[0]
    if cy == ZERO or cy == INF or cx == ZERO or cx == INF:
        # exact quadrant cases: 0, pi/4, pi/2, 3pi/4, pi (as fractions of pi)
        if cy == ZERO:
            frac = (1, 1) if x[0] else (0, 1)
        elif cy == INF and cx == INF:
            frac = (3, 4) if x[0] else (1, 4)
        elif cy == INF or cx == ZERO:
            frac = (1, 2)
        else:                       # y finite, x infinite
            frac = (1, 1) if x[0] else (0, 1)
        if frac[0] == 0:
            return (sy, 0, 0), flags
        def approx_pi(W):
            return sy, _pi_fx(W) * frac[0] // frac[1], -W, 4
        r, f = _ziv(approx_pi, cw)
        return r, f | flags
    _, my, ey = _finite(y)
    _, mx, ex = _finite(x)
    swap = (ey, my) > (ex, mx)
    if ey == ex and my == mx:
        swap = False

    def approx(W):
        g = W + 8
        if swap:
            num, en, den, ed = mx, ex, my, ey
        else:
            num, en, den, ed = my, ey, mx, ex
        sh = g + en - ed
        t = (num << sh) // den if sh >= 0 else (num >> -sh) // den
        a = _atan_fx(t, g)
        err = 16
        if swap:
            a = (_pi_fx(g) >> 1) - a
        if x[0]:
            a = _pi_fx(g) - a
        return sy, a, -g, err
    r, f = _ziv(approx, cw)
    return r, f | flags


def f2xm1(v: F80, cw: int, amd: bool = False) -> tuple:
    """2**x - 1; ``amd`` models AMD's result for x = 1 (see below)."""
    c = classify(v)
    if c > INF:
        return _nan1(v, c)
    if c == INF:
        return ((1, BIAS, J) if v[0] else v), 0
    if c == ZERO:
        return v, 0
    flags = DE if c == DENORMAL else 0
    s, m, e = _finite(v)
    if e + 63 >= 0:                 # |x| >= 1
        if m == J and e == -63:     # +-1: exact, yet both vendors report it inexact
            if s:
                return (1, BIAS - 1, J), PE | flags
            if not amd:             # Intel: 1.0 in every rounding mode
                return (0, BIAS, J), PE | flags
            # AMD's 2**1 - 1 is a hair below one: rounding down or to zero gives 1 - ulp
            r, f = pack80(0, (1 << 100) - 1, -100, True, cw)
            return r, f | flags
        return v, PE | flags        # outside the documented -1..1: the operand, unchanged

    def approx(W):
        g = W + 8
        x = _fx_of(v, g)
        z = _mulfx(x, _ln2_fx(g), g)
        if s:
            z = -z
        y, k = _expm1_fx(z, g)
        return (1 if y < 0 else 0), abs(y), -g, (16 << k) + 16
    r, f = _ziv(approx, cw)
    return r, f | flags


def _exact_inexact(r: F80) -> int:
    """Flags of an exact log result that the chip still reports inexact (and so tiny ones
    as underflowing)."""
    return PE | UE if r[1] == 0 and r[2] else PE


def _log2_parts(m: int, e: int, W: int) -> int:
    """log2(m * 2**e) * 2**W (fixed point, signed) for m > 0."""
    n = e + m.bit_length() - 1         # m * 2**e = 2**n * t, 1 <= t < 2
    b = m.bit_length()
    t = (m << W) >> (b - 1) if b - 1 <= W else m >> (b - 1 - W)
    one = 1 << W
    if t * t > (one * one) << 1:        # t > sqrt(2): use t/2
        t >>= 1
        n += 1
    ln_t = _ln_fx(t, W)
    return (n << W) + (ln_t << W) // _ln2_fx(W)


def yl2x(x: F80, y: F80, cw: int) -> tuple:
    """fyl2x: ST1 * log2(ST0)."""
    cx = classify(x)
    cy = classify(y)
    if cx > INF or cy > INF:
        return _nan2(x, cx, y, cy)
    flags = _den(cx, cy)
    if x[0] and cx != ZERO:
        return INDEFINITE, IE
    if cx == ZERO:
        if cy == ZERO:
            return INDEFINITE, IE
        if cy == INF:
            return (y[0] ^ 1, EXP_SPECIAL, J), flags
        return (y[0] ^ 1, EXP_SPECIAL, J), ZE     # zero divide outranks a denormal
    if cx == INF:
        if cy == ZERO:
            return INDEFINITE, IE
        return (y[0], EXP_SPECIAL, J), flags
    _, mx, ex = _finite(x)
    is_one = mx == J and ex == -63
    if cy == INF:
        if is_one:
            return INDEFINITE, IE
        return (y[0] ^ (1 if ex + 63 < 0 else 0), EXP_SPECIAL, J), flags
    below_one = ex + 63 < 0
    if cy == ZERO:
        return (y[0] ^ (1 if below_one else 0), 0, 0), flags
    sy, my, ey = _finite(y)
    if mx == J:                         # power of two: y * n exactly (still flagged inexact)
        n = ex + 63
        if n == 0:
            return (sy, 0, 0), flags
        r, f = pack80(sy ^ (1 if n < 0 else 0), my * abs(n), ey, False, cw)
        return r, f | flags | _exact_inexact(r)

    def approx(W):
        g = W + 8
        L = _log2_parts(mx, ex, g)
        sign = sy ^ (1 if L < 0 else 0)
        return sign, my * abs(L), ey - g, my * 64
    r, f = _ziv(approx, cw)
    return r, f | flags


def yl2xp1(x: F80, y: F80, cw: int) -> tuple:
    """fyl2xp1: ST1 * log2(ST0 + 1)."""
    cx = classify(x)
    cy = classify(y)
    if cx > INF or cy > INF:
        return _nan2(x, cx, y, cy)
    flags = _den(cx, cy)
    if cx == ZERO:
        if cy == INF:
            return INDEFINITE, IE
        return (x[0] ^ y[0], 0, 0), flags
    if cx == INF:
        if x[0] or cy == ZERO:
            return INDEFINITE, IE
        return (y[0], EXP_SPECIAL, J), flags
    sx, mx, ex = _finite(x)
    if cy == INF:
        return (y[0] ^ sx, EXP_SPECIAL, J), flags
    if cy == ZERO:
        return (x[0] ^ y[0], 0, 0), flags
    # 1 + x exactly, as an integer at scale 2**t
    t = min(ex, 0)
    one_plus = (1 << -t) + (-(mx << (ex - t)) if sx else (mx << (ex - t)))
    if one_plus <= 0:
        return INDEFINITE, IE
    sy, my, ey = _finite(y)
    if one_plus & (one_plus - 1) == 0:  # 1 + x a power of two: exact, flagged inexact
        n = one_plus.bit_length() - 1 + t
        r, f = pack80(sy ^ (1 if n < 0 else 0), my * abs(n), ey, False, cw)
        return r, f | flags | _exact_inexact(r)

    def approx(W):
        g = W + 8
        if ex + 63 < -1:                # |x| < 1/2: 2 atanh(x / (2 + x)) keeps x's precision
            sh = g + ex
            num = mx << sh if sh >= 0 else mx >> -sh
            if sx:
                num = -num
            den = (2 << g) + num
            u = (num << g) // den
            L = (_atanh2_fx(u, g) << g) // _ln2_fx(g)
        else:
            L = _log2_parts(one_plus, t, g)
        sign = sy ^ (1 if L < 0 else 0)
        return sign, my * abs(L), ey - g, my * 64
    r, f = _ziv(approx, cw)
    return r, f | flags


# constants: the hardware rounds them per RC from a long enough value (correctly, for every
# mode; PC does not apply). Held here to 128 bits plus a sticky bit: value = C * 2**scale.
def _const128(fx: int, W: int) -> tuple:
    sh = fx.bit_length() - 128
    return fx >> sh, sh - W


def _make_constants() -> dict:
    W = 256
    ln2 = _ln2_fx(W)
    ln10 = (_ln_fx((10 << W) >> 3, W)) + 3 * ln2
    return {
        "pi": _const128(_pi_fx(W), W),
        "l2e": _const128((1 << (2 * W)) // ln2, W),
        "l2t": _const128((ln10 << W) // ln2, W),
        "lg2": _const128((ln2 << W) // ln10, W),
        "ln2": _const128(ln2, W),
    }


CONSTANTS = _make_constants()
