"""SSE, SSE2 and SSE3: the instruction families over the XMM registers
(``CPUState.xmm``, eight 128-bit ints) and MXCSR.

Each instruction compiles to a line or two of Python: the operands are read
(``vm/x86/simd_mem.py``), a helper combines them and the result goes back to the register,
memory or a general register. Floating point goes through ``vm/x86/simd_fp.py`` (exact
IEEE results under MXCSR: rounding modes, DAZ/FTZ, exception flags, #XM); integer and
shuffle lanes are ``vm/x86/simd_int.py``'s. MMX forms of shared mnemonics (paddb mm0, mm1)
are handed to ``vm/x86/mmx.py``.
"""

from __future__ import annotations

from asm.x86.operands import Imm, Mem, Reg
from vm.x86 import mmx, simd_fp
from vm.x86 import semantics as _strings  # noqa: F401  (movsd/cmpsd: string forms first)
from vm.x86.emit import SEMANTICS, Builder, family
from vm.x86.faults import GP, UD, CPUException
from vm.x86.simd_int import (
    INT_OPS,
    M64,
    M128,
    SHIFTS,
    _movmsk,
    _pmovmskb,
    _pshufd,
    _pshufw,
    _shift,
    _shufpd,
    _shufps,
)
from vm.x86.simd_mem import _addr, _num, _xmm, load, read, set_xmm, store, width

M32 = 0xFFFFFFFF

FP_OPS = simd_fp.FP_OPS    # MXCSR-aware helpers: fn(cpu, dest, source) -> dest
# bitwise operations: inline Python
INLINE = {"pand": "{a} & {b}", "por": "{a} | {b}", "pxor": "{a} ^ {b}",
          "pandn": "~{a} & {b} & " + hex(M128), "andps": "{a} & {b}", "andpd": "{a} & {b}",
          "orps": "{a} | {b}", "orpd": "{a} | {b}", "xorps": "{a} ^ {b}", "xorpd": "{a} ^ {b}",
          "andnps": "~{a} & {b} & " + hex(M128), "andnpd": "~{a} & {b} & " + hex(M128)}

# ---- families --------------------------------------------------------------------------------

def _call(b: Builder, fn, *args) -> str:
    return f"{b.glob(fn, 'sse_' + getattr(fn, '__name__', 'fn').strip('<>'))}({', '.join(args)})"


@family(*sorted(set(FP_OPS) | set(INT_OPS) | set(INLINE)))
def binary(b: Builder, i) -> None:
    """dest xmm = f(dest, source)."""
    m = i.form.mnemonic
    if mmx.uses_mm(i):
        mmx.binary(b, i)
        return
    d, s = i.operands
    src = read(b, i, s, width(i, 1))
    dst = f"{_xmm(b)}[{_num(d)}]"
    if m in INLINE:
        set_xmm(b, d, INLINE[m].format(a=dst, b=src))
        return
    if m in FP_OPS:
        b.may_fault()
        set_xmm(b, d, f"{b.glob(FP_OPS[m], 'sse_' + m)}(cpu, {dst}, {src})")
        return
    set_xmm(b, d, f"{b.glob(INT_OPS[m], 'sse_' + m)}({dst}, {src})")


def _cmp_fn(m: str):
    f = simd_fp.DOUBLE if m[-1] == "d" else simd_fp.SINGLE
    count = 1 if m[-2] == "s" else 128 // f.width
    return lambda cpu, a, b, imm: simd_fp.cmp_lanes(cpu, a, b, imm, f, count)


CMP_FNS = {m: _cmp_fn(m) for m in ("cmpps", "cmppd", "cmpss", "cmpsd")}
IMM3 = {"shufps": _shufps, "shufpd": _shufpd}


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
    elif m in CMP_FNS:
        b.may_fault()
        set_xmm(b, d, f"{b.glob(CMP_FNS[m], 'sse_' + m)}(cpu, {dst}, {src}, {v})")
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
    if mmx.uses_mm(i):
        mmx.shifts(b, i)
        return
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
    m = i.form.mnemonic
    double = m.endswith("d")
    src = read(b, i, s, 8 if double else 4)
    b.may_fault()
    b.set_mat(f"{b.glob(simd_fp.comi, 'sse_comi')}(cpu, {_xmm(b)}[{_num(d)}], {src}, {double}, "
              f"{not m.startswith('u')})")


@family("movaps", "movapd", "movups", "movupd", "movdqa", "movdqu", "movntps", "movntpd",
        "movntdq", "lddqu")
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
    if mmx.uses_mm(i):
        mmx.move(b, i, 4)
        return
    _move_low(b, i, 4)


@family("movq", "movlps", "movlpd")
def move64(b: Builder, i) -> None:
    if mmx.uses_mm(i):
        mmx.move(b, i, 8)
        return
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
    if mmx.uses_mm(i):
        mmx.pmovmskb(b, i)
        return
    x = f"{_xmm(b)}[{_num(s)}]"
    m = i.form.mnemonic
    if m == "pmovmskb":
        b.set_reg(d.name, f"{b.glob(_pmovmskb, 'sse_pmovmskb')}({x})")
    else:
        b.set_reg(d.name, f"{b.glob(_movmsk, 'sse_movmsk')}({x}, {64 if m[-1] == 'd' else 32})")


@family("cvtsi2sd", "cvtsi2ss")
def cvt_from_int(b: Builder, i) -> None:
    d, s = i.operands
    v = read(b, i, s, 4)
    fn = simd_fp.CVT_FROM_INT[i.form.mnemonic]
    b.may_fault()
    set_xmm(b, d, f"{b.glob(fn, 'sse_' + i.form.mnemonic)}(cpu, {_xmm(b)}[{_num(d)}], {v})")


@family("cvttsd2si", "cvtsd2si", "cvttss2si", "cvtss2si")
def cvt_to_int(b: Builder, i) -> None:
    m = i.form.mnemonic
    d, s = i.operands
    double = "sd" in m
    v = read(b, i, s, 8 if double else 4)
    b.may_fault()
    b.set_reg(d.name, f"{b.glob(simd_fp.cvt_to_int, 'sse_cvt2si')}(cpu, {v}, {double}, "
              f"{m.startswith('cvtt')})")


MXCSR_MASK = 0xFFFF       # every defined bit, DAZ included (FXSAVE's MXCSR_MASK)


def ldmxcsr(cpu, value: int) -> None:
    """Reserved bits set: #GP. The new flags do not raise: only the next SSE
    instruction that sets an unmasked flag does (as the CPU)."""
    if value & ~MXCSR_MASK:
        raise CPUException(GP, "ldmxcsr: reserved bits set")
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


# ---- SSE3's moves, MONITOR/MWAIT; SSE's reciprocal estimates ----------------------------------

def _dup(v: int, kind: str) -> int:
    if kind == "movddup":
        lo = v & M64
        return lo | lo << 64
    shift = 32 if kind == "movshdup" else 0
    d0, d1 = (v >> shift) & M32, (v >> (64 + shift)) & M32
    return d0 | d0 << 32 | d1 << 64 | d1 << 96


@family("movddup", "movshdup", "movsldup")
def duplicate(b: Builder, i) -> None:
    d, s = i.operands
    m = i.form.mnemonic
    src = read(b, i, s, width(i, 1))
    set_xmm(b, d, f"{b.glob(_dup, 'sse_dup')}({src}, {m!r})")


@family("monitor", "mwait")
def monitor(b: Builder, i) -> None:
    """#UD above CPL 0 (Linux does not enable them for user mode); at CPL 0 (real mode,
    a protected-mode kernel) a hint with nothing to wait for: MWAIT may return at once."""
    if b.real or getattr(b, "pm", False) and b.cpl == 0 and not b.v86:
        return
    b.raise_exc(UD, f"{i.form.mnemonic}: not available in user mode")
    b.end_dynamic("0")


@family("clflush")
def clflush(b: Builder, i) -> None:
    """No caches to flush; the address is still checked: "subject to all permission
    checking and faults associated with a byte load" (SDM vol. 2A, CLFLUSH), except
    that an execute-only code segment is allowed; in protected mode through the page
    tables (a missing page's #PF, U/S; A set, D not)."""
    op = i.operands[0]
    a = b.bind(b.ea(op, 1), "a")
    b.may_fault()
    if b.pm:
        b.emit(f"PRL({a}, 1)")      # linear: no segment type check (execute-only is fine)
        return
    load_byte = b.glob(b.tr.mem.read, "MREAD")
    b.emit(f"{load_byte}({a}, 1)")


@family("rcpps", "rcpss", "rsqrtps", "rsqrtss")
def estimate(b: Builder, i) -> None:
    d, s = i.operands
    m = i.form.mnemonic
    src = read(b, i, s, width(i, 1))
    fn = simd_fp.ESTIMATES[m]
    set_xmm(b, d, f"{b.glob(fn, 'sse_' + m)}({_xmm(b)}[{_num(d)}], {src})")
