"""Per-instruction plans for the x87 unit: each instruction is decoded once into a closure.

``X87.execute`` used to find an instruction's semantics in its opcode bytes at every
execution, look up the segment of its memory operand and go through the general helpers
(``_push``, ``_signal``, the conversions' classification). A plan does the decoding when
the instruction object is first seen and keeps what does not change (the handler, FOP,
FIP, the data segment's name); the loads, stores and moves that compiled C code is made of
(fld/fst/fstp of doubles and floats, fild/fistp/fisttp, fld/fst/fstp st(i), fxch, and
fadd & co. on registers or an m32/m64 real) get closures that do the common case inline:
a normal or zero operand, a free (or full) stack slot, round to nearest for an inexact
store. Anything else (an empty register, a stack overflow, a NaN, a denormal, a result
needing the general range checks, another rounding mode) goes to the table's handler,
which starts from the same state, so results are those of the general path bit for bit.
The arithmetic's own fast path (normal operands) is in ``float80``.

An Intel part's pointer model (``lazy_fop``/``lazy_fdp``, FOP/FDP kept only for an
unmasked exception) keeps the general path; so do fwait, fxsave and fxrstor.

No import of ``vm.x86.fpu`` (that imports this module): the unit passes itself in.
"""

from __future__ import annotations

import struct
from typing import Callable, Optional

from vm.x86 import float80 as f80
from vm.x86.float80 import C1, J

ES = 0x80                       # x87 status word: an unmasked exception is pending
NORMAL, WAITING_CONTROL, NOWAIT = 0, 1, 2       # the dispatch kinds of vm/x86/fpu.py


def _enter(u, ctx, fip: int, fop: int, seg: Optional[str] = None, ea: int = 0) -> None:
    """What an x87 instruction does first: a pending unmasked exception (#MF), then FIP,
    FCS and FOP; with a memory operand (``seg``) also FDS:FDP."""
    if u.sw & ES:
        u._pending()
    u.fip = fip
    if ctx is u._sctx:
        r, ix = u._sfile
        u.fcs = r[ix["cs"]]
        if seg is not None:
            u.fds = r[ix[seg]]
            u.fdp = ea
    else:
        u.fcs, fds = _selectors(u, ctx, seg)
        if seg is not None:
            u.fds = fds
            u.fdp = ea
    u.fop = fop


# unpack_from / pack_into of an n-byte operand: unsigned, and signed for fild
_UNPACK = {n: struct.Struct(f).unpack_from for n, f in ((2, "<H"), (4, "<I"), (8, "<Q"))}
_UNPACK_SIGNED = {n: struct.Struct(f).unpack_from for n, f in ((2, "<h"), (4, "<i"), (8, "<q"))}
_PACK = {n: struct.Struct(f).pack_into for n, f in ((2, "<H"), (4, "<I"), (8, "<Q"))}


def read_op(u, ctx, ea: int, n: int, unpack) -> int:
    """The n-byte operand at ea, unpacked: through the unit's Memory (``u._mem``;
    Memory.unpack_at goes straight to its data when its read would), as a compiled block's
    load does; else (paging) through the context."""
    mem = u._mem
    if mem is not None:
        return mem.unpack_at(unpack, ea, n)
    return unpack(ctx.read(ea, n))[0]


def write_op(u, ctx, ea: int, n: int, pack, value: int) -> None:
    """Store value (n bytes, unsigned) at ea, as read_op reads (Memory.pack_at)."""
    mem = u._mem
    if mem is not None:
        mem.pack_at(pack, ea, n, value)
    else:
        ctx.write(ea, value.to_bytes(n, "little"))


def plan(u, insn) -> Callable:
    """``run(ea, ctx)`` for one decoded x87 instruction of the unit ``u`` (an ``X87``)."""
    raw = insn.raw
    p = len(insn.prefixes)
    b0 = raw[p]
    if b0 == 0x9B or b0 == 0x0F:        # wait/fwait, fxsave/fxrstor: rare
        return lambda ea, ctx: u._execute_decoded(insn, ea, ctx)
    b1 = raw[p + 1]
    fop = ((b0 & 7) << 8) | b1
    if b1 >= 0xC0:
        fn, arg, kind = u._reg_ops[((b0 & 7) << 6) | (b1 & 0x3F)]
        fn = fn.__get__(u)              # (the table's functions take the unit first)
        if kind == NOWAIT:
            return lambda ea, ctx: fn(arg)
        if kind == WAITING_CONTROL:
            def control(ea, ctx):
                if u.sw & ES:
                    u._pending()
                fn(arg)
            return control
        if u.lazy_fop or u.lazy_fdp:
            return lambda ea, ctx: u._execute_decoded(insn, ea, ctx)
        fast = _REG_FAST.get(getattr(fn, "__name__", ""))
        return (fast or _reg_general)(u, fn, arg, insn.address, fop)
    fn, kind = u._mem_ops[((b0 & 7) << 3) | ((b1 >> 3) & 7)]
    fn = fn.__get__(u)
    if kind == NOWAIT:
        return lambda ea, ctx: fn(ea, ctx, insn)
    if kind == WAITING_CONTROL:
        def control_mem(ea, ctx):
            if u.sw & ES:
                u._pending()
            fn(ea, ctx, insn)
        return control_mem
    if u.lazy_fop or u.lazy_fdp:
        return lambda ea, ctx: u._execute_decoded(insn, ea, ctx)
    seg = u._data_seg(insn)
    fast = _MEM_FAST.get(((b0 & 7) << 3) | ((b1 >> 3) & 7))
    if fast is not None:
        return fast[0](u, fn, insn, seg, fop, *fast[1:])
    return _mem_general(u, fn, insn, seg, fop)


def _selectors(u, ctx, seg: Optional[str]) -> tuple:
    """(FCS, FDS) as the unit records them (FDS 0 without ``seg``). A context with a
    ``sreg_file`` (the selectors' list, name -> index) is remembered by the unit, and the
    plans then read the list themselves while the same context comes back."""
    if u.zero_fcs_fds:
        return 0, 0
    f = getattr(ctx, "sreg_file", None)
    if f is not None:
        u._sctx, u._sfile = ctx, f
        r, ix = f
        return r[ix["cs"]], (r[ix[seg]] if seg else 0)
    get = getattr(ctx, "get_sreg", None)
    if get is None:
        sel = u.selectors
        return sel.get("cs", 0), (sel.get(seg, 0) if seg else 0)
    return get("cs"), (get(seg) if seg else 0)


# ---- register forms --------------------------------------------------------------------------

def _reg_general(u, fn, arg, fip: int, fop: int) -> Callable:
    def run(ea, ctx):
        _enter(u, ctx, fip, fop)
        fn(arg)
    return run


def _fld_sti(u, fn, i, fip: int, fop: int) -> Callable:
    def run(ea, ctx):
        _enter(u, ctx, fip, fop)
        empty = u.empty
        top = u.top
        t = (top - 1) & 7
        s = (top + i) & 7
        if empty[t] and not empty[s]:
            u.sw &= ~C1
            u.regs[t] = u.regs[s]
            empty[t] = False
            u.top = t
            return
        fn(i)
    return run


def _fxch(u, fn, i, fip: int, fop: int) -> Callable:
    def run(ea, ctx):
        _enter(u, ctx, fip, fop)
        empty = u.empty
        top = u.top
        s = (top + i) & 7
        if not empty[top] and not empty[s]:
            u.sw &= ~C1
            regs = u.regs
            regs[top], regs[s] = regs[s], regs[top]
            return
        fn(i)
    return run


def _fst_sti(u, fn, arg, fip: int, fop: int) -> Callable:
    i, pop = arg

    def run(ea, ctx):
        _enter(u, ctx, fip, fop)
        empty = u.empty
        top = u.top
        if empty[top]:
            fn(arg)
            return
        u.sw &= ~C1
        s = (top + i) & 7
        u.regs[s] = u.regs[top]
        empty[s] = False
        if pop:
            empty[top] = True
            u.top = (top + 1) & 7
    return run


def _fcomi(u, fn, arg, fip: int, fop: int) -> Callable:
    """fcomi/fucomi(p): ZF PF CF from an ordered comparison without exceptions; the
    rest (empty registers, NaNs, denormals) goes to the general handler."""
    i, quiet, pop = arg
    compare = f80.compare

    def run(ea, ctx):
        _enter(u, ctx, fip, fop)
        empty = u.empty
        top = u.top
        s = (top + i) & 7
        if empty[top] or empty[s]:
            fn(arg)
            return
        rel, fl = compare(u.regs[top], u.regs[s], quiet)
        if fl or rel is None:
            fn(arg)
            return
        ctx.set_eflags_zpc(rel == 0, False, rel < 0)
        if pop:
            empty[top] = True
            u.top = (top + 1) & 7
    return run


def _binop(op: str) -> Callable:
    """``f(a, b, cw)`` for fpu.X87._compute's operations (subr/divr: b op a)."""
    add, div = f80.add, f80.div
    return {"add": add, "mul": f80.mul, "div": div,
            "sub": lambda a, b, cw: add(a, b, cw, True),
            "subr": lambda a, b, cw: add(b, a, cw, True),
            "divr": lambda a, b, cw: div(b, a, cw)}[op]


def _arith(u, fn, arg, fip: int, fop: int) -> Callable:
    """D8 st0 = st0 op st(i); DC/DE st(i) = st(i) op st0 (DE pops): both registers
    present and no suppressed result, else the general handler."""
    if len(arg) == 2:
        (op, i), pop, dst, src = arg, False, 0, arg[1]
    else:
        op, i, pop = arg
        dst, src = i, 0
    f = _binop(op)

    def run(ea, ctx):
        _enter(u, ctx, fip, fop)
        empty = u.empty
        top = u.top
        pd = (top + dst) & 7
        ps = (top + src) & 7
        if empty[pd] or empty[ps]:
            fn(arg)
            return
        regs = u.regs
        v, fl = f(regs[pd], regs[ps], u.cw)
        if fl:
            if not u._signal(fl):
                return
        else:
            u.sw &= ~C1
        regs[pd] = v
        if pop:
            empty[top] = True
            u.top = (top + 1) & 7
    return run


_REG_FAST = {"_fld_sti": _fld_sti, "_fxch": _fxch, "_fst_sti": _fst_sti,
             "_arith_st0": _arith, "_arith_sti": _arith, "_fcomi": _fcomi}


# ---- memory forms ----------------------------------------------------------------------------

def _mem_general(u, fn, insn, seg: str, fop: int) -> Callable:
    fip = insn.address

    def run(ea, ctx):
        _enter(u, ctx, fip, fop, seg, ea)
        fn(ea, ctx, insn)
    return run


def _fld_real(u, fn, insn, seg: str, fop: int, n: int) -> Callable:
    """fld m32real / m64real: a normal number or a zero converts exactly, without flags."""
    fip = insn.address
    if n == 8:
        fbits, emax, adj = 52, 0x7FF, f80.BIAS - 1023
    else:
        fbits, emax, adj = 23, 0xFF, f80.BIAS - 127
    fmask = (1 << fbits) - 1
    shift = 63 - fbits
    sign = fbits + (11 if n == 8 else 8)
    unpack = _UNPACK[n]

    def run(ea, ctx):
        _enter(u, ctx, fip, fop, seg, ea)
        raw = read_op(u, ctx, ea, n, unpack)
        e = (raw >> fbits) & emax
        t = (u.top - 1) & 7
        empty = u.empty
        if empty[t]:
            if 0 < e < emax:
                v = (raw >> sign, e + adj, J | (raw & fmask) << shift)
            elif not raw & ~(1 << sign):
                v = (raw >> sign, 0, 0)
            else:
                fn(ea, ctx, insn)
                return
            u.sw &= ~C1
            u.regs[t] = v
            empty[t] = False
            u.top = t
            return
        fn(ea, ctx, insn)
    return run


def _fild(u, fn, insn, seg: str, fop: int, n: int) -> Callable:
    """fild m16/m32/m64: every integer converts exactly."""
    fip = insn.address
    from_int = f80.from_int
    unpack = _UNPACK_SIGNED[n]

    def run(ea, ctx):
        _enter(u, ctx, fip, fop, seg, ea)
        t = (u.top - 1) & 7
        empty = u.empty
        if empty[t]:
            v = from_int(read_op(u, ctx, ea, n, unpack))
            u.sw &= ~C1
            u.regs[t] = v
            empty[t] = False
            u.top = t
            return
        fn(ea, ctx, insn)
    return run


def _fst_real(u, fn, insn, seg: str, fop: int, n: int, pop: bool) -> Callable:
    """fst/fstp m32real / m64real of a non-empty ST0 (float80.to_ieee rounds; its own fast
    path covers normal numbers in range)."""
    fip = insn.address
    fmt = f80.DOUBLE if n == 8 else f80.SINGLE
    to_ieee = f80.to_ieee
    p, ebits = fmt
    sh = 64 - p                         # significand bits dropped
    rmask = (1 << sh) - 1
    half = 1 << (sh - 1)
    fmask = (1 << (p - 1)) - 1
    bias = (1 << (ebits - 1)) - 1
    adj = f80.BIAS - bias               # register exponent -> target exponent
    lo, hi = adj + 1, adj + 2 * bias    # normal in the target even after a carry
    sbit = 8 * n - 1
    pack = _PACK[n]

    def run(ea, ctx):
        _enter(u, ctx, fip, fop, seg, ea)
        top = u.top
        if u.empty[top]:
            fn(ea, ctx, insn)
            return
        v = u.regs[top]
        e = v[1]
        m = v[2]
        if lo <= e < hi and m >> 63 and (not m & rmask or not u.cw & 0xC00):
            # exact, or round to nearest: inline (float80.to_ieee gives the same bits)
            q = m >> sh
            rem = m & rmask
            if not rem:
                u.sw &= ~C1
            else:
                if rem > half or (rem == half and q & 1):
                    q += 1
                    if q >> p:
                        q >>= 1
                        e += 1
                    fl = f80.PE | C1
                else:
                    fl = f80.PE
                if not u.cw & f80.PE:       # unmasked precision exception
                    u._signal(fl)
                else:
                    u.sw = u.sw & ~C1 | fl
            write_op(u, ctx, ea, n, pack,
                     (v[0] << sbit) | ((e - adj) << (p - 1)) | (q & fmask))
            if pop:
                u.empty[top] = True
                u.top = (top + 1) & 7
            return
        raw, fl = to_ieee(v, u.cw, fmt)
        if fl:
            ok = u._signal(fl)
            if raw is None or not ok:
                return
        else:
            u.sw &= ~C1
        write_op(u, ctx, ea, n, pack, raw)
        if pop:
            u.empty[top] = True
            u.top = (top + 1) & 7
    return run


def _fist(u, fn, insn, seg: str, fop: int, n: int, pop: bool, truncate: bool) -> Callable:
    """fist/fistp/fisttp m16/m32/m64 of a non-empty ST0."""
    fip = insn.address
    to_int = f80.to_int
    bits = 8 * n
    mask = (1 << bits) - 1
    indefinite = 1 << (bits - 1)
    pack = _PACK[n]

    def run(ea, ctx):
        _enter(u, ctx, fip, fop, seg, ea)
        top = u.top
        if u.empty[top]:
            fn(ea, ctx, insn)
            return
        i, fl = to_int(u.regs[top], u.cw, bits, truncate)
        if i is None:
            i = indefinite
        if fl:
            if not u._signal(fl):
                return
        else:
            u.sw &= ~C1
        write_op(u, ctx, ea, n, pack, i & mask)
        if pop:
            u.empty[top] = True
            u.top = (top + 1) & 7
    return run


def _arith_real(u, fn, insn, seg: str, fop: int, n: int, op: str) -> Callable:
    """fadd & co. with an m32real/m64real operand: a normal or zero operand converts
    inline (no flags); the rest (and an empty ST0) goes to the general handler."""
    fip = insn.address
    if n == 8:
        fbits, emax, adj = 52, 0x7FF, f80.BIAS - 1023
    else:
        fbits, emax, adj = 23, 0xFF, f80.BIAS - 127
    fmask = (1 << fbits) - 1
    shift = 63 - fbits
    sign = 8 * n - 1
    f = _binop(op)
    unpack = _UNPACK[n]

    def run(ea, ctx):
        _enter(u, ctx, fip, fop, seg, ea)
        raw = read_op(u, ctx, ea, n, unpack)
        e = (raw >> fbits) & emax
        top = u.top
        if u.empty[top]:
            fn(ea, ctx, insn)
            return
        if 0 < e < emax:
            b = (raw >> sign, e + adj, J | (raw & fmask) << shift)
        elif not raw & ~(1 << sign):
            b = (raw >> sign, 0, 0)
        else:
            fn(ea, ctx, insn)
            return
        v, fl = f(u.regs[top], b, u.cw)
        if fl:
            if not u._signal(fl):
                return
        else:
            u.sw &= ~C1
        u.regs[top] = v
    return run


def _m(b0: int, digit: int) -> int:
    return ((b0 & 7) << 3) | digit


_MEM_FAST = {
    _m(0xD9, 0): (_fld_real, 4), _m(0xDD, 0): (_fld_real, 8),
    _m(0xDF, 0): (_fild, 2), _m(0xDB, 0): (_fild, 4), _m(0xDF, 5): (_fild, 8),
    _m(0xD9, 2): (_fst_real, 4, False), _m(0xD9, 3): (_fst_real, 4, True),
    _m(0xDD, 2): (_fst_real, 8, False), _m(0xDD, 3): (_fst_real, 8, True),
    _m(0xDF, 2): (_fist, 2, False, False), _m(0xDF, 3): (_fist, 2, True, False),
    _m(0xDB, 2): (_fist, 4, False, False), _m(0xDB, 3): (_fist, 4, True, False),
    _m(0xDF, 7): (_fist, 8, True, False),
    _m(0xDF, 1): (_fist, 2, True, True), _m(0xDB, 1): (_fist, 4, True, True),
    _m(0xDD, 1): (_fist, 8, True, True),
}
for _d, _op in enumerate(("add", "mul", None, None, "sub", "subr", "div", "divr")):
    if _op is not None:
        _MEM_FAST[_m(0xD8, _d)] = (_arith_real, 4, _op)
        _MEM_FAST[_m(0xDC, _d)] = (_arith_real, 8, _op)
