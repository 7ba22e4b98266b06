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

from typing import Iterator, Optional

from asm import expr as E

_SIMPLE = "#"       # the plain number's key in a vector (present even when 0, as NASM's)
_PLAIN = (E.Num, E.RegRef)
_LEAVES = (E.Num, E.Sym, E.Here, E.SectStart, E.Str, E.WideNum)
_COMPARISONS = frozenset(("=", "==", "!=", "<>", "<", "<=", ">", ">=", "<=>"))


_INNER = (E.Binary, E.Unary, E.Cond)


def _nodes(node: E.Expr) -> Iterator[E.Expr]:
    """``node`` and every expression inside its operators (a stack, not recursion: an
    address may nest thousands deep)."""
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        t = type(n)
        if t is E.Binary:
            todo += (n.left, n.right)
        elif t is E.Unary:
            todo.append(n.operand)
        elif t is E.Cond:
            todo += (n.cond, n.then, n.other)


def may_sum(node: E.Expr) -> bool:
    """Whether any addition in ``node`` could sum two terms of one type: two leaves that
    carry a number, or a register twice (NASM's evaluator adds inside every operator:
    ``(1+2)/2``, ``~(1+2)``, a comparison's difference, each arm of ``?:``)."""
    numbers = 0
    seen: set = set()
    for n in _nodes(node):
        t = type(n)
        if t in _INNER:
            continue
        if t is E.RegRef:
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
        self.result: dict = {}

    def vector(self, n: E.Expr) -> dict:
        t = type(n)
        if t is E.RegRef:
            if self.hint is None:
                self.hint, self.base = "makebase", n.name
            return {n.name: 1}
        if t is E.Binary:
            op = n.op
            if op == "wrt":
                raise ValueError(n)     # (a WRT: not an address NASM would re-order)
            # (NASM works out both operands of every operator: their sums hint too)
            a = self.vector(n.left)
            b = self.vector(n.right)
            if op == "+":
                return self.add(a, b)
            if op == "-":
                return self.add(a, {k: -v for k, v in b.items()})
            if op == "*":
                if _number(a) is not None:
                    return self.scale(b, a.get(_SIMPLE, 0))
                return self.scale(a, b.get(_SIMPLE, 0))
            if op in _COMPARISONS:
                # (NASM compares the difference, summed as `a-b` is)
                self.add(a, {k: -v for k, v in b.items()})
            x, y = _number(a), _number(b)
            if x is not None and y is not None:
                # (from the operands' values: working each level out again from the
                # tree made a deep `x/(x/(...))` quadratic)
                try:
                    return {_SIMPLE: E.scalar_binop(op)(x, y)}
                except E.Unknowable:
                    return {}           # (`<=>`'s unknown: the registers beside it count)
                except E.AsmError:
                    pass                # (a zero divisor: the evaluator's own verdict)
            return self.value(n)
        if t is E.Unary:
            v = self.vector(n.operand)
            op = n.op
            if op == "+":
                return v
            if op == "-":
                return {k: -c for k, c in v.items()}
            x = _number(v)
            if x is not None and (op == "~" or op == "!"):
                return {_SIMPLE: E.wrap64(~x) if op == "~" else int(not x)}
            return self.value(n)
        if t is E.Cond:
            # (NASM evaluates the condition and both arms, and keeps an arm's vector:
            # `(0 ? 1 : 2-2)` has no number term, and nothing sums with it)
            self.ctx.unknown = False        # (_replayed puts it back)
            c = self.vector(n.cond)
            unknown = self.ctx.unknown
            then = self.vector(n.then)
            other = self.vector(n.other)
            if unknown:
                # (a condition not known yet: NASM's result is its unknown, no arm's
                # terms; read as 0, as an undefined symbol is here)
                self.ctx.unknown = True
                return {_SIMPLE: 0}
            x = _number(c)
            if x is not None:
                return then if x else other
            return self.value(n)
        if t is E.Num or t is E.WideNum:
            return {_SIMPLE: n.value}
        if t is E.Str:
            return {_SIMPLE: E.chars_value(n.value)}
        if t not in _LEAVES:
            self.first_register(n)
        return self.value(n)

    def value(self, n: E.Expr) -> dict:
        """``n`` worked out by pyasm's own evaluator, as a vector."""
        v = E.compile_checked(n)(self.ctx)
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


def _number(v: dict) -> Optional[int]:
    """A vector's number when its other terms are all 0 (NASM's is_simple), else None."""
    for k, c in v.items():
        if c and k != _SIMPLE:
            return None
    return v.get(_SIMPLE, 0)


def _replayed(node: E.Expr, ctx: E.EvalContext) -> Optional[_Replay]:
    """NASM's evaluation of ``node`` replayed (None when it cannot be: a WRT, an error)."""
    replay = _Replay(ctx)
    unknown = ctx.unknown
    ctx.warn_other = _quiet             # (the evaluation proper has warned already)
    try:
        replay.result = E.deeper(replay.vector, node)     # (as deep as the evaluator)
    except (E.AsmError, ValueError, RecursionError, TypeError):
        return None
    finally:
        del ctx.warn_other
        ctx.unknown = unknown
    return replay


def summed(node: E.Expr, ctx: E.EvalContext) -> bool:
    """Whether NASM's evaluation of the address ``node`` ends with the hint EAH_SUMMED
    (False when it cannot be replayed: then the usual first-register rule stands)."""
    replay = _replayed(node, ctx)
    return replay is not None and replay.hint == "summed"


def ordered_registers(node: E.Expr, ctx: E.EvalContext, regs: list) -> Optional[list]:
    """The address's registers (``(name, multiplier)``, two or more) in the order NASM
    picks its base from, when that is not the order written, else None. After EAH_SUMMED,
    or when the register NASM's hint names has cancelled out (``[ebx+ecx+eax-ebx]``):
    its sorted vector's (``eax`` first). When the hinted register cancelled and came back
    (``[ecx-ecx+ebx+ecx]``): that register first, as NASM swaps it in as the base."""
    replay = _replayed(node, ctx)
    if replay is None:
        return None
    ordered = sorted(regs, key=_register_order)
    if replay.hint == "summed":
        return ordered
    hb = replay.base.lower() if replay.base else None
    names = [r.lower() for r, _ in regs]
    if hb not in names:
        return ordered
    at = names.index(hb)
    if replay.hint == "makebase" and at and regs[at][1] == 1 and regs[0][1] == 1:
        return [regs[at]] + regs[:at] + regs[at + 1:]
    return None


def _register_order(term: tuple) -> str:
    """NASM numbers its registers in the alphabetical order of their names."""
    return term[0].lower()


def register_count(node: E.Expr) -> int:
    """How many distinct registers ``node`` names."""
    return len({n.name for n in _nodes(node) if type(n) is E.RegRef})


def first_register(node: E.Expr) -> Optional[str]:
    """The first register ``node`` names in source order (NASM's base hint)."""
    todo = [node]
    while todo:
        n = todo.pop()
        t = type(n)
        if t is E.RegRef:
            return n.name
        if t is E.Binary:
            todo += (n.right, n.left)
        elif t is E.Unary:
            todo.append(n.operand)
        elif t is E.Cond:
            todo += (n.other, n.then, n.cond)
    return None


def names_register(node: E.Expr, name: str) -> bool:
    """Whether ``node`` reads the register ``name``."""
    return any(type(n) is E.RegRef and n.name == name for n in _nodes(node))


def has_register(node: E.Expr) -> bool:
    """Whether ``node`` reads a register."""
    return any(type(n) is E.RegRef for n in _nodes(node))


def count_value(node: E.Expr, ctx: E.EvalContext, value: int) -> int:
    """A TIMES or DUP count as NASM takes it: the first term of its vector, not the
    number (``times 0*eax+1`` is 0: the register's term of 0 sorts before the number)."""
    replay = _replayed(node, ctx)
    if replay is None:
        return value
    regs = [k for k in replay.result if isinstance(k, str) and k != _SIMPLE]
    return replay.result[min(regs, key=str.lower)] if regs else value


def _quiet(message: str) -> None:
    pass


def multiplies(node: E.Expr) -> bool:
    """Whether ``node`` has a ``*`` of more than a register or a number (``0*x`` leaves
    a label's term at 0 in NASM's vector, where pyasm's value drops it)."""
    return any(type(n) is E.Binary and n.op == "*" and
               not (type(n.left) in _PLAIN and type(n.right) in _PLAIN) for n in _nodes(node))


def address_error(node: E.Expr, ctx: E.EvalContext, here_key: object,
                  bases: bool = True) -> Optional[str]:
    """NASM's parser's check of an address's terms, in the order of its vector; the
    message, or None (also when it cannot be replayed). Registers first, a register
    multiplied by 0 still among them: the first of multiplier 1 is the base, the next
    one the index, a third one is too many (the multipliers are judged later). Then
    (``bases``) the segment-base terms (labels, `$`): each must be there once (``x*0``
    leaves a term of 0: impossible too), or once minus the current section's (a
    relative address)."""
    replay = _replayed(node, ctx)
    if replay is None:
        return None
    vector = replay.result
    base = index = False
    for _, coeff in sorted(((k, c) for k, c in vector.items()
                            if isinstance(k, str) and k != _SIMPLE), key=_register_order):
        if coeff == 1 and not base:
            base = True
        elif not index:
            index = True
        else:
            return ("invalid effective address: too many registers" if base else
                    "invalid effective address: two index registers")
    if not bases:
        return None
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
