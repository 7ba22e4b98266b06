"""B32 source lines: the grammar (``b32.lark``) and the dataclasses it is turned into."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from asm.b32.instructions import BY_MNEMONIC


@dataclass(frozen=True)
class OperandText:
    kind: str    # "immediate" (#...), "indexed" (,X) or "bare" (no '#': usually a mistake)
    text: str    # the value as written, without '#'; for "indexed" the register name


@dataclass(frozen=True)
class SourceLine:
    number: int
    label: Optional[str] = None        # as written, without ':'
    mnemonic: Optional[str] = None     # as written
    operand: Optional[OperandText] = None
    column0: bool = False              # the instruction was typed in column 0


class SyntaxProblem(Exception):
    """A line that does not parse; the message is for the user."""


class _ToSourceLine(Transformer):
    def line(self, children):
        label = mnemonic = operand = None
        for child in children:
            if isinstance(child, tuple):
                mnemonic, operand = child
            elif child is not None:
                label = child
        return _line(label, mnemonic, operand)

    def column0_instruction(self, children):
        name, operand = children
        return SourceLine(0, mnemonic=str(name), operand=operand, column0=True)

    def label(self, children):
        name = children[0]
        colon = len(children) > 1
        # The spec reads a column-0 word as a label, so "END Start" typed in column 0 is a
        # label called END. Keep it as an instruction marked column0: the assembler
        # reports that one mistake instead of a missing END and an unknown "Start".
        if not colon and str(name).upper() in BY_MNEMONIC:
            return _Column0(str(name))
        return str(name)

    def instruction(self, children):
        name, operand = children
        return (str(name), operand)

    def immediate(self, children):
        return OperandText("immediate", str(children[0])[1:].strip())

    def indexed(self, children):
        return OperandText("indexed", str(children[0]))

    def bare(self, children):
        return OperandText("bare", str(children[0]))


class _Column0(str):
    """A mnemonic found where the spec expects a label (column 0, no colon)."""


def _line(label, mnemonic, operand) -> SourceLine:
    if not isinstance(label, _Column0):
        return SourceLine(0, label=label, mnemonic=mnemonic, operand=operand)
    # "END Start" in column 0 parses as label END, instruction "Start": that word is the
    # operand. Longer lines are not worth guessing at; the column-0 error says it all.
    operand = OperandText("bare", mnemonic) if mnemonic and operand is None else None
    return SourceLine(0, mnemonic=str(label), operand=operand, column0=True)


_parser: Optional[Lark] = None


def _get_parser() -> Lark:
    global _parser
    if _parser is None:
        _parser = Lark.open("b32.lark", rel_to=__file__, parser="lalr", start="line",
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
        return f"unexpected character {text[e.pos_in_stream]!r}"
    token = e.token if isinstance(e, UnexpectedToken) else None
    if isinstance(e, UnexpectedEOF) or token is None or token.type == "$END":
        if text.rstrip().endswith(","):
            return "expected a register after ',' (STA's operand is ',X')"
        return "unexpected end of line"
    return f"unexpected '{token}'" + _hint(token, text)


def _hint(token: Token, text: str) -> str:
    if token.type == "COLON":
        return " (one label per line, at its start: 'Loop:' or 'Loop: INCX')"
    if token.start_pos == 0:
        return " (a label starts with a letter; instructions are indented)"
    if token.type == "COMMA":
        return " (',X' belongs to STA only: 'STA ,X')"
    if text[:token.start_pos].strip():
        return " after the operand (comments start with ';')"
    return ""
