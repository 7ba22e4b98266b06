"""The V16 assembler (v16-spec.md section 7): two passes over parsed lines, table-driven.

Pass 1 parses each line on its own, defines labels and constants, picks each
instruction's row of the table from its mnemonic and operand shapes and lays out the
bytes; pass 2 resolves names (forward references work everywhere except in ``.org``) and
range-checks what they stand for. Every error is collected and reported together as
``AsmErrors`` (``file:line: error: message`` each), so one run shows them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Union

from asm.errors import AsmError, AsmErrors, did_you_mean
from asm.v16.instructions import (
    MNEMONICS,
    OTHER_REGISTERS,
    REGISTER_NUMBER,
    REGISTERS,
    Instruction,
    Operand,
)
from asm.v16.syntax import DIRECTIVES, OperandText, SyntaxProblem, parse_line
from formats.v16 import CODE_END, V16FormatError, V16Image

_NUMBER = re.compile(r"-?(?:0[xX]([0-9A-Fa-f]+)|([0-9]+))\Z")
_ESCAPES = {"n": "\n", "t": "\t", "0": "\0", "\\": "\\", "'": "'", '"': '"'}
_ESCAPE_LIST = r"\n \t \0 \\ \' \""
_LABEL_HEAD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*):")

# Field ranges (spec 7.2): a negative value is stored in two's complement.
WORD_RANGE = (-0x8000, 0xFFFF)
BYTE_RANGE = (-0x80, 0xFF)


@dataclass(frozen=True)
class Ref:
    """A name used as a value, resolved in pass 2."""

    name: str
    line: int


Value = Union[int, Ref]


@dataclass
class Field:
    """Bytes of a statement still to be produced: ``size`` bytes of ``value``."""

    size: int
    value: Value
    bounds: tuple[int, int]


@dataclass
class Statement:
    """An instruction or a data directive after pass 1."""

    line: int
    offset: int                       # from the load address
    insn: Optional[Instruction]       # None for .byte / .word
    fields: list[Field]
    data: bytes = b""                 # filled in by pass 2

    @property
    def size(self) -> int:
        return (1 if self.insn else 0) + sum(f.size for f in self.fields)


@dataclass(frozen=True)
class Program:
    image: V16Image
    labels: dict[str, int]            # name -> absolute address
    constants: dict[str, int]         # .equ name -> value
    statements: list[Statement]       # in address order, with their bytes


class _Problem(Exception):
    """An error on the line being assembled."""


def assemble(text: str, filename: str) -> bytes:
    """Assemble V16 source into the bytes of a complete .v16 file.

    Raises AsmErrors carrying every error found (``file:line: error: message``).
    """
    return assemble_program(text, filename).image.to_bytes()


def assemble_program(text: str, filename: str) -> Program:
    """Like assemble(), but also returns the labels, constants and statements."""
    return _Assembly(filename).run(text)


class _Assembly:
    def __init__(self, filename: str):
        self.filename = filename
        self.errors: list[AsmError] = []
        self.names: dict[str, tuple[str, int, int]] = {}  # name -> (kind, value, line)
        self.statements: list[Statement] = []
        self.offset = 0
        self.load = 0
        self.org_line: Optional[int] = None
        self.entry: Optional[Ref] = None
        self.entry_line = 0
        self.overflow_reported = False

    def error(self, message: str, line: int) -> None:
        self.errors.append(AsmError(message, self.filename, line))

    def run(self, text: str) -> Program:
        lines = text.lstrip("\ufeff").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for number, raw in enumerate(lines, 1):
            try:
                self.first_pass_line(raw.rstrip("\r"), number)
            except _Problem as e:
                self.error(str(e), number)
        last = max(len(lines), 1)
        for s in self.statements:
            s.data = self.emit(s)
        image = self.finish(last)
        if self.errors or image is None:
            raise AsmErrors(sorted(self.errors, key=lambda e: e.line or 0))
        labels = {n: self.load + v for n, (k, v, _) in self.names.items() if k == "label"}
        constants = {n: v for n, (k, v, _) in self.names.items() if k == "equ"}
        for s in self.statements:
            s.offset += self.load
        return Program(image, labels, constants, self.statements)

    # -- pass 1 ---------------------------------------------------------------------------

    def first_pass_line(self, raw: str, number: int) -> None:
        try:
            source = parse_line(raw, number)
        except SyntaxProblem as e:
            # Keep the label, so that one typo does not also make it undefined.
            head = _LABEL_HEAD.match(raw)
            if head and head.group(1) not in self.names:
                self.names[head.group(1)] = ("label", self.offset, number)
            raise _Problem(str(e)) from None
        if source.label is not None:
            self.define(source.label, "label", self.offset, number)
        if source.name is None:
            return
        if source.directive:
            self.directive(source.name.lower(), source.name, source.operands, number)
        else:
            self.instruction(source.name, source.operands, number)

    def define(self, name: str, kind: str, value: int, line: int) -> None:
        if name.lower() in REGISTER_NUMBER or name.lower() in OTHER_REGISTERS:
            raise _Problem(f"'{name}' is a register name and cannot be a {_KIND[kind]}")
        if name in self.names:
            first = self.names[name][2]
            raise _Problem(f"duplicate name '{name}' (first defined on line {first})")
        self.names[name] = (kind, value, line)

    def add(self, statement: Statement) -> None:
        self.statements.append(statement)
        self.offset += statement.size
        end = self.load + self.offset
        if end > CODE_END and not self.overflow_reported:
            self.overflow_reported = True
            self.error(f"the image does not fit in the code area: it would end at "
                       f"0x{end - 1:04X} (load 0x{self.load:04X} + {self.offset} bytes), "
                       "past 0x7FFF", statement.line)

    def instruction(self, written: str, operands: tuple[OperandText, ...], line: int) -> None:
        mnemonic = written.lower()
        rows = MNEMONICS.get(mnemonic)
        if rows is None:
            raise _Problem(f"unknown mnemonic '{written}'"
                           + did_you_mean(mnemonic, {m: m for m in MNEMONICS}))
        shapes = [_shape(o) for o in operands]
        for insn in rows:
            if _matches(insn, shapes):
                break
        else:
            raise _Problem(_no_form(mnemonic, rows, shapes))
        fields = []
        for kind, (_, value) in zip(insn.operands, shapes):
            if kind in (Operand.REG, Operand.IND):
                fields.append(Field(1, value, (0, 3)))
            elif kind in (Operand.IMM, Operand.MEM):
                fields.append(Field(2, self.value(value, line), WORD_RANGE))
        self.add(Statement(line, self.offset, insn, fields))

    def directive(self, name: str, written: str, operands: tuple[OperandText, ...],
                  line: int) -> None:
        if name not in DIRECTIVES:
            raise _Problem(f"unknown directive '{written}'"
                           + did_you_mean(name, {d: d for d in DIRECTIVES}))
        for o in operands:
            if o.memory:
                raise _Problem(f"{name} takes no memory operand ('[{o.text}]')")
        if name in (".byte", ".word"):
            if not operands:
                raise _Problem(f"{name} needs at least one value")
            self.data(name, operands, line)
            return
        count = 2 if name == ".equ" else 1
        if len(operands) != count:
            usage = {".org": ".org value", ".entry": ".entry label", ".equ": ".equ name, value"}
            raise _Problem(f"{name} takes {count} operand{'s' if count > 1 else ''}: "
                           f"{usage[name]}")
        if name == ".org":
            self.org(operands[0], line)
        elif name == ".entry":
            if self.entry is not None:
                raise _Problem(f".entry given twice (first on line {self.entry_line})")
            if operands[0].kind != "name" or operands[0].text.lower() in REGISTER_NUMBER:
                raise _Problem(f".entry needs a label, not '{operands[0].text}'")
            self.entry, self.entry_line = Ref(operands[0].text, line), line
        else:
            target, value = operands
            if target.kind != "name":
                raise _Problem(f".equ needs a name first, not '{target.text}'")
            if value.kind not in ("number", "char"):
                raise _Problem(f".equ value must be a number or a character literal, "
                               f"not '{value.text}'")
            number = _literal(value)
            _check_range(number, WORD_RANGE, value.text)
            self.define(target.text, "equ", number, line)

    def org(self, operand: OperandText, line: int) -> None:
        if self.org_line is not None:
            raise _Problem(f".org given twice (first on line {self.org_line})")
        if self.offset or any(s.size for s in self.statements):
            raise _Problem(".org after code: it must come before the first emitted byte")
        if operand.kind == "name":
            found = self.names.get(operand.text)
            if found is None or found[0] != "equ":
                raise _Problem(f".org needs a number or an earlier .equ constant, not "
                               f"'{operand.text}'")
            value = found[1]
        elif operand.kind in ("number", "char"):
            value = _literal(operand)
        else:
            raise _Problem(".org needs a number, not a string")
        if not 0 <= value <= 0xFFFF:
            raise _Problem(f"value {operand.text} is out of range: a load address must be "
                           "0..65535 (0x0000-0xFFFF)")
        self.load, self.org_line = value, line

    def data(self, name: str, operands: tuple[OperandText, ...], line: int) -> None:
        size, bounds = (1, BYTE_RANGE) if name == ".byte" else (2, WORD_RANGE)
        fields = []
        for o in operands:
            if o.kind == "string":
                if size == 2:
                    raise _Problem(".word takes no strings: use .byte for text")
                fields += [Field(1, ord(c), bounds) for c in _unquote(o.text)]
            elif o.kind == "name" and (o.text.lower() in REGISTER_NUMBER
                                       or o.text.lower() in OTHER_REGISTERS):
                raise _Problem(f"{name} takes values, not the register '{o.text}'")
            else:
                value = self.value(o, line)
                if isinstance(value, int):
                    _check_range(value, bounds, o.text)
                fields.append(Field(size, value, bounds))
        self.add(Statement(line, self.offset, None, fields))

    def value(self, operand: OperandText, line: int) -> Value:
        """A number, a character or a name (resolved in pass 2)."""
        if operand.kind == "name":
            return Ref(operand.text, line)
        if operand.kind == "string":
            raise _Problem(f"a string ({operand.text}) is only allowed in .byte")
        value = _literal(operand)
        _check_range(value, WORD_RANGE, operand.text)
        return value

    # -- pass 2 ---------------------------------------------------------------------------

    def emit(self, s: Statement) -> bytes:
        out = bytearray((s.insn.opcode,)) if s.insn else bytearray()
        for f in s.fields:
            value = f.value
            if isinstance(value, Ref):
                try:
                    name, value = value.name, self.resolve(value)
                    _check_range(value, f.bounds, f"'{name}' ({value})")
                except _Problem as e:
                    self.error(str(e), s.line)
                    value = 0
            out += (value & (0xFF if f.size == 1 else 0xFFFF)).to_bytes(f.size, "little")
        return bytes(out)

    def resolve(self, ref: Ref) -> int:
        found = self.names.get(ref.name)
        if found is None:
            folded = {n.lower(): n for n in self.names}
            if ref.name.lower() in folded:
                hint = f" (did you mean '{folded[ref.name.lower()]}'? names are case-sensitive)"
            else:
                hint = did_you_mean(ref.name, {n: n for n in self.names})
            raise _Problem(f"undefined name '{ref.name}'{hint}")
        kind, value, _ = found
        return self.load + value if kind == "label" else value

    def finish(self, last_line: int) -> Optional[V16Image]:
        code = b"".join(s.data for s in self.statements)
        if not code:
            if self.errors:        # the lines that failed would have emitted something
                return None
            self.error("the image is empty: there is no instruction or data to assemble",
                       last_line)
            return None
        entry = self.load
        if self.entry is not None:
            found = self.names.get(self.entry.name)
            if found is not None and found[0] == "equ":
                self.error(f".entry needs a label; '{self.entry.name}' is a .equ constant",
                           self.entry_line)
                return None
            try:
                entry = self.resolve(self.entry)
            except _Problem as e:
                self.error(str(e), self.entry_line)
                return None
            end = self.load + len(code)
            if not self.load <= entry < end:
                self.error(f"the entry '{self.entry.name}' (0x{entry:04X}) is outside the "
                           f"image (0x{self.load:04X}-0x{end - 1:04X})", self.entry_line)
                return None
        if self.errors:
            return None
        try:
            return V16Image(self.load, entry, code)
        except V16FormatError as e:      # a case the checks above missed: still one line
            self.error(str(e), last_line)
            return None


_KIND = {"label": "label", "equ": ".equ constant"}


def _shape(o: OperandText) -> tuple[str, object]:
    """('reg' | 'value' | 'mem' | 'ind', register number or the operand)."""
    if o.kind == "name":
        low = o.text.lower()
        if low in OTHER_REGISTERS:
            raise _Problem(f"register '{o.text}' cannot be an operand: only ax, bx, cx and "
                           "dx can")
        if low in REGISTER_NUMBER:
            return ("ind" if o.memory else "reg", REGISTER_NUMBER[low])
    if o.kind == "string":
        raise _Problem(f"a string ({o.text}) is only allowed in .byte")
    return ("mem" if o.memory else "value", o)


_SHAPE_OF = {Operand.REG: "reg", Operand.FIXED: "reg", Operand.IMM: "value",
             Operand.MEM: "mem", Operand.IND: "ind"}


def _matches(insn: Instruction, shapes: list[tuple[str, object]]) -> bool:
    if len(shapes) != len(insn.operands):
        return False
    for kind, (shape, value) in zip(insn.operands, shapes):
        if _SHAPE_OF[kind] != shape or (kind is Operand.FIXED and value != insn.reg):
            return False
    return True


def _no_form(mnemonic: str, rows: tuple[Instruction, ...], shapes: list) -> str:
    written = ", ".join(REGISTERS[v] if s == "reg" else "[reg]" if s == "ind" else
                        "[value]" if s == "mem" else "value" for s, v in shapes)
    forms = []
    for insn in rows:
        usage = insn.usage
        if Operand.FIXED in insn.operands:
            usage = f"{mnemonic} reg, value"       # 08-0B read as one form
        if usage not in forms:
            forms.append(usage)
    if not shapes:
        return f"{mnemonic} needs operands: {' | '.join(forms)}"
    return (f"no form '{mnemonic} {written}' in the instruction table; {mnemonic} is "
            f"written: {' | '.join(forms)}")


def _literal(o: OperandText) -> int:
    """The value of a number or character literal."""
    if o.kind == "char":
        text = _unquote(o.text)
        if len(text) != 1:
            raise _Problem(f"a character literal holds exactly one character: {o.text}")
        return ord(text)
    m = _NUMBER.match(o.text)
    if m is None:
        raise _Problem(f"bad number '{o.text}': write decimal (42, -1) or hexadecimal with "
                       "0x (0x2A)")
    value = int(m.group(1), 16) if m.group(1) is not None else int(m.group(2))
    return -value if o.text.startswith("-") else value


def _unquote(literal: str) -> str:
    """The characters of a quoted literal, escapes applied; each must fit in a byte."""
    out = []
    body = literal[1:-1]
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1]          # the grammar guarantees a character follows
            if nxt not in _ESCAPES:
                raise _Problem(f"unknown escape '\\{nxt}' in {literal} (V16 knows "
                               f"{_ESCAPE_LIST})")
            c = _ESCAPES[nxt]
            i += 1
        elif ord(c) > 0xFF:
            raise _Problem(f"character {c!r} in {literal} does not fit in a byte")
        out.append(c)
        i += 1
    return "".join(out)


def _check_range(value: int, bounds: tuple[int, int], text: str) -> None:
    low, high = bounds
    if not low <= value <= high:
        what = "a 16-bit value" if high == 0xFFFF else "a byte"
        raise _Problem(f"value {text} is out of range: {what} must be {low}..{high}")
