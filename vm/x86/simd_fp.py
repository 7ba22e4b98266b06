"""The floating-point SSE/SSE2/SSE3 instructions as helpers of compiled code: each takes
the CPU (for MXCSR), the destination's and the source's 128-bit values, and returns the new
destination (or raises #XM).

Lanes are computed by ``vm/x86/simd_float.py``; their flags are ORed into MXCSR. An
unmasked exception stores no result: MXCSR gets the flags (only the pre-computation ones,
invalid/denormal/divide, when one of those is unmasked) and the instruction raises #XM,
which the Linux personality turns into SIGFPE with the si_code the kernel derives from
MXCSR. The default MXCSR with normal operands takes a float fast path (``_fast``)."""

from __future__ import annotations

import math
import struct

from vm.x86 import simd_float as S
from vm.x86.faults import CPUException

XM = 19
M32, M64 = 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF
M128 = (1 << 128) - 1
SINGLE, DOUBLE = S.SINGLE, S.DOUBLE

# si_code the Linux kernel gives a SIMD exception (arch/x86/kernel/fpu: fpu__exception_code)
FPE_FLTDIV, FPE_FLTOVF, FPE_FLTUND, FPE_FLTRES, FPE_FLTINV = 3, 4, 5, 6, 7


class SimdException(CPUException):
    """#XM: an unmasked SIMD floating-point exception."""

    def __init__(self, mxcsr: int):
        err = ~(mxcsr >> 7) & mxcsr & 0x3F
        if err & S.IE:
            code = FPE_FLTINV
        elif err & S.ZE:
            code = FPE_FLTDIV
        elif err & S.OE:
            code = FPE_FLTOVF
        elif err & (S.DE | S.UE):
            code = FPE_FLTUND
        elif err & S.PE:
            code = FPE_FLTRES
        else:
            code = 0
        super().__init__(XM, "SIMD floating-point exception")
        self.si_code = code


def finish(cpu, mx: int, flags: int) -> None:
    """Merge an instruction's flags into MXCSR; raise #XM for an unmasked one."""
    unmasked = flags & ~(mx >> 7) & 0x3F
    if unmasked:
        pre = flags & S.PRE
        if pre & unmasked:
            flags = pre
        cpu.mxcsr = mx | flags
        raise SimdException(cpu.mxcsr)
    cpu.mxcsr = mx | flags


def lanes(cpu, fn, f: S.Fmt, a: int, b: int, count: int, *extra) -> int:
    """fn on the first ``count`` lanes of a and b; a's other lanes are kept."""
    mx = cpu.mxcsr
    w = f.width
    m = (1 << w) - 1
    out = a >> (w * count) << (w * count) if count * w < 128 else 0
    return _merge(cpu, mx, w, out,
                  (fn(f, (a >> (k * w)) & m, (b >> (k * w)) & m, mx, *extra)
                   for k in range(count)))


def _merge(cpu, mx: int, w: int, out: int, results) -> int:
    """Lane results (value, flags), in lane order, into ``out``: the flags go to MXCSR
    (and an unmasked one raises) before any lane is written, as the CPU does."""
    flags = 0
    res = []
    for r, fl in results:
        flags |= fl
        res.append(r)
    if flags:
        finish(cpu, mx, flags)
    for k, r in enumerate(res):
        out |= r << (k * w)
    return out


# ---- the fast path: default MXCSR, normal operands and a normal result ---------------------

_D, _Q = struct.Struct("<d"), struct.Struct("<Q")
_d_unpack, _q_pack, _q_unpack, _d_pack = _D.unpack, _Q.pack, _Q.unpack, _D.pack
D_MIN_NORMAL = 2.2250738585072014e-308
D_EXP = 0x7FF0000000000000


def _odd(m: int) -> int:
    return m >> ((m & -m).bit_length() - 1)


def _mant(q: int) -> int:
    return q & 0xFFFFFFFFFFFFF | 0x10000000000000


def _fast_d(op: int, a: int, b: int) -> tuple:
    """(bits, PE?) of a double +, -, *, / in round to nearest, or None when an operand or
    the result is not a normal number (the exact path decides those)."""
    ea, eb = a & D_EXP, b & D_EXP
    if not ea or not eb or ea == D_EXP or eb == D_EXP:
        return None
    x, y = _d_unpack(_q_pack(a))[0], _d_unpack(_q_pack(b))[0]
    if op == 0 or op == 2:
        if op == 2:
            y = -y
        r = x + y
        if not D_MIN_NORMAL < abs(r) < 1.7976931348623157e308:
            return None
        bb = r - x
        inexact = (x - (r - bb)) + (y - bb) != 0
    elif op == 1:
        r = x * y
        if not D_MIN_NORMAL < abs(r) < 1.7976931348623157e308:
            return None
        inexact = (_odd(_mant(a)) * _odd(_mant(b))).bit_length() > 53
    else:
        r = x / y
        if not D_MIN_NORMAL < abs(r) < 1.7976931348623157e308:
            return None
        rb = _q_unpack(_d_pack(r))[0]
        inexact = _odd(_mant(rb)) * _odd(_mant(b)) != _odd(_mant(a))
    return _q_unpack(_d_pack(r))[0], inexact


# ---- lane functions --------------------------------------------------------------------

def _add(f, a, b, mx):
    return S.add(f, a, b, mx)


def _sub(f, a, b, mx):
    return S.add(f, a, b, mx, True)


def _min(f, a, b, mx):
    return S.minmax(f, a, b, mx, False)


def _max(f, a, b, mx):
    return S.minmax(f, a, b, mx, True)


def _sqrt(f, a, b, mx):
    return S.sqrt(f, b, mx)


LANE_OPS = {"add": _add, "sub": _sub, "mul": S.mul, "div": S.div, "min": _min, "max": _max,
            "sqrt": _sqrt}
_FAST_OP = {"add": 0, "sub": 2, "mul": 1, "div": 3}
DEFAULT = 0x1F80


def _make(op: str, f: S.Fmt, count: int):
    fn = LANE_OPS[op]
    fast = _FAST_OP.get(op)
    if fast is not None and f is DOUBLE and count == 1:
        def scalar_d(cpu, a: int, b: int) -> int:
            mx = cpu.mxcsr
            if mx & 0xFFC0 == DEFAULT:
                r = _fast_d(fast, a & M64, b & M64)
                if r is not None:
                    if r[1]:
                        cpu.mxcsr = mx | S.PE
                    return a & ~M64 & M128 | r[0]
            return lanes(cpu, fn, f, a, b, 1)
        return scalar_d

    def run(cpu, a: int, b: int) -> int:
        return lanes(cpu, fn, f, a, b, count)
    return run


FP_OPS: dict = {}
for _op in LANE_OPS:
    FP_OPS[_op + "ss"] = _make(_op, SINGLE, 1)
    FP_OPS[_op + "ps"] = _make(_op, SINGLE, 4)
    FP_OPS[_op + "sd"] = _make(_op, DOUBLE, 1)
    FP_OPS[_op + "pd"] = _make(_op, DOUBLE, 2)


# ---- SSE3: alternating and horizontal ---------------------------------------------------

def _addsub(f: S.Fmt):
    def run(cpu, a: int, b: int) -> int:
        mx = cpu.mxcsr
        w = f.width
        m = (1 << w) - 1
        return _merge(cpu, mx, w, 0, (S.add(f, (a >> (k * w)) & m, (b >> (k * w)) & m, mx,
                                            not k & 1) for k in range(128 // w)))
    return run


def _horizontal(f: S.Fmt, subtract: bool):
    def run(cpu, a: int, b: int) -> int:
        mx = cpu.mxcsr
        w = f.width
        m = (1 << w) - 1
        n = 128 // w
        src = [(a >> (k * w)) & m for k in range(n)] + [(b >> (k * w)) & m for k in range(n)]
        return _merge(cpu, mx, w, 0, (S.add(f, src[2 * k], src[2 * k + 1], mx, subtract)
                                      for k in range(n)))
    return run


FP_OPS.update({"addsubps": _addsub(SINGLE), "addsubpd": _addsub(DOUBLE),
               "haddps": _horizontal(SINGLE, False), "haddpd": _horizontal(DOUBLE, False),
               "hsubps": _horizontal(SINGLE, True), "hsubpd": _horizontal(DOUBLE, True)})


# ---- conversions -----------------------------------------------------------------------

def _convert_lanes(cpu, conv, a: int, b: int, n: int, win: int, wout: int, keep: bool) -> int:
    """n lanes of width win from b converted by conv(value, mx) into lanes of width wout;
    the rest of a kept (keep) or zeroed."""
    mx = cpu.mxcsr
    mi, mo = (1 << win) - 1, (1 << wout) - 1
    flags, out = 0, 0
    for k in range(n):
        r, fl = conv((b >> (k * win)) & mi, mx)
        flags |= fl
        out |= (r & mo) << (k * wout) if r is not None else 0
    if flags:
        finish(cpu, mx, flags)
    if keep:
        out |= a >> (n * wout) << (n * wout)
    return out


def _cvt(name: str, conv, n: int, win: int, wout: int, keep: bool):
    def run(cpu, a: int, b: int) -> int:
        return _convert_lanes(cpu, conv, a, b, n, win, wout, keep)
    run.__name__ = name
    return run


def _s2d(v, mx):
    return S.convert(SINGLE, DOUBLE, v, mx)


def _d2s(v, mx):
    return S.convert(DOUBLE, SINGLE, v, mx)


def _i2s(v, mx):
    return S.from_int32(SINGLE, v, mx)


def _i2d(v, mx):
    return S.from_int32(DOUBLE, v, mx)


def _s2i(v, mx):
    return S.to_int32(SINGLE, v, mx, False)


def _s2i_t(v, mx):
    return S.to_int32(SINGLE, v, mx, True)


def _d2i(v, mx):
    return S.to_int32(DOUBLE, v, mx, False)


def _d2i_t(v, mx):
    return S.to_int32(DOUBLE, v, mx, True)


FP_OPS.update({
    "cvtss2sd": _cvt("cvtss2sd", _s2d, 1, 32, 64, True),
    "cvtsd2ss": _cvt("cvtsd2ss", _d2s, 1, 64, 32, True),
    "cvtps2pd": _cvt("cvtps2pd", _s2d, 2, 32, 64, False),
    "cvtpd2ps": _cvt("cvtpd2ps", _d2s, 2, 64, 32, False),
    "cvtdq2pd": _cvt("cvtdq2pd", _i2d, 2, 32, 64, False),
    "cvtdq2ps": _cvt("cvtdq2ps", _i2s, 4, 32, 32, False),
    "cvtps2dq": _cvt("cvtps2dq", _s2i, 4, 32, 32, False),
    "cvttps2dq": _cvt("cvttps2dq", _s2i_t, 4, 32, 32, False),
    "cvtpd2dq": _cvt("cvtpd2dq", _d2i, 2, 64, 32, False),
    "cvttpd2dq": _cvt("cvttpd2dq", _d2i_t, 2, 64, 32, False),
})

CVT_PI2PS = _cvt("cvtpi2ps", _i2s, 2, 32, 32, True)      # two int32 -> low two singles

# scalar int -> float: (cpu, dest, int32) -> dest
CVT_FROM_INT = {"cvtsi2ss": _cvt("cvtsi2ss", _i2s, 1, 32, 32, True),
                "cvtsi2sd": _cvt("cvtsi2sd", _i2d, 1, 32, 64, True)}


def cvt_to_int(cpu, v: int, double: bool, truncate: bool) -> int:
    """CVT(T)SS2SI / CVT(T)SD2SI: the int32 result."""
    mx = cpu.mxcsr
    if double:
        r, fl = S.to_int32(DOUBLE, v & M64, mx, truncate)
    else:
        r, fl = S.to_int32(SINGLE, v & M32, mx, truncate)
    if fl:
        finish(cpu, mx, fl)
    return r


# ---- comparisons -----------------------------------------------------------------------

def cmp_lanes(cpu, a: int, b: int, imm: int, f: S.Fmt, count: int) -> int:
    mx = cpu.mxcsr
    w = f.width
    m = (1 << w) - 1
    out = a >> (w * count) << (w * count) if count * w < 128 else 0
    flags = 0
    for k in range(count):
        t, fl = S.compare(f, (a >> (k * w)) & m, (b >> (k * w)) & m, mx, imm)
        flags |= fl
        if t:
            out |= m << (k * w)
    if flags:
        finish(cpu, mx, flags)
    return out


def comi(cpu, a: int, b: int, double: bool, signalling: bool) -> int:
    """(U)COMISS/SD: the ZF PF CF bits (OF SF AF cleared)."""
    mx = cpu.mxcsr
    f = DOUBLE if double else SINGLE
    m = (1 << f.width) - 1
    r, fl = S.comi(f, a & m, b & m, mx, signalling)
    if fl:
        finish(cpu, mx, fl)
    return r


# ---- RCPPS / RSQRTPS: approximations ---------------------------------------------------------
# The CPU's results come from an undocumented table (relative error at most 1.5 * 2**-12,
# and differing between vendors); pyvm returns the correctly rounded 1/x and 1/sqrt(x),
# which is within that bound. Denormal inputs count as zero and tiny results flush to zero,
# as the SDM describes; no MXCSR flags are set.

def _estimate(v: int, sqrt_: bool) -> int:
    f = SINGLE
    neg = v & f.sign
    if S.is_nan(f, v):
        return v | f.quiet
    mag = v & ~f.sign
    if mag & f.expm == 0:                               # zero or denormal: +-infinity
        return neg | f.expm
    if mag == f.expm:                                   # infinity
        return f.default_nan if sqrt_ and neg else neg
    if sqrt_ and neg:
        return f.default_nan
    _, m, e = S._parts(f, mag)
    if sqrt_:
        if e & 1:
            m, e = m << 1, e - 1
        t = (1 << 160) // m                             # 2**160 / m
        r = math.isqrt(t)                               # 2**80 / sqrt(m)
        exact = r * r == t and t * m == 1 << 160
        bits, _ = S.round_pack(f, False, r, -80 - e // 2, not exact, 0x1F80)
        return bits
    q, rem = divmod(1 << 100, m)
    bits, _ = S.round_pack(f, bool(neg), q, -100 - e, rem != 0, 0x1F80)
    if bits & f.expm == 0:                              # tiny: flushed to zero
        return neg
    return bits


def _est_lanes(sqrt_: bool, count: int):
    def run(a: int, b: int) -> int:
        out = a >> (32 * count) << (32 * count) if count < 4 else 0
        for k in range(count):
            out |= _estimate((b >> (32 * k)) & M32, sqrt_) << (32 * k)
        return out
    return run


ESTIMATES = {"rcpps": _est_lanes(False, 4), "rcpss": _est_lanes(False, 1),
             "rsqrtps": _est_lanes(True, 4), "rsqrtss": _est_lanes(True, 1)}
