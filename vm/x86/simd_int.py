"""Integer and shuffle lane functions of SSE2 and MMX on 128-bit (MMX: 64-bit, zero-
extended) ints: the pure computations behind vm/x86/sse.py's and vm/x86/mmx.py's
instructions."""

from __future__ import annotations

M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF
M128 = (1 << 128) - 1


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


# ---- integer lanes ---------------------------------------------------------------------------

def _pack_ss(a: int, b: int, w: int, signed_out: bool) -> int:
    """PACKSSWB / PACKSSDW / PACKUSWB: signed w-bit lanes of a then b, saturated to w/2."""
    h = w // 2
    lo, hi = ((-(1 << (h - 1)), (1 << (h - 1)) - 1) if signed_out else (0, (1 << h) - 1))
    src = [_signed(x, w) for x in split(a, w) + split(b, w)]
    return join([_sat(x, lo, hi) for x in src], h)


def _unpack(a: int, b: int, w: int, high: bool) -> int:
    if w == 8:                  # bytes: interleaved by two stepped slice assignments
        x, y = a.to_bytes(16, "little"), b.to_bytes(16, "little")
        h = 8 if high else 0
        out = bytearray(16)
        out[0::2] = x[h:h + 8]
        out[1::2] = y[h:h + 8]
        return int.from_bytes(out, "little")
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


_LOW8 = int.from_bytes(b"\x01" * 16, "little")    # 1 in each byte's lowest bit
_GATHER8 = 0x0102040810204080    # bit 0 of byte k of a 64-bit word, times it: bit 56 + k


def _pmovmskb(a: int) -> int:
    """The top bit of each byte: moved to each byte's bit 0, then gathered a qword at a
    time by one multiplication (the other partial products stay below bit 56)."""
    t = (a >> 7) & _LOW8
    return ((t & M64) * _GATHER8 >> 56) & 0xFF | ((t >> 64) * _GATHER8 >> 48) & 0xFF00


def _pcmpeq(w: int):
    """PCMPEQB/W/D: all ones in each w-bit lane where a and b agree, without splitting
    into lanes: the top bit of a lane of a ^ b ends up set only when the lane is zero
    (the low bits plus 0x7F.. carry into the top one exactly when they are not zero)."""
    low = sum(1 << k for k in range(0, 128, w))     # 1 in each lane's lowest bit
    rest = low * ((1 << (w - 1)) - 1)               # all but the top bit of each lane
    ones = (1 << w) - 1

    def run(a: int, b: int) -> int:
        x = a ^ b
        return ((~(((x & rest) + rest) | x | rest) >> (w - 1)) & low) * ones
    return run


def _movmsk(a: int, w: int) -> int:
    v = 0
    for k, x in enumerate(split(a, w)):
        if x >> (w - 1):
            v |= 1 << k
    return v


def _pshufd(b: int, imm: int) -> int:
    return (b >> 32 * (imm & 3) & M32 | (b >> 32 * (imm >> 2 & 3) & M32) << 32 |
            (b >> 32 * (imm >> 4 & 3) & M32) << 64 | (b >> 32 * (imm >> 6 & 3) & M32) << 96)


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
    "pcmpeqb": _pcmpeq(8), "pcmpeqw": _pcmpeq(16), "pcmpeqd": _pcmpeq(32),
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
