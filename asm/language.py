"""Which machine a source is written for, decided once for every tool (pyasm with no
``-f``, ``pyvm prog.s``, ``pyvm-tools roundtrip``) from its content:

- B32: an END line (B32's last statement, never an x86 instruction) and a line whose
  instruction exists on B32 but not on x86 (LDA, STA, INCX, ...);
- V16: every statement is V16 and one exists only on V16 (asm/v16/syntax.py says how);
- x86 otherwise (NASM syntax).

A file's extension or an explicit format still wins where the user gives one (``-f``,
``-o prog.b32``): this is the decision when nothing says.
"""

from __future__ import annotations

import re

X86, B32, V16 = "x86", "b32", "v16"

_END_LINE = re.compile(r"^[ \t]*(?:[A-Za-z_.][\w.]*:?[ \t]+)?END(?:[ \t]|$)", re.I | re.M)
_FIRST_WORD = re.compile(r"^[ \t]*(?:[A-Za-z_.][\w.]*:)?[ \t]*([A-Za-z]+)\b", re.M)


def looks_like_b32(text: str) -> bool:
    if not _END_LINE.search(text):
        return False
    from asm.b32.instructions import BY_MNEMONIC
    from asm.x86.encoder import is_mnemonic
    return any(w.upper() in BY_MNEMONIC and not is_mnemonic(w.lower())
               for w in _FIRST_WORD.findall(text))


def source_language(text: str) -> str:
    """X86, B32 or V16 for a source's text."""
    if looks_like_b32(text):
        return B32
    from asm.v16.syntax import looks_like_v16_source
    if looks_like_v16_source(text):
        return V16
    return X86
