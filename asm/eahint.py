"""NASM's effective-address hint "summed": which of two registers is the base.

NASM's evaluator keeps a value as a vector of terms sorted by type (registers in the
order of its register table, which is alphabetical, then the plain number, then segment
bases) and remembers the first register it read as the base to keep (EAH_MAKEBASE).
When an addition sums two terms of the same type to a non-zero value (``1+2``, a number
on each side, or ``ebx+ebx``), the hint becomes EAH_SUMMED and the base is the first
register of the sorted vector instead: ``[ebx+eax+1+2]`` is ``[eax+ebx+3]``, SIB 18h,
and ``[nosplit eax*2+1+2]`` splits to ``[eax+eax+3]``. This module replays that
evaluation over the expression's tree for the few addresses where it can matter."""

from __future__ import annotations

from typing import Optional

from asm import expr as E

_SIMPLE = "#"       # the plain number's key in a vector (present even when 0, as NASM's)
_PLAIN = (E.Num, E.RegRef)
_LEAVES = (E.Num, E.Sym, E.Here, E.SectStart, E.Str, E.WideNum)


def may_sum(node: E.Expr) -> bool:
    """Whether any addition in ``node`` could sum two terms of one type: two leaves that
    carry a number, a register twice, or an operator this module does not replay."""
    numbers = 0
    seen: set = set()
    todo = [node]
    while todo:
        n = todo.pop()
        t = type(n)
        if t is E.Binary:
            if n.op not in ("+", "-", "*"):
                numbers += 1        # (its result is a number: counted as a leaf)
                continue
            todo += (n.left, n.right)
        elif t is E.Unary:
            todo.append(n.operand)
        elif t is E.RegRef:
            if n.name in seen:
                return True
            seen.add(n.name)
        else:
            numbers += 1
        if numbers > 1:
            return True
    return False


class _Replay:
    def __init__(self, ctx: E.EvalContext):
        self.ctx = ctx
        self.hint: Optional[str] = None     # None, "makebase", "notbase" or "summed"
        self.base: Optional[str] = None

    def vector(self, n: E.Expr) -> dict:
        t = type(n)
        if t is E.RegRef:
            if self.hint is None:
                self.hint, self.base = "makebase", n.name
            return {n.name: 1}
        if t is E.Binary and n.op in ("+", "-", "*"):
            a = self.vector(n.left)
            b = self.vector(n.right)
            if n.op == "+":
                return self.add(a, b)
            if n.op == "-":
                return self.add(a, {k: -v for k, v in b.items()})
            if set(a) <= {_SIMPLE}:
                return self.scale(b, a.get(_SIMPLE, 0))
            return self.scale(a, b.get(_SIMPLE, 0))
        if t is E.Unary and n.op in ("+", "-"):
            v = self.vector(n.operand)
            return v if n.op == "+" else {k: -c for k, c in v.items()}
        if t is E.Num or t is E.WideNum:
            return {_SIMPLE: n.value}
        if t is E.Str:
            return {_SIMPLE: E.chars_value(n.value)}
        if t not in _LEAVES:
            self.first_register(n)
        v = E.compile_expr(n)(self.ctx)
        if type(v) is int:
            return {_SIMPLE: v}
        if type(v) is E.Rel:
            return {_SIMPLE: v.off, **v.terms}
        raise ValueError(n)             # (a WRT: not an address NASM would re-order)

    def first_register(self, n: E.Expr) -> None:
        todo = [n]
        while todo and self.hint is None:
            m = todo.pop()
            if type(m) is E.RegRef:
                self.hint, self.base = "makebase", m.name
            elif type(m) is E.Binary:
                todo += (m.right, m.left)
            elif type(m) is E.Unary:
                todo.append(m.operand)
            elif type(m) is E.Cond:
                todo += (m.other, m.then, m.cond)

    def add(self, a: dict, b: dict) -> dict:
        out = {}
        for k, v in a.items():
            if k in b:
                s = v + b[k]
                if s:
                    out[k] = s
                    self.hint = "summed"
            else:
                out[k] = v
        for k, v in b.items():
            if k not in a:
                out[k] = v
        return out

    def scale(self, v: dict, by: int) -> dict:
        if self.hint == "makebase" and self.base in v:
            self.hint = "notbase"
        return {k: c * by for k, c in v.items()}


def summed(node: E.Expr, ctx: E.EvalContext) -> bool:
    """Whether NASM's evaluation of the address ``node`` ends with the hint EAH_SUMMED
    (False when it cannot be replayed: then the usual first-register rule stands)."""
    replay = _Replay(ctx)
    unknown = ctx.unknown
    ctx.warn_other = _quiet             # (the evaluation proper has warned already)
    try:
        replay.vector(node)
    except (E.AsmError, ValueError, RecursionError, TypeError):
        return False
    finally:
        del ctx.warn_other
        ctx.unknown = unknown
    return replay.hint == "summed"


def _quiet(message: str) -> None:
    pass


def multiplies(node: E.Expr) -> bool:
    """Whether ``node`` has a ``*`` of more than a register or a number (``0*x`` leaves
    a label's term at 0 in NASM's vector, where pyasm's value drops it)."""
    todo = [node]
    while todo:
        n = todo.pop()
        t = type(n)
        if t is E.Binary:
            if n.op == "*" and not (type(n.left) in _PLAIN and type(n.right) in _PLAIN):
                return True
            todo += (n.left, n.right)
        elif t is E.Unary:
            todo.append(n.operand)
    return False


def segment_base_error(node: E.Expr, ctx: E.EvalContext, here_key: object) -> Optional[str]:
    """NASM's parser's check of an address's segment-base terms (labels, `$`): each
    must be there once (``x*0`` leaves a term of 0: impossible too), or once minus the
    current section's (a relative address); the message, or None."""
    replay = _Replay(ctx)
    unknown = ctx.unknown
    ctx.warn_other = _quiet
    try:
        vector = replay.vector(node)
    except (E.AsmError, ValueError, RecursionError, TypeError):
        return None
    finally:
        del ctx.warn_other
        ctx.unknown = unknown
    base = relative = False
    for key, coeff in vector.items():
        if key == _SIMPLE or isinstance(key, str):
            continue
        if coeff == 1:
            if base:
                return "invalid effective address: multiple base segments"
            base = True
        elif coeff == -1 and key is here_key and not relative:
            relative = True
        else:
            return "invalid effective address: impossible segment base multiplier"
    return None
