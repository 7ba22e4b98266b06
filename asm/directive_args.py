"""NASM's checks of directive arguments that the assembler otherwise only reads or ignores:
the name of `global`/`extern`/`static`/`required`/`common` (after NASM's standard macro
split the line at its commas, as its directive reader takes it), `default`'s word and
`float`'s mode; NASM's readnum (the number a directive argument starts with)."""

from __future__ import annotations

import re
import string

from asm.errors import AsmError
from asm.expr import read_number
from formats.elf.constants import STT_FUNC, STT_NOTYPE, STT_OBJECT

_ID_START = frozenset(string.ascii_letters + "_.?@")
_ID_CHARS = _ID_START | frozenset(string.digits + "$#~")
DECLARATIONS = frozenset(("global", "extern", "static", "required", "common"))
# the symbol types an ELF special names (`global x:function`), with their STT_ values
SYMBOL_TYPES = {"function": STT_FUNC, "data": STT_OBJECT, "object": STT_OBJECT,
                "notype": STT_NOTYPE}
_DEFAULTS = frozenset(("rel", "abs", "bnd", "nobnd"))
_FLOAT_MODES = frozenset(("daz", "nodaz", "near", "up", "down", "zero", "default"))


def check_declaration(directive: str, args: str) -> None:
    """Raise NASM's error for a declaration whose name its reader refuses. The standard
    macro (asm/preproc.py) has already split the line at its commas: the reader takes
    what reaches it whole (`[global a,b]` and `global {a,b}` name `a,b`)."""
    value = args.strip()
    if value.startswith("$"):
        value = value[1:]
    valid = bool(value) and value[0] in _ID_START
    i = 1
    while valid and i < len(value) and value[i] != ":" and not value[i].isspace():
        valid = value[i] in _ID_CHARS
        i += 1
    if not valid:
        raise AsmError(f"identifier expected after {directive}, got `{value}'")
    rest = value[i:].strip()
    if directive == "common":
        if not value[i:i + 1].isspace() or not rest:
            raise AsmError("no size specified in common declaration")
    elif value[i:i + 1].isspace() and rest:
        raise AsmError(f"invalid syntax in {directive} declaration")


def check_default(args: str) -> str:
    """`default`: NASM reads the first token only (rel, abs, bnd, nobnd; not a comma),
    which is returned in lower case."""
    words = args.split(",", 1)[0].split()
    if not words or words[0].lower() not in _DEFAULTS:
        raise AsmError("invalid parameter to [default] directive")
    return words[0].lower()


def check_float(args: str) -> None:
    """`float`: the whole argument is one mode."""
    if args.strip().lower() not in _FLOAT_MODES:
        raise AsmError(f"unknown 'float' directive: {args.strip()}")


_NUMBER_HEAD = re.compile(r"\s*(-?)([A-Za-z0-9_]*)")


def read_num(text: str) -> tuple:
    """NASM's readnum: (value or None when it is no number, the text after it) of the
    number ``text`` starts with (letters, digits, `_`; a `-` before them); what follows is
    not its business (`common x 4*2` is 4 bytes)."""
    m = _NUMBER_HEAD.match(text)
    sign, digits = m.groups()
    try:
        value = read_number(digits) if digits else None
    except AsmError:
        value = None
    if value is not None and sign:
        value = -value
    return value, text[m.end():]


# NASM 2.16's `cpu` names in its order, with their level (asm.x86.table's Form.level; None:
# a feature flag, no level): NASM takes the first name the word begins (`cpu 3` is 386,
# `cpu p` pentium)
_CPU_NAMES = (
    ("default", 99), ("8086", 0), ("186", 1), ("286", 2), ("386", 3), ("486", 4), ("586", 5),
    ("pentium", 5), ("pentiummmx", 5), ("686", 6), ("p6", 6), ("ppro", 6), ("pentiumpro", 6),
    ("p2", 6), ("pentiumii", 6), ("p3", 7), ("katmai", 7), ("p4", 8), ("willamette", 8),
    ("prescott", 9), ("x64", 10), ("x86-64", 10), ("ia64", 11), ("ia-64", 11),
    ("itanium", 11), ("itanic", 11), ("merced", 11), ("nehalem", 10), ("westmere", 10),
    ("sandybridge", 10), ("ivybridge", 10), ("any", 99), ("all", 99), ("latevex", None),
    ("evex", None), ("vex", None))
DEFAULT_CPU = 99


def cpu_level(args: str, level: int) -> tuple:
    """(the level after `cpu args`, None or NASM's error) as NASM's set_cpu reads it:
    words split at blanks and commas, each after `+`, `-` or `*` modifiers (modifiers
    alone ending in `*`: the default level), a feature flag after `no`; the first unknown
    word ends it (the levels before it stay)."""
    for word in re.split(r"[\s,]", args):
        name = word.lstrip("+-*")
        if not name:
            if word.endswith("*"):
                level = DEFAULT_CPU
            continue
        if len(name) >= 3 and name[:2].lower() == "no":
            name = name[2:]
        low = name.lower()
        found = next((lvl for cpu, lvl in _CPU_NAMES if cpu.startswith(low)), False)
        if found is False:
            return level, f"unknown CPU type or flag '{name}'"
        if found is not None:
            level = found
    return level, None
