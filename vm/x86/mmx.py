"""MMX: mm0-mm7 are the significands of the x87 physical registers R0-R7.

An MMX instruction (any but EMMS) puts the x87 unit in MMX state: TOP = 0 and every
register tagged valid; writing mmN stores the 64-bit value as R_N's significand with the
sign and exponent bits all ones (so an x87 load of it sees a NaN); EMMS tags every register
empty. A pending unmasked x87 exception makes an MMX instruction raise #MF first; without
an x87 unit it is #UD. The integer lane functions are SSE2's (``vm/x86/simd_int.py``) on
64-bit values; MMX forms of mnemonics shared with SSE2 come here from ``vm/x86/sse.py``.
"""

from __future__ import annotations

from asm.x86.operands import Imm, Mem, Reg
from asm.x86.registers import REGISTERS
from vm.x86 import protected as P
from vm.x86 import simd_fp
from vm.x86.emit import Builder, family
from vm.x86.faults import MF, UD, CPUException
from vm.x86.simd_int import INT_OPS, M64, SHIFTS, _pack_ss, _pmovmskb, _pshufw, _shift, _unpack
from vm.x86.simd_mem import _addr, _num, _xmm, load, read, set_xmm, store, width

ES = 0x80                   # x87 status word: an unmasked exception is pending
MMX_TAG = (1, 0x7FFF, 0)    # sign and exponent of a register MMX wrote


def enter(cpu) -> list:
    """The x87 unit in MMX state; returns its physical registers (float80 tuples)."""
    fpu = cpu.machine.fpu()
    if fpu is None:
        raise CPUException(UD, "MMX needs the x87 unit")
    if fpu.sw & ES:
        raise CPUException(MF, "pending x87 exception")
    fpu.top = 0
    if True in fpu.empty:
        fpu.empty[:] = [False] * 8
    return fpu.regs


def emms_run(cpu) -> None:
    fpu = cpu.machine.fpu()
    if fpu is None:
        raise CPUException(UD, "MMX needs the x87 unit")
    if fpu.sw & ES:
        raise CPUException(MF, "pending x87 exception")
    fpu.empty[:] = [True] * 8


def get(fpu, n: int) -> int:
    """mmN of an x87 unit (tests, --regs)."""
    return fpu.regs[n][2]


def put(fpu, n: int, value: int) -> None:
    """mmN = value, as an MMX load does (tests)."""
    fpu.top = 0
    fpu.empty[:] = [False] * 8
    fpu.regs[n] = (1, 0x7FFF, value & M64)


def is_mm(op) -> bool:
    return isinstance(op, Reg) and REGISTERS[op.name].kind == "mmx"


def uses_mm(i) -> bool:
    """The instruction has an MMX register operand (the MMX form of a shared mnemonic)."""
    return any(is_mm(op) for op in i.operands)


def _regs(b: Builder) -> str:
    b.may_fault()
    t = b.tmp("fr")
    b.emit(f"{t} = {b.glob(enter, 'MMX_ENTER')}(cpu)")
    return t


def _get(fr: str, op) -> str:
    return f"{fr}[{_num(op)}][2]"


def _set(b: Builder, fr: str, op, expr: str) -> None:
    b.emit(f"{fr}[{_num(op)}] = (1, 32767, ({expr}) & {M64:#x})")


def _read(b: Builder, i, fr: str, op, n: int) -> str:
    if is_mm(op):
        return _get(fr, op)
    return read(b, i, op, n)


# ---- lane functions on 64-bit values ------------------------------------------------------

def _low(fn):
    def run(a: int, b: int) -> int:
        return fn(a, b) & M64
    return run


OPS64 = {m: _low(fn) for m, fn in INT_OPS.items()}
OPS64.update({
    "packsswb": lambda a, b: _pack64(a, b, 16, True),
    "packssdw": lambda a, b: _pack64(a, b, 32, True),
    "packuswb": lambda a, b: _pack64(a, b, 16, False),
    "punpckhbw": lambda a, b: _unpack(a >> 32, b >> 32, 8, False) & M64,
    "punpckhwd": lambda a, b: _unpack(a >> 32, b >> 32, 16, False) & M64,
    "punpckhdq": lambda a, b: _unpack(a >> 32, b >> 32, 32, False) & M64,
    "pand": lambda a, b: a & b, "por": lambda a, b: a | b, "pxor": lambda a, b: a ^ b,
    "pandn": lambda a, b: ~a & b & M64,
})


def _pack64(a: int, b: int, w: int, signed_out: bool) -> int:
    """PACKSS/PACKUS of 64-bit operands: a's lanes, then b's, saturated to w/2 bits."""
    return _pack_ss(a | b << 64, 0, w, signed_out) & M64


# ---- generators for the MMX forms of shared mnemonics -------------------------------------

def binary(b: Builder, i) -> None:
    m = i.form.mnemonic
    d, s = i.operands
    fr = _regs(b)
    src = _read(b, i, fr, s, width(i, 1))
    _set(b, fr, d, f"{b.glob(OPS64[m], 'mmx_' + m)}({_get(fr, d)}, {src})")


def shifts(b: Builder, i) -> None:
    m = i.form.mnemonic
    d, s = i.operands
    w, kind = SHIFTS[m]
    fr = _regs(b)
    count = str(s.value & 0xFF) if isinstance(s, Imm) else _read(b, i, fr, s, 8)
    _set(b, fr, d, f"{b.glob(_shift, 'sse_shift')}({_get(fr, d)}, {count}, {w}, {kind!r})")


def move(b: Builder, i, n: int) -> None:
    """movd (n 4) and movq (n 8) with an mm operand."""
    d, s = i.operands
    fr = _regs(b)
    if is_mm(d):
        _set(b, fr, d, _read(b, i, fr, s, n))
        return
    v = _get(fr, s) if n == 8 else f"{_get(fr, s)} & 0xFFFFFFFF"
    if isinstance(d, Mem):
        store(b, _addr(b, i, d, n), n, v)
    else:
        b.set_reg(d.name, v)


def pmovmskb(b: Builder, i) -> None:
    d, s = i.operands
    fr = _regs(b)
    b.set_reg(d.name, f"{b.glob(_pmovmskb, 'sse_pmovmskb')}({_get(fr, s)})")


# ---- MMX-only mnemonics (and the two that take either register file) ----------------------

@family("emms")
def emms(b: Builder, i) -> None:
    b.call(emms_run, reads=(), writes=(), flags=False)


@family("pshufw")
def pshufw(b: Builder, i) -> None:
    d, s, imm = i.operands
    fr = _regs(b)
    src = _read(b, i, fr, s, 8)
    _set(b, fr, d, f"{b.glob(_pshufw, 'sse_pshufw')}({src}, {imm.value & 0xFF}, False)")


@family("pextrw")
def pextrw(b: Builder, i) -> None:
    d, s, imm = i.operands
    if is_mm(s):
        fr = _regs(b)
        b.set_reg(d.name, f"{_get(fr, s)} >> {16 * (imm.value & 3)} & 0xFFFF")
    else:
        b.set_reg(d.name, f"{_xmm(b)}[{_num(s)}] >> {16 * (imm.value & 7)} & 0xFFFF")


@family("pinsrw")
def pinsrw(b: Builder, i) -> None:
    d, s, imm = i.operands
    v = b.bind(f"{read(b, i, s, 2)} & 0xFFFF")
    if is_mm(d):
        fr = _regs(b)
        sh = 16 * (imm.value & 3)
        _set(b, fr, d, f"{_get(fr, d)} & {~(0xFFFF << sh) & M64:#x} | {v} << {sh}")
    else:
        sh = 16 * (imm.value & 7)
        x = f"{_xmm(b)}[{_num(d)}]"
        set_xmm(b, d, f"{x} & {~(0xFFFF << sh) & ((1 << 128) - 1):#x} | {v} << {sh}")


@family("movntq")
def movntq(b: Builder, i) -> None:
    move(b, i, 8)


def _masked_store(cpu, addr: int, data: int, mask: int, n: int, seg: int) -> None:
    """MASKMOVQ/MASKMOVDQU: the bytes of data whose mask byte has its top bit, to DS:EDI
    (or the override's segment). In protected mode addr is linear: through the page
    tables (protected.write_masked)."""
    picked = [k for k in range(n) if mask >> (8 * k + 7) & 1]
    if not picked:
        return
    raw = data.to_bytes(n, "little")
    if cpu.pm:
        P.write_masked(cpu, seg, addr, raw, picked)
        return
    mem = cpu.machine.mem
    for k in picked:
        mem.write((addr + k) & 0xFFFFFFFF, raw[k:k + 1])


@family("maskmovq", "maskmovdqu")
def maskmov(b: Builder, i) -> None:
    d, s = i.operands
    if is_mm(d):
        fr = _regs(b)
        data, mask, n = _get(fr, d), _get(fr, s), 8
    else:
        data, mask, n = f"{_xmm(b)}[{_num(d)}]", f"{_xmm(b)}[{_num(s)}]", 16
    di = "edi" if getattr(i, "asize", 32) == 32 else "di"
    m = Mem(regs=[(di, 1)], seg=getattr(i, "seg", None))
    a = b.bind(b.ea(m, n), "a")
    b.call(_masked_store, f"{a}, {data}, {mask}, {n}, {b.default_seg(m)}", reads=(),
           writes=(), flags=False)


@family("movq2dq", "movdq2q")
def move_between(b: Builder, i) -> None:
    d, s = i.operands
    fr = _regs(b)
    if is_mm(d):
        _set(b, fr, d, f"{_xmm(b)}[{_num(s)}]")
    else:
        set_xmm(b, d, _get(fr, s))


# ---- conversions between MMX integers and SSE floats --------------------------------------

@family("cvtpi2ps", "cvtpi2pd")
def cvt_from_mm(b: Builder, i) -> None:
    d, s = i.operands
    if is_mm(s):
        fr = _regs(b)
        src = _get(fr, s)
    else:
        src = load(b, _addr(b, i, s, 8), 8)
    m = i.form.mnemonic
    fn = simd_fp.FP_OPS["cvtdq2pd"] if m == "cvtpi2pd" else simd_fp.CVT_PI2PS
    b.may_fault()
    set_xmm(b, d, f"{b.glob(fn, 'sse_' + m)}(cpu, {_xmm(b)}[{_num(d)}], {src})")


@family("cvtps2pi", "cvttps2pi", "cvtpd2pi", "cvttpd2pi")
def cvt_to_mm(b: Builder, i) -> None:
    d, s = i.operands
    m = i.form.mnemonic
    src = read(b, i, s, width(i, 1))
    fr = _regs(b)
    fn = simd_fp.FP_OPS[m.replace("pi", "dq")]
    b.may_fault()
    _set(b, fr, d, f"{b.glob(fn, 'sse_' + m)}(cpu, 0, {src})")
