"""What a parsed NASM line is made of: the statement and operand classes the parser
fills and the assembler reads, and the Slot leaves of parse templates (no Lark here:
the parser imports asm.grammar only to parse a token shape it has not seen)."""

from __future__ import annotations

from typing import Optional

from asm import eahint
from asm import expr as E
from formats.plainrecord import record


class CExpr:
    """An expression AST with its compiled evaluator."""

    __slots__ = ("node", "fn", "_scaled", "_may_sum", "_multiplies", "_registers")

    def __init__(self, node: E.Expr):
        self.node = node
        # the closure is made when first asked for (__getattr__): the assembler reads
        # plain numbers straight from the node, and a branch to a known label of its
        # section never evaluates its operand (asm.assembler's _insn)
        self._scaled = None
        self._may_sum = None
        self._multiplies = None
        self._registers = None

    def __getattr__(self, name: str):
        if name == "fn":                # (only called while the slot is empty)
            raised = E.deep_users
            try:
                fn = E.compile_expr(self.node)
                if raised or E.deep_users:
                    # (made while another thread had the recursion limit raised: it may
                    # need it to be worked out too)
                    fn = E.deep_call(fn)
            except RecursionError:      # (`1+(1+(...))`, thousands deep)
                fn = E.compile_deep(self.node)
            except E.HasLeg:            # (a `<=>` giving -1 makes it all unknown)
                fn = E.compile_with_legs(self.node)
            self.fn = fn
            return fn
        raise AttributeError(name)

    @property
    def scaled(self) -> tuple:
        """Registers written with an explicit ``*`` (``[ebp*1+ebx]``): NASM never makes
        those the base register when it has a choice."""
        if self._scaled is None:
            out: list = []
            groups: list = []   # sides of a `*` holding more than a register
            todo = [self.node]  # (a stack, not recursion: `[ebx+1+1+...]`, long chains)
            while todo:
                n = todo.pop()
                if isinstance(n, E.Binary):
                    if n.op == "*":
                        for side in (n.left, n.right):
                            if isinstance(side, E.RegRef):
                                if side.name not in out:
                                    out.append(side.name)
                            elif not isinstance(side, E.Num):
                                groups.append(side)
                    todo += (n.right, n.left)
                elif isinstance(n, E.Unary):
                    todo.append(n.operand)
            if groups:
                # NASM's hint: its first register, multiplied inside a group
                # (`[(edx-ebp)*1+esi+ebp]`), is no base either
                first = eahint.first_register(self.node)
                if first is not None and first not in out and any(
                        eahint.names_register(g, first) for g in groups):
                    out.append(first)
            self._scaled = tuple(out)
        return self._scaled

    @property
    def may_sum(self) -> bool:
        """Whether an addition in this address could sum two terms (asm.eahint)."""
        if self._may_sum is None:
            self._may_sum = eahint.may_sum(self.node)
        return self._may_sum

    @property
    def multiplies(self) -> bool:
        """Whether this expression has a ``*`` (asm.eahint.multiplies)."""
        if self._multiplies is None:
            self._multiplies = eahint.multiplies(self.node)
        return self._multiplies

    @property
    def registers(self) -> int:
        """How many registers this expression names (asm.eahint.register_count)."""
        if self._registers is None:
            self._registers = eahint.register_count(self.node)
        return self._registers

    def __repr__(self) -> str:
        return f"CExpr({self.node!r})"


# The assembler keeps what it works out from a parsed object on the object itself, in the
# attributes named below (class-level defaults, not dataclass fields): it depends only on
# the object's contents, which never change once parsed (see asm.assembler).


@record
class OpExpr:
    """An operand that is an expression: register, immediate or ``jmp label``."""
    mods: tuple
    expr: CExpr
    _static = None              # refers to no symbol, `$` or `$$`
    _value = None               # its encoder operand, when static


@record
class OpFar:
    """``seg:offset`` immediate (``jmp 0x10:0x1234``)."""
    mods: tuple
    seg: CExpr
    offset: CExpr
    _static = None
    _value = None


@record
class OpMem:
    mods: tuple                 # keywords before the bracket (size, strict, far...)
    inner: tuple                # keywords inside the bracket (disp size, nosplit)
    seg: Optional[str]
    expr: CExpr
    _static = None
    _value = None


@record
class Insn:
    prefixes: tuple
    mnemonic: str
    operands: tuple
    _kind = None                # what its encoding depends on
    _enc = None                 # (bits, Encoded) when that is nothing
    _target = None              # `jcc label`: the label's name, else "" (asm.assembler)
    _names = None               # the symbols its operands name, False if more than that
    _memo = None                # (what its encoding was worked out from, Encoded)


@record
class PrefixOnly:
    prefixes: tuple


@record
class Data:
    unit: int                   # bytes per item: db=1 dw=2 dd=4 dq=8 dt=10 do=16 ...
    items: tuple                # CExpr | None (for '?') | Dup
    _size = None                # bytes it takes
    _dup = None                 # whether an item is a Dup (worked out on first use)
    _bytes = None               # its bytes, when always the same


@record
class Dup:
    """A data item repeated: ``count dup (items)``; ``%(items)`` is a group (count None),
    and so is an item with its own element size (``db word 5``: unit 2)."""
    count: object               # CExpr | None
    items: tuple                # CExpr | None | Dup
    unit: Optional[int] = None  # NASM's element size override, None: the enclosing one


@record
class Reserve:
    unit: int
    count: CExpr


@record
class Incbin:
    file: CExpr
    offset: Optional[CExpr]
    length: Optional[CExpr]
    comma: bool = False         # a trailing comma (NASM's macro drops it, with a warning)


@record
class Directive:
    name: str                   # lower case: bits, section, org, global, ...
    args: str                   # free text after the name


@record
class Statement:
    label: Optional[str] = None
    colon: bool = False
    times: tuple = ()           # CExpr per TIMES prefix
    action: object = None       # Insn | PrefixOnly | Data | Reserve | Incbin | Directive | None
    equ: Optional[CExpr] = None
    _emits = None               # (bits, bytes, cpu level[, P.Data]) of a line that always
    #                             emits the same (see asm.assembler's _fixed)


DATA_UNITS = {"db": 1, "dw": 2, "dd": 4, "dq": 8, "dt": 10, "do": 16, "dy": 32, "dz": 64}
RES_UNITS = {"resb": 1, "resw": 2, "resd": 4, "resq": 8, "rest": 10, "reso": 16,
             "resy": 32, "resz": 64}
SIZES = {"byte": 1, "word": 2, "dword": 4, "qword": 8, "tword": 10, "oword": 16,
         "yword": 32, "zword": 64}


class Slot:
    """A leaf of a parse template: token ``index`` of the line, read as ``kind``."""

    __slots__ = ("index", "kind")

    def __init__(self, index: int, kind: str):
        self.index = index
        self.kind = kind
