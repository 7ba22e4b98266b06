"""Parse one preprocessed NASM line into plain dataclasses.

The grammar lives in ``nasm.lark`` (LALR, parse table cached on disk). Tokens come from
:class:`NasmLexer`, which classifies identifiers the way NASM's own tokenizer does
(registers, mnemonics, prefixes and pseudo-op keywords are reserved words). The
Transformer runs inside the LALR parser, so no parse tree is built, and results are cached
per distinct line text. Lark parses each token shape once, into a template that the values
of each line of that shape fill in; lines of one shape that take the same values for an
instruction or an operand share the filled object (see _Template).
"""

from __future__ import annotations

import operator
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from typing import Optional

from lark import Lark, Token, Transformer
from lark.exceptions import LarkError, UnexpectedInput
from lark.lexer import Lexer

from asm import expr as E
from asm.errors import AsmError
from asm.x86 import encoder
from asm.x86.registers import REGISTERS, SREGS

# --------------------------------------------------------------------------- statements


class CExpr:
    """An expression AST with its compiled evaluator."""

    __slots__ = ("node", "fn", "_scaled")

    def __init__(self, node: E.Expr):
        self.node = node
        if type(node) is not E.Num:
            self.fn = E.compile_expr(node)
        # a plain number gets its closure only when asked for it (__getattr__): the
        # assembler reads most numbers straight from the node
        self._scaled = None

    def __getattr__(self, name: str):
        if name == "fn":                # (only called while the slot is empty)
            fn = self.fn = E.compile_expr(self.node)
            return fn
        raise AttributeError(name)

    @property
    def scaled(self) -> tuple:
        """Registers written with an explicit ``*`` (``[ebp*1+ebx]``): NASM never makes
        those the base register when it has a choice."""
        if self._scaled is None:
            out: list = []

            def walk(n):
                if isinstance(n, E.Binary):
                    if n.op == "*":
                        for side in (n.left, n.right):
                            if isinstance(side, E.RegRef) and side.name not in out:
                                out.append(side.name)
                    walk(n.left)
                    walk(n.right)
                elif isinstance(n, E.Unary):
                    walk(n.operand)
            walk(self.node)
            self._scaled = tuple(out)
        return self._scaled

    def __repr__(self) -> str:
        return f"CExpr({self.node!r})"


# The assembler keeps what it works out from a parsed object on the object itself, in the
# attributes named below (class-level defaults, not dataclass fields): it depends only on
# the object's contents, which never change once parsed (see asm.assembler).


@dataclass
class OpExpr:
    """An operand that is an expression: register, immediate or ``jmp label``."""
    mods: tuple
    expr: CExpr
    _static = None              # refers to no symbol, `$` or `$$`
    _value = None               # its encoder operand, when static


@dataclass
class OpFar:
    """``seg:offset`` immediate (``jmp 0x10:0x1234``)."""
    mods: tuple
    seg: CExpr
    offset: CExpr
    _static = None
    _value = None


@dataclass
class OpMem:
    mods: tuple                 # keywords before the bracket (size, strict, far...)
    inner: tuple                # keywords inside the bracket (disp size, nosplit)
    seg: Optional[str]
    expr: CExpr
    _static = None
    _value = None


@dataclass
class Insn:
    prefixes: tuple
    mnemonic: str
    operands: tuple
    _kind = None                # what its encoding depends on
    _enc = None                 # (bits, Encoded) when that is nothing
    _target = None              # `jcc label`: the label's name, else "" (asm.assembler)


@dataclass
class PrefixOnly:
    prefixes: tuple


@dataclass
class Data:
    unit: int                   # bytes per item: db=1 dw=2 dd=4 dq=8 dt=10 do=16 ...
    items: tuple                # CExpr | None (for '?') | Dup
    _size = None                # bytes it takes
    _dup = None                 # whether an item is a Dup (worked out on first use)
    _bytes = None               # its bytes, when always the same


@dataclass
class Dup:
    """A data item repeated: ``count dup (items)``; ``%(items)`` is a group (count None)."""
    count: object               # CExpr | None
    items: tuple                # CExpr | None | Dup


@dataclass
class Reserve:
    unit: int
    count: CExpr


@dataclass
class Incbin:
    file: CExpr
    offset: Optional[CExpr]
    length: Optional[CExpr]


@dataclass
class Directive:
    name: str                   # lower case: bits, section, org, global, ...
    args: str                   # free text after the name


@dataclass
class Statement:
    label: Optional[str] = None
    colon: bool = False
    times: tuple = ()           # CExpr per TIMES prefix
    action: object = None       # Insn | PrefixOnly | Data | Reserve | Incbin | Directive | None
    equ: Optional[CExpr] = None
    _emits = None               # (bits, bytes, cpu level) of a line that always emits the same


DATA_UNITS = {"db": 1, "dw": 2, "dd": 4, "dq": 8, "dt": 10, "do": 16, "dy": 32, "dz": 64}
RES_UNITS = {"resb": 1, "resw": 2, "resd": 4, "resq": 8, "rest": 10, "reso": 16,
             "resy": 32, "resz": 64}
SIZES = {"byte": 1, "word": 2, "dword": 4, "qword": 8, "tword": 10, "oword": 16,
         "yword": 32, "zword": 64}
PREFIXES = frozenset(("lock", "rep", "repe", "repz", "repne", "repnz", "a16", "a32", "o16",
                      "o32", "xacquire", "xrelease", "bnd", "nobnd", "wait"))
# Identifiers that start a directive when they begin a line (user-level forms that are not
# preprocessor macros, plus the primitive names usable inside [...]).
DIRECTIVES = frozenset(("bits", "use16", "use32", "section", "segment", "absolute", "global",
                        "extern", "common", "static", "required", "cpu", "default", "org",
                        "sectalign", "warning", "float", "map", "list", "debug", "pragma"))

_KEYWORDS: dict = {}
for _name in REGISTERS:
    _KEYWORDS[_name] = "SREG" if _name in SREGS else "REG"
for _name in DATA_UNITS:
    _KEYWORDS[_name] = "DATA"
for _name in RES_UNITS:
    _KEYWORDS[_name] = "RESV"
for _name in SIZES:
    _KEYWORDS[_name] = "SIZE"
for _name in PREFIXES:
    _KEYWORDS[_name] = "PREFIX"
_KEYWORDS.update({"strict": "STRICT", "short": "JUMPKW", "near": "JUMPKW", "far": "JUMPKW",
                  "nosplit": "NOSPLIT", "seg": "SEG", "wrt": "BINOP", "times": "TIMES",
                  "equ": "EQU", "incbin": "INCBIN"})

_kind_cache: dict = {}


def word_kind(word: str) -> str:
    """Token type of an identifier: a reserved word's class, or ID."""
    kind = _kind_cache.get(word)
    if kind is None:
        low = word.lower()
        kind = _KEYWORDS.get(low)
        if kind is None or kind == "PREFIX":
            # 'wait' is an instruction too; a mnemonic wins over a prefix
            if _is_mnemonic(low):
                kind = "INSN" if low not in PREFIXES or low == "wait" else kind
            kind = kind or "ID"
        _kind_cache[word] = kind
    return kind


def _is_mnemonic(name: str) -> bool:
    try:
        return bool(encoder.is_mnemonic(name))
    except Exception:           # a broken table must not turn into a traceback here
        return False


# --------------------------------------------------------------------------- lexer

_TOKEN_RE = re.compile(r"""[ \t\r\f\v]*(?:
    (?P<comment>;.*)
  | (?P<string>'[^']*'?|"[^"]*"?|`(?:\\.|[^`\\])*`?)
  | (?P<number>\$[0-9][0-9A-Za-z_]*(?:\.[0-9A-Za-z_]*)?|[0-9][0-9A-Za-z_]*(?:\.[0-9A-Za-z_]*)?)
  | (?P<id>\$?(?:[A-Za-z_.@]|\?(?=[A-Za-z0-9_$\#@~.?]))[A-Za-z0-9_$\#@~.?]*)
  | (?P<sectstart>\$\$)
  | (?P<here>\$)
  | (?P<op><<<|>>>|<=>|<<|>>|//|%%|==|!=|<>|<=|>=|&&|\|\||\^\^|[-+*/%&|^~!<>=()\[\],:?])
  | (?P<bad>.)
)""", re.VERBOSE)

_OPS = {op: "BINOP" for op in E.BINARY_PRECEDENCE}
_OPS.update({"+": "PLUS", "-": "MINUS", "~": "TILDE", "!": "BANG", "(": "LPAR", ")": "RPAR",
             "[": "LBRACK", "]": "RBRACK", ",": "COMMA", ":": "COLON", "?": "QMARK"})
_EXP_SIGN = re.compile(r"[+-][0-9_]+(?:\.[0-9_]*)?")


# The same tokens as _TOKEN_RE, as one group: `findall` gives the texts without a match
# object each, and the first character (two for `$`) tells which alternative matched.
_SCAN_RE = re.compile(r"""[ \t\r\f\v]*(
    ;.*
  | '[^']*'?|"[^"]*"?|`(?:\\.|[^`\\])*`?
  | \$[0-9][0-9A-Za-z_]*(?:\.[0-9A-Za-z_]*)?|[0-9][0-9A-Za-z_]*(?:\.[0-9A-Za-z_]*)?
  | \$?(?:[A-Za-z_.@]|\?(?=[A-Za-z0-9_$\#@~.?]))[A-Za-z0-9_$\#@~.?]*
  | \$\$
  | \$
  | <<<|>>>|<=>|<<|>>|//|%%|==|!=|<>|<=|>=|&&|\|\||\^\^|[-+*/%&|^~!<>=()\[\],:?]
  | .
)""", re.VERBOSE)
_FIRST = {c: "id" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_.@"}
_FIRST.update({c: "number" for c in "0123456789"})
_FIRST.update({c: "op" for c in "-+*/%&|^~!<>=()[],:"})
_FIRST.update({"'": "string", '"': "string", "`": "string", ";": "comment", "$": "$",
               "?": "?"})


def tokenize(text: str) -> list:
    """Split a line into (type, value) pairs; raises AsmError on a stray character."""
    text = text.rstrip(" \t\r\f\v")      # trailing blanks and CR of CRLF files
    out = []
    append = out.append
    known = _token_cache
    for value in _SCAN_RE.findall(text):
        tok = known.get(value)
        if tok is None:
            tok = _token(value)
            if tok is None:                 # a comment: the rest of the line
                break
            if tok is _EXPONENT:
                return _tokenize_matches(text)
            if len(known) < 200_000:
                known[value] = tok
        append(tok)
    return out


_token_cache: dict = {}         # the text of a token -> its (type, value) pair
_EXPONENT = ("", "")            # see _token


def _token(value: str) -> Optional[tuple]:
    """The (type, value) pair of a token's text, as _SCAN_RE found it; None for a comment,
    _EXPONENT for a number that may go on with a signed exponent (``1.5e-3``: only the
    text after it tells). Raises AsmError for a stray character or unterminated string."""
    kind = _FIRST.get(value[0])
    if kind == "$":
        if len(value) == 1:
            return ("HERE", value)
        if value == "$$":
            return ("SECTSTART", value)
        if "0" <= value[1] <= "9":
            kind = "number"
        else:
            return ("ID", value[1:])
    elif kind == "?":
        if len(value) == 1:
            return (_OPS[value], value)
        kind = "id"
    if kind == "id":
        return (word_kind(value), value)
    if kind == "op":
        return (_OPS[value], value)
    if kind == "number":
        if value.isdigit():
            return ("NUMBER", value)
        if value[-1] in "eEpP":
            return _EXPONENT
        return ("FLOAT" if E.looks_like_float(value) else "NUMBER", value)
    if kind == "string":
        q = value[0]
        if len(value) < 2 or value[-1] != q or (q == "`" and _escaped_end(value)):
            raise AsmError(f"unterminated string (missing `{q}')")
        return ("STRING", value)
    if kind == "comment":
        return None
    raise AsmError(f"unexpected character `{value}'")


def _tokenize_matches(text: str) -> list:
    """`tokenize` by match objects, which know where a number ends (for ``1.5e-3``)."""
    text = text.rstrip(" \t\r\f\v")
    out = []
    append = out.append
    kinds = _kind_cache
    for m in _TOKEN_RE.finditer(text):
        kind = m.lastgroup
        if kind is None:
            continue
        value = m.group(kind)
        if kind == "id":
            if value[0] == "$":
                append(("ID", value[1:]))
            else:
                append((kinds.get(value) or word_kind(value), value))
        elif kind == "number":
            if value.isdigit():
                append(("NUMBER", value))
                continue
            low = value.lower()
            end = m.end()
            if low[-1] in "ep" and end < len(text) and text[end] in "+-":
                hexy = low.startswith(("0x", "0h", "$"))
                if low[-1] == "p" or not hexy:
                    m2 = _EXP_SIGN.match(text, end)
                    if m2:
                        # the exponent's sign and digits belong to this number
                        return _tokenize_slow(text)
            append(("FLOAT" if E.looks_like_float(value) else "NUMBER", value))
        elif kind == "op":
            append((_OPS[value], value))
        elif kind == "string":
            q = value[0]
            if len(value) < 2 or value[-1] != q or (q == "`" and _escaped_end(value)):
                raise AsmError(f"unterminated string (missing `{q}')")
            append(("STRING", value))
        elif kind == "comment":
            break
        elif kind == "here":
            append(("HERE", value))
        elif kind == "sectstart":
            append(("SECTSTART", value))
        else:
            raise AsmError(f"unexpected character `{value}'")
    return out


def _tokenize_slow(text: str) -> list:
    """Token by token, for lines with a signed float exponent (``1.5e-3``)."""
    out = []
    pos, n = 0, len(text)
    while pos < n:
        m = _TOKEN_RE.match(text, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
        kind = m.lastgroup
        if kind is None:
            continue
        value = m.group(kind)
        if kind == "number":
            low = value.lower()
            if low[-1] in "ep" and pos < n and text[pos] in "+-":
                hexy = low.startswith(("0x", "0h", "$"))
                if low[-1] == "p" or not hexy:
                    m2 = _EXP_SIGN.match(text, pos)
                    if m2:
                        value += m2.group()
                        pos = m2.end()
            out.append(("FLOAT" if E.looks_like_float(value) else "NUMBER", value))
        elif kind == "comment":
            break
        else:
            out.extend(tokenize(m.group()))
    return out


def _escaped_end(value: str) -> bool:
    """True if a backquoted token's final quote is escaped (so it is unterminated)."""
    body = value[1:-1]
    i = 0
    while i < len(body):
        i += 2 if body[i] == "\\" else 1
    return i != len(body)


class NasmLexer(Lexer):
    """Feeds the tokens of :func:`tokenize` (set in ``pending``) to Lark."""

    pending: list = []

    def __init__(self, lexer_conf):
        pass

    def lex(self, data, *_):
        for kind, value in NasmLexer.pending:
            yield Token(kind, value)


class Slot:
    """A leaf of a parse template: token ``index`` of the line, read as ``kind``."""

    __slots__ = ("index", "kind")

    def __init__(self, index: int, kind: str):
        self.index = index
        self.kind = kind


# Token types whose text does not change the shape of a parse: their values are slotted.
_SLOTTED = frozenset(("NUMBER", "FLOAT", "STRING", "ID", "REG", "INSN"))


# --------------------------------------------------------------------------- transformer


def _val(tok) -> str:
    return str(tok)


class ToAst(Transformer):
    """Parse tree -> dataclasses (runs inside the LALR parser)."""

    # expressions
    # leaves are Slots: a template is parsed once per token shape, then filled per line
    def number(self, c):
        return _slot(c[0], "number")

    def float(self, c):
        return _slot(c[0], "float")

    def string(self, c):
        return _slot(c[0], "string")

    def symbol(self, c):
        return _slot(c[0], "symbol")

    def register(self, c):
        if c[0].type == "SREG":
            return E.RegRef(str(c[0]).lower())
        return _slot(c[0], "register")

    def here(self, c):
        return E.Here()

    def sectstart(self, c):
        return E.SectStart()

    def paren(self, c):
        if _is_wrt(c[1]):
            return E.Invalid("expecting `)'")     # NASM: wrt ends the whole expression
        return c[1]

    def func(self, c):
        return E.Func(_slot(c[0], "lname"), c[2])

    def unop(self, c):
        return E.Unary(str(c[0]).lower(), c[1])

    def binseq(self, c):
        return E.build_binary([str(x).lower() if isinstance(x, Token) else x for x in c])

    def cond(self, c):
        if _is_wrt(c[0]) or _is_wrt(c[2]):
            return E.Invalid("expression syntax error")
        if _is_wrt(c[4]):       # `a ? b : c wrt s` is `(a ? b : c) wrt s`, as in NASM
            return E.Binary("wrt", E.Cond(c[0], c[2], c[4].left), c[4].right)
        return E.Cond(c[0], c[2], c[4])

    def expr_start(self, c):
        return c[0]

    # statements
    def label(self, c):
        return (_slot(c[0], "name"), len(c) > 1)

    def times(self, c):
        return c[1]

    def prefix(self, c):
        return str(c[0]).lower()

    def modifier(self, c):
        return str(c[0]).lower()

    mem_mod = modifier

    def mem(self, c):
        inner = []
        seg = None
        i = 1
        while isinstance(c[i], str) and not isinstance(c[i], Token):
            inner.append(c[i])
            i += 1
        if isinstance(c[i], Token) and c[i].type == "SREG":
            seg = str(c[i]).lower()
            i += 2
        if len(c) > i + 3:      # NASM's mib form `[base, index*scale]`: a sum here
            if not _mib_index(c[i + 2]):
                return (tuple(inner), seg, E.Invalid("invalid mib expression"))
            return (tuple(inner), seg, E.Binary("+", c[i], c[i + 2]))
        return (tuple(inner), seg, c[i])

    def op_expr(self, c):
        return OpExpr(tuple(c[:-1]), c[-1])

    def op_far(self, c):
        return OpFar(tuple(c[:-3]), c[-3], c[-1])

    def op_mem(self, c):
        inner, seg, ex = c[-1]
        return OpMem(tuple(c[:-1]), inner, seg, ex)

    def operands(self, c):
        return tuple(x for x in c if not isinstance(x, Token))

    def insn(self, c):
        prefixes = tuple(x for x in c if isinstance(x, str) and not isinstance(x, Token))
        ops: tuple = ()
        mnemonic = None
        for x in c:
            if isinstance(x, Token) and x.type == "INSN":
                mnemonic = _slot(x, "lname")
            elif isinstance(x, tuple):
                ops = x
        return Insn(prefixes, mnemonic, ops)

    def prefix_only(self, c):
        return PrefixOnly(tuple(c))

    def uninit(self, c):
        return None

    def data_items(self, c):
        return tuple(x for x in c if not (isinstance(x, Token) and x.type == "COMMA"))

    def dup(self, c):
        body = c[2]
        return Dup(c[0], body.items if type(body) is Dup and body.count is None else (body,))

    def group(self, c):
        return Dup(None, c[1])

    def data(self, c):
        return Data(DATA_UNITS[str(c[0]).lower()], c[1] if len(c) > 1 else ())

    def reserve(self, c):
        return Reserve(RES_UNITS[str(c[0]).lower()], c[1])

    def incbin(self, c):
        args = [x for x in c[1:] if not isinstance(x, Token)]
        args += [None] * (3 - len(args))
        return Incbin(args[0], args[1], args[2])

    def body(self, c):
        return (tuple(c[:-1]), c[-1])

    def stmt(self, c):
        st = Statement()
        for x in c:
            if isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], bool):
                st.label, st.colon = x
            elif isinstance(x, tuple):
                st.times, st.action = x
        return st

    def equ(self, c):
        label, colon = c[0]
        return Statement(label=label, colon=colon, equ=c[2])


def _mib_index(node) -> bool:
    """The part after the comma of `[base, index*scale]`: a register, maybe scaled."""
    def reg(n):
        return type(n) is E.RegRef or (type(n) is Slot and n.kind == "register")

    def num(n):
        return type(n) is E.Num or (type(n) is Slot and n.kind == "number")
    if reg(node):
        return True
    return (type(node) is E.Binary and node.op == "*" and
            (reg(node.left) and num(node.right) or num(node.left) and reg(node.right)))


def _is_wrt(node) -> bool:
    return type(node) is E.Binary and node.op == "wrt"


def _slot(tok, kind: str) -> Slot:
    return Slot(int(tok[1:]), kind)


def _leaf(kind: str, value: str):
    if kind == "number":
        return E.Num(E.read_number(value))
    if kind == "symbol":
        return E.Sym(value[1:] if value[0] == "$" else value)
    if kind == "register":
        return E.RegRef(value.lower())
    if kind == "string":
        return E.Str(E.read_string(value))
    if kind == "float":
        return E.Float(value)
    if kind == "lname":
        return value.lower()
    return value[1:] if value[0] == "$" else value       # a label name


def _fill_expr(node, vals):
    t = type(node)
    if t is Slot:
        return _leaf(node.kind, vals[node.index])
    if t is E.Binary:
        return E.Binary(node.op, _fill_expr(node.left, vals), _fill_expr(node.right, vals))
    if t is E.Unary:
        return E.Unary(node.op, _fill_expr(node.operand, vals))
    if t is E.Cond:
        return E.Cond(_fill_expr(node.cond, vals), _fill_expr(node.then, vals),
                      _fill_expr(node.other, vals))
    if t is E.Func:
        return E.resolve_func(_fill_expr(node.name, vals), _fill_expr(node.arg, vals))
    return node


def _fill_item(x, vals):
    if type(x) is Dup:
        return Dup(_ce(x.count, vals), tuple(_fill_item(y, vals) for y in x.items))
    return _ce(x, vals)


def _ce(node, vals):
    return None if node is None else CExpr(_fill_expr(node, vals))


def _fill_operand(op, vals):
    t = type(op)
    if t is OpExpr:
        return OpExpr(op.mods, _ce(op.expr, vals))
    if t is OpMem:
        return OpMem(op.mods, op.inner, op.seg, _ce(op.expr, vals))
    return OpFar(op.mods, _ce(op.seg, vals), _ce(op.offset, vals))


def _fill(tpl: Statement, vals: list) -> Statement:
    """Instantiate a parse template with the literal values of one line."""
    st = Statement(colon=tpl.colon)
    if tpl.label is not None:
        st.label = _fill_expr(tpl.label, vals)
    if tpl.equ is not None:
        st.equ = _ce(tpl.equ, vals)
        return st
    st.times = tuple(_ce(t, vals) for t in tpl.times)
    a = tpl.action
    t = type(a)
    if t is Data:
        st.action = Data(a.unit, tuple(_fill_item(x, vals) for x in a.items))
    elif t is Insn:
        st.action = Insn(a.prefixes, _fill_expr(a.mnemonic, vals),
                         tuple(_fill_operand(o, vals) for o in a.operands))
    elif t is Reserve:
        st.action = Reserve(a.unit, _ce(a.count, vals))
    elif t is Incbin:
        st.action = Incbin(_ce(a.file, vals), _ce(a.offset, vals), _ce(a.length, vals))
    else:
        st.action = a
    return st


# Lines of one token shape that take the same values for an instruction (or one of its
# operands) share the filled object: lines differing only elsewhere (a label, another
# operand) then also share what the assembler works out and keeps on it (an operand's
# value, an instruction's encoding). Shared objects are never changed by their users.
_SHARED_MAX = 300_000           # objects kept in all
_shared_count = 0


def _slot_indices(part) -> tuple:
    """The token indices a template part reads (the Slots `_fill_expr` fills)."""
    out: list = []

    def walk(n):
        t = type(n)
        if t is Slot:
            out.append(n.index)
        elif t is E.Binary:
            walk(n.left)
            walk(n.right)
        elif t is E.Unary:
            walk(n.operand)
        elif t is E.Cond:
            walk(n.cond)
            walk(n.then)
            walk(n.other)
        elif t is E.Func:
            walk(n.name)
            walk(n.arg)
        elif t is OpExpr or t is OpMem:
            walk(n.expr)
        elif t is OpFar:
            walk(n.seg)
            walk(n.offset)
        elif t is Insn:
            walk(n.mnemonic)
            for o in n.operands:
                walk(o)
    walk(part)
    return tuple(out)


def _no_slots(vals: list) -> None:
    return None


class _Shared:
    """The filled instances of one template part, by the values of its slots."""

    __slots__ = ("part", "key", "made")

    def __init__(self, part):
        self.part = part
        slots = _slot_indices(part)
        self.key = operator.itemgetter(*slots) if slots else _no_slots
        self.made: dict = {}

    def keep(self, key, obj) -> None:
        global _shared_count
        if _shared_count < _SHARED_MAX:
            _shared_count += 1
            self.made[key] = obj


class _Template:
    """A parsed token shape: the Statement with Slots, and for an instruction the shared
    instances of it and of its operands."""

    __slots__ = ("stmt", "insn", "operands")

    def __init__(self, stmt):
        self.stmt = stmt
        self.insn = self.operands = None
        a = getattr(stmt, "action", None)
        if type(stmt) is Statement and stmt.equ is None and type(a) is Insn:
            self.insn = _Shared(a)
            self.operands = tuple(_Shared(o) for o in a.operands)

    def fill(self, vals: list) -> Statement:
        if self.insn is None:
            return _fill(self.stmt, vals)
        tpl = self.stmt
        label = None if tpl.label is None else _fill_expr(tpl.label, vals)
        times = tuple([_ce(t, vals) for t in tpl.times]) if tpl.times else ()
        shared = self.insn
        key = shared.key(vals)
        insn = shared.made.get(key)
        if insn is None:
            ops = []
            for part in self.operands:
                op_key = part.key(vals)
                op = part.made.get(op_key)
                if op is None:
                    op = _fill_operand(part.part, vals)
                    part.keep(op_key, op)
                ops.append(op)
            a = shared.part
            insn = Insn(a.prefixes, _fill_expr(a.mnemonic, vals), tuple(ops))
            shared.keep(key, insn)
        return Statement(label, tpl.colon, times, insn)


# --------------------------------------------------------------------------- parser

_GRAMMAR = os.path.join(os.path.dirname(__file__), "nasm.lark")
_parsers: dict = {}


def _cache_path() -> str:
    # one file per interpreter: Lark's cache key holds the Python version, so CPython and
    # PyPy sharing a file would each rebuild the tables (and rewrite it) on every run
    tag = sys.implementation.cache_tag or "python"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    try:
        os.makedirs(os.path.join(base, "pyvm"), exist_ok=True)
        return os.path.join(base, "pyvm", f"nasm-lark-{tag}.cache")
    except OSError:
        return os.path.join(tempfile.gettempdir(), f"pyvm-nasm-lark-{tag}-{os.getuid()}.cache")


def _lark(start: str) -> Lark:
    p = _parsers.get(start)
    if p is None:
        with open(_GRAMMAR, encoding="utf-8") as f:
            grammar = f.read()
        kwargs = dict(parser="lalr", lexer=NasmLexer, start=["line", "expr_start"],
                      transformer=ToAst(), maybe_placeholders=False)
        try:
            p = Lark(grammar, cache=_cache_path(), **kwargs)
        except Exception:       # an unreadable or half-written cache: build the tables
            p = Lark(grammar, **kwargs)
        _parsers["line"] = _parsers["expr_start"] = p
    return p


def _syntax_error(exc: Exception, what: str) -> AsmError:
    if isinstance(exc, AsmError):
        return exc
    tok = getattr(exc, "token", None)
    if what == "expr_start" or tok is None or getattr(tok, "type", "") == "$END":
        return AsmError("expression syntax error" if what == "expr_start"
                        else "parser: instruction expected")
    if getattr(tok, "type", "") in ("REG", "SREG") and what == "line":
        return AsmError("label or instruction expected at start of line")
    return AsmError("expression syntax error")


_line_cache: dict = {}
_templates: dict = {}
_BRACKET_DIR = re.compile(r"\s*\[\s*([A-Za-z_]\w*)\b([^\]]*)\]\s*(?:;.*)?$")
_PLAIN_DIR = re.compile(r"\s*([A-Za-z_]\w*)\b(.*)$")
_FIRST_WORD = re.compile(r"\s*([A-Za-z_]\w*)\b")     # _PLAIN_DIR's first group, quicker
_NOT_DIRECTIVE = re.compile(r"\s*(:|equ\b|times\b|d[bwdqtoyz]\b|res[bwdqtoyz]\b)", re.I)


def parse_line(text: str) -> Statement:
    """Parse one preprocessed line (cached per text). Raises AsmError."""
    st = _line_cache.get(text)
    if st is not None:
        return st
    st = _parse_line(text)
    if len(_line_cache) < 200_000:
        _line_cache[text] = st
    return st


def _parse_line(text: str) -> Statement:
    m = _BRACKET_DIR.match(text)
    if m:
        return Statement(action=Directive(m.group(1).lower(), m.group(2).strip()))
    m = _FIRST_WORD.match(text)
    if m and m.group(1).lower() in DIRECTIVES:
        m = _PLAIN_DIR.match(text)
        if m and not _NOT_DIRECTIVE.match(m.group(2)):
            return Statement(action=Directive(m.group(1).lower(),
                                              _strip_comment(m.group(2)).strip()))
    tokens = tokenize(text)
    if len(tokens) >= 3 and tokens[-2][0] == "ID" and tokens[-2][1].lower() == "to":
        tokens = _x87_to(tokens)
    if any(k == "DATA" for k, _ in tokens[:3]) and any(
            (k == "ID" and v.lower() == "dup") or v == "%" for k, v in tokens):
        tokens = _dup_tokens(tokens)
    return _parse_tokens(tokens, "line")


def _dup_tokens(tokens: list) -> list:
    """A data line's `dup` and `%(`: the grammar's DUP and GLPAR (group parenthesis)."""
    out: list = []
    for k, v in tokens:
        if k == "ID" and v.lower() == "dup":
            out.append(("DUP", v))
        elif k == "LPAR" and out and out[-1][0] == "DUP":
            out.append(("GLPAR", v))
        elif (k == "LPAR" and len(out) > 1 and out[-1] == ("BINOP", "%")
              and out[-2][0] in ("DATA", "COMMA", "GLPAR", "DUP")):
            out[-1] = ("GLPAR", v)          # `%(` where an item starts (not modulo)
        else:
            out.append((k, v))
    return out


_X87_TO = frozenset(("fadd", "fsub", "fsubr", "fmul", "fdiv", "fdivr"))


def _x87_to(tokens: list) -> list:
    """NASM's `fadd to st1`: the destination is the register (`fadd st1, st0`)."""
    insn, reg = tokens[-3], tokens[-1]
    if (insn[0] == "INSN" and insn[1].lower() in _X87_TO and reg[0] == "REG"
            and reg[1].lower().startswith("st")):
        return tokens[:-2] + [reg, ("COMMA", ","), ("REG", "st0")]
    return tokens


def _parse_tokens(tokens: list, start: str):
    """Parse via a template shared by all lines of the same token shape."""
    slotted = _SLOTTED
    shape = [start]
    vals = []
    for k, v in tokens:
        shape.append(k if k in slotted else v)
        vals.append(v)
    key = tuple(shape)
    tpl = _templates.get(key)
    if tpl is None:
        NasmLexer.pending = [(k, f"\x00{i}" if k in slotted else v)
                             for i, (k, v) in enumerate(tokens)]
        try:
            tpl = _lark(start).parse("", start=start)
        except AsmError:
            raise
        except UnexpectedInput as exc:
            raise _syntax_error(exc, start) from None
        except LarkError as exc:
            inner = getattr(exc, "orig_exc", None)
            if isinstance(inner, AsmError):
                raise inner from None
            raise _syntax_error(exc, start) from None
        finally:
            NasmLexer.pending = []
        if start == "line":
            tpl = _Template(tpl)
        if len(_templates) < 100_000:
            _templates[key] = tpl
    if start == "line":
        return tpl.fill(vals)
    return CExpr(_fill_expr(tpl, vals))


_expr_cache: dict = {}


def parse_expr(text: str) -> CExpr:
    """Parse a bare expression (cached). Raises AsmError."""
    ce = _expr_cache.get(text)
    if ce is None:
        tokens = tokenize(text)
        if not tokens:
            raise AsmError("expression syntax error")
        ce = _parse_tokens(tokens, "expr_start")
        _expr_cache[text] = ce
    return ce


def parse_expr_tokens(tokens: list) -> CExpr:
    """Parse an already tokenized expression (the preprocessor's %if/%assign)."""
    if not tokens:
        raise AsmError("expression syntax error")
    return _parse_tokens(tokens, "expr_start")


def _strip_comment(text: str) -> str:
    """Drop a ';' comment that is not inside a string."""
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        elif ch == ";":
            return text[:i]
    return text
