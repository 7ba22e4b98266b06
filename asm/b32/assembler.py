"""The B32 assembler (spec section 4): two passes over parsed lines, table-driven encoding.

Pass 1 gives every label its address (so forward references work everywhere) and checks
each line on its own; pass 2 resolves labels and emits bytes. Every error is collected,
at most one per line, and reported together as ``AsmErrors``.

The language is the tutorial's, with the spec's recommendations:
- a name in column 0 is a label, its ':' optional; an indented label needs the ':'. A
  label may share its line with an instruction ("Loop: INCX"; the tutorial dropped the
  instruction). An instruction typed in column 0 is an error, not a silent label.
- ``;`` comments and blank lines anywhere; mnemonics, registers and labels ignore case.
- operands: ``#42``, ``#$2A``, ``#Label`` (16-bit operands only), ``,X`` (STA only);
  ``END Label`` (also ``END #Label`` or an address) names the entry and ends assembly:
  later lines are ignored. No ORG: the origin comes from the caller (``--origin``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Union

from asm.b32.instructions import BY_MNEMONIC, Instruction, Operand, encode
from asm.b32.syntax import OperandText, SourceLine, SyntaxProblem, parse_line
from asm.errors import AsmError, AsmErrors, did_you_mean
from formats.b32 import ADDRESS_SPACE, B32Image

DEFAULT_ORIGIN = 0x1000

_LABEL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*\Z")
_DECIMAL = re.compile(r"[0-9]+\Z")
_HEX = re.compile(r"\$([0-9A-Fa-f]+)\Z")
_C_HEX = re.compile(r"0[xX]([0-9A-Fa-f]+)\Z|([0-9][0-9A-Fa-f]*)[hH]\Z")
_LABEL_USERS = "LDX, LDY, CMPX, CMPY, CMPD and the jumps"


@dataclass(frozen=True)
class LabelRef:
    name: str     # as written


@dataclass(frozen=True)
class Statement:
    """One instruction after pass 1: its address and its not yet resolved operand."""

    line: int
    address: int
    insn: Instruction
    operand: Union[int, LabelRef, None]


@dataclass(frozen=True)
class Program:
    image: B32Image
    labels: dict[str, int]          # upper-case name -> address
    statements: list[Statement]     # in address order


class _Problem(Exception):
    """An error on the line being assembled."""


def assemble(text: str, filename: str, origin: int = DEFAULT_ORIGIN) -> bytes:
    """Assemble B32 source into the bytes of a complete .b32 file.

    Raises AsmErrors carrying every error found (``file:line: error: message``).
    """
    return assemble_program(text, filename, origin).image.to_bytes()


def assemble_program(text: str, filename: str, origin: int = DEFAULT_ORIGIN) -> Program:
    """Like assemble(), but also returns the labels and the statements."""
    if not 0 <= origin <= 0xFFFF:
        raise AsmErrors([AsmError(
            f"origin ${origin:X} is outside the B32 address space ($0000-$FFFF)", filename)])
    return _Assembly(filename, origin).run(text)


class _Assembly:
    def __init__(self, filename: str, origin: int):
        self.filename = filename
        self.origin = origin
        self.errors: list[AsmError] = []
        self.labels: dict[str, tuple[int, str, int]] = {}   # NAME -> (address, spelling, line)
        self.statements: list[Statement] = []
        self.after_end: list[str] = []     # ignored lines, only for a better message

    def error(self, message: str, line: int) -> None:
        self.errors.append(AsmError(message, self.filename, line))

    def run(self, text: str) -> Program:
        end = self.first_pass(text)
        code = self.second_pass()
        entry = self.entry_address(end) if end else 0
        if self.errors:
            raise AsmErrors(sorted(self.errors, key=lambda e: e.line or 0))
        labels = {name: address for name, (address, _, _) in self.labels.items()}
        return Program(B32Image(self.origin, entry, code), labels, self.statements)

    # -- pass 1 ---------------------------------------------------------------------------

    def first_pass(self, text: str) -> Optional[Statement]:
        """Lay out every line up to END; returns the END statement, if any."""
        address = self.origin
        overflow_reported = False
        lines = text.lstrip("\ufeff").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for number, raw in enumerate(lines, 1):
            insn, operand = self.first_pass_line(raw.rstrip("\r"), number, address)
            if insn is None:
                continue
            statement = Statement(number, address, insn, operand)
            self.statements.append(statement)
            address += insn.length
            if address > ADDRESS_SPACE and not overflow_reported:
                overflow_reported = True
                self.error(f"the program runs past $FFFF, the end of memory "
                           f"(origin ${self.origin:04X})", number)
            if insn.mnemonic == "END":
                self.after_end = lines[number:]
                return statement       # END stops assembly: later text is ignored (spec 4.3)
        self.error("missing END: finish the program with 'END label', naming the label "
                   "where execution starts", max(len(lines), 1))
        return None

    def first_pass_line(self, raw: str, number: int, address: int
                        ) -> tuple[Optional[Instruction], Union[int, LabelRef, None]]:
        """Define the line's label and check its instruction; reports the first problem.

        Returns (instruction, operand); the instruction is kept even on a bad line when it
        is recognisable, so that the addresses of later labels stay right.
        """
        try:
            source = parse_line(raw, number)
        except SyntaxProblem as e:
            self.error(str(e), number)
            label, insn = _salvage(raw)
            if label and label.upper() not in self.labels:
                self.labels[label.upper()] = (address, label, number)
            return insn, None
        problems = []
        if source.label is not None:
            try:
                self.define(source.label, address, number)
            except _Problem as e:
                problems.append(e)
        insn = operand = None
        if source.mnemonic is not None:
            insn = BY_MNEMONIC.get(source.mnemonic.upper())
            try:
                insn, operand = self.check(source)
            except _Problem as e:
                problems.append(e)
        if problems:
            self.error(str(problems[0]), number)
        return insn, operand

    def define(self, name: str, address: int, line: int) -> None:
        if not _LABEL_NAME.match(name):
            raise _Problem(f"bad label name '{name}': a label starts with a letter and "
                           "contains only letters and digits")
        key = name.upper()
        if key in self.labels:
            first = self.labels[key][2]
            raise _Problem(f"duplicate label '{name}' (first defined on line {first})")
        self.labels[key] = (address, name, line)

    def check(self, source: SourceLine) -> tuple[Instruction, Union[int, LabelRef, None]]:
        """Validate one instruction line; returns its table entry and operand."""
        name = source.mnemonic
        if source.column0:
            raise _Problem(f"'{name}' is in column 0, where B32 expects a label: indent "
                           f"instructions with a space or tab (or write '{name}:' for a label)")
        insn = BY_MNEMONIC.get(name.upper())
        if insn is None:
            raise _Problem(f"unknown instruction '{name}'"
                           + did_you_mean(name.upper(), {m: m for m in BY_MNEMONIC}))
        return insn, _operand(insn, source.operand)

    # -- pass 2 ---------------------------------------------------------------------------

    def second_pass(self) -> bytes:
        code = bytearray()
        for s in self.statements:
            value = s.operand if s.insn.operand.size else None   # END's label: see entry
            if isinstance(value, LabelRef):
                value = self.resolve(value, s.line)
            if s.insn.operand.size and (value is None or value > 0xFFFF):
                value = 0               # already reported; only the layout matters now
            code += encode(s.insn, value)
        return bytes(code)

    def resolve(self, ref: LabelRef, line: int) -> int:
        found = self.labels.get(ref.name.upper())
        if found is None:
            spellings = {key: spelled for key, (_, spelled, _) in self.labels.items()}
            defined_later = re.compile(rf"\s*{re.escape(ref.name)}\b", re.IGNORECASE)
            if any(defined_later.match(text) for text in self.after_end):
                hint = " (it comes after END, and assembly stops at END)"
            else:
                hint = did_you_mean(ref.name.upper(), spellings)
            self.error(f"undefined label '{ref.name}'{hint}", line)
            return 0
        return found[0]

    def entry_address(self, end: Statement) -> int:
        if isinstance(end.operand, LabelRef):
            return self.resolve(end.operand, end.line)
        return end.operand if end.operand is not None else 0


def _operand(insn: Instruction, operand: Optional[OperandText]) -> Union[int, LabelRef, None]:
    """Check the operand's form against the table and return its value."""
    kind = insn.operand
    name = insn.mnemonic
    if kind is Operand.NONE:
        if operand is not None:
            raise _Problem(f"{name} takes no operand (comments start with ';')")
        return None
    if kind is Operand.INDEX_X:
        if operand is None or operand.kind != "indexed" or operand.text.upper() != "X":
            raise _Problem("STA stores A at the address in X and is written 'STA ,X'")
        return None
    if kind is Operand.ENTRY:
        if operand is None or operand.kind == "indexed":
            raise _Problem("END needs the label where execution starts, e.g. 'END Start'")
        return _value(insn, operand.text)
    # BYTE or WORD
    if operand is None:
        raise _Problem(f"{name} needs an operand: {insn.usage}")
    if operand.kind == "indexed":
        raise _Problem(f"{name} has no ',X' form (only 'STA ,X' uses X as an address)")
    if operand.kind == "bare":
        raise _Problem(f"missing '#' before '{operand.text}': write '{name} #{operand.text}'")
    return _value(insn, operand.text)


def _value(insn: Instruction, text: str) -> Union[int, LabelRef]:
    """A number (42, $2A) or a label, range-checked for the instruction."""
    name = insn.mnemonic
    if not text:
        raise _Problem(f"'#' must be followed by a number or a label: {insn.usage}")
    hex_digits = _HEX.match(text)
    if hex_digits or _DECIMAL.match(text):
        value = int(hex_digits.group(1), 16) if hex_digits else int(text)
        _check_range(insn, value, text)
        return value
    if _LABEL_NAME.match(text):
        if insn.operand is Operand.BYTE:
            raise _Problem(f"{name} takes an 8-bit number, not a label: a label is a 16-bit "
                           f"address, usable with {_LABEL_USERS}")
        return LabelRef(text)
    raise _Problem(_bad_value(text))


def _check_range(insn: Instruction, value: int, text: str) -> None:
    if insn.operand is Operand.BYTE and value > 0xFF:
        raise _Problem(f"value {text} is out of range for {insn.mnemonic}: "
                       "an 8-bit operand must be 0-255 ($00-$FF)")
    if value > 0xFFFF:
        raise _Problem(f"value {text} is out of range for {insn.mnemonic}: "
                       "a 16-bit operand must be 0-65535 ($0000-$FFFF)")


def _bad_value(text: str) -> str:
    if not text.isascii():
        odd = next(c for c in text if not c.isascii())
        return f"unexpected character {odd!r} in '{text}'"
    c_hex = _C_HEX.match(text)
    if c_hex:
        digits = (c_hex.group(1) or c_hex.group(2)).upper()
        return f"write hexadecimal numbers with '$': #${digits}, not #{text}"
    if text.startswith("-"):
        return f"bad number '{text}': B32 numbers are unsigned, there are no negative numbers"
    if text[0] in "'\"":
        example = f"#{ord(text[1])} for {text}" if len(text) == 3 else "#65 for 'A'"
        return f"B32 has no character literals: write the character code, e.g. {example}"
    if text.startswith("$"):
        return f"bad hexadecimal number '{text}': '$' must be followed by hex digits 0-9, A-F"
    if text[0].isdigit():
        return f"bad number '{text}': write decimal (42) or hexadecimal with '$' ($2A)"
    return (f"bad label name '{text}': a label starts with a letter and contains only "
            "letters and digits")


def _salvage(raw: str) -> tuple[Optional[str], Optional[Instruction]]:
    """The label and instruction of a line that does not parse, where recognisable, so that
    one typo does not also make its label undefined or shift later addresses."""
    words = raw.split(";")[0].split()
    label = None
    head = re.match(r"(\s*)([A-Za-z][A-Za-z0-9]*)(:?)", raw)
    if head and (head.group(3) or not head.group(1) and head.group(2).upper() not in BY_MNEMONIC):
        label = head.group(2)
        words[0] = words[0][len(label):].lstrip(":")
        words = [w for w in words if w]
    insn = BY_MNEMONIC.get(words[0].upper()) if words else None
    return label, insn
