"""Parse one preprocessed NASM line into plain dataclasses.

The grammar lives in ``nasm.lark`` (asm.grammar runs it). Tokens come from
:func:`tokenize`, which classifies identifiers the way NASM's own tokenizer does
(registers, mnemonics, prefixes and pseudo-op keywords are reserved words). Results are
cached per distinct line text. Lark parses each token shape once, into a template that the
values of each line of that shape fill in (templates are kept on disk between runs, so
Lark is imported only for a shape no run has seen); lines of one shape that take the same
values for an instruction or an operand share the filled object (see _Template).
"""

from __future__ import annotations

import atexit
import marshal
import operator
import os
import re
import sys
from typing import Optional

from asm import cachefile, plaindata
from asm import expr as E
from asm.errors import AsmError
from asm.syntax import (  # noqa: F401
    DATA_UNITS,
    RES_UNITS,
    SIZES,
    CExpr,
    Data,
    Directive,
    Dup,
    Incbin,
    Insn,
    OpExpr,
    OpFar,
    OpMem,
    PrefixOnly,
    Reserve,
    Slot,
    Statement,
)
from asm.x86 import encoder
from asm.x86.registers import REGISTERS, SREGS
from formats import plainrecord

PREFIXES = frozenset(("lock", "rep", "repe", "repz", "repne", "repnz", "a16", "a32", "o16",
                      "o32", "xacquire", "xrelease", "bnd", "nobnd", "wait"))
# The primitive directives' names (`[bits 16]`). Their user-level forms are standard macros
# (asm/preproc.py); a plain `bits` the preprocessor left alone is a label, as in NASM
# (`use16 x`: "instruction expected", `warning +all`: no macro at all).
DIRECTIVES = frozenset(("bits", "use16", "use32", "section", "segment", "absolute", "global",
                        "extern", "common", "static", "required", "cpu", "default", "org",
                        "sectalign", "warning", "float", "map", "list", "debug", "pragma"))

# The registers of 64-bit mode (pyasm has none) -> their size: NASM's parser knows them in
# every mode, refusing them in an instruction (asm.assembler's _long_mode_register)
REGISTERS_64 = {name: 64 for name in "rax rcx rdx rbx rsp rbp rsi rdi".split()}
REGISTERS_64.update({"spl": 8, "bpl": 8, "sil": 8, "dil": 8})
for _n in range(8, 16):
    REGISTERS_64.update({f"r{_n}": 64, f"r{_n}d": 32, f"r{_n}w": 16, f"r{_n}b": 8,
                         f"r{_n}l": 8})

_KEYWORDS: dict = {}
for _name in (*REGISTERS, *REGISTERS_64):
    _KEYWORDS[_name] = "SREG" if _name in SREGS else "REG"
for _name in DATA_UNITS:
    _KEYWORDS[_name] = "DATA"
for _name in RES_UNITS:
    _KEYWORDS[_name] = "RESV"
for _name in SIZES:
    _KEYWORDS[_name] = "SIZE"
for _name in PREFIXES:
    _KEYWORDS[_name] = "PREFIX"
_KEYWORDS.update({"__?masm_ptr?__": "MASMPTR", "__?masm_flat?__": "MASMFLAT"})
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
    return _tokens(text, _SCAN_RE.findall(text))


def _tokens(text: str, values: list) -> list:
    """`tokenize` of ``text`` (trailing blanks stripped) from its _SCAN_RE texts."""
    out = []
    append = out.append
    known = _token_cache
    for value in values:
        tok = known.get(value)
        if tok is None:
            tok = _token(value)
            if tok is None:                 # a comment: the rest of the line
                break
            if tok is _EXPONENT:
                return _tokenize_matches(text)
            if len(known) < 200_000:
                known[value] = tok
                if tok[1] == value:
                    _shape_elems[value] = tok[0] if tok[0] in _SLOTTED else value
        append(tok)
    return out


_token_cache: dict = {}         # the text of a token -> its (type, value) pair
# the text of a token (one whose value is its text) -> what it puts in a template's key
# (_parse_tokens' shape): its type where the value fills a slot, else the text itself
_shape_elems: dict = {}
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



# Token types whose text does not change the shape of a parse: their values are slotted.
_SLOTTED = frozenset(("NUMBER", "FLOAT", "STRING", "ID", "REG", "INSN"))


# --------------------------------------------------------------------------- transformer
def _leaf(kind: str, value: str):
    if kind == "number":
        if len(value) > 16 and E.number_too_wide(value):
            return E.WideNum(E.read_number(value), value)
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
        left = node.left
        if type(left) is E.Binary:
            return _fill_spine(node, vals)
        return E.Binary(node.op, _fill_expr(left, vals), _fill_expr(node.right, vals))
    if t is E.Unary:
        operand = node.operand
        if type(operand) is E.Unary:
            return _fill_unaries(node, vals)
        return E.Unary(node.op, _fill_expr(operand, vals))
    if t is E.Cond:
        return E.Cond(_fill_expr(node.cond, vals), _fill_expr(node.then, vals),
                      _fill_expr(node.other, vals))
    if t is E.Func:
        return E.resolve_func(_fill_expr(node.name, vals), _fill_expr(node.arg, vals))
    return node


def _fill_spine(node, vals):
    """A left-leaning chain (`1+1+...+1`, thousands of terms: NASM takes 8192) filled
    along its spine, not recursing once per term."""
    spine = []
    while type(node) is E.Binary:
        spine.append(node)
        node = node.left
    out = _fill_expr(node, vals)
    binary = E.Binary
    for n in reversed(spine):
        out = binary(n.op, out, _fill_expr(n.right, vals))
    return out


def _fill_unaries(node, vals):
    """A run of prefix operators (`- - - 1`) filled without recursing per operator."""
    ops = []
    while type(node) is E.Unary:
        ops.append(node.op)
        node = node.operand
    out = _fill_expr(node, vals)
    for op in reversed(ops):
        out = E.Unary(op, out)
    return out


def _fill_item(x, vals):
    if type(x) is Dup:
        return Dup(_ce(x.count, vals), tuple(_fill_item(y, vals) for y in x.items), x.unit)
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
    todo = [part]       # (a stack, not recursion: a chain may have thousands of terms)
    while todo:
        n = todo.pop()
        t = type(n)
        if t is Slot:
            out.append(n.index)
        elif t is E.Binary:
            todo += (n.right, n.left)
        elif t is E.Unary:
            todo.append(n.operand)
        elif t is E.Cond:
            todo += (n.other, n.then, n.cond)
        elif t is E.Func:
            todo += (n.arg, n.name)
        elif t is OpExpr or t is OpMem:
            todo.append(n.expr)
        elif t is OpFar:
            todo += (n.offset, n.seg)
        elif t is Insn:
            todo += reversed(n.operands)
            todo.append(n.mnemonic)
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

_line_cache: dict = {}
_templates: dict = {}
_BRACKET_DIR = re.compile(r"\s*\[\s*([A-Za-z_]\w*)\b([^\]]*)\]\s*(?:;.*)?$")


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
    # most lines: every token seen before, a known shape, nothing to rewrite, no directive
    stripped = text.rstrip(" \t\r\f\v")
    values = _SCAN_RE.findall(stripped)
    if values and values[-1][0] == ";":
        values.pop()                        # the comment
    elems = list(map(_shape_elems.get, values))
    if None in elems:
        elems = _learn_tokens(values, elems)
    if elems:
        n = len(elems)
        first = elems[0]
        if not ((first == "ID" and values[0].lower() in DIRECTIVES) or first == "["
                or (n >= 3 and elems[-2] == "ID" and values[-2].lower() == "to")
                or ("DATA" in elems[:3]
                    and ("%" in values or any(v.lower() == "dup" for v in values)))):
            tpl = _templates.get(("line", *elems))
            if tpl is not None:
                return tpl.fill(values)
    m = _BRACKET_DIR.match(text)
    if m:
        return Statement(action=Directive(m.group(1).lower(), m.group(2).strip()))
    try:
        tokens = _tokens(stripped, values)
    except AsmError as exc:
        if not exc.message.startswith("unterminated string"):
            raise
        st = _open_string_item(stripped, exc.message)
        if st is not None:
            return st
        raise _open_string(stripped, exc.message) from None
    if (len(tokens) >= 3 and tokens[-1][0] == "COMMA"
            and tokens[-2][0] not in ("COMMA", "INSN", "PREFIX", "EQU")
            and any(k == "INSN" or k == "RESV" or k == "EQU" for k, _ in tokens)):
        tokens = tokens[:-1]        # NASM drops a comma after an instruction's last operand
    if any(k == "INCBIN" for k, _ in tokens):
        if tokens[-1][0] == "INCBIN":
            raise _bare_incbin(tokens)
        comma = tokens[-1][0] == "COMMA" and not any(k == "TIMES" for k, _ in tokens)
        kinds = [k for k, _ in tokens]
        if any(a == b == "COMMA" for a, b in zip(kinds, kinds[1:])):
            # an empty parameter besides the trailing one the macro drops: NASM's
            # expression reader meets it before the count is checked
            raise AsmError("expression syntax error",
                           line_warnings=(_INCBIN_COMMA,) if comma else ())
        if _incbin_params(tokens) > 3:
            raise AsmError("`incbin': more than three parameters",
                           line_warnings=(_INCBIN_COMMA,) if comma else ())
        if tokens[-1][0] == "COMMA":
            return _incbin_comma(tokens)
    if len(tokens) >= 3 and tokens[-2][0] == "ID" and tokens[-2][1].lower() == "to":
        tokens = _x87_to(tokens)
    if any(k == "EQU" for k, _ in tokens):
        tokens = _equ_after_insn(tokens)
    if len(tokens) >= 3 and tokens[0][0] == "ID" and "EQU" in (tokens[1][0], tokens[2][0]):
        tokens = _equ_operand(tokens)
    elif any(k == "TIMES" for k, _ in tokens[:3]) and any(k == "EQU" for k, _ in tokens):
        st = _times_equ(tokens)
        if st is not None:
            return st
    if any(k == "DATA" for k, _ in tokens[:3]) and any(
            (k == "ID" and v.lower() == "dup") or v == "%" for k, v in tokens):
        tokens = _dup_tokens(tokens)
    try:
        return _parse_tokens(tokens, "line")
    except AsmError as exc:
        fixed = _nasm_data_items(tokens)
        if fixed is None:
            raise
        try:
            return _parse_tokens(fixed, "line")
        except AsmError:
            raise exc from None


# where an unterminated string stands for an operand: NASM's parser refuses its token
_OPERAND_START = frozenset(("COMMA", "INSN", "DATA", "TIMES", "EQU", "LBRACK", "LPAR", "PLUS",
                            "MINUS", "BINOP", "TILDE", "BANG", "SEG", "QMARK", "COLON"))


def _open_string_item(text: str, message: str) -> Optional[Statement]:
    """`db 1 'a`: an unterminated string just after a data item's expression is the token
    NASM's data reader skips there (see _nasm_data_items): the line is what precedes it
    (the preprocessor warned); None where the string is refused."""
    tokens = tokenize(text[:_string_start(text, _open_string_quote(message))])
    fixed = _nasm_data_items(tokens + [("NUMBER", "0")])    # (the string's place)
    if fixed is None or len(fixed) > len(tokens):
        return None
    try:
        return _parse_tokens(fixed, "line")
    except AsmError:
        return None


def _open_string_quote(message: str) -> str:
    return message[len("unterminated string (missing `"):-2]


def _open_string(text: str, message: str) -> AsmError:
    """An unterminated string: NASM's preprocessor warns (and keeps the text), then its
    parser meets a token it cannot use; its message where the string stands at the start
    of the line, for the instruction, or for an operand (elsewhere pyasm's own)."""
    kinds = [k for k, _ in tokenize(text[:_string_start(text, _open_string_quote(message))])]
    if not kinds:
        message = "label or instruction expected at start of line"
    elif kinds in (["ID"], ["ID", "COLON"]) or kinds[-1] == "PREFIX":
        message = "parser: instruction expected"
    elif kinds[-1] in _OPERAND_START:
        message = "expression syntax error"
    elif "INSN" in kinds and kinds[-1] == "RBRACK":
        message = "comma, decorator or end of line expected, got 272"   # (TOKEN_ERRSTR)
    elif "INSN" in kinds and (kinds[-1] in _ATOMS or kinds[-1] == "RPAR"):
        message = "comma, colon, decorator or end of line expected after operand"
    return AsmError(message)    # (the preprocessor warned as it read the line)


def open_quote(text: str) -> Optional[str]:
    """The quote of a line's unterminated string (before any comment), else None."""
    at = _string_start(text)
    return text[at] if at < len(text) else None


def _string_start(text: str, quote: str = "") -> int:
    """Where the line's unterminated string (opened by ``quote``, or any) begins."""
    at, open_, i = 0, None, 0
    while i < len(text):
        ch = text[i]
        if open_ is None and ch in "'\"`":
            open_, at = ch, i
        elif open_ is None and ch == ";":
            break
        elif open_ == "`" and ch == "\\":
            i += 1                          # (an escaped character)
        elif ch == open_:
            open_ = None
        i += 1
    return at if open_ is not None and open_ == (quote or open_) else len(text)


_INCBIN_COMMA = ("dropping trailing empty parameter in call to multi-line macro `incbin' "
                 "[-w+pp-macro-params-legacy]")


def _incbin_comma(tokens: list) -> Statement:
    """`incbin "f",`: NASM's `incbin` macro drops the empty last parameter (a warning)."""
    if len(tokens) >= 2 and tokens[-2][0] == "COMMA":
        raise AsmError("expression syntax error", line_warnings=(_INCBIN_COMMA,))
    st = _parse_tokens(tokens[:-1], "line")
    if type(st.action) is not Incbin or st.times:
        return st           # (after TIMES the macro is not called: no warning)
    return plainrecord.replace(st, action=plainrecord.replace(st.action, comma=True))


def _bare_incbin(tokens: list) -> AsmError:
    """`incbin` with no file: NASM's `incbin` macro takes 1-3 parameters (it is called
    at the start of a line, after a label; after TIMES the assembler's message only)."""
    kinds = [k for k, _ in tokens[:-1]]
    macro = kinds in ([], ["ID"], ["ID", "COLON"])
    return AsmError("`incbin' expects a file name", line_warnings=(
        "multi-line macro `incbin' exists, but not taking 0 parameters "
        "[-w+pp-macro-params-multi]",) if macro else ())


def _incbin_params(tokens: list) -> int:
    """How many comma-separated parameters follow a line's `incbin`."""
    k = [kind for kind, _ in tokens].index("INCBIN")
    depth, count = 0, 1
    for kind, _ in tokens[k + 1:]:
        depth += kind in ("LPAR", "GLPAR", "LBRACK") or -(kind in ("RPAR", "RBRACK"))
        count += kind == "COMMA" and depth == 0
    return count - (tokens[-1][0] == "COMMA")      # (a trailing one: NASM's macro drops it)


# what may start an operand of a data item's expression, or stand as one
_UNARY = frozenset(("PLUS", "MINUS", "TILDE", "BANG", "SEG"))
_ATOMS = frozenset(("NUMBER", "FLOAT", "STRING", "ID", "HERE", "SECTSTART", "REG", "SREG",
                    "INSN"))


# in a data item NASM's evaluator reads a data, reserve or EQU word as a symbol too
_DATA_ATOMS = _ATOMS | {"DATA", "RESV", "EQU"}


def _expression_end(tokens: list, j: int, atoms: frozenset = _ATOMS) -> Optional[int]:
    """Where the expression starting at ``tokens[j]`` ends, as NASM's evaluator reads it
    (it stops at the first token that cannot go on with it); None if it is malformed."""
    depth = 0
    ternary = 0
    operand = True          # an operand is expected next
    n = len(tokens)
    while j < n:
        k = tokens[j][0]
        if operand:
            if k == "LPAR":
                depth += 1
            elif k in atoms:
                operand = False
                if k == "ID" and j + 1 < n and tokens[j + 1][0] == "LPAR":
                    operand = True          # a function: `__float32__(1.5)`
                    depth += 1
                    j += 1
            elif k not in _UNARY:
                return None
        elif k in ("BINOP", "PLUS", "MINUS"):
            operand = True
        elif k == "QMARK":
            ternary += 1
            operand = True
        elif k == "COLON" and ternary:
            ternary -= 1
            operand = True
        elif k == "RPAR" and depth:
            depth -= 1
        elif depth or ternary:
            return None
        else:
            return j
        j += 1
    return None if operand or depth or ternary else j


def _nasm_data_items(tokens: list) -> Optional[list]:
    """A data line the grammar rejects, read as NASM 2.16's parse_eops reads it: after an
    item's expression one more token is skipped before the comma (``db 1 2`` is ``db 1``),
    a `)` ends the items (the line's, or a `dup` group's); a float, a `?` or a group must
    be followed by a comma. Returns the tokens NASM assembles (None: not such a line);
    raises AsmError where NASM fails."""
    if not tokens or tokens[0][0] not in ("ID", "INSN", "PREFIX", "SREG", "TIMES", "DATA",
                                          "RESV", "EQU"):
        return None             # (NASM: no label or instruction at the start)
    d = next((i for i, (k, _) in enumerate(tokens) if k == "DATA" or k == "RESV"), None)
    if d is None or (d > 2 and not any(k in ("TIMES", "PREFIX", "SREG")
                                       for k, _ in tokens[:d])):
        return None
    if tokens[d][0] == "RESV":
        if d + 1 < len(tokens) and tokens[d + 1][0] == "SIZE":
            raise AsmError("mismatch in operand sizes")     # (`resb word 2`: NASM's RESB imm)
        e = _expression_end(tokens, d + 1)
        if e is not None and e < len(tokens):
            raise AsmError("comma, colon, decorator or end of line expected after operand")
        return None
    out = tokens[:d + 1]
    if tokens[d][0] == "DATA":
        # NASM ignores prefixes on a data line (`rep db 1` is `db 1`); a repeated one
        # (its warning) or two of a slot (its error) stay for the grammar to refuse
        keep = [t for t in out[:d] if t[0] not in ("PREFIX", "SREG")]
        dropped = [v for k, v in out[:d] if k in ("PREFIX", "SREG")]
        if dropped and not encoder.check_prefixes(dropped)[1]:     # (conflicting: raises)
            out = keep + [tokens[d]]
    try:
        _data_eops(list(tokens), d + 1, out)
    except _NotData:
        return None
    return out if out != tokens else None


class _NotData(Exception):
    """A data line _data_eops does not read (the grammar's error stands)."""


_COMMA = ("COMMA", ",")


def _data_eops(tokens: list, j: int, out: list, nested: bool = False) -> int:
    """NASM's parse_eops from ``tokens[j]``: the items appended to ``out`` as tokens the
    grammar takes; returns where the list ended (len(tokens), or the `)` that closed it)."""
    n = len(tokens)
    while j < n:
        k = tokens[j][0]
        if k == "RPAR":
            return j
        item: list = []
        group = unquoted = False
        closing = 0                 # groups opened for a dup of a dup
        while True:                 # one item, after any `count dup` before it
            if j >= n:
                return n            # (`db 2 dup`: no item, NASM's "no operand")
            k = tokens[j][0]
            if k == "SIZE":
                item.append(tokens[j])      # an element size override (`db word 5`)
                j += 1
                continue
            if k == "QMARK" or k == "FLOAT":
                item.append(tokens[j])
                cur = j
                break
            if (k == "ID" and j + 1 < n and tokens[j + 1][0] == "STRING"
                    and tokens[j][1].lower() in E._UTF_FUNCS):
                # NASM's string functions take their string without parentheses too
                item += [tokens[j], ("LPAR", "("), tokens[j + 1], ("RPAR", ")")]
                cur = j + 1
                break
            if (k == "PLUS" or k == "MINUS") and j + 1 < n and tokens[j + 1][0] == "FLOAT":
                item += tokens[j:j + 2]
                cur = j + 1
                break
            if k == "GLPAR" or (k == "LPAR" and item and item[-1][0] in ("DUP", "SIZE")):
                sub: list = []
                cur = _data_eops(tokens, j + 1, sub, True)
                n = len(tokens)     # (a string in it may have ended the line)
                if cur >= n:
                    raise AsmError("expected `)' after subexpression, got `(null)'")
                # (an empty group is no data: `0 dup (0)` says that to the grammar)
                item += [("GLPAR", "("), *(sub or [("NUMBER", "0"), ("DUP", "dup"),
                                                   ("GLPAR", "("), ("NUMBER", "0"),
                                                   ("RPAR", ")")]), ("RPAR", ")")]
                group = True
                break
            if k == "STRING" and j + 1 < n:
                after = tokens[j + 1][0]
                if after == "STRING":
                    # NASM looks ahead at the next token to tell a string item from an
                    # expression, and its scanner unquotes a string in place (its text
                    # then ends the line): `db "ab" "c", 5` reads `db "ab" c`
                    text = E.read_string(tokens[j + 1][1]).split(b"\0")[0]
                    tokens[j + 1:] = tokenize(text.decode("latin-1"))
                    n = len(tokens)
                    unquoted = True
            if k == "STRING" and not unquoted and (j + 1 >= n
                                                   or tokens[j + 1][0] in ("COMMA", "RPAR")):
                item.append(tokens[j])
                cur = j
                break
            e = _expression_end(tokens, j, _DATA_ATOMS)
            if e is None:
                raise _NotData
            if e < n and tokens[e][0] == "DUP":
                if any(t[0] == "DUP" for t in item):
                    # `2 dup 3 dup 4`: NASM's dup of a dup, `2 dup (3 dup 4)`
                    item.append(("GLPAR", "("))
                    closing += 1
                item += tokens[j:e + 1]
                j = e + 1
                continue
            item += [("ID", v) if k == "EQU" else (k, v) for k, v in tokens[j:e]]
            if e - j == 1 and tokens[j][0] == "STRING":
                # not a string item then: an expression (its value as a number)
                item += [("PLUS", "+"), ("NUMBER", "0")]
            cur = e
            break
        # where NASM looks for the comma: the token it stopped at, else the next one
        if item[-1][0] == "DUP":
            raise _NotData
        out += item
        out += [("RPAR", ")")] * closing
        if cur >= n:
            return n
        k = tokens[cur][0]
        if k == "RPAR" and not group:
            return cur
        if k != "COMMA":
            cur += 1
            if cur >= n:
                return n
            k = tokens[cur][0]
            if k == "RPAR":
                return cur
            if k != "COMMA":
                err = AsmError("comma expected after operand")
                # (the words `ptr` NASM's scanner read: it warns about each)
                err.ptr_read = sum(1 for kind, v in tokens[:cur + 1]
                                   if kind == "ID" and v.lower() == "ptr")
                raise err
        out.append(_COMMA)
        j = cur + 1
    return n


def _learn_tokens(values: list, elems: list) -> Optional[list]:
    """``elems`` (a line's shape elements, None for a token text not seen before)
    completed with the new tokens (a new label name or number, mostly), which are
    remembered as _tokens remembers them; None when one of them needs _tokens itself."""
    known = _token_cache
    for i, elem in enumerate(elems):
        if elem is None:
            value = values[i]
            try:
                tok = _token(value)
            except AsmError:
                return None
            if tok is None or tok is _EXPONENT or tok[1] != value or len(known) >= 200_000:
                return None
            known[value] = tok
            elems[i] = _shape_elems[value] = tok[0] if tok[0] in _SLOTTED else value
    return elems


# the tokens that end a `dup`'s count
_DUP_AFTER = frozenset(("NUMBER", "ID", "RPAR", "STRING", "HERE", "SECTSTART", "FLOAT"))


_ITEM_START = ("DATA", "COMMA", "GLPAR", "DUP", "SIZE")     # (what a data item follows)


def _dup_tokens(tokens: list) -> list:
    """A data line's `dup` and `%(`: the grammar's DUP and GLPAR (group parenthesis)."""
    out: list = []
    for k, v in tokens:
        if k == "ID" and v.lower() == "dup" and out and (out[-1][0] in _DUP_AFTER or (
                out[-1][0] in ("DATA", "RESV") and len(out) > 1
                and out[-2][0] in _ITEM_START)):    # (`dd dw dup 3`: dw, a symbol)
            out.append(("DUP", v))      # (elsewhere `dup` is a symbol's name, as in NASM)
        elif k == "LPAR" and out and out[-1][0] == "DUP":
            out.append(("GLPAR", v))
        elif len(out) > 1 and out[-1] == ("BINOP", "%") and out[-2][0] in _ITEM_START:
            if k == "LPAR":
                out[-1] = ("GLPAR", v)      # `%(` where an item starts (not modulo)
            else:
                out[-1] = (k, v)            # NASM skips any other `%` there (`db % 5`)
        else:
            out.append((k, v))
    if len(out) > 1 and out[-1] == ("BINOP", "%") and out[-2][0] in _ITEM_START:
        out.pop()
    return out


_X87_TO = frozenset(("fadd", "fsub", "fsubr", "fmul", "fdiv", "fdivr"))


def _x87_to(tokens: list) -> list:
    """NASM's `fadd to st1`: the destination is the register (`fadd st1, st0`)."""
    insn, reg = tokens[-3], tokens[-1]
    if (insn[0] == "INSN" and insn[1].lower() in _X87_TO and reg[0] == "REG"
            and reg[1].lower().startswith("st")):
        return tokens[:-2] + [reg, ("COMMA", ","), ("REG", "st0")]
    return tokens


# `times n equ` with no value: each repetition's EQU fails (see the assembler's _times_equ)
EMPTY_EQU = CExpr(E.Num(0))


def _times_equ(tokens: list) -> Optional[Statement]:
    """`[x:] times n equ v`: NASM repeats the EQU, which then names no label (or the label
    the line defined at `$`); see the assembler's _times_equ. None: not that shape."""
    t = next(i for i, (k, _) in enumerate(tokens) if k == "TIMES")
    head = tokens[:t]
    if head and (head[0][0] != "ID" or [k for k, _ in head[1:]] not in ([], ["COLON"])):
        return None
    e = next(i for i, (k, _) in enumerate(tokens) if k == "EQU")
    try:
        count = parse_expr_tokens(tokens[t + 1:e])
        value = parse_expr_tokens(tokens[e + 1:]) if e + 1 < len(tokens) else EMPTY_EQU
    except AsmError:
        return None
    return Statement(label=head[0][1] if head else None, colon=len(head) == 2,
                     times=(count,), equ=value)


def _equ_after_insn(tokens: list) -> list:
    """NASM reads `equ` after an instruction's mnemonic as a name (`jmp equ`, a label
    `equ:` elsewhere)."""
    i = next((i for i, (k, _) in enumerate(tokens) if k == "INSN"), None)
    if i == 0 and len(tokens) > 1 and tokens[1][0] == "COLON":
        # (`loop: equ 5`: a label named like a mnemonic, then the line's own mnemonic)
        i = next((i for i, (k, _) in enumerate(tokens) if k == "INSN" and i > 1), None)
    if i is None:
        return tokens
    out = tokens[:i + 1]
    for k, v in tokens[i + 1:]:
        # (where an operand's expression may start: after `]` or a value it is the EQU
        # token NASM's parser names in its message)
        out.append(("ID", v) if k == "EQU" and out[-1][0] in _EQU_NAME_AFTER else (k, v))
    return out


_EQU_NAME_AFTER = frozenset(("COMMA", "INSN", "LBRACK", "LPAR", "PLUS", "MINUS", "BINOP",
                             "TILDE", "BANG", "SEG", "QMARK", "COLON", "SIZE", "JUMPKW",
                             "STRICT"))


def _equ_operand(tokens: list) -> list:
    """`x equ strict 5`: NASM's operand reader takes STRICT (no size) before the value."""
    e = 2 if tokens[1][0] == "EQU" else 3 if tokens[1][0] == "COLON" else 0
    k = e
    while 0 < k < len(tokens) and tokens[k][0] == "STRICT":
        k += 1
    if k == len(tokens) > e:
        raise AsmError("expression syntax error")
    if k < len(tokens) and tokens[k][0] == "NOSPLIT":
        raise AsmError("invalid operand size specification",
                       also=("expression syntax error",) if k + 1 == len(tokens) else ())
    return tokens[:e] + tokens[k:]


# Templates Lark made in earlier runs, kept on disk as Lark keeps its table: a source whose
# token shapes are all there never imports Lark (a third of pyasm's start-up). The file
# (marshal: quick to read) maps each shape to its template as bytes: b"m" and the marshal
# of its plain data (asm/plaindata.py), or b"p" and a pickle for a template that holds
# anything else; an entry is decoded only when a line of its shape comes (a run uses a
# few of a full store's entries). The file is valid for the exact sources that make
# templates (stamp), and rewritten at exit when this run made new templates: the shapes
# this run used first. A template that cannot be serialised (too deep) is not stored:
# a cache costs time, never a result.
_STORE_MAX = 1000
_STORE_NAME = cachefile.cache_name("nasm-templates", ".marshal", os.path.dirname(__file__))
_STORE_SOURCES = ("parser.py", "syntax.py", "grammar.py", "expr.py", "nasm.lark",
                  "plaindata.py")
_stored: Optional[dict] = None          # shape -> store entry, read on the first miss
_used: dict = {}                        # shape -> store entry, for the next store
# (a shape is written as its elements joined by \x1f)
_dirty = False                          # Lark made a template: save the store at exit


def _stamp() -> tuple:
    here = os.path.dirname(os.path.abspath(__file__))
    out: list = [sys.implementation.cache_tag, marshal.version]
    for name in _STORE_SOURCES:
        st = os.stat(os.path.join(here, name))
        out.append((name, st.st_size, st.st_mtime_ns))
    return tuple(out)


def _load_store() -> dict:
    # templates may be pickles: only a file this user's pyvm signed is read (cachefile)
    data = cachefile.load(_STORE_NAME)
    if data is None:
        return {}
    try:
        stamp, templates = marshal.loads(data)
        if stamp == _stamp() and type(templates) is dict:
            return templates
    except Exception:       # missing, unreadable, half-written or stale: start afresh
        pass
    return {}


def save_templates() -> None:
    """Write the template store now if this run added to it (at exit otherwise; a
    process that leaves through os._exit calls this first)."""
    global _dirty
    if _dirty:
        _dirty = False
        _save_store()


def _save_store() -> None:
    keep = dict(_used)
    for key, data in (_stored or {}).items():
        if len(keep) >= _STORE_MAX:
            break
        keep.setdefault(key, data)
    try:
        data = marshal.dumps((_stamp(), keep))
    except Exception:       # a cache that cannot be written costs time, never a result
        return
    cachefile.store(_STORE_NAME, data)


def _template(key: tuple, tokens: list, start: str):
    """The raw template of a token shape: from the store, else parsed by Lark."""
    global _stored
    if _stored is None:
        _stored = _load_store()
    key = "\x1f".join(key)     # (one string reads back quicker than a tuple of them)
    data = _stored.get(key)
    if data is not None:
        try:
            if data[:1] == b"m":
                raw = plaindata.thaw(marshal.loads(data[1:]))
            elif data[:1] == b"p":
                # (only for such templates: under PyPy pickle is a slow import)
                import pickle
                raw = pickle.loads(data[1:])
            else:
                raise ValueError("not a template entry")
            _used[key] = data
            return raw
        except Exception:   # (a class the template names is gone: parse it again)
            pass
    from asm import grammar
    raw = grammar.parse_template(tokens, start, _SLOTTED)
    data = _entry(raw)
    if data is not None:
        global _dirty
        if not _dirty:
            _dirty = True
            atexit.register(save_templates)
        _used[key] = data
    return raw


def _entry(raw) -> Optional[bytes]:
    """``raw`` as a store entry; None for a template not to store."""
    try:
        frozen = plaindata.freeze(raw)
        if frozen is not None:
            return b"m" + marshal.dumps(frozen)
    except Exception:       # (marshal's own depth limit: try pickle)
        pass
    try:
        import pickle
        data = pickle.dumps(raw, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:       # (RecursionError: a very deep expression)
        return None
    # (a Lark object in the pickle: loading it would import Lark)
    return None if b"lark" in data else b"p" + data


# NASM's evaluator takes fewer than 8192 operators and `(` in one expression (an operand
# or data item; the count is all it checks, however they nest)
_LONG = 8192
_COUNTED = frozenset(("BINOP", "PLUS", "MINUS", "TILDE", "BANG", "SEG", "LPAR", "GLPAR"))
_EXPRESSION_ENDS = frozenset(("COMMA", "INSN", "DATA", "RESV", "TIMES", "EQU", "INCBIN"))


def _check_length(tokens: list) -> None:
    """Raise NASM's error for an expression of a line with too many operators (`?` and
    its `:` count too; a segment's or label's colon does not)."""
    count = depth = asked = 0
    for kind, _ in tokens:
        if kind in _COUNTED or kind == "QMARK" or (kind == "COLON" and asked):
            count += 1
            depth += kind == "LPAR" or kind == "GLPAR"
            asked += (kind == "QMARK") - (kind == "COLON")
            if count >= _LONG:
                raise AsmError("expression too long")
        elif kind == "RPAR":
            depth -= 1
        elif kind in _EXPRESSION_ENDS and depth <= 0:
            count = depth = asked = 0


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
        if len(tokens) >= _LONG:
            _check_length(tokens)
        tpl = _template(key, tokens, start)
        if start == "line":
            tpl = _Template(tpl)
        if len(_templates) < 100_000:
            _templates[key] = tpl
    try:
        if start == "line":
            return tpl.fill(vals)
        return CExpr(_fill_expr(tpl, vals))
    except RecursionError:      # (`1+(1+(...))`, thousands deep: NASM takes 8191)
        if start == "line":
            return E.deeper(tpl.fill, vals)
        return CExpr(E.deeper(_fill_expr, tpl, vals))


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
