"""NASM's reading of ``a:b`` outside brackets, which depends on the mnemonic (the parse
templates do not know it): a jmp/call's far pointer (``jmp 0x10:5``), anywhere else a
segment override of a memory operand (``mov ax, es:5`` is ``mov ax, [es:5]``)."""

from __future__ import annotations

from asm import expr as E
from asm.errors import AsmError
from asm.syntax import CExpr, Insn, OpExpr, OpFar, OpMem
from asm.x86.encoder import REGSIZE
from asm.x86.operands import Reg
from asm.x86.registers import REGISTERS

_SEGMENT_REGS = frozenset(("es", "cs", "ss", "ds", "fs", "gs"))
_JUMP_WORDS = frozenset(("far", "near", "short"))
_SIZE_BYTES = {"byte": 1, "word": 2, "dword": 4, "qword": 8, "tword": 10, "oword": 16,
               "yword": 32, "zword": 64}


def has_colon(op) -> bool:
    t = type(op)
    return t is OpFar or (t is OpMem and ":" in op.inner)


def special(op) -> bool:
    """An operand `rewrite` has to look at: `a:b`, a keyword on a register, `far`."""
    t = type(op)
    if t is OpExpr:
        return bool(op.mods) and (type(op.expr.node) is E.RegRef or "far" in op.mods)
    return t is OpFar or (t is OpMem and ":" in op.inner)


def rewrite(insn: Insn) -> None:
    """Give ``insn``'s colon operands NASM's meaning (in place; once per instruction)."""
    far = insn.mnemonic.lower() in ("jmp", "call")
    ops = []
    for op in insn.operands:
        if far and has_colon(op) and (type(op) is OpMem or _register(op.seg.node)
                                      or _register(op.offset.node)):
            # NASM: the part before the colon is an operand of its own (an immediate or a
            # register), the rest another: no form of jmp/call takes that
            before = op.seg.node if type(op) is OpFar else (
                E.RegRef(op.seg) if op.seg and type(op.expr.node) is not E.Invalid else None)
            warnings = (REGSIZE,) if _size_ignored(op.mods, before) else ()
            op = _failing(op.mods, "invalid combination of opcode and operands", warnings)
        elif type(op) is OpExpr and "far" in op.mods and not far:
            op = _failing(op.mods, "invalid use of FAR operand specifier")
        elif type(op) is OpExpr and type(op.expr.node) is E.RegRef:
            if op._value is None and _size_ignored(op.mods, op.expr.node):
                reg = Reg(op.expr.node.name)
                reg.spec = "ignored"        # (the encoder's regsize warning)
                op._static = True
                op._value = reg
        elif type(op) is OpFar and not far:
            seg = op.seg.node
            if type(seg) is E.RegRef and seg.name in _SEGMENT_REGS:
                op = OpMem(op.mods, (), seg.name, op.offset)
            else:
                op = _failing(op.mods, "invalid segment override")
        ops.append(op)
    insn.operands = tuple(ops)


def _register(node) -> bool:
    """A register in the expression (`jmp cs:5`, `jmp 5:bx+1`): no far pointer."""
    t = type(node)
    if t is E.RegRef:
        return True
    return t is E.Binary and (_register(node.left) or _register(node.right))


def _size_ignored(mods: tuple, node) -> bool:
    """NASM's regsize warning: a size (or far/near/short) on a register of another size."""
    if type(node) is not E.RegRef:
        return False
    info = REGISTERS.get(node.name)
    if info is None or info.kind not in ("gpr", "sreg", "creg", "dreg", "treg"):
        return False
    return any(m in _JUMP_WORDS or _SIZE_BYTES.get(m, info.size) != info.size for m in mods)


def _failing(mods: tuple, message: str, warnings: tuple = ()) -> OpExpr:
    """An operand whose evaluation fails with ``message`` (on each line and pass), after
    the ``warnings``."""
    ce = CExpr(E.Invalid(message))

    def fail(_ctx):
        raise AsmError(message, line_warnings=warnings)
    ce.fn = fail
    return OpExpr(mods, ce)
