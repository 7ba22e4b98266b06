"""How compiled SSE/MMX code reaches its operands: XMM registers (``CPUState.xmm``, eight
128-bit ints), memory of 4, 8 or 16 bytes (16-byte operands aligned unless the instruction
says otherwise: #GP) and general registers."""

from __future__ import annotations

import struct

from asm.x86.operands import Mem, Reg
from asm.x86.registers import REGISTERS
from vm.x86.emit import Builder
from vm.x86.faults import GP

M64 = 0xFFFFFFFFFFFFFFFF
_Q = struct.Struct("<Q")
_QQ = struct.Struct("<QQ")


UNALIGNED = {"movups", "movupd", "movdqu", "lddqu"}
WIDTH = {"xmmrm": 16, "m128": 16, "xmmrm64": 8, "m64": 8, "xmmrm32": 4, "m32": 4, "rm32": 4,
         "mmrm": 8, "mm": 8, "m16": 2}


# ---- memory access from compiled code --------------------------------------------------------

def _u128(mem, a: int) -> int:
    lo, hi = _QQ.unpack_from(mem, a)
    return lo | hi << 64


def _p128(mem, a: int, v: int) -> None:
    _QQ.pack_into(mem, a, v & M64, v >> 64)


_LOADS = {2: ("U16", None), 4: ("U32", None), 8: ("U64", _Q.unpack_from), 16: ("U128", _u128)}
_STORES = {2: ("P16", None), 4: ("P32", None), 8: ("P64", _Q.pack_into), 16: ("P128", _p128)}


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
    if b.pm:        # a linear address: the MMU translates it (paging, segment type)
        seg = b._segof.get(a)
        t = b.tmp("m")
        b.emit(f"{t} = PRL({a}, {n})" if seg is None else f"{t} = PRD({seg}, {a}, {n})")
        return t
    if b.tr.watching:       # data breakpoints (debugregs.py): Memory.access_watch
        t = b.tmp("m")
        b.emit(f"{t} = READ({a}, {n})")
        return t
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
    if b.pm:
        seg = b._segof.get(a)
        b.emit(f"PWL({a}, {n}, {v})" if seg is None else f"PWR({seg}, {a}, {n}, {v})")
        return
    name, fn = _STORES[n]
    fname = name if fn is None else b.glob(fn, name)
    write = b.glob(b.tr.mem.write, "MWRITE")
    if b.tr.watching:
        b.emit(f"{write}({a}, {v}.to_bytes({n}, 'little'))")
        return
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
    if i.form.mnemonic == "cmpsd" or i.form.operands[k] == "m128" and \
            i.form.operands[0] == "mm":     # NASM's table quirks (see insns.tab): 64 bits read
        return 8
    return WIDTH.get(i.form.operands[k], 16)


def set_xmm(b: Builder, op, expr: str) -> None:
    b.emit(f"{_xmm(b)}[{_num(op)}] = {expr}")
