"""NASM expressions: AST dataclasses, literal readers (numbers, strings, floats) and evaluation.

Values follow NASM's model: a plain number is a Python ``int`` (64-bit two's complement
arithmetic, like NASM), anything that depends on an address is a :class:`Rel`, a small
vector ``off + sum(coeff * key)`` whose keys are sections, external symbols or (inside
``[...]``) register names. ``label2 - label1`` in one section cancels back to an ``int``.
Expressions are compiled once into closures (``compile_expr``) because the driver evaluates
every line again on each pass.
"""

from __future__ import annotations

import re
import sys
import threading
from typing import Callable, Optional

from asm.errors import AsmError
from formats.plainrecord import record

MASK64 = (1 << 64) - 1
SIGN64 = 1 << 63


def wrap64(v: int) -> int:
    """Reduce to a signed 64-bit value, as NASM's int64_t arithmetic does."""
    if -SIGN64 <= v < SIGN64:
        return v
    v &= MASK64
    return v - (1 << 64) if v & SIGN64 else v


# --------------------------------------------------------------------------- AST

class Expr:
    __slots__ = ()


@record
class Num(Expr):
    value: int


class WideNum(Expr):
    """A literal over 64 bits (``value``: its low 64 bits), or with ``message`` another
    number NASM warns about as it reads the line (`__float32__(1e50)`): NASM warns on
    each line it reads it in, so it is evaluated there, not folded. (Not a dataclass:
    making one costs every start of pyasm 1 ms.)"""
    __slots__ = ("value", "text", "message")

    def __init__(self, value: int, text: str, message: Optional[str] = None):
        self.value = value
        self.text = text
        self.message = message or wide_number(text)

    def __eq__(self, other) -> bool:
        return type(other) is WideNum and (other.value, other.message) == (self.value,
                                                                          self.message)

    __hash__ = None     # (as a dataclass's: mutable, compared by value)

    def __repr__(self) -> str:
        return f"WideNum({self.value!r}, {self.text!r})"


@record
class Str(Expr):
    """A quoted string; a number (little-endian character constant) inside expressions."""
    value: bytes


@record
class Float(Expr):
    """A floating-point literal; only valid as a whole data item (``dd 1.5``)."""
    text: str


@record
class Sym(Expr):
    name: str                   # as written; '.local' names are qualified at evaluation


@record
class RegRef(Expr):
    name: str                   # a register inside an effective address


@record
class Here(Expr):               # $
    pass


@record
class SectStart(Expr):          # $$
    pass


@record
class Unary(Expr):
    op: str
    operand: Expr


@record
class Binary(Expr):
    op: str
    left: Expr
    right: Expr


@record
class Cond(Expr):
    cond: Expr
    then: Expr
    other: Expr


@record
class Invalid(Expr):
    """A construct the parser accepted but NASM's expression syntax does not (``(a wrt b)``);
    evaluating it reports ``message``."""
    message: str


@record
class Func(Expr):
    """``__?float32?__(1.5)``-style float conversion functions and friends."""
    name: str
    arg: Expr


# --------------------------------------------------------------------------- values

class Rel:
    """A non-plain value: ``off + sum(coeff * key for key, coeff in terms.items())``."""

    __slots__ = ("off", "terms")

    def __init__(self, off: int, terms: dict):
        self.off = off
        self.terms = terms

    def __repr__(self) -> str:
        return f"Rel({self.off}, {self.terms})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Rel) and self.off == other.off and self.terms == other.terms

    def __hash__(self):
        return hash((self.off, tuple(self.terms.items())))


class SegBase:
    """The segment base of a section or an extern, a term of a value (NASM's SEGBASE
    term; see Assembler.segment_base)."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key

    def __eq__(self, other) -> bool:
        return type(other) is SegBase and other.key is self.key

    def __hash__(self) -> int:
        return hash(id(self.key))


class Wrt:
    """``value wrt seg``: a value to be relocated relative to the special segment ``seg``
    (ELF's ``..gotpc ..gotoff ..got ..plt ..sym``). Only ever a whole expression's value, as
    in NASM, where ``wrt`` closes the expression; the driver turns it into a relocation."""

    __slots__ = ("value", "seg")

    def __init__(self, value, seg: str):
        self.value = value
        self.seg = seg

    def __repr__(self) -> str:
        return f"Wrt({self.value!r}, {self.seg!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Wrt) and self.value == other.value and self.seg == other.seg

    def __hash__(self):
        return hash((self.value, self.seg))


def make(off: int, terms: dict):
    """Build a value, dropping zero coefficients and collapsing to int when plain."""
    terms = {k: c for k, c in terms.items() if c}
    return Rel(off, terms) if terms else off


def add(a, b):
    if type(a) is int and type(b) is int:
        return wrap64(a + b)
    ao, at = (a, {}) if type(a) is int else (a.off, a.terms)
    bo, bt = (b, {}) if type(b) is int else (b.off, b.terms)
    terms = dict(at)
    for k, c in bt.items():
        terms[k] = terms.get(k, 0) + c
    return make(wrap64(ao + bo), terms)


def neg(a):
    if type(a) is int:
        return wrap64(-a)
    return make(wrap64(-a.off), {k: -c for k, c in a.terms.items()})


def sub(a, b):
    if type(a) is int and type(b) is int:
        return wrap64(a - b)
    return add(a, neg(b))


def mul(a, b):
    if type(a) is int and type(b) is int:
        return wrap64(a * b)
    if type(a) is not int and type(b) is not int:
        raise AsmError("unable to multiply two non-scalar objects")
    if type(a) is int:
        a, b = b, a
    return make(wrap64(a.off * b), {k: c * b for k, c in a.terms.items()})


def _u(v: int) -> int:
    return v & MASK64


def _sdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _smod(a: int, b: int) -> int:
    return a - _sdiv(a, b) * b


_SCALAR_MSG = {
    "/": "division operator", "//": "division operator", "%": "division operator",
    "%%": "division operator", "<<": "shift operator", ">>": "shift operator",
    "<<<": "shift operator", ">>>": "shift operator",
}


class Unknowable(AsmError):
    """NASM 2.16.01's `<=>` gave -1, which its evaluator also uses as the mark of an
    unknown value: the whole expression is unknown (in every pass; see EvalContext.
    unknowable)."""


class HasLeg(ValueError):
    """compile_expr met a `<=>` outside compile_with_legs (asm.syntax's CExpr compiles
    the expression again with it: no cost to the others)."""


_legs_allowed = False


_legs_lenient = False   # (set while an unknown address is worked out for its registers)


def _leg(a: int, b: int) -> int:
    if a < b and not _legs_lenient:
        raise Unknowable("expression is not simple or relocatable")
    return int(a > b)


def registers_of_unknown(fn: Compiled, c: EvalContext):
    """The register terms of ``fn``'s value (its `<=>` made it unknown): NASM's unknown
    is one more term of its vector, so an address keeps its registers."""
    global _legs_lenient
    _legs_lenient = True
    try:
        v = fn(c)
    finally:
        _legs_lenient = False
    return make(0, {k: n for k, n in getattr(v, "terms", {}).items() if type(k) is str})


def compile_with_legs(node: Expr) -> Compiled:
    """compile_expr of an expression holding `<=>`, whose -1 makes the whole value
    unknown (EvalContext.unknowable, given the guarded closure and the bare one)."""
    global _legs_allowed
    _legs_allowed = True
    try:
        try:
            fn = compile_expr(node)
        except RecursionError:
            fn = compile_deep(node)
    finally:
        _legs_allowed = False

    def guarded(c):
        try:
            return fn(c)
        except Unknowable:
            return c.unknowable(guarded, fn)
    return guarded


def compile_checked(node: Expr) -> Compiled:
    """compile_expr, `<=>` included."""
    try:
        return compile_expr(node)
    except HasLeg:
        return compile_with_legs(node)


def _scalar_binop(op: str) -> Callable[[int, int], int]:
    fn = _SCALAR_TABLE.get(op)
    if fn is not None:
        return fn
    if op in ("/", "//", "%", "%%"):
        def div(a: int, b: int) -> int:
            if b == 0:
                raise AsmError("division by zero")
            if op == "/":
                return wrap64(_u(a) // _u(b))
            if op == "%":
                return wrap64(_u(a) % _u(b))
            if op == "//":
                return wrap64(_sdiv(a, b))
            return wrap64(_smod(a, b))
        return div
    raise AsmError(f"unknown operator `{op}'")


def scalar_binop(op: str) -> Callable[[int, int], int]:
    """``op`` on two plain numbers as the evaluator applies it (asm.eahint's replay)."""
    return _scalar_binop(op)


_SCALAR_TABLE: dict = {
    # (NASM's C shifts on x86: the count taken mod 64, `1 << 64` is 1)
    "<<": lambda a, b: wrap64(a << (b & 63)),
    "<<<": lambda a, b: wrap64(a << (b & 63)),
    ">>": lambda a, b: wrap64(_u(a) >> (b & 63)),
    ">>>": lambda a, b: a >> (b & 63),
    "&": lambda a, b: a & b,
    "|": lambda a, b: a | b,
    "^": lambda a, b: a ^ b,
    "<": lambda a, b: int(a < b),
    "<=": lambda a, b: int(a <= b),
    ">": lambda a, b: int(a > b),
    ">=": lambda a, b: int(a >= b),
    "==": lambda a, b: int(a == b),
    "=": lambda a, b: int(a == b),
    "!=": lambda a, b: int(a != b),
    "<>": lambda a, b: int(a != b),
    "<=>": lambda a, b: _leg(a, b),
    "&&": lambda a, b: int(bool(a) and bool(b)),
    "||": lambda a, b: int(bool(a) or bool(b)),
    "^^": lambda a, b: int(bool(a) != bool(b)),
}


# --------------------------------------------------------------------------- precedence

# NASM's binary operators, loosest first; all are left-associative.
BINARY_PRECEDENCE = {}
for _level, _ops in enumerate((
        ("||",), ("^^",), ("&&",), ("=", "==", "!=", "<>", "<", "<=", ">", ">=", "<=>"),
        ("|",), ("^",), ("&",), ("<<", ">>", "<<<", ">>>"), ("+", "-"),
        ("*", "/", "//", "%", "%%", "wrt"))):
    for _op in _ops:
        BINARY_PRECEDENCE[_op] = _level


def build_binary(seq: list) -> Expr:
    """``[operand, op, operand, op, ...]`` -> a Binary tree by NASM precedence.

    ``wrt`` is not really a binary operator in NASM: it ends an expression, applying to all
    of it (``a + b wrt ..got`` is ``(a + b) wrt ..got``), and takes a single operand."""
    for i in range(1, len(seq), 2):
        if seq[i] == "wrt":
            if i + 2 < len(seq):
                return Invalid("expression syntax error")
            return Binary("wrt", build_binary(seq[:i]), seq[i + 1])
    prec = BINARY_PRECEDENCE
    operands = [seq[0]]
    ops: list = []
    for i in range(1, len(seq), 2):
        op = seq[i]
        p = prec[op]
        while ops and prec[ops[-1]] >= p:
            right = operands.pop()
            operands[-1] = Binary(ops.pop(), operands[-1], right)
        ops.append(op)
        operands.append(seq[i + 1])
    while ops:
        right = operands.pop()
        operands[-1] = Binary(ops.pop(), operands[-1], right)
    return operands[0]


# --------------------------------------------------------------------------- evaluation

class EvalContext:
    """What an expression needs from its surroundings; the driver and preprocessor subclass it.

    ``unknown`` is set when a symbol is not (yet) defined in this pass.
    """

    unknown = False
    made_unknown = False    # (_unknown_operand found an operand unknown: see its use)
    deferred = None         # the division that last deferred a zero divisor (_unknown_divisor)
    # what an operator gives for an unknown operand, decided next pass (NASM's unknown
    # result): 0, or the unknown's own term while _unknown_weighs follows it
    unknown_result = 0

    def symbol(self, name: str):
        raise AsmError(f"symbol `{name}' not defined")

    def here(self):
        raise AsmError("`$' is not allowed here")

    def sect_start(self):
        raise AsmError("`$$' is not allowed here")

    def register(self, name: str):
        raise AsmError(f"invalid use of register `{name}' in expression")

    def unknowable(self, guarded: Compiled, fn: Compiled):
        """The value of an expression NASM's evaluator made unknown (`(0 <=> 3) + 5`;
        ``fn`` compiled bare, ``guarded`` the closure that called this): unknown in this
        pass, as a symbol not defined yet, but never an error."""
        self.unknown = True
        return self.unknown_result

    def untaken_unknown(self) -> None:
        """The arm of ``?:`` not taken met a symbol not defined yet: its value does not
        count, but a last pass must still say if it is never defined (the driver)."""

    def warn_other(self, message: str) -> None:
        """A warning from the evaluation, of NASM's class `other` (a character constant
        too long) unless it names its class (``[-w+class]``); the driver and the
        preprocessor report it at the line."""

    def segment_base(self, value):
        """SEG of a value: only a relocatable one has a segment."""
        raise AsmError("cannot apply SEG to a non-relocatable value")

    # what the output format says about `wrt' with a number (NASM leaves it to the format)
    wrt_number_message = "WRT not supported by this output format"

    def wrt_segment(self, name: str) -> Optional[str]:
        """The special segment that ``wrt name`` selects (``..gotoff``), or None when
        ``name`` is not one in this output format (it is then an ordinary symbol)."""
        return None


Compiled = Callable[[EvalContext], object]


# Python frames a nesting level may take, over the usual limit (NASM's 8191 levels of
# `1+(1+(...))`: asm.parser refuses more); frames of pure Python use no C stack
_DEEP_FRAMES = 8 * 8192


# The recursion limit is the interpreter's, not a thread's: it is raised by the first
# caller in and put back by the last one out (threads assembling at once).
_deep_lock = threading.Lock()
deep_users = 0          # (read by asm.syntax: whether some thread has it raised now)
_deep_saved = 0
_deep_pending = False   # raised, no user left, not yet put back (other threads ran)


def deeper(call, *args):
    """``call(*args)`` with room for a deeply nested expression's recursion."""
    global deep_users, _deep_saved
    with _deep_lock:
        if not deep_users and not _deep_pending:
            _deep_saved = sys.getrecursionlimit()
            sys.setrecursionlimit(_deep_saved + _DEEP_FRAMES)
        deep_users += 1
    try:
        return call(*args)
    finally:
        with _deep_lock:
            deep_users -= 1
            if not deep_users:
                _put_back()


def _put_back() -> None:
    """The limit as it was (under _deep_lock, no user left). Only when this is the only
    thread: another one may be deep in code that ran while the limit was raised without
    asking for it, and lowering the limit under it makes CPython abort the process
    ("Cannot recover from stack overflow"); then :func:`settle` puts it back later."""
    global _deep_pending
    if threading.active_count() == 1:
        sys.setrecursionlimit(_deep_saved)
        _deep_pending = False
    else:
        _deep_pending = True


def settle() -> None:
    """Put back a recursion limit :func:`deeper` left raised while other threads ran,
    once they have ended (called as an assembly ends)."""
    if _deep_pending:
        with _deep_lock:
            if _deep_pending and not deep_users:
                _put_back()


def deep_call(fn: Compiled) -> Compiled:
    """``fn`` worked out with room for a deep expression's recursion."""
    return lambda c: deeper(fn, c)


def compile_deep(node: Expr) -> Compiled:
    """compile_expr of an expression nested too deeply for the usual recursion limit:
    compiled, and then worked out, with more room."""
    return deep_call(deeper(compile_expr, node))


def compile_expr(node: Expr) -> Compiled:
    """Turn an AST into a closure ``f(ctx) -> int | Rel``."""
    t = type(node)
    if t is Num:
        v = node.value
        return lambda c: v
    if t is Sym:
        name = node.name
        return lambda c: c.symbol(name)
    if t is Str:
        v = chars_value(node.value)
        if chars_too_long(node.value):
            def long_chars(c):
                c.warn_other("character constant too long")
                return v
            return long_chars
        return lambda c: v
    if t is Here:
        return lambda c: c.here()
    if t is SectStart:
        return lambda c: c.sect_start()
    if t is RegRef:
        name = node.name
        return lambda c: c.register(name)
    if t is Float:
        def bad_float(c):
            raise AsmError("expression syntax error")     # (NASM 2.16's message)
        return bad_float
    if t is Invalid:
        message = node.message

        def invalid(c):
            raise AsmError(message)
        return invalid
    if t is Func:
        resolved = resolve_func(node.name, node.arg)
        if type(resolved) is not Func:
            return compile_expr(resolved)
        name = node.name
        key = name.lower().replace("?", "")
        if key in _ILOG2:
            return _compile_ilog2(key, compile_expr(node.arg))

        def bad_func(c):
            raise AsmError(f"`{name}' is not supported in this context")
        return bad_func
    if t is Cond:
        fc, ft, fo = compile_expr(node.cond), compile_expr(node.then), compile_expr(node.other)

        def cond(c):
            v = fc(c)
            # NASM works out both arms before it picks one: an error in the arm not
            # taken (a division by zero, an undefined symbol in the last pass) is still
            # reported, but only the chosen arm's value (and its being unknown) counts
            if type(v) is not int:
                _untaken(c, ft)     # (neither is taken: NASM's `?' message comes after
                _untaken(c, fo)     # their errors)
                if _unknown_operand(c, fc, v):
                    return c.unknown_result
                raise AsmError("the left-hand side of `?' must be a scalar value")
            if c.unknown and _unknown_operand(c, fc, v):
                # (a condition not known yet: NASM's result is its unknown, no arm's)
                _untaken(c, ft)
                _untaken(c, fo)
                return c.unknown_result
            if v:
                a = ft(c)
                _untaken(c, fo)
                return a
            _untaken(c, ft)
            return fo(c)
        return cond
    if t is Unary:
        if type(node.operand) is Unary and _long_unaries(node):
            return _compile_unaries(node)
        return _compile_unary(node.op, compile_expr(node.operand))
    if t is Binary:
        if type(node.left) is Binary and node.op != "wrt" and _long_spine(node):
            return _compile_chain(node)
        return _compile_binary(node.op, compile_expr(node.left), compile_expr(node.right),
                               node.right)
    if t is WideNum:    # (rare: last, after the common kinds)
        v, message = node.value, node.message

        def wide(c):
            c.warn_other(message)
            return v
        return wide
    raise AsmError("expression syntax error")


def _compile_binary(op: str, fl: Compiled, fr: Compiled, right: Expr) -> Compiled:
    """``left op right`` from its compiled operands (``fl`` is called first, once, unless
    an error path works it out again: `_compile_chain` relies on it)."""
    if op == "+":
        return lambda c: add(fl(c), fr(c))
    if op == "-":
        return lambda c: sub(fl(c), fr(c))
    if op == "*":
        def product(c):
            a = fl(c)
            b = fr(c)
            if c.unknown and (type(a) is int) is not (type(b) is int):
                _unknown_times_non_scalar(c, fl, a, fr, b)
            try:
                return mul(a, b)
            except AsmError:    # (two non-scalars: no error while one is unknown)
                if _unknown_operand(c, fl, a) and _unknown_operand(c, fr, b):
                    return c.unknown_result
                raise
        return product
    if op == "wrt":
        return _compile_wrt(fl, fr, right)
    if op in ("&&", "||"):
        # NASM evaluates both sides; only the truth values matter
        pass
    if op in ("=", "==", "!=", "<>"):
        # NASM compares the difference: anything but a plain 0 (a register, a label of
        # another section) is "not equal", without an error
        want = op in ("=", "==")

        def equality(c):
            d = sub(fl(c), fr(c))
            return int((type(d) is int and d == 0) == want)
        return equality
    if op == "<=>" and not _legs_allowed:
        raise HasLeg(op)
    fn = _scalar_binop(op)
    what = _SCALAR_MSG.get(op, f"`{op}' operator")
    ordering = op in ("<", "<=", ">", ">=", "<=>")
    division = op in ("/", "//", "%", "%%")

    def binop(c):
        a = fl(c)
        if division:
            c.deferred = None       # (set by fr if it defers its own zero divisor)
        b = fr(c)
        if type(a) is not int or type(b) is not int:
            if ordering:
                # NASM compares the difference (two labels of one section compare)
                d = sub(a, b)
                if type(d) is not int:
                    if (_unknown_operand(c, fl, a, True)
                            or _unknown_operand(c, fr, b, True)):
                        return c.unknown_result
                    raise AsmError(f"`{op}': operands differ by a non-scalar")
                return fn(d, 0)
            if ((type(a) is int or _unknown_operand(c, fl, a))
                    and (type(b) is int or _unknown_operand(c, fr, b))):
                if b == 0 and division and not _unknown_divisor(c, fr):
                    raise AsmError("division by zero")
                return c.unknown_result     # (`(x - $$) / 2`, x ahead: decided next pass)
            raise AsmError(f"{what} may only be applied to scalar values")
        if b == 0 and division and _unknown_divisor(c, fr):
            c.deferred = binop  # (an unknown result: a division by it is no error)
            return 0            # divisor is a forward reference: decided next pass
        return fn(a, b)
    return binop


def _compile_unary(op: str, f: Compiled) -> Compiled:
    """``op operand`` from its compiled operand (``f`` called first, as `_compile_binary`)."""
    if op == "-":
        return lambda c: neg(f(c))
    if op == "+":
        return f
    if op == "seg":
        return lambda c: _seg_of(c, f)

    def unary(c):
        v = f(c)
        if type(v) is not int:
            if _unknown_operand(c, f, v):
                return c.unknown_result
            raise AsmError(f"`{op}' operator may only be applied to scalar values")
        return wrap64(~v) if op == "~" else int(not v)
    return unary


def _long_unaries(node: Expr) -> bool:
    n = 0
    while type(node) is Unary:
        if node.op == "seg":    # (SEG evaluates its operand in a context of its own)
            return False
        n += 1
        if n >= _CHAIN_MIN:
            return True
        node = node.operand
    return False


def _compile_unaries(node: Expr) -> Compiled:
    """A long run of prefix operators (`- - ... - 1`, `-(-(...))`) as one loop, as
    `_compile_chain` does for a left spine."""
    ops = []
    while type(node) is Unary and node.op != "seg":
        ops.append(node.op)
        node = node.operand
    ops.reverse()               # innermost first
    return _looped(compile_expr(node), lambda operand_of: [
        _compile_unary(op, operand_of(i)) for i, op in enumerate(ops)])


def _looped(first: Compiled, make_steps) -> Compiled:
    """One loop over steps (a spine's operators, innermost first): ``make_steps(
    operand_of)`` compiles each with ``operand_of(i)`` as its operand, which hands over
    the value the loop has so far, or (called again: an error path re-evaluating it)
    works the spine out up to step i."""
    held = [None, False]        # the value handed to the next step, and "unused"
    # While the outermost run lasts, the spine worked out again with unknowns as terms
    # (_term_value: each step's error path asks it of its left operand) resumes from the
    # last such value instead of starting over: linear, not quadratic, in the spine
    outer = [0, None]           # runs in progress, the last (mode, upto, value) as terms

    def run(c, upto):
        start, v = 0, None
        term = getattr(c.__dict__.get("symbol"), "mode", None) == "term"
        if term and outer[1] is not None and outer[1][0] == (
                type(c.unknown_result) is int) and outer[1][1] <= upto:
            _, start, v = outer[1]
        outer[0] += 1
        try:
            if not start:
                v = first(c)
            for k in range(start, upto):
                held[0] = v
                held[1] = True
                v = steps[k](c)
        finally:
            outer[0] -= 1
            if not outer[0]:
                outer[1] = None
        if term and outer[0]:
            outer[1] = (type(c.unknown_result) is int, upto, v)
        return v

    def operand_of(i):
        def operand(c):
            if held[1]:
                held[1] = False
                return held[0]
            return run(c, i)
        return operand

    steps = make_steps(operand_of)
    total = len(steps)
    return lambda c: run(c, total)


# A left spine this long is compiled as one loop: `1+1+...+1` (NASM takes 8192 terms)
# would otherwise nest a closure, and a Python frame at each call, per term.
_CHAIN_MIN = 64


def _long_spine(node: Expr) -> bool:
    n = 0
    while type(node) is Binary:
        n += 1
        if n >= _CHAIN_MIN:
            return True
        node = node.left
    return False


def _compile_chain(node: Expr) -> Compiled:
    """A long left-leaning chain of binary operators as one loop over its spine. Each
    operator is compiled as usual (`_compile_binary`) with a left operand that hands over
    the value the loop has so far; called again (an error path re-evaluating it) it works
    the chain out up to there."""
    spine = []
    # (WRT and SEG work their operands out in a context of their own: not in the loop)
    while type(node) is Binary and node.op != "wrt":
        spine.append(node)
        node = node.left
    spine.reverse()
    return _looped(compile_expr(node), lambda left_of: [
        _compile_binary(n.op, left_of(i), compile_expr(n.right), n.right)
        for i, n in enumerate(spine)])


def _unknown_operand(c: EvalContext, f: Compiled, value, registers: bool = False) -> bool:
    """NASM's is_just_unknown for an operand ``value = f(c)``: in a pass before the last,
    one that meets a symbol not defined yet is "unknown", refused by no scalar operator
    (the result is unknown too), unless it holds a register (a comparison's difference:
    ``registers`` too). Rare (an operator's error path, a zero divisor): ``f`` is worked
    out again to tell whether this operand, not another of the expression, met one."""
    if not c.unknown or (not registers and type(value) is not int
                         and any(type(k) is str for k in getattr(value, "terms", ()))):
        return False
    own = c.__dict__
    if getattr(own.get("symbol"), "mode", None) == "term":
        # (working an operand out with unknowns as a term, `_term_value`: ``value`` is
        # that value already, whose term tells)
        met = bool(getattr(value, "terms", {}).get(_UNKNOWN_TERM))
    else:
        # The answer for ``f`` is kept while the outermost call lasts: ``f`` worked out
        # again asks this of its own operands (`(((x-$$)+y)/2+y)/2...`, x ahead)
        memo = own.get("_unknown_memo")
        outermost = memo is None
        if outermost:
            memo = c._unknown_memo = {}
        key = (f, getattr(own.get("symbol"), "mode", None), type(c.unknown_result) is int)
        try:
            met = memo.get(key)
            if met is None:
                met = memo[key] = _unknown_judged(c, f)
        finally:
            if outermost:
                del c._unknown_memo
    if met:
        c.made_unknown = True       # (an operator's result read as 0: _unknown_divisor)
    return met


def _unknown_judged(c: EvalContext, f: Compiled) -> bool:
    """Whether ``f`` meets a symbol not defined yet and keeps it (_unknown_weighs): its
    value with each unknown read as a term tells, unless the term is gone from a value
    that is no plain number (then: whether ``f`` met one at all)."""
    try:
        v = _term_value(c, f)
    except AsmError:
        return _unknown_met(c, f)
    if type(v) is int:
        return False
    terms = getattr(v, "terms", {})
    if _UNKNOWN_TERM in terms:
        return bool(terms[_UNKNOWN_TERM])
    return _unknown_met(c, f)


def _unknown_met(c: EvalContext, f: Compiled) -> bool:
    """Whether working ``f`` out meets a symbol not defined yet."""
    c.unknown = False
    try:
        f(c)
        return c.unknown
    except AsmError:
        return False
    finally:
        c.unknown = True


_UNKNOWN_TERM = object()        # an undefined symbol's term in _unknown_weighs


def _unknown_weighs(c: EvalContext, f: Compiled) -> bool:
    """Whether an operand that meets an undefined symbol keeps it: NASM's unknown is a
    term of the value, which `0*x` or `x-x` cancels (then the operand is a plain
    number: `[ebx*(2+0*x)]`). ``f`` is worked out with each undefined symbol read as
    that term; an operator that refuses it (NASM's unknown result) keeps it."""
    try:
        v = _term_value(c, f)
    except AsmError:
        return True
    return type(v) is not int and bool(getattr(v, "terms", {}).get(_UNKNOWN_TERM, 1))


def _term_value(c: EvalContext, f: Compiled):
    """``f(c)`` with each undefined symbol, and each operator's unknown result, read as
    the term _UNKNOWN_TERM."""
    own = c.__dict__
    outer, symbol = own.get("symbol"), c.symbol

    def as_term(name: str):
        c.unknown = False
        v = symbol(name)
        met, c.unknown = c.unknown, True
        return Rel(0, {_UNKNOWN_TERM: 1}) if met else v

    as_term.mode = "term"
    c.symbol = as_term
    result = own.get("unknown_result")
    c.unknown_result = Rel(0, {_UNKNOWN_TERM: 1})
    try:
        return f(c)
    finally:
        if outer is None:
            del c.symbol
        else:
            c.symbol = outer
        if result is None:
            del c.unknown_result
        else:
            c.unknown_result = result
        c.unknown = True


def unknown_weighs(c: EvalContext, f: Compiled) -> bool:
    """Whether ``f``, which met a symbol not defined yet (``c.unknown``), is unknown: not
    when the symbol's term cancels (`0*f`, `(f-f)*3`: a plain number, whatever f is)."""
    return _unknown_weighs(c, f)


def _unknown_divisor(c: EvalContext, f: Compiled) -> bool:
    """Whether a zero divisor ``f(c)`` is only a symbol not defined yet, read as 0
    (`/SZ`, SZ defined later): NASM's is_unknown, decided next pass. Its unknown terms
    cancel (`(y-x)`, both ahead, is a plain 0 and an error), so ``f`` is worked out
    again with each undefined symbol read as 1; an operator that made its result
    unknown (read as 0: `((x-$$)/2)`) leaves it unknown (rare: a zero divisor)."""
    if not c.unknown:
        return False
    if c.deferred is f:
        # ``f`` is a division that has just deferred its own zero divisor: its result is
        # NASM's unknown (and working it out again, for each level of `x/(x/(x/...))`,
        # made such a chain quadratic)
        return True
    own = c.__dict__
    outer, symbol = own.get("symbol"), c.symbol

    def as_one(name: str):
        c.unknown = False
        v = symbol(name)
        met, c.unknown = c.unknown, True
        return 1 if met else v

    as_one.mode = "one"
    c.symbol, was = as_one, c.made_unknown
    c.made_unknown = False
    try:
        return f(c) != 0 or c.made_unknown
    except AsmError:
        return True         # (not this operator's error to give)
    finally:
        if outer is None:
            del c.symbol
        else:
            c.symbol = outer
        c.unknown, c.made_unknown = True, was


def _untaken(c: EvalContext, f: Compiled) -> None:
    """The arm of ``?:`` not taken, worked out for its errors alone: its value, its being
    unknown in this pass and what an output format refuses only when it writes the value
    (a segment base, a special segment) do not count."""
    state = c.unknown, c.made_unknown, c.deferred
    probe = getattr(c, "seg_probe", None)
    if probe is not None:
        c.seg_probe = True      # (segment bases as a probe's term: no output error)
    try:
        f(c)
        if c.unknown:
            c.untaken_unknown()
    except Unknowable:
        pass            # (NASM: only the arm taken counts, `0 ? (0 <=> 3) : 4` is 4)
    except AsmError as exc:
        name = exc.message[8:-13] if exc.message.endswith("' not defined") else ""
        if not (name.startswith("..") and c.wrt_segment(name) is not None):
            raise       # (an ELF special segment, `..gotpc`, is a name there)
    finally:
        c.unknown, c.made_unknown, c.deferred = state
        if probe is not None:
            c.seg_probe = probe


def _unknown_times_non_scalar(c: EvalContext, fl: Compiled, a, fr: Compiled, b) -> None:
    """NASM's product of a non-scalar (a register, a label) and an operand unknown in this
    pass: an unknown is no scalar (NASM keeps it apart from a number), so the product is
    refused, as it is when both are known non-scalars (`[ebx*N]`, N defined later). The
    unknown operand reads as the int here (0 until it is defined)."""
    f, v, other = (fr, b, a) if type(a) is not int else (fl, a, b)
    if _unknown_operand(c, f, v) and not _unknown_operand(c, fr if f is fl else fl, other):
        raise AsmError("unable to multiply two non-scalar objects")


def _compile_wrt(fl: Compiled, fr: Compiled, right: Expr) -> Compiled:
    """``left wrt right`` (NASM's evaluate()): ``right`` names one of the output format's
    special segments, giving a :class:`Wrt`; a plain number on the left stays a number (NASM
    emits no relocation for it). Anything else on the right is an error; in a format
    without special segments ``..gotoff`` is an undefined symbol, as in NASM."""
    special = right.name if type(right) is Sym and right.name.startswith("..") else None

    def wrt(c):
        try:
            v = fl(c)
        except AsmError as exc:
            # (`seg y wrt y`: NASM refuses a segment base at output, after the WRT's check)
            if (exc.message.endswith("does not support segment base references")
                    and (special is None or c.wrt_segment(special) is None)):
                was, c.unknown = c.unknown, False
                if type(fr(c)) is not int:
                    raise AsmError("invalid right-hand operand to WRT") from None
                if c.unknown:
                    return 0        # (a forward reference: decided in a later pass)
                c.unknown = was
                if c.wrt_number_message.startswith("WRT not supported by binary"):
                    # (`seg y wrt 5`: bin refuses the WRT, then the segment base)
                    raise AsmError(c.wrt_number_message, also=(exc.message,)) from None
            raise
        seg = c.wrt_segment(special) if special is not None else None
        if seg is None:
            r = fr(c)
            if type(r) is not int:
                raise AsmError("invalid right-hand operand to WRT")
            if c.unknown or getattr(c, "seg_probe", False):
                return v    # a forward reference (decided in a later pass), or a probe
            raise AsmError(c.wrt_number_message)
        return v if type(v) is int else Wrt(v, seg)
    return wrt


# --------------------------------------------------------------------------- literals

_RADIX_LETTER = {"b": 2, "y": 2, "o": 8, "q": 8, "d": 10, "t": 10, "h": 16, "x": 16}


def read_number(text: str) -> int:
    """Read a NASM integer literal (``0x1F 1Fh $1F 0b101 101b 17q 0d99 1_000 ...``)."""
    if text.isdigit() and len(text) < 4000:
        return wrap64(int(text))
    return wrap64(literal_value(text))     # NASM only warns when it exceeds 64 bits


def number_too_wide(text: str) -> bool:
    """Whether an integer literal does not fit in 64 bits (NASM's scanner warns)."""
    try:
        return literal_value(text) >> 64 != 0
    except AsmError:
        return False


def _decimal(digits: str) -> int:
    """int(digits) without CPython's limit on the digits of a str conversion."""
    value = 0
    for k in range(0, len(digits), 4000):
        chunk = digits[k:k + 4000]
        value = value * 10 ** len(chunk) + int(chunk)
    return value


def literal_value(text: str) -> int:
    """An integer literal's whole value (not yet wrapped to 64 bits)."""
    if text.isdigit():
        return _decimal(text)
    s = text.lower()
    radix = 10
    if len(s) > 1 and s[0] == "$":
        radix = 16
        s = s[1:]
    else:
        # NASM's readnum: a prefix (0x 0d 0b...) and a suffix (h d b...) can both be
        # there; the larger radix wins (`0dh` is hex 0D), equal ones leave it decimal
        pradix = _RADIX_LETTER.get(s[1], 0) if len(s) > 2 and s[0] == "0" else 0
        sradix = _RADIX_LETTER.get(s[-1], 0) if len(s) > 1 else 0
        if pradix > sradix:
            radix = pradix
            s = s[2:]
        elif sradix > pradix:
            radix = sradix
            s = s[:-1]
    digits = s.replace("_", "")
    if not digits:
        raise AsmError(f"invalid number `{text}'")
    try:
        return _decimal(digits) if radix == 10 and digits.isdigit() else int(digits, radix)
    except ValueError:
        raise AsmError(f"invalid number `{text}'") from None


_ESCAPES = {"'": 0x27, '"': 0x22, "`": 0x60, "\\": 0x5C, "?": 0x3F, "a": 7, "b": 8,
            "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, "e": 27}


def read_string(token: str) -> bytes:
    """The bytes of a quoted string token; backquoted strings process C-style escapes."""
    quote = token[0]
    body = token[1:-1] if len(token) >= 2 and token[-1] == quote else token[1:]
    if quote != "`":
        return body.encode("utf-8", "surrogateescape")
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch != "\\":
            out += ch.encode("utf-8", "surrogateescape")
            i += 1
            continue
        i += 1
        if i >= n:
            out.append(0x5C)
            break
        ch = body[i]
        i += 1
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch in "01234567":
            j = i
            while j < n and j < i + 2 and body[j] in "01234567":
                j += 1
            out.append(int(body[i - 1:j], 8) & 0xFF)
            i = j
        elif ch in "xX":
            j = i
            while j < n and j < i + 2 and body[j] in "0123456789abcdefABCDEF":
                j += 1
            out.append(int(body[i:j], 16) if j > i else ord(ch))    # (`\x`: NASM's x)
            i = j
        elif ch in "uU":
            width = 4 if ch == "u" else 8
            j = i
            while j < n and j < i + width and body[j] in "0123456789abcdefABCDEF":
                j += 1
            out += _utf8(int(body[i:j], 16)) if j > i else ch.encode()    # (`\u`: u)
            i = j
        else:
            out += ch.encode("utf-8", "surrogateescape")
    return bytes(out)


def _utf8(v: int) -> bytes:
    """NASM's UTF-8 of a u/U escape in a backquoted string: the original 31-bit scheme
    (up to six bytes; surrogates and values past U+10FFFF too)."""
    if v < 0x80:
        return bytes((v,))
    n = 2 if v < 0x800 else 3 if v < 0x10000 else 4 if v < 0x200000 else \
        5 if v < 0x4000000 else 6
    lead = (0xFF00 >> n) & 0xFF | v >> 6 * (n - 1)
    return bytes([lead] + [0x80 | (v >> 6 * k) & 63 for k in range(n - 2, -1, -1)])


def chars_value(data: bytes) -> int:
    """A character constant: the bytes little-endian, as NASM reads ``'ab'``; in 16- and
    32-bit code NASM keeps the first four (its readstrnum)."""
    return int.from_bytes(data[:4], "little")


def chars_too_long(data: bytes) -> bool:
    """NASM's readstrnum warns when a byte is shifted out of its 32-bit value: a byte
    other than 0 among those after the first four, read from the end."""
    return len(data) > 4 and any(data[4:])


# --------------------------------------------------------------------------- floats

# (mantissa bits without the hidden bit, exponent bits, explicit integer bit)
FLOAT_FORMATS = {1: (3, 4, False), 2: (10, 5, False), 16: (112, 15, False), 4: (23, 8, False), 8: (52, 11, False), 10: (63, 15, True)}
_SPECIAL_FLOATS = {
    "__?infinity?__": "inf", "__infinity__": "inf", "__?nan?__": "nan", "__nan__": "nan",
    "__?qnan?__": "qnan", "__qnan__": "qnan", "__?snan?__": "snan", "__snan__": "snan",
}


def is_special_float(name: str) -> bool:
    return name.lower() in _SPECIAL_FLOATS


_BCD = re.compile(r"(?:[0-9][0-9_]*p|0p[0-9_]+)$")


def _packed_bcd(text: str, size: int, negative: bool) -> bytes:
    """NASM's packed BCD (``123p``, ``0p123``): 18 digits and a sign byte, DT only."""
    if size != 10:
        raise AsmError("packed BCD requires an 80-bit format")
    s = text.lower().replace("_", "")
    digits = s[2:] if s.startswith("0p") else s[:-1]
    digits = digits[-18:].rjust(18, "0")
    out = bytearray(int(digits[i - 1:i + 1], 16) for i in range(17, 0, -2))
    out.append(0x80 if negative else 0)
    return bytes(out)


def looks_like_float(text: str) -> bool:
    """NASM's tokenizer rule: a period, an exponent sign, or ``p``, or decimal digits with e."""
    s = text.lower()
    if _BCD.match(s):
        return True                     # packed BCD (`dt 123p`) goes the float way too
    if s.startswith(("0x", "0h", "$")):
        return "." in s or "p" in s
    if s[-1:] in "hxqoybt" and "." not in s:
        return False
    if "." in s or "e+" in s or "e-" in s or ("p" in s and s[:2] in ("0b", "0o", "0q", "0y")):
        return True
    body = s.replace("_", "")
    if "e" in body and body[0].isdigit():
        head, _, tail = body.partition("e")
        return head.isdigit() and tail.isdigit()
    return False


# NASM's float.c, reproduced bit for bit: a 192-bit mantissa (6 limbs of 32 bits), decimal
# digits scaled by a truncated 5**n, then rounding at the format's width. It is not always
# the exactly rounded value (ties can come out either way), which is what NASM emits.
_MANT_BITS = 192
_MANT_DIGITS = 52
_TOP = 1 << (_MANT_BITS - 1)


def _mul(a: int, b: int) -> tuple:
    """float_multiply: the top 192 bits of the product, normalised; -> (mant, twos)."""
    full = a * b
    if full >> (2 * _MANT_BITS - 1):
        return full >> _MANT_BITS, 0
    return (full >> (_MANT_BITS - 1)) & ((1 << _MANT_BITS) - 1), -1


def _read_exponent(text: str, cap: int) -> int:
    neg = text.startswith("-")
    if text[:1] in "+-":
        text = text[1:]
    value = 0
    for ch in text:
        if ch == "_":
            continue
        if not ch.isdigit():
            raise ValueError(text)
        value = min(value * 10 + int(ch), cap)
    return -value if neg else value


def _flconvert_dec(text: str) -> tuple:
    """ieee_flconvert: decimal significand and exponent -> (mant, twopwr)."""
    mant_text, _, exp_text = text.partition("e")
    digits = []
    tenpwr = 0
    started = seendot = False
    for ch in mant_text:
        if ch == ".":
            if seendot:
                raise ValueError(text)
            seendot = True
        elif ch.isdigit():
            if ch == "0" and not started:
                if seendot:
                    tenpwr -= 1
            else:
                started = True
                if len(digits) < _MANT_DIGITS:
                    digits.append(ch)
                if not seendot:
                    tenpwr += 1
        elif ch != "_":
            raise ValueError(text)
    if exp_text or text.endswith("e"):
        tenpwr += _read_exponent(exp_text, 5000)
    while digits and digits[-1] == "0":
        digits.pop()
    if not digits:
        return 0, 0
    num, den = int("".join(digits)), 10 ** len(digits)      # X = 0.digits * 10**tenpwr
    zeros = 0
    while num * (2 << zeros) < den:
        zeros += 1
    mant = (num << (zeros + _MANT_BITS)) // den
    twopwr = -zeros + tenpwr
    if tenpwr < 0:
        mult = int("cc" * (_MANT_BITS // 8 - 1) + "cd", 16)
        extratwos = -2
        tenpwr = -tenpwr
    elif tenpwr > 0:
        mult = 5 << (_MANT_BITS - 3)
        extratwos = 3
    else:
        extratwos = 0
    while tenpwr:
        if tenpwr & 1:
            mant, t = _mul(mant, mult)
            twopwr += extratwos + t
        mult, t = _mul(mult, mult)
        extratwos = extratwos * 2 + t
        tenpwr >>= 1
    return mant, twopwr


def _flconvert_bin(text: str, bits: int) -> tuple:
    """ieee_flconvert_bin: hex/octal/binary significand and binary exponent."""
    body, _, exp_text = text.partition("p")
    whole, dot, frac = body.partition(".")
    if "." in frac:
        raise ValueError(text)
    from fractions import Fraction  # (here: it imports decimal, slow under PyPy)
    radix = 1 << bits
    digits = (whole + frac).replace("_", "")
    value = Fraction(int(digits, radix) if digits else 0, radix ** len(frac.replace("_", "")))
    if exp_text or text.endswith("p"):
        value *= Fraction(2) ** _read_exponent(exp_text, 20000)
    if value == 0:
        return 0, 0
    e = value.numerator.bit_length() - value.denominator.bit_length()
    if Fraction(2) ** e > value:
        e -= 1
    twopwr = e + 1                      # value = 0.1xxx * 2**twopwr
    scaled = value * (Fraction(2) ** (_MANT_BITS - twopwr))
    return scaled.numerator // scaled.denominator, twopwr


def _round(mant: int, bits: int) -> int:
    """ieee_round to nearest even, keeping the top ``bits`` of the 192-bit mantissa."""
    drop = _MANT_BITS - bits
    if drop <= 0:
        return mant
    keep = mant >> drop
    rnd = (mant >> (drop - 1)) & 1
    sticky = mant & ((1 << (drop - 1)) - 1)
    if rnd and (sticky or keep & 1):
        keep += 1
    return (keep << drop) & ((1 << _MANT_BITS) - 1) if keep >> bits == 0 else 0


FLOAT_OVERFLOW = "overflow in floating-point constant [-w+float-overflow]"


def wide_number(text: str) -> str:
    """NASM scanner's warning for an integer literal over 64 bits."""
    return f"numeric constant {text} does not fit in 64 bits [-w+number-overflow]"


def encode_float(text: str, size: int, negative: bool = False) -> bytes:
    """Encode a literal as NASM does in a float field of ``size`` bytes."""
    return _encode_float(text, size, negative)[0]


def encode_float_checked(text: str, size: int, negative: bool = False) -> tuple:
    """(encode_float's bytes, whether NASM warns FLOAT_OVERFLOW for them)."""
    return _encode_float(text, size, negative)


def float_overflow(text: str, size: int) -> bool:
    """Whether NASM warns "overflow in floating-point constant" for the literal in a
    field of ``size`` bytes: its exponent is beyond the format's, or rounding carried it
    there (an exponent just at the top makes an infinity or a NaN with no warning)."""
    return _encode_float(text, size)[1]


def _encode_float(text: str, size: int, negative: bool = False,
                  fmt: Optional[tuple] = None) -> tuple:
    """(encode_float's bytes, float_overflow's answer); ``fmt``: (mantissa bits, exponent
    bits, explicit one) other than the size's (bfloat16)."""
    if _BCD.match(text.lower()):
        return _packed_bcd(text, size, negative), False
    if fmt is None and size not in FLOAT_FORMATS:
        raise AsmError(f"no {size * 8}-bit floating-point format supported")
    mbits, ebits, explicit = fmt or FLOAT_FORMATS[size]
    ex = 1 if explicit else 0
    bits = size * 8
    expmax = 1 << (ebits - 1)

    def bit(pos: int) -> int:           # big-endian bit numbering over the 192 bits
        return 1 << (_MANT_BITS - 1 - pos)

    special = _SPECIAL_FLOATS.get(text.lower())
    kind = special
    overflow = ""
    mant = 0
    exponent = 0
    if special is None:
        s = text.lower()
        try:
            if s.startswith(("0x", "0h")):
                mant, exponent = _flconvert_bin(s[2:], 4)
            elif s.startswith(("0o", "0q")):
                mant, exponent = _flconvert_bin(s[2:], 3)
            elif s.startswith(("0b", "0y")):
                mant, exponent = _flconvert_bin(s[2:], 1)
            elif s.startswith(("0d", "0t")):
                mant, exponent = _flconvert_dec(s[2:])
            elif s.startswith("$"):
                mant, exponent = _flconvert_bin(s[1:], 4)
            else:
                mant, exponent = _flconvert_dec(s)
        except (ValueError, ZeroDivisionError):
            raise AsmError(f"invalid floating-point constant `{text}'") from None
        if mant & _TOP:
            exponent -= 1
            if 2 - expmax <= exponent <= expmax:
                kind = "normal"
            elif exponent > 0:
                kind = overflow = "inf"     # (NASM's float-overflow warning)
            else:
                kind = "denormal"
        else:
            kind = "zero"
    if kind == "zero":
        mant = 0
    elif kind == "denormal":
        shift = -(exponent + expmax - 2 - ebits) + ex
        mant = mant >> shift if shift < _MANT_BITS else 0
        mant = _round(mant, bits)
        one = bit(ebits + ex)
        if mant & one:
            if not explicit:
                mant &= ~one
            mant |= 1 << (_MANT_BITS - 1 - ebits)
        elif mant == 0:
            mant = 0                    # underflow to zero
    elif kind == "normal":
        exponent += expmax - 1
        mant >>= ebits + ex
        mant = _round(mant, bits)
        if mant & bit(ebits + ex - 1):
            mant >>= 1
            exponent += 1
            if exponent >= (expmax << 1) - 1:
                kind = overflow = "inf"
        if kind == "normal":
            if not explicit:
                mant &= ~bit(ebits + ex)
            mant |= exponent << (_MANT_BITS - 1 - ebits)
    if kind in ("inf", "nan", "qnan", "snan"):
        mant = ((1 << ebits) - 1) << (_MANT_BITS - 1 - ebits)
        if explicit:
            mant |= bit(ebits + ex)
        if kind in ("nan", "qnan"):
            mant |= bit(ebits + ex + 1)
        elif kind == "snan":
            mant |= bit(ebits + ex + mbits)
    if negative:
        mant |= _TOP
    return (mant >> (_MANT_BITS - bits)).to_bytes(size, "little"), bool(overflow)


_ILOG2 = ("__ilog2e__", "__ilog2w__", "__ilog2f__", "__ilog2c__")


def _seg_of(c, f: Compiled):
    """NASM's SEG: in its evaluator a segment base (an inner `seg y`, an EQU of one) is a
    term, no error until output, but SEG of one is (`seg seg y`, `seg (seg y + 1)`), and
    of anything but one relocatable term."""
    if not hasattr(c, "seg_equ"):
        return c.segment_base(f(c))
    was, c.seg_equ = c.seg_equ, True    # (segment bases as SegBase terms)
    try:
        v = f(c)
    finally:
        c.seg_equ = was
    if c.unknown:
        return 0
    if type(v) is Rel and len(v.terms) == 1:
        (key, k), = v.terms.items()
        if k == 1 and type(key) is SegBase:
            raise AsmError("SEG applied to something which is already a segment base")
        if k == 1:
            return c.segment_base(v)
    raise AsmError("cannot apply SEG to a non-relocatable value")


def _compile_ilog2(key: str, fa: Compiled) -> Compiled:
    """NASM's __?ilog2e/w/f/c?__(x): log2 of x read as unsigned 64-bit (e: exact or an
    error; w: floor, NASM also warns; f: floor; c: ceiling); 0 for 0."""
    def ilog2(c):
        v = fa(c)
        if type(v) is not int:
            raise AsmError("ilog2 argument must be a scalar value")
        u = v & MASK64
        exact = u & (u - 1) == 0
        if key == "__ilog2e__" and not exact and not c.unknown:
            raise AsmError("ilog2 argument is not a power of two")
        low = u.bit_length() - 1 if u else 0
        return low + 1 if key == "__ilog2c__" and not exact else low
    return ilog2


# __?floatN?__(x): (field size, first byte, end byte) of the encoding taken as an integer
_FLOAT_FUNCS = {"__float8__": (1, 0, 1), "__float16__": (2, 0, 2), "__float32__": (4, 0, 4),
                "__float64__": (8, 0, 8), "__float80m__": (10, 0, 8),
                "__float80e__": (10, 8, 10), "__float128l__": (16, 0, 8),
                "__float128h__": (16, 8, 16), "__bfloat16__": (2, 0, 2)}
_BFLOAT16 = (7, 8, False)       # (NASM's float.c: float32's exponent, 7 mantissa bits)
_UTF_FUNCS = {"__utf16__": "utf-16-le", "__utf16le__": "utf-16-le", "__utf16be__": "utf-16-be",
              "__utf32__": "utf-32-le", "__utf32le__": "utf-32-le", "__utf32be__": "utf-32-be"}


def resolve_func(name: str, arg: Expr) -> Expr:
    """A float or UTF conversion function with a literal argument as the literal it makes
    (Num or Str), as NASM computes it while reading the line; anything else stays a Func
    (an error if it is ever evaluated)."""
    key = name.lower().replace("?", "")
    if key in _FLOAT_FUNCS and (key != "__bfloat16__" or "?" in name):
        # (bfloat16 has no old `__bfloat16__` name in NASM's standard macros)
        item = float_item(arg)
        if item is None:
            return Invalid("expecting floating-point number")
        size, lo, hi = _FLOAT_FUNCS[key]
        data, overflow = _encode_float(item[0], size, item[1],
                                       _BFLOAT16 if key == "__bfloat16__" else None)
        value = int.from_bytes(data[lo:hi], "little")
        return WideNum(value, "", FLOAT_OVERFLOW) if overflow else Num(value)
    if key in _UTF_FUNCS:
        if type(arg) is not Str:
            # (NASM names the function as its scanner knows it: `__?utf16?__`)
            return Invalid(f"__?{key[2:-2]}?__ must be followed by a string constant")
        text = arg.value.decode("utf-8", "surrogatepass")
        return Str(text.encode(_UTF_FUNCS[key], "surrogatepass"))
    return Func(name, arg)


def scanner_warnings(item, unit: int = 0) -> list:
    """The warnings NASM's scanner gives as it reads a line's literals (one over 64 bits,
    a float overflowing its data unit): what a `times 0` line still warns about.
    ``item``: a parsed action (asm/syntax.py) or a part of it; ``unit``: a data line's."""
    out: list = []
    if hasattr(item, "node"):                   # (a CExpr)
        fl = float_item(item.node) if unit else None
        if fl is not None and unit in FLOAT_FORMATS and float_overflow(fl[0], unit):
            out.append(FLOAT_OVERFLOW)
        stack = [item.node]
        while stack:
            node = stack.pop()
            if type(node) is WideNum:
                out.append(node.message)
            elif isinstance(node, Expr) and not isinstance(node, (Num, Str, Float)):
                stack.extend(reversed([v for v in getattr(node, "__dict__", {}).values()
                                       if isinstance(v, Expr)]))
    elif isinstance(item, tuple):
        for part in item:
            out += scanner_warnings(part, unit)
    elif hasattr(item, "__record_fields__"):
        unit = getattr(item, "unit", None) or unit
        for name in item.__record_fields__:
            out += scanner_warnings(getattr(item, name), unit)
    return out


def float_item(node: Expr) -> Optional[tuple]:
    """If a data item is a float literal (optionally signed), return (text, negative)."""
    negative = False
    while isinstance(node, Unary) and node.op in ("-", "+"):
        if node.op == "-":
            negative = not negative
        node = node.operand
    if isinstance(node, Float):
        return node.text, negative
    if isinstance(node, Sym) and is_special_float(node.name):
        return node.name, negative
    return None
