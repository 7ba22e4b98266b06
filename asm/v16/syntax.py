"""V16 source lines: the grammar (``v16.lark``) and the dataclasses it is turned into,
plus ``looks_like_v16_source``, which tells a V16 source from an x86 or a B32 one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Optional

from lark import Lark, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from asm.v16.instructions import MNEMONICS, REGISTER_NUMBER

DIRECTIVES = (".org", ".entry", ".equ", ".byte", ".word")


@dataclass(frozen=True)
class OperandText:
    kind: str              # "name", "number", "char" or "string"
    text: str              # as written (quotes included for char and string)
    memory: bool = False   # written in brackets: [value] or [reg]


@dataclass(frozen=True)
class SourceLine:
    number: int
    label: Optional[str] = None        # as written, without ':'
    name: Optional[str] = None         # mnemonic or directive (with its '.'), as written
    directive: bool = False
    operands: tuple[OperandText, ...] = field(default_factory=tuple)


class SyntaxProblem(Exception):
    """A line that does not parse; the message is for the user."""


class _ToSourceLine(Transformer):
    def line(self, children):
        label = statement = None
        for child in children:
            if isinstance(child, tuple):
                statement = child
            elif child is not None:
                label = str(child)[:-1]
        name, directive, operands = statement or (None, False, ())
        return SourceLine(0, label, name, directive, operands)

    def instruction(self, children):
        return (str(children[0]), False, children[1] or ())

    def directive(self, children):
        return (str(children[0]), True, children[1] or ())

    def operands(self, children):
        return tuple(children)

    def memory(self, children):
        return replace(children[0], memory=True)

    def name(self, children):
        return OperandText("name", str(children[0]))

    def number(self, children):
        return OperandText("number", str(children[0]))

    def char(self, children):
        return OperandText("char", str(children[0]))

    def string(self, children):
        return OperandText("string", str(children[0]))


_parser: Optional[Lark] = None


def _get_parser() -> Lark:
    global _parser
    if _parser is None:
        _parser = Lark.open("v16.lark", rel_to=__file__, parser="lalr", start="line",
                            maybe_placeholders=True, transformer=_ToSourceLine())
    return _parser


def parse_line(text: str, number: int) -> SourceLine:
    """Parse one source line (without its line ending); raises SyntaxProblem."""
    try:
        parsed = _get_parser().parse(text)
    except UnexpectedInput as e:
        raise SyntaxProblem(_describe(e, text)) from None
    return replace(parsed, number=number)


def _describe(e: UnexpectedInput, text: str) -> str:
    """Turn a Lark error into a sentence a learner can act on."""
    if isinstance(e, UnexpectedCharacters):
        c = text[e.pos_in_stream]
        if c in "'\"":
            kind = "character" if c == "'" else "string"
            return f"unterminated {kind} literal (a closing {c} is missing)"
        if c == ":":
            return ("unexpected ':' (one label per line, at its start, written as a name "
                    "directly followed by ':')")
        if c in "+-*/" and text[:e.pos_in_stream].strip():
            return f"unexpected {c!r}: V16 has no expressions (write the value itself)"
        return f"unexpected character {c!r}"
    token = e.token if isinstance(e, UnexpectedToken) else None
    if isinstance(e, UnexpectedEOF) or token is None or token.type == "$END":
        if text.split(";")[0].rstrip().endswith(","):
            return "expected an operand after ','"
        if "[" in text and "]" not in text:
            return "missing ']'"
        return "unexpected end of line"
    if token.type == "LABEL":
        return f"unexpected '{token}' (only one label per line, at its start)"
    if token.type in ("NAME", "NUMBER", "CHAR", "STRING", "LSQB") and \
            text[:token.start_pos].strip():
        return f"unexpected '{token}': operands are separated by ','"
    return f"unexpected '{token}'"


# -- recognising a V16 source --------------------------------------------------------------

_STATEMENT = re.compile(r"^[ \t]*(?:[A-Za-z_]\w*:)?[ \t]*(\.?[A-Za-z_]\w*)?([^;\n]*)", re.M)
_FLAG_OPS = {"ste", "cle", "stg", "clg", "sth", "clh", "stl", "cll"}


def looks_like_v16_source(text: str) -> bool:
    """True when every statement is a V16 mnemonic or directive, and at least one of them
    exists only on V16: a flag instruction (ste, clg, ...), ``out`` with one register
    operand, or a directive (.org, .entry, .equ, .byte, .word; NASM has none of them).

    An x86 source fails the first test (db, section, int, xor, eax ...), a B32 source too
    (LDA, END ...). A V16 source made only of instructions x86 also has (mov cx, 3 /
    dec cx) is not recognised: name the format (-f v16, .v16) for those.
    """
    marker = False
    for m in _STATEMENT.finditer(text):
        word, rest = m.group(1), m.group(2).strip()
        if word is None:
            if rest:
                return False
            continue
        low = word.lower()
        if low.startswith("."):
            if low not in DIRECTIVES:
                return False
            marker = True
        elif low not in MNEMONICS:
            return False
        elif low in _FLAG_OPS or (low == "out" and rest.lower() in REGISTER_NUMBER):
            marker = True
    return marker
