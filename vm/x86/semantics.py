"""Instruction semantics, written once per family.

Each family is a generator registered for its mnemonics with :func:`family`; it emits
the Python source of one instruction through the :class:`~vm.x86.compiler.Builder` (the
same code serves compiled blocks and single steps). Rare or complex instructions call
plain Python helpers (``system.py``) that work on the CPU state; the generator still
decides how they are called. Pure helpers used inside generated code (divisions, the
generic shifter) live here too.
"""

from __future__ import annotations

from asm.x86.operands import Imm, Mem, Reg
from vm.x86 import flags as F
from vm.x86 import protected as P
from vm.x86.emit import MASK, SEG_NUM, Builder, Operand, const, family
from vm.x86.faults import BR, DE, UD, CPUException
from vm.x86.state import EAX, EBP, ECX, EDX, ESP, SEL
from vm.x86.system import control_register, enter_frame, far_transfer, load_seg


def sx(expr: str, size: int) -> str:
    """Sign-extend a value of `size` bytes to a Python int."""
    s = 1 << (8 * size - 1)
    return f"(({expr} ^ {s:#x}) - {s:#x})"


def is_sreg(op) -> bool:
    return isinstance(op, Reg) and op.name in SEG_NUM


CC_NAMES = ("o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge",
            "le", "g")
CC_ALIASES = {"c": 2, "nae": 2, "nb": 3, "nc": 3, "z": 4, "nz": 5, "na": 6, "nbe": 7,
              "pe": 10, "po": 11, "nge": 12, "nl": 13, "ng": 14, "nle": 15}


def _cc_names(prefix: str) -> list:
    return [prefix + n for n in CC_NAMES] + [prefix + n for n in CC_ALIASES]


def cc_of(insn) -> int:
    return insn.form.opcode[-1] & 0xF


# ---- data movement ----------------------------------------------------------------------

@family("mov")
def mov(b: Builder, i) -> None:
    dst, src = i.operands
    if is_sreg(dst):
        s = b.operand(src, 2)
        v = s.read()
        if dst.name == "ss" and (b.real or b.pm):
            b.interrupt_shadow("ss_shadow")
        load_seg(b, SEG_NUM[dst.name], v)
        return
    if is_sreg(src):
        d = b.operand(dst, 2)
        d.write(b.get(SEL + SEG_NUM[src.name]))
        return
    if isinstance(dst, Reg) and dst.name[:2] in ("cr", "dr", "tr") or \
            isinstance(src, Reg) and src.name[:2] in ("cr", "dr", "tr"):
        control_register(b, i)
        return
    d = b.operand(dst)
    s = b.operand(src, d.size)
    d.write(s.read())


@family("movzx", "movsx")
def movx(b: Builder, i) -> None:
    dst, src = i.operands
    d = b.operand(dst)
    s = b.operand(src)
    v = s.read()
    if i.form.mnemonic == "movsx":
        v = f"{sx(v, s.size)} & {MASK[d.size]:#x}"
    d.write(v)


@family("xchg")
def xchg(b: Builder, i) -> None:
    d, s = b.operand(i.operands[0]), b.operand(i.operands[1])
    if d.same_as(s):        # 90 (NOP) is XCHG (E)AX, (E)AX
        return
    a, c = d.read(), s.read()
    if s.is_mem:
        d, s, a, c = s, d, c, a
    d.write(c)
    s.write(a)


@family("lea")
def lea(b: Builder, i) -> None:
    dst, m = i.operands
    if not isinstance(m, Mem):
        b.raise_exc(UD, "lea with a register operand")
        b.end_dynamic("0")
        return
    d = b.operand(dst)
    off = b.offset(m)
    d.write(off if d.size == 4 or b.asize == 2 else f"{off} & 0xffff")


@family("bswap")
def bswap(b: Builder, i) -> None:
    d = b.operand(i.operands[0])
    v = d.read()
    if d.size != 4:     # undefined for 16-bit operands: P6 gives zero
        d.write("0")
        return
    d.write(f"{v} >> 24 | {v} >> 8 & 0xff00 | {v} << 8 & 0xff0000 | {v} << 24 & 0xff000000")


@family("cbw", "cwde", "cwd", "cdq")
def convert(b: Builder, i) -> None:
    m = i.form.mnemonic
    if m == "cbw":
        b.set_reg("ax", f"{sx(b.reg('al'), 1)} & 0xffff")
    elif m == "cwde":
        b.set_reg("eax", f"{sx(b.reg('ax'), 2)} & 0xffffffff")
    elif m == "cwd":
        b.set_reg("dx", f"(0xffff if {b.reg('ax')} & 0x8000 else 0)")
    else:
        b.set_reg("edx", f"(0xffffffff if {b.reg('eax')} & 0x80000000 else 0)")


@family("xlatb", "xlat")
def xlat(b: Builder, i) -> None:
    amask = 0xFFFF if i.asize == 16 else 0xFFFFFFFF
    off = b.bind(f"({b.get(3)} + {b.reg('al')}) & {amask:#x}", "o")
    seg = SEG_NUM[i.seg] if i.seg else 3
    b.set_reg("al", b.load(b.linear(seg, off), 1))


# ---- arithmetic and logic ---------------------------------------------------------------

@family("add", "or", "adc", "sbb", "and", "sub", "xor", "cmp", "test")
def alu(b: Builder, i) -> None:
    m = i.form.mnemonic
    d = b.operand(i.operands[0])
    s = b.operand(i.operands[1], d.size)
    size = d.size
    mask = f"{MASK[size]:#x}"
    if d.same_as(s) and m in ("xor", "sub"):
        d.write("0")
        if m == "xor":
            b.set_flags(F.LOGIC, size, "0")
        else:
            b.set_flags(F.SUB, size, "0", "0", "0")
        return
    a = d.read()
    c = s.read()
    if m == "add":
        b.set_flags(F.ADD, size, d.write(f"({a} + {c}) & {mask}"), a, c)
    elif m == "sub":
        b.set_flags(F.SUB, size, d.write(f"({a} - {c}) & {mask}"), a, c)
    elif m == "cmp":
        b.set_flags(F.SUB, size, None, a, c)
    elif m == "test":
        if d.same_as(s):
            b.set_flags(F.LOGIC, size, a)
        else:
            b.set_flags(F.LOGIC, size, None, a, c)
    elif m in ("and", "or", "xor"):
        op = {"and": "&", "or": "|", "xor": "^"}[m]
        b.set_flags(F.LOGIC, size, d.write(f"{a} {op} {c}"))
    elif m == "adc":
        cf = b.cf()
        b.set_flags(F.ADC, size, d.write(f"({a} + {c} + {cf}) & {mask}"), a, c)
    else:   # sbb
        cf = b.cf()
        b.set_flags(F.SBB, size, d.write(f"({a} - {c} - {cf}) & {mask}"), a, c)


@family("inc", "dec")
def incdec(b: Builder, i) -> None:
    d = b.operand(i.operands[0])
    a = d.read()
    cf = b.cf()
    if i.form.mnemonic == "inc":
        b.set_flags(F.INC, d.size, d.write(f"({a} + 1) & {MASK[d.size]:#x}"), a, cf)
    else:
        b.set_flags(F.DEC, d.size, d.write(f"({a} - 1) & {MASK[d.size]:#x}"), a, cf)


@family("not", "neg")
def unary(b: Builder, i) -> None:
    d = b.operand(i.operands[0])
    a = d.read()
    mask = f"{MASK[d.size]:#x}"
    if i.form.mnemonic == "not":
        d.write(f"{a} ^ {mask}")
    else:
        b.set_flags(F.NEG, d.size, d.write(f"-{a} & {mask}"), a)


def _acc(size: int) -> tuple:
    """(low, high) register names of the implicit MUL/DIV operands."""
    return {1: ("al", "ah"), 2: ("ax", "dx"), 4: ("eax", "edx")}[size]


@family("mul", "imul")
def mul(b: Builder, i) -> None:
    ops = i.operands
    signed = i.form.mnemonic == "imul"
    if len(ops) == 1:
        s = b.operand(ops[0])
        size = s.size
        bits = size * 8
        lo, hi = _acc(size)
        a, c = b.reg(lo), s.read()
        if signed:
            t = b.bind(f"{sx(a, size)} * {sx(c, size)}", "p")
            over = f"(0 if {-(1 << (bits - 1))} <= {t} < {1 << (bits - 1)} else 0x801)"
        else:
            t = b.bind(f"{a} * {c}", "p")
            over = f"(0x801 if {t} >> {bits} else 0)"
        low = b.bind(f"{t} & {MASK[size]:#x}")
        if size == 1:       # (an unsigned product of two bytes fits in AX)
            b.set_reg("ax", f"{t} & 0xffff" if signed else t)
        else:
            b.set_reg(lo, low)
            # (the high half of an unsigned product needs no mask)
            b.set_reg(hi, f"{t} >> {bits} & {MASK[size]:#x}" if signed else f"{t} >> {bits}")
        b.set_flags(F.FIX, size, low, over)
        return
    d = b.operand(ops[0])
    size = d.size
    if len(ops) == 2:
        x, y = d.read(), b.operand(ops[1], size).read()
    else:
        x, y = b.operand(ops[1], size).read(), b.operand(ops[2], size).read()
    # the low half is the same for the unsigned operands; the signed product only
    # decides CF and OF, computed where something reads them
    x, y = b.bind(x), b.bind(y)
    res = d.write(f"({x} * {y}) & {MASK[size]:#x}")
    bits = size * 8
    b.set_flags(F.FIX, size, res, f"(0 if {-(1 << (bits - 1))} <= {sx(x, size)} * "
                                  f"{sx(y, size)} < {1 << (bits - 1)} else 0x801)")


def divu(n: int, d: int, mask: int) -> tuple:
    """Unsigned DIV: (quotient, remainder), #DE on zero or overflow."""
    if d == 0:
        raise CPUException(DE, "divide by zero")
    q, r = divmod(n, d)
    if q > mask:
        raise CPUException(DE, "quotient overflow")
    return q, r


def divs(n: int, d: int, bits: int) -> tuple:
    """Signed IDIV (truncating): (quotient, remainder) as unsigned bit patterns."""
    if d == 0:
        raise CPUException(DE, "divide by zero")
    q = abs(n) // abs(d)
    if (n < 0) != (d < 0):
        q = -q
    r = n - q * d
    lim = 1 << (bits - 1)
    if not -lim <= q < lim:
        raise CPUException(DE, "quotient overflow")
    m = (1 << bits) - 1
    return q & m, r & m


@family("div", "idiv")
def div(b: Builder, i) -> None:
    s = b.operand(i.operands[0])
    size = s.size
    bits = size * 8
    lo, hi = _acc(size)
    c = s.read()
    fast = None
    if size == 1:
        n = b.reg("ax")
    else:
        c, h, low = b.bind(c), b.bind(b.reg(hi)), b.bind(b.reg(lo))
        n = f"({h} << {bits} | {low})"
        # the common case inline (a helper call costs more than the division): a high
        # half of 0, for IDIV both operands positive; divmod's results are then x86's
        # (no overflow, truncation is floor) and anything else takes the helper
        top = f"{1 << (bits - 1):#x}"
        if const(h) in (None, 0):
            # (a high half known to be 0, XOR EDX, EDX's: not tested at run time)
            zero = "" if const(h) == 0 else f"not {h} and "
            fast = f"{zero}{c}" if i.form.mnemonic == "div" else \
                f"{zero}{low} < {top} and 0 < {c} < {top}"
            fast = f"divmod({low}, {c}) if {fast} else "
    q, r = b.tmp("q"), b.tmp("r")
    b.may_fault()
    if i.form.mnemonic == "div":
        b.emit(f"{q}, {r} = {fast or ''}{b.glob(divu)}({n}, {c}, {MASK[size]:#x})")
    else:
        b.emit(f"{q}, {r} = {fast or ''}{b.glob(divs)}({sx(n, size * 2)}, {sx(c, size)}, "
               f"{bits})")
    if size == 1:
        b.set_reg("ax", f"{r} << 8 | {q}")
    else:
        b.set_reg(lo, q)
        b.set_reg(hi, r)


# ---- shifts and rotates -----------------------------------------------------------------

SHIFT_OPS = {"rol": 0, "ror": 1, "rcl": 2, "rcr": 3, "shl": 4, "sal": 4, "shr": 5, "sar": 7}


def shift(op: int, size: int, a: int, n: int, fo: int) -> tuple:
    """The reference shifter: (result, six flag bits) of shift/rotate `op` of the
    `size`-byte value a by the masked count n, from the flags fo."""
    if n == 0:
        return a, fo
    bits = size * 8
    m = (1 << bits) - 1
    top = bits - 1
    if op < 4:
        if op < 2:
            k = n % bits
            if op == 0:
                r = (a << k | a >> (bits - k)) & m if k else a
                cf = r & 1
                of = (r >> top ^ cf) & 1
            else:
                r = (a >> k | a << (bits - k)) & m if k else a
                cf = r >> top & 1
                of = (r >> top ^ r >> (top - 1)) & 1
        else:
            k = n % (bits + 1)
            x = (fo & 1) << bits | a
            w = (1 << (bits + 1)) - 1
            if k:
                x = (x << k | x >> (bits + 1 - k)) & w if op == 2 else \
                    (x >> k | x << (bits + 1 - k)) & w
            r = x & m
            cf = x >> bits & 1
            of = (r >> top ^ cf) & 1 if op == 2 else (r >> top ^ r >> (top - 1)) & 1
        return r, (fo & ~0x801) | cf | of << 11
    if op == 4:
        r = (a << n) & m
        cf = (a << n) >> bits & 1
        of = (r >> top ^ cf) & 1
    elif op == 5:
        r = a >> n
        cf = a >> (n - 1) & 1
        of = a >> top & 1
    else:
        s = a - ((a >> top & 1) << bits)
        r = (s >> n) & m
        cf = s >> (n - 1) & 1
        of = 0
    f = cf | F.PARITY[r & 0xFF] | of << 11
    if r == 0:
        f |= F.ZF
    if r >> top:
        f |= F.SF
    return r, f


def shift_double(right: int, size: int, a: int, c: int, n: int, fo: int) -> tuple:
    """SHLD/SHRD of a (destination) with bits from c by the masked count n."""
    if n == 0:
        return a, fo
    bits = size * 8
    m = (1 << bits) - 1
    top = bits - 1
    if size == 2 and n > 16:        # undefined; shift through a:c:a like the P6
        wide = a << 32 | c << 16 | a
        if right:
            r = (wide >> n) & m
            cf = wide >> (n - 1) & 1
        else:
            r = (wide << n >> 32) & m
            cf = (wide << n) >> 48 & 1
    elif right:
        r = (a >> n | c << (bits - n)) & m
        cf = a >> (n - 1) & 1
    else:
        r = (a << n | c >> (bits - n)) & m
        cf = a >> (bits - n) & 1
    of = (r ^ a) >> top & 1
    f = cf | F.PARITY[r & 0xFF] | of << 11
    if r == 0:
        f |= F.ZF
    if r >> top:
        f |= F.SF
    return r, f


def _untouched(d) -> None:
    """A shift or rotate by a count that masks to 0 changes neither its destination nor
    the flags, but still reads and writes memory, as by CL: a read-only or unmapped
    page faults (native i386), whether the count is an immediate or not."""
    if d.is_mem:
        d.write(d.read())


@family("rol", "ror", "rcl", "rcr", "shl", "sal", "shr", "sar")
def shifts(b: Builder, i) -> None:
    op = SHIFT_OPS[i.form.mnemonic]
    d = b.operand(i.operands[0])
    size = d.size
    cnt = i.operands[1]
    if isinstance(cnt, Imm) and type(cnt.value) is not int:
        # a count the builder may not look at (a first-tier template's parameter,
        # tier0.py: one template for every count): masked at run time, as CL's
        count = b.bind(f"{cnt.value} & 0x1f", "n")
        if op >= 4:
            _var_shift(b, d, op, count)
            return
    elif isinstance(cnt, Imm):
        n = cnt.value & 0x1F
        if n == 0:
            _untouched(d)
            return
        if op >= 4 and n < size * 8:
            _const_shift(b, d, op, n)
            return
        if op < 2:
            _const_rotate(b, d, op, n)
            return
        count = str(n)
    else:
        count = b.bind(f"{b.reg('cl')} & 0x1f", "n")
        if op >= 4:
            _var_shift(b, d, op, count)
            return
    a = d.read()
    fo = b.flags_value()
    r, f = b.tmp("sr"), b.tmp("fm")
    b.emit(f"{r}, {f} = {b.glob(shift)}({op}, {size}, {a}, {count}, {fo})")
    d.write(r)
    b.set_mat(f)


def _var_shift(b: Builder, d, op: int, n: str) -> None:
    """SHL/SHR/SAR by CL (masked into n): the result inline (a count of 0 leaves it as
    it was), the flags as ``shift`` computes them (CF the last bit out, OF, SZP from the
    result, AF 0), or unchanged for a count of 0, evaluated only where read."""
    size = d.size
    bits = size * 8
    a = b.bind(d.read())
    prev = b.flags_before_update()
    if op == 4:
        r = d.write(f"({a} << {n}) & {MASK[size]:#x}")
        cf = f"(({a} << {n}) >> {bits} & 1)"
        fix = f"({cf} | ({r} >> {bits - 1} ^ {cf}) << 11)"
    elif op == 5:
        r = d.write(f"{a} >> {n}")
        cf = f"({a} >> ({n} - 1) & 1)"
        fix = f"({cf} | ({a} >> {bits - 1}) << 11)"
    else:
        s = b.bind(sx(a, size), "s")
        r = d.write(f"{s} >> {n} & {MASK[size]:#x}")
        cf = f"({s} >> ({n} - 1) & 1)"
        fix = cf
    b.set_pending_flags(f"(ARITH({F.opcode(F.FIX, size)}, {r}, {fix}, 0) if {n} else {prev})",
                        f"({cf} if {n} else {b.cf()})")


def _const_rotate(b: Builder, d, op: int, n: int) -> None:
    """ROL/ROR by a constant (as ``shift`` computes them): the result inline, and the
    flags (SZAP kept, CF and OF from the result) left as an expression that is only
    evaluated if something reads them (sha256 and hashes rotate, then XOR)."""
    size = d.size
    bits = size * 8
    top = bits - 1
    k = n % bits
    a = d.read()
    prev = b.flags_before_update()
    if op == 0:
        r = d.write(f"({a} << {k} | {a} >> {bits - k}) & {MASK[size]:#x}" if k else a)
        cf = f"({r} & 1)"
        of = f"({r} >> {top} ^ {r}) & 1"
    else:
        r = d.write(f"({a} >> {k} | {a} << {bits - k}) & {MASK[size]:#x}" if k else a)
        cf = f"({r} >> {top} & 1)"
        of = f"({r} >> {top} ^ {r} >> {top - 1}) & 1"
    b.set_pending_flags(f"({prev} & 0xfffff7fe | {cf} | ({of}) << 11)")


def _const_shift(b: Builder, d, op: int, n: int) -> None:
    """SHL/SHR/SAR by a constant 1..bits-1, with lazily computed flags."""
    size = d.size
    bits = size * 8
    mask = f"{MASK[size]:#x}"
    a = d.read()
    if op == 4:
        r = d.write(f"({a} << {n}) & {mask}")
        cf = f"({a} >> {bits - n} & 1)"
        fix = f"({cf} | ({r} >> {bits - 1} ^ {cf}) << 11)"
    elif op == 5:
        r = d.write(f"{a} >> {n}")
        fix = f"({a} >> {n - 1} & 1 | ({a} >> {bits - 1}) << 11)"
    else:
        s = sx(a, size)
        r = d.write(f"{s} >> {n} & {mask}")
        fix = f"({s} >> {n - 1} & 1)"
    b.set_flags(F.FIX, size, r, fix)


@family("shld", "shrd")
def shift_dbl(b: Builder, i) -> None:
    d = b.operand(i.operands[0])
    c = b.operand(i.operands[1]).read()
    cnt = i.operands[2]
    if isinstance(cnt, Imm):
        n = cnt.value & 0x1F
        if n == 0:
            _untouched(d)
            return
        count = str(n)
    else:
        count = b.bind(f"{b.reg('cl')} & 0x1f", "n")
    a = d.read()
    fo = b.flags_value()
    r, f = b.tmp("sr"), b.tmp("fm")
    right = int(i.form.mnemonic == "shrd")
    b.emit(f"{r}, {f} = {b.glob(shift_double)}({right}, {d.size}, {a}, {c}, {count}, {fo})")
    d.write(r)
    b.set_mat(f)


# ---- bits -------------------------------------------------------------------------------

@family("bt", "bts", "btr", "btc")
def bit_test(b: Builder, i) -> None:
    m = i.form.mnemonic
    dst, off = i.operands
    size = b.osize
    bits = size * 8
    if isinstance(off, Imm):
        n = str(off.value & (bits - 1))
        d = b.operand(dst, size)
    else:
        o = b.operand(off).read()
        if isinstance(dst, Mem):
            # a register bit offset addresses a bit string: signed, any distance
            so = b.bind(sx(o, size), "bo")
            amask = 0xFFFF if i.asize == 16 else 0xFFFFFFFF
            seg = b.default_seg(dst)
            off = b.bind(f"({b.offset(dst)} + ({so} >> {bits.bit_length() - 1}) * {size}) & "
                         f"{amask:#x}", "o")
            if b.real:
                b.limit_check(off, size, seg)
            d = Operand(b, "mem", size, ea=b.linear(seg, off))
        else:
            d = b.operand(dst, size)
        n = b.bind(f"{o} & {bits - 1}", "n")
    a = d.read()
    bit = b.bind(f"{a} >> {n} & 1", "bit")
    if m == "bts":
        d.write(f"{a} | 1 << {n}")
    elif m == "btr":
        d.write(f"{a} & ~(1 << {n}) & {MASK[size]:#x}")
    elif m == "btc":
        d.write(f"{a} ^ 1 << {n}")
    # CF is the bit; the rest as they were (ZF kept, OF SF AF PF undefined: kept too)
    # and only computed where something reads them (BT then JC reads CF alone)
    b.set_cf(bit)


@family("bsf", "bsr")
def bit_scan(b: Builder, i) -> None:
    d = b.operand(i.operands[0])
    s = b.bind(b.operand(i.operands[1], d.size).read())
    old = d.read()
    if i.form.mnemonic == "bsf":
        d.write(f"(({s} & -{s}).bit_length() - 1 if {s} else {old})")
    else:
        d.write(f"({s}.bit_length() - 1 if {s} else {old})")
    b.set_flags(F.FIX, d.size, s, "0")


@family(*_cc_names("set"))
def setcc(b: Builder, i) -> None:
    d = b.operand(i.operands[0], 1)
    d.write(f"(1 if {b.cond(cc_of(i))} else 0)")


@family(*_cc_names("cmov"))
def cmovcc(b: Builder, i) -> None:
    d = b.operand(i.operands[0])
    s = b.operand(i.operands[1], d.size).read()
    old = d.read()
    d.write(f"({s} if {b.cond(cc_of(i))} else {old})")


@family("xadd")
def xadd(b: Builder, i) -> None:
    d, s = b.operand(i.operands[0]), b.operand(i.operands[1])
    a, c = d.read(), s.read()
    s.write(a)
    b.set_flags(F.ADD, d.size, d.write(f"({a} + {c}) & {MASK[d.size]:#x}"), a, c)


@family("cmpxchg")
def cmpxchg(b: Builder, i) -> None:
    d, s = b.operand(i.operands[0]), b.operand(i.operands[1])
    size = d.size
    acc = b.operand(Reg(_acc(size)[0]))
    a, c, v = acc.read(), d.read(), s.read()
    eq = b.bind(f"{a} == {c}", "eq")
    acc.write(c)      # equal: the accumulator already holds that value
    d.write(f"({v} if {eq} else {c})")
    b.set_flags(F.SUB, size, None, a, c)


@family("cmpxchg8b")
def cmpxchg8b(b: Builder, i) -> None:
    m = i.operands[0]
    if not isinstance(m, Mem):
        b.raise_exc(UD, "cmpxchg8b with a register operand")
        b.end_dynamic("0")
        return
    ea = b.ea(m, 8)
    ea4 = b.bind(f"{ea} + 4" if b.real else f"({ea} + 4) & 0xffffffff", "a")
    lo, hi = b.load(ea, 4), b.load(ea4, 4)
    eax, edx, ebx, ecx = b.get(EAX), b.get(EDX), b.get(3), b.get(ECX)
    eq = b.bind(f"{lo} == {eax} and {hi} == {edx}", "eq")
    b.store(ea, 4, b.bind(f"({ebx} if {eq} else {lo})"))
    b.store(ea4, 4, b.bind(f"({ecx} if {eq} else {hi})"))
    b.set(EAX, lo)
    b.set(EDX, hi)
    fo = b.flags_value()
    b.set_mat(f"{fo} & 0xfbf | (0x40 if {eq} else 0)")


# ---- flags ------------------------------------------------------------------------------

@family("clc", "stc", "cmc")
def carry_flag(b: Builder, i) -> None:
    fo = b.flags_value()
    b.set_mat({"clc": f"{fo} & 0xffe", "stc": f"{fo} | 1", "cmc": f"{fo} ^ 1"}
              [i.form.mnemonic])


@family("cld", "std")
def direction_flag(b: Builder, i) -> None:
    b.emit("cpu.flags &= ~0x400" if i.form.mnemonic == "cld" else "cpu.flags |= 0x400")


@family("cli", "sti")
def interrupt_flag(b: Builder, i) -> None:
    if b.pm:        # IOPL-sensitive: CPL <= IOPL
        b.call(P.iopl_check, reads=(), writes=(), flags=False)
    elif b.privileged():
        return
    if i.form.mnemonic == "sti":    # setting IF holds interrupts off for one instruction
        b.emit("if not cpu.flags & 0x200:")
        b.depth += 1
        b.interrupt_shadow("irq_shadow")
        b.depth -= 1
    b.emit("cpu.flags &= ~0x200" if i.form.mnemonic == "cli" else "cpu.flags |= 0x200")
    b.end_here()


@family("sahf")
def sahf(b: Builder, i) -> None:
    ah = b.reg("ah")
    fo = b.flags_value()
    b.set_mat(f"{fo} & 0x800 | {ah} & 0xd5")


@family("lahf")
def lahf(b: Builder, i) -> None:
    b.set_reg("ah", f"{b.flags_value()} & 0xd5 | 2")


@family("salc")
def salc(b: Builder, i) -> None:
    b.set_reg("al", f"(0xff if {b.cf()} else 0)")


@family("pushf", "pushfw", "pushfd")
def pushf(b: Builder, i) -> None:
    size = b.osize
    if b.pm and b.v86:
        b.call(P.iopl_check, reads=(), writes=(), flags=False)
    v = f"(cpu.flags & {0xFCFFFF & ~F.ARITH:#x} | {b.flags_value()})"
    if size == 2:
        v = f"{v} & 0xffff"
    b.push(v, size)




@family("popf", "popfw", "popfd")
def popf(b: Builder, i) -> None:
    size = b.osize
    if b.pm:
        if b.v86:
            b.call(P.iopl_check, reads=(), writes=(), flags=False)
        v = b.pop(size)
        tf = b.tmp("tf")
        b.call(P.popf, f"{v}, {size}", reads=(), writes=(), result=tf)
        # no block boundary unless TF was set (single-stepping starts after this one)
        # or EFLAGS.AC changed the context
        exit_lines = b._wb_lines() + [
            f"ST[0] += {'c + ' if b.loop_mode else ''}{b.ninsn}",
            f"return cpu.ctx << 32 | {b.nip:#x}"]
        b.emit(f"if {tf}:\n" + "\n".join("    " + x for x in exit_lines))
        return
    v = b.pop(size)
    mask = F.popf_mask(b.real, size)
    keep = 0xFFFFFFFF & ~mask & ~F.ARITH
    b.emit(f"cpu.flags = cpu.flags & {keep:#x} | {v} & {mask & ~F.ARITH:#x} | 2")
    # TF set: single steps (and their traps) start after the next instruction
    b.emit("if cpu.flags & 0x100:\n    M.request_single_step()")
    b.set_mat(f"{v} & 0x8d5")
    b.end_here()


# ---- stack ------------------------------------------------------------------------------

@family("push")
def push(b: Builder, i) -> None:
    op = i.operands[0]
    size = b.osize
    if is_sreg(op):
        b.push(b.get(SEL + SEG_NUM[op.name]), size)
        return
    b.push(b.operand(op, size).read(), size)


@family("pop")
def pop(b: Builder, i) -> None:
    op = i.operands[0]
    size = b.osize
    if is_sreg(op):
        v = b.pop(size)
        if op.name == "ss" and (b.real or b.pm):
            b.interrupt_shadow("ss_shadow")
        load_seg(b, SEG_NUM[op.name], f"{v} & 0xffff")
        return
    v = b.pop(size)
    b.operand(op, size).write(v)


@family("pusha", "pushaw", "pushad")
def pusha(b: Builder, i) -> None:
    """Push EAX ECX EDX EBX, the original ESP, EBP ESI EDI."""
    size = b.osize
    sp = b.get(ESP)
    for n in range(8):
        v = sp if n == 4 else b.get(n)
        b.push(v if size == 4 else f"{v} & 0xffff", size)


@family("popa", "popaw", "popad")
def popa(b: Builder, i) -> None:
    size = b.osize
    for n in (7, 6, 5, 4, 3, 2, 1, 0):
        v = b.pop(size)
        if n != 4:
            b.write_reg(n, size, False, v)


@family("leave")
def leave(b: Builder, i) -> None:
    bp = b.get(EBP)
    if b.real or (b.pm and not b.ss_big):
        b.set(ESP, f"{b.get(ESP)} & 0xffff0000 | {bp} & 0xffff")
    else:
        b.set(ESP, bp)
    b.write_reg(EBP, b.osize, False, b.pop(b.osize))


@family("enter")
def enter(b: Builder, i) -> None:
    alloc, level = i.operands[0].value & 0xFFFF, i.operands[1].value & 0x1F
    b.call(enter_frame, f"{alloc}, {level}, {b.osize}", flags=False)


# ---- control flow -----------------------------------------------------------------------

def _target(i) -> int:
    return i.operands[0].value


@family(*_cc_names("j"))
def jcc(b: Builder, i) -> None:
    t = _target(i) & (0xFFFF if i.osize == 16 else 0xFFFFFFFF)
    cond = b.cond(cc_of(i))
    b.near_limit(t, cond)
    b.end_cond(cond, t, b.nip)


@family("jmp")
def jmp(b: Builder, i) -> None:
    op = i.operands[0]
    t = i.form.operands[0]
    if t.startswith("rel"):
        if not b.near_limit(_target(i)):
            b.jump(_target(i))
    elif t.startswith("rm"):
        v = b.operand(op, b.osize).read()
        b.near_limit(v)
        b.end_indirect(b.key_expr(v))
    else:
        far_transfer(b, i, call=False)


@family("call")
def call(b: Builder, i) -> None:
    op = i.operands[0]
    t = i.form.operands[0]
    size = b.osize
    if t.startswith("rel"):
        if b.near_limit(_target(i)):
            return
        b.push(f"{b.nip:#x}", size)
        b.call_direct(b.nip, _target(i))
    elif t.startswith("rm"):
        v = b.bind(b.operand(op, size).read())
        b.near_limit(v)
        b.push(f"{b.nip:#x}", size)
        b.end_indirect(b.key_expr(v))
    else:
        far_transfer(b, i, call=True)


@family("ret", "retn", "retw", "retnw", "retd", "retnd")
def ret(b: Builder, i) -> None:
    adjust = i.operands[0].value & 0xFFFF if i.operands else 0
    v = b.pop(b.osize, adjust)
    b.near_limit(v)
    b.end_return(v, b.key_expr(f"{v} & 0xffff" if b.real and b.osize == 4 else v))


@family("loop", "loope", "loopz", "loopne", "loopnz", "jcxz", "jecxz")
def loop(b: Builder, i) -> None:
    m = i.form.mnemonic
    asize = i.asize // 8
    cx = b.read_reg(ECX, asize)
    if m in ("jcxz", "jecxz"):
        cond = f"{cx} == 0"
    else:
        c = b.bind(f"({cx} - 1) & {MASK[asize]:#x}", "n")
        b.write_reg(ECX, asize, False, c)
        cond = f"{c} != 0"
        if m in ("loope", "loopz"):
            cond = f"{cond} and {b.cond(4)}"
        elif m in ("loopne", "loopnz"):
            cond = f"{cond} and {b.cond(5)}"
    t = _target(i)
    if b.cbits == 16 or i.osize == 16:
        t &= 0xFFFF
    b.near_limit(t, cond)
    b.end_cond(cond, t, b.nip)


@family("nop", "pause", "endbr32", "endbr64", *(f"hint_nop{n}" for n in range(64)))
def nop(b: Builder, i) -> None:
    """Also the multi-byte NOP (it computes no address and cannot fault), pause, the
    CET markers and the rest of the reserved-NOP space 0F 18-1F, which a CPU without CET
    executes as NOPs."""


@family("bound")
def bound(b: Builder, i) -> None:
    r, m = i.operands
    if not isinstance(m, Mem):
        b.raise_exc(UD, "bound with a register operand")
        b.end_dynamic("0")
        return
    size = b.osize
    ea = b.ea(m, 2 * size, size)
    hi_a = b.bind(f"{ea} + {size}" if b.real else f"({ea} + {size}) & 0xffffffff", "a")
    lo, hi = sx(b.load(ea, size), size), sx(b.load(hi_a, size), size)
    idx = b.bind(sx(b.operand(r).read(), size), "ix")
    b.raise_if(f"{idx} < {lo} or {idx} > {hi}", BR, "bound range exceeded")


@family("ud2")
def ud2(b: Builder, i) -> None:
    b.raise_exc(UD, "ud2")
    b.end_dynamic("0")

