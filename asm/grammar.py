"""The Lark side of the parser: ``nasm.lark`` (LALR, parse table cached on disk), the
lexer that feeds it the tokens of asm.parser.tokenize, and the Transformer that turns
a token shape into a parse template (asm.syntax objects with Slot leaves)."""

from __future__ import annotations

import os
import threading

from lark import Lark, Token, Transformer
from lark.exceptions import LarkError, UnexpectedInput
from lark.lexer import Lexer

from asm import expr as E
from asm.cachefile import cache_name, sign, signed_path
from asm.errors import AsmError
from asm.syntax import (
    DATA_UNITS,
    RES_UNITS,
    SIZES,
    Data,
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

# The tokens parse_template hands to Lark, per thread (Lark's own text argument is unused):
# a template parsed from another thread's tokens would be kept, and stored on disk.
_input = threading.local()


class NasmLexer(Lexer):
    """Feeds the tokens of :func:`tokenize` (set by parse_template) to Lark."""

    def __init__(self, lexer_conf):
        pass

    def lex(self, data, *_):
        tokens = _input.tokens
        _input.lexed = tokens
        for i, (kind, value) in enumerate(tokens):
            yield Token(kind, value, start_pos=i)       # (a token's index: see _syntax_error)






_OPEN_MEMORY = "expecting ] at end of memory operand"


def _masm_ptr(x) -> bool:
    return isinstance(x, Token) and x.type == "MASMPTR"


def _split_at_ptr(c: list) -> tuple:
    """An operand's modifiers before %use masm's `ptr`, and the sizes after it (which
    NASM reads as an address's displacement size: `ptr byte [x]` is `[byte x]`)."""
    i = next(i for i, x in enumerate(c) if _masm_ptr(x))
    return tuple(c[:i]), tuple(str(x).lower() for x in c[i + 1:])


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

    def word_symbol(self, c):
        # a data or reserve word in an operand is a symbol (NASM); the token's text is
        # part of the template's shape, so no slot
        return E.Sym(str(c[0]))

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
        if _is_float(c[1]):
            return E.Invalid("expression syntax error")     # `dd (1.5)` (NASM)
        return c[1]

    def func(self, c):
        return E.Func(_slot(c[0], "lname"), c[2])

    def unop(self, c):
        inner = c[1]
        if type(inner) is E.Unary and _is_float(inner.operand):
            return E.Invalid("expression syntax error")     # `dd --1.5`: one sign only
        return E.Unary(str(c[0]).lower(), inner)

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
        if c[0].type in ("DATA", "RESV", "EQU"):    # `dw:` (no slot: its text is in the shape)
            return (str(c[0]), True)
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
        if isinstance(c[i], Token) and c[i].type == "MASMFLAT":
            i += 2                          # (%use masm's `[flat:x]`: no override)
        if isinstance(c[i], Token) and c[i].type == "SREG":
            seg = str(c[i]).lower()
            i += 2
        if isinstance(c[i], Token) and c[i].type == "MASMFLAT":
            i += 2                          # (`[fs:flat:x]`, `[flat:fs:x]`: fs)
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

    def op_dispmem(self, c):
        inner, seg, ex = c[-1]
        return OpMem(tuple(c[:-2]), inner, seg, E.Binary("+", c[-2], ex))

    def op_segdispmem(self, c):
        inner, seg, ex = c[-1]
        return self.op_segmem([*c[:-2], (inner, seg, E.Binary("+", c[-2], ex))])

    def op_ptr(self, c):
        mods, inner = _split_at_ptr(c[:-1])
        return OpMem(mods, inner, None, c[-1])

    def op_ptrmem(self, c):
        mods, inner = _split_at_ptr(c[:-1])
        if inner:       # (`ptr dword [x]`: NASM reads the size as `[dword x]`'s)
            old, seg, ex = c[-1]
            return OpMem(mods, inner + tuple(old), seg, ex)
        return self.op_mem([*mods, c[-1]])

    def op_ptrdispmem(self, c):
        return self.op_dispmem([x for x in c if not _masm_ptr(x)])

    def op_ptrsegdispmem(self, c):
        return self.op_segdispmem([x for x in c if not _masm_ptr(x)])

    def op_ptrseg(self, c):
        """`size ptr es:x` (%use masm): `size [es:x]` (not a far pointer's segment)."""
        mods = tuple(x for x in c[:-3] if not _masm_ptr(x))
        op = self.op_segmem([*mods, c[-3], c[-2], ((), None, c[-1])])
        return OpMem(op.mods, (), op.seg, op.expr)

    def op_ptrsizeseg(self, c):
        """`ptr dword es:[x]` (%use masm): the sizes after `ptr` are the address's
        displacement size, as in `[dword es:x]`."""
        mods, rest = _split_at_ptr(c[:-3])
        sizes = tuple(x for x in rest)
        if type(c[-1]) is tuple:
            op = self.op_segmem([*mods, c[-3], c[-2], c[-1]])
        else:
            op = self.op_ptrseg([*mods, c[-3], c[-2], c[-1]])
        return OpMem(op.mods, sizes + tuple(op.inner), op.seg, op.expr)

    def op_ptrflat(self, c):
        return OpMem(tuple(c[:-4]), (), None, c[-1])

    def op_ptrsegmem(self, c):
        return self.op_segmem([x for x in c if not _masm_ptr(x)])

    def op_segmem(self, c):
        inner, seg, ex = c[-1]
        outer = c[-3]
        if type(outer) is not E.RegRef or outer.name not in _SEGMENT_REGS:
            ex = E.Invalid("invalid segment override")
        elif seg is not None:
            ex = E.Invalid("instruction has conflicting segment overrides")
        else:
            seg = outer.name
        # ":" marks the override written outside: a jmp/call reads it as a far pointer's
        # segment (asm.colons)
        return OpMem(tuple(c[:-3]), inner + (":",), seg, ex)

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
        return tuple(_float_led(x) for x in c
                     if not (isinstance(x, Token) and x.type == "COMMA"))

    def dup(self, c):
        body = c[2]
        return Dup(c[0], body.items if type(body) is Dup and body.count is None
                   and body.unit is None else (body,))

    def group(self, c):
        return Dup(None, c[1])

    def sized(self, c):
        unit = SIZES.get(str(c[0]).lower())
        if unit is None:
            return E.Invalid("invalid operand size specification")
        return Dup(None, (c[1],), unit)

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


_SEGMENT_REGS = frozenset(("es", "cs", "ss", "ds", "fs", "gs"))


def _is_float(node) -> bool:
    """A float literal's leaf: NASM takes one only as a whole data item, [+-]FLOAT."""
    return type(node) is Slot and node.kind == "float"


def _float_led(item):
    """NASM reads a data item that starts with a float as that float alone: an operator
    after it wants a comma first (``dd 1.0 + 2``)."""
    node = item
    while type(node) is E.Binary or type(node) is E.Cond:
        node = node.left if type(node) is E.Binary else node.cond
    if node is not item and (_is_float(node) or (
            type(node) is E.Unary and node.op in ("+", "-") and _is_float(node.operand))):
        return E.Invalid("comma expected after operand")
    return item


def _slot(tok, kind: str) -> Slot:
    return Slot(int(tok[1:]), kind)


_GRAMMAR = os.path.join(os.path.dirname(__file__), "nasm.lark")
_parsers: dict = {}


def _lark(start: str) -> Lark:
    p = _parsers.get(start)
    if p is None:
        with open(_GRAMMAR, encoding="utf-8") as f:
            grammar = f.read()
        kwargs = dict(parser="lalr", lexer=NasmLexer, start=["line", "expr_start"],
                      transformer=ToAst(), maybe_placeholders=False)
        # Lark unpickles its cache file: only one this user's pyvm signed (cachefile)
        path = signed_path(cache_name("nasm-lark"))
        p = None
        if path is not None:
            try:
                p = Lark(grammar, cache=path, **kwargs)
                if not os.path.exists(path + ".sig"):
                    sign(path)
            except Exception:   # an unreadable or half-written cache: build the tables
                p = None
        if p is None:
            p = Lark(grammar, **kwargs)
        _parsers["line"] = _parsers["expr_start"] = p
    return p


# the tokens NASM's parse_line takes first on a line (a label, a mnemonic or a prefix)
_LINE_START = frozenset(("ID", "INSN", "PREFIX", "SREG", "TIMES", "EQU", "DATA", "RESV",
                         "INCBIN"))

# NASM's numbers of its token types (its message after a memory operand names them)
_NASM_TOKENS = {"NUMBER": 269, "FLOAT": 274, "STRING": 271, "ID": 273, "DUP": 273,
                "REG": 290, "SREG": 290, "INSN": 291, "DATA": 291, "RESV": 291,
                "INCBIN": 291, "PREFIX": 289, "SIZE": 287, "STRICT": 288, "JUMPKW": 288,
                "NOSPLIT": 288, "SEG": 278, "HERE": 275, "SECTSTART": 276, "TIMES": 289,
                "EQU": 291}
_NASM_OPERATORS = {"<<": 256, "<<<": 256, ">>": 257, ">>>": 258, "//": 259, "%%": 260,
                   "==": 61, ">=": 261, "<=": 262, "<>": 263, "!=": 263, "<=>": 264,
                   "&&": 265, "||": 266, "^^": 267}

# what may follow a line's label and prefixes
_INSN_WORDS = frozenset(("INSN", "DATA", "RESV", "INCBIN", "EQU", "TIMES"))

# a token that ends an operand: another one after it wants a comma first
_OPERAND_END = frozenset(("REG", "SREG", "NUMBER", "FLOAT", "STRING", "ID", "RBRACK", "RPAR",
                          "HERE", "SECTSTART"))


def _far_jump(before: list, tokens: tuple) -> bool:
    """The line's instruction is a jmp or call (whose operand's colon is a far pointer's)."""
    i = before.index("INSN")
    return i < len(tokens) and tokens[i][1].lower() in ("jmp", "call")


def _syntax_error(exc: Exception, what: str, kinds: list, tokens: tuple = ()) -> AsmError:
    """NASM's message for a line (``kinds``: its token types) Lark cannot parse."""
    if isinstance(exc, AsmError):
        return exc
    if what == "expr_start":
        return AsmError("expression syntax error")
    if kinds and kinds[0] not in _LINE_START:
        return AsmError("label or instruction expected at start of line")   # `5`, `-`
    tok = getattr(exc, "token", None)
    ttype = getattr(tok, "type", "$END")
    i = getattr(tok, "start_pos", None)
    if ttype == "$END" or not isinstance(i, int):
        i = len(kinds)
    before = kinds[:i]
    t = 2 if kinds[:2] == ["ID", "COLON"] else 1 if kinds[0] == "ID" else 0
    if kinds[t:] == ["TIMES", "INSN"] or (kinds[t:t + 1] == ["TIMES"] and (
            (i == t + 1 and ttype in ("INSN", "DATA", "RESV", "INCBIN", "EQU"))
            or (i == t + 2 and kinds[t + 1] in ("DATA", "RESV")))):
        # `times nop`, `times equ 1`: NASM's TIMES reads the mnemonic as its count
        return AsmError("non-constant argument supplied to TIMES",
                        also=("parser: instruction expected",))
    if (ttype == "$END" and before[-1:] in (["LPAR"], ["LBRACK"])) or (
            ttype == "LBRACK" and i == len(kinds) - 1 and "EQU" in before):
        return AsmError("expression syntax error")      # `x equ (`, `mov ax, [`
    if (ttype == "$END" and before[-2:] == ["SREG", "COLON"]
            and before.count("LBRACK") > before.count("RBRACK")):
        return AsmError("expression syntax error")      # `mov dx, [cs:`: no address
    if (ttype in ("$END", "RBRACK", "COMMA") and before[-1] not in _EXPR_OPERATORS
            and before.count("LPAR") + before.count("GLPAR") > before.count("RPAR")):
        return AsmError("expecting `)'")        # (`(1 +` ends in its operand's error)
    nested = _expression_error(before, ttype)
    if nested is not None:
        return nested
    if (ttype == "COLON" and before.count("LBRACK") > before.count("RBRACK")
            and before[-1] != "SREG"):
        # `[5:bx]`: not a segment register (`[x:`: nothing after it either)
        return AsmError("invalid segment override",
                        also=("expression syntax error",) if i + 1 >= len(kinds) else ())
    if (ttype == "$END" and before[-1:] == ["COLON"] and "QMARK" not in before
            and before.count("LBRACK") == before.count("RBRACK")
            and ("EQU" in before or ("INSN" in before and not _far_jump(before, tokens)))):
        # `push 0x10:`: NASM's segment override of a memory operand with nothing after it
        return AsmError("invalid segment override", also=("expression syntax error",))
    k = 1 if kinds[0] == "ID" or kinds[:2] == ["INSN", "COLON"] else 0
    k += kinds[k:k + 1] == ["COLON"]
    while kinds[k:k + 1] in (["PREFIX"], ["SREG"]):
        k += 1
    if 0 < k == i and ttype not in _INSN_WORDS:
        return AsmError("parser: instruction expected")     # `a16 5`, `x: rep eax`
    if (kinds[k:k + 1] == ["TIMES"] and before[-1:] and before[-1] in _OPERAND_END
            and not _INSN_WORDS.intersection(before[k + 1:]) and ttype not in _INSN_WORDS):
        return AsmError("parser: instruction expected")     # `times 2 5`
    if kinds[0] == "EQU" or (kinds[0] != "ID" and kinds[k:k + 1] == ["EQU"]):
        return AsmError("EQU not preceded by label")    # `equ 5`, `es equ 1`
    if "EQU" in kinds[1:3] and kinds[1] in ("EQU", "COLON"):
        e = kinds.index("EQU") + 1
        if kinds[e:e + 1] in (["SIZE"], ["JUMPKW"]):
            # `x equ dword 5`: NASM reads a sized operand, which an EQU cannot take
            after = kinds[e + 1] if e + 1 < len(kinds) else "$END"
            if after in ("$END", "COMMA", "SIZE", "JUMPKW"):
                return AsmError("expression syntax error")      # `x equ far`: no operand
            if after == "LBRACK":
                return AsmError("bad syntax for EQU")           # `x equ dword [1]`
            if tokens[e][1].lower() == "far":
                return AsmError("invalid use of FAR operand specifier",
                                also=("bad syntax for EQU",))
            return AsmError("mismatch in operand sizes")
        if ttype == "BINOP" and before[-1] in ("EQU", "LPAR"):
            return AsmError("expression syntax error")          # `x equ wrt y`, `x equ *2`
        if ttype == "COMMA" and kinds[i + 1:i + 2] in (["SIZE"], ["JUMPKW"]):
            # `x equ 1, far 2`: NASM reads the next operand too
            after = kinds[i + 2:i + 3]
            if after in ([], ["COMMA"]):
                return AsmError("expression syntax error")
            if tokens[i + 1][1].lower() == "far" and after != ["LBRACK"]:
                return AsmError("invalid use of FAR operand specifier",
                                also=("bad syntax for EQU",))
        if ttype == "COLON" and before.count("LBRACK") == before.count("RBRACK"):
            # `x equ 1:2`: NASM's segment override, then no memory operand in an EQU
            return AsmError("invalid segment override", also=(
                "expression syntax error" if i + 1 >= len(kinds) else "bad syntax for EQU",))
        if ttype not in ("$END", "COMMA") and before[-1:] and before[-1] in _OPERAND_END:
            return AsmError("comma, colon, decorator or end of line expected after operand")
        if before and before[-1] in _EXPR_OPERATORS:
            return AsmError("expression syntax error")      # `x equ 1+dword 5`
        if ttype == "COMMA":
            return _equ_operands_error(kinds, i)
        if kinds.count("LBRACK") > kinds.count("RBRACK") and kinds[-1] in _OPERAND_END:
            return AsmError(_OPEN_MEMORY, also=("bad syntax for EQU",))     # `x equ [bx`
        return AsmError("bad syntax for EQU")               # `x equ`
    opened = before.count("LBRACK") - before.count("RBRACK")
    if ttype == "LBRACK" and opened > 0 and before[-1] == "LBRACK":
        return AsmError("excess brackets in memory operand")    # `[[bx]]`
    if opened == 0 and before[-1:] == ["RBRACK"] and i < len(tokens):
        # `[bx]]`, `[bx] 2`: NASM names the token by its number
        code = _NASM_TOKENS.get(ttype)
        value = tokens[i][1]
        if code is None and ttype not in ("DUP", "GLPAR"):
            code = ord(value) if len(value) == 1 else _NASM_OPERATORS.get(value)
        if code is not None:
            return AsmError(f"comma, decorator or end of line expected, got {code}")
    if ttype == "COLON" and before[-3:] == ["SREG", "COLON", "SREG"]:
        return AsmError("instruction has conflicting segment overrides")    # `[ds:fs:bx]`
    if ttype == "$END" and before and "INSN" in before:
        if before[-1] in ("SIZE", "STRICT", "JUMPKW", "NOSPLIT", "MASMPTR"):
            return AsmError("expression syntax error")          # `mov eax, dword`
        i = before.index("INSN")
        if (before[-1] == "COLON" and len(before) > i + 2 and "COMMA" not in before
                and before[i:].count("COLON") == 1 and i < len(tokens)
                and tokens[i][1].lower() in ("jmp", "call")):
            # `jmp 0x10:`: NASM takes the colon as the far jump's, and no form has that
            return AsmError("invalid combination of opcode and operands")
    if ttype == "$END":
        if before.count("LBRACK") > before.count("RBRACK"):
            return AsmError(_OPEN_MEMORY)
        if before[-1:] == ["RESV"]:
            return AsmError("invalid combination of opcode and operands")   # `resd`
        return AsmError("parser: instruction expected")
    if ttype in ("REG", "SREG") and i <= 0:
        return AsmError("label or instruction expected at start of line")
    if (i == 1 and kinds[0] == "ID") or (i == 2 and kinds[:2] == ["ID", "COLON"]):
        return AsmError("parser: instruction expected")      # `label word`
    if i > 1 and "INSN" in kinds[:i] and (kinds[i - 1] in _OPERAND_END or (
            kinds[i - 1] == "INSN" and "INSN" in kinds[:i - 1])):    # `nop nop nop`
        return AsmError("comma, colon, decorator or end of line expected after operand")
    return AsmError("expression syntax error")


# the tokens an expression cannot end with
_EXPR_OPERATORS = frozenset(("BINOP", "PLUS", "MINUS", "TILDE", "BANG", "SEG", "QMARK"))


def _equ_operands_error(kinds: list, comma: int) -> AsmError:
    """`x equ 1, ...`: NASM reads the operands after the comma as an instruction's (a
    trailing comma ends them), then refuses a second one; the first message of that
    reading (`x equ 1, 2+`, `x equ 1,,`), else its EQU's."""
    if kinds[comma - 1] == "EQU":
        return AsmError("expression syntax error")      # `x equ ,`: no first one
    k = comma + 1
    while k < len(kinds):
        j, depth = k, 0
        while j < len(kinds) and not (kinds[j] == "COMMA" and depth == 0):
            depth += (kinds[j] in ("LPAR", "GLPAR", "LBRACK")) - (kinds[j] in ("RPAR", "RBRACK"))
            j += 1
        operand = kinds[k:j]
        if (not operand or operand[0] in ("RPAR", "RBRACK", "COLON", "QMARK", "BINOP")
                or operand[-1] not in _OPERAND_END):
            return AsmError("expression syntax error")
        error = _expression_error(operand, "$END")
        if error is not None:
            return error
        if operand.count("LBRACK") > operand.count("RBRACK") and "COMMA" not in operand:
            return AsmError(_OPEN_MEMORY, also=("bad syntax for EQU",))     # `x equ 1, [bx`
        k = j + 1
    return AsmError("bad syntax for EQU")


def _expression_error(before: list, ttype: str) -> AsmError | None:
    """NASM's expression parser's message where the line stops inside an expression:
    after an operator (``db 1 +``, ``db 1 ?``), or after a complete operand where a `)` or
    the `:` of an open `?` must come (``db (2 3)``, ``db 1 ? 2``); None elsewhere."""
    if not before:
        return None
    last = before[-1]
    if ttype == "$END" and (last in _EXPR_OPERATORS
                            or (last == "COLON" and "QMARK" in before)):
        return AsmError("expression syntax error")
    if last not in _OPERAND_END:
        return None
    open_: list = []                # the constructs open before the token: ( [ ?
    for k in before:
        if k in ("LPAR", "GLPAR", "LBRACK", "QMARK"):
            open_.append(k)
        elif k == "COLON" and open_ and open_[-1] == "QMARK":
            open_.pop()
        elif k in ("RPAR", "RBRACK"):
            while open_ and open_.pop() == "QMARK":
                pass
    if open_ and open_[-1] == "QMARK":
        return AsmError("`?' without matching `:'")
    if open_ and open_[-1] in ("LPAR", "GLPAR"):
        return AsmError("expecting `)'")
    return None


# the tokens after which a data or reserve word is read as a symbol (`push dw`, `dd dq`)
_OPERAND_START = frozenset(("INSN", "DATA", "RESV", "INCBIN", "EQU", "COMMA",
                            "LBRACK", "LPAR", "GLPAR", "SIZE", "STRICT", "JUMPKW", "NOSPLIT",
                            "SEG", "DUP")) | _EXPR_OPERATORS


def _kinds(tokens) -> list:
    """The token types of a line as its syntax error sees them: a data or reserve word
    where an operand starts is NASM's symbol (`cmp dw 5, 1`)."""
    kinds = [k for k, _ in tokens]
    for j in range(1, len(kinds)):
        if kinds[j] in ("DATA", "RESV") and (kinds[j - 1] in _OPERAND_START or (
                kinds[j - 1] == "COLON" and j > 2)):
            kinds[j] = "ID"
    return kinds


def _read_up_to(err: AsmError, exc: Exception, tokens) -> AsmError:
    """``err`` with how many words `ptr` NASM's scanner read before it gave up on the
    line (the token it stopped at included): it warns about each."""
    i = getattr(getattr(exc, "token", None), "start_pos", None)
    end = i + 1 if isinstance(i, int) else len(tokens)
    if err.message == "comma expected after operand":
        end += 1                # (the data reader reads one token more)
    ptrs = [k == "ID" and v.lower() == "ptr" for k, v in tokens]
    err.ptr_read = sum(ptrs[:end])
    if err.message.startswith(("comma, colon, decorator", "comma, decorator")):
        err.ptr_after = sum(ptrs[end:])     # (then it skips the rest of the line)
    return err


def parse_template(tokens: list, start: str, slotted: frozenset):
    """The template of a token shape: the line (or expression) parsed with the values of
    the ``slotted`` token types replaced by Slots. Raises AsmError."""
    mine = _input.tokens = [(k, f"\x00{i}" if k in slotted else v)
                            for i, (k, v) in enumerate(tokens)]
    _input.lexed = None
    try:
        raw = _lark(start).parse("", start=start)
        if _input.lexed is not mine:    # (never: a template of other tokens is not made)
            raise RuntimeError("pyasm: a parse template read another line's tokens")
        return raw
    except AsmError:
        raise
    except UnexpectedInput as exc:
        raise _read_up_to(_syntax_error(exc, start, _kinds(tokens), tokens), exc,
                          tokens) from None
    except LarkError as exc:
        inner = getattr(exc, "orig_exc", None)
        if isinstance(inner, AsmError):
            raise inner from None
        raise _read_up_to(_syntax_error(exc, start, _kinds(tokens), tokens), exc,
                          tokens) from None
    finally:
        _input.tokens = _input.lexed = None
