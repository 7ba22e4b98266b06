"""A hot block's 32-bit sums without their mask (CPython only): the last rewrite of the
lines of a loop block or a trace before they are compiled (compiler.py
Translator._source). Not of the other blocks: the longer line costs compile() (parsing
it) about as much as a few hundred runs save, and most plain blocks run fewer times.

``n = (a + b) & 0xffffffff`` costs CPython a generic ``&`` (no specialised form for it
in 3.11: a call into long_and and a new int, about 250 host instructions) after the add.
When a and b are known to be 32-bit unsigned values, the sum wraps at most once, so

    n = a + b; n = n if n <= 0xffffffff else n - 0x100000000
    n = a - b; n = n if n >= 0 else n + 0x100000000

give the same value (also with ADC's ``+ (x < y)`` or SBB's ``- (x < y)``, 0 or 1)
with a comparison instead (a two-digit int compares without making a new object): about
110 host instructions less per sum in a micro-benchmark, about 60 in real blocks
(callgrind). It is the most common arithmetic of real programs' blocks (``esp - 0x2c``,
a pointer plus a displacement, a counter's increment).

Known 32-bit operands: a general register's version (``eax0``, ``esi3``: what a block
writes back to ``r[]`` is always masked), a load of at most 4 bytes (``m4 = U32(mem,
...)[0]``, ``MV[...]``, ``mem[...]``), a constant below 2**32. Anything else (a product
``p1``, a temporary, an SSE or x87 load) keeps its mask. The line stays one line
(fault records hold line numbers) and nothing on it can fault.
"""

from __future__ import annotations

import re
import sys
from typing import List, Optional, Tuple

ENABLED = sys.implementation.name == "cpython"     # (PyPy's JIT: no gain to have)
EVERYWHERE = False      # every block's lines, not only hot ones (tests: more code to check)

_REG = r"e(?:[abcd]x|[sd]i|[sb]p)\d+"
_OPND = rf"(?:{_REG}|m\d+|0x[0-9a-f]{{1,8}}|\d{{1,9}})"
# (and ADC/SBB's carry: a comparison, 0 or 1, with the same sign as the second operand)
_SUM_RE = rf"([a-z]+\d+) = \(({_OPND}) ([+-]) ({_OPND})((?: ([+-]) \(\w+ < \w+\))?)\)" \
    " & 0xffffffff"
# a load of at most 4 bytes, as emit.py writes it (its slow path, if any, after " if ")
_LOAD_RE = r"(m\d+) = (?:U32\(mem, |U16\(mem, |mem\[|MV\[)"
_READ_SIZE_RE = r"\bREAD\([^()]*(?:\([^()]*\))?[^()]*, (\d+)\)"
# the three compiled at the first fold with something to do, not at import: under PyPy
# (ENABLED false) nothing folds, and _SUM's parse alone was 12.6 ms of every run
_res: Optional[Tuple[re.Pattern, re.Pattern, re.Pattern]] = None


def _compiled() -> Tuple[re.Pattern, re.Pattern, re.Pattern]:
    """(_SUM, _LOAD, _READ_SIZE), compiled once."""
    global _res
    if _res is None:
        _res = (re.compile(_SUM_RE), re.compile(_LOAD_RE), re.compile(_READ_SIZE_RE))
    return _res


def _loads32(lines: List[Tuple[int, str]]) -> set:
    """The m names bound once in these lines, each to a load of at most 4 bytes."""
    seen: dict = {}
    binds = []
    for _, text in lines:
        if text[:1] == "m":
            head = text.partition(" = ")[0]
            if head[1:].isdigit():
                seen[head] = seen.get(head, 0) + 1
                binds.append(text)
    out = set()
    _, load, read_size = _compiled()
    for text in binds:
        m = load.match(text)
        if m is None or seen[m.group(1)] != 1:
            continue
        rest = text[m.end():]
        if "U64" in rest or "U128" in rest or ";" in rest or ":" in rest:
            continue
        if any(int(s) > 4 for s in read_size.findall(rest)):
            continue
        out.add(m.group(1))
    return out


def fold(lines: List[Tuple[int, str]], hot: bool) -> List[Tuple[int, str]]:
    """lines (depth, text) with each 32-bit sum of known 32-bit operands unmasked as
    above when they are a loop's or a trace's (``hot``); the same list when there is
    nothing to change."""
    if not (ENABLED and (hot or EVERYWHERE)):
        return lines
    sum_ = _compiled()[0]
    hits = [i for i, (_, text) in enumerate(lines)
            if text.endswith(") & 0xffffffff") and sum_.fullmatch(text) is not None]
    if not hits:
        return lines
    loads = None
    out = list(lines)
    for i in hits:
        d, text = out[i]
        n, a, op, b, carry, cop = sum_.fullmatch(text).groups()
        if n in (a, b) or carry and cop != op:
            continue
        for x in (a, b):
            if x[0] == "m":
                if loads is None:
                    loads = _loads32(lines)
                if x not in loads:
                    break
        else:
            wrap = f"{n} if {n} <= 0xffffffff else {n} - 0x100000000" if op == "+" else \
                f"{n} if {n} >= 0 else {n} + 0x100000000"
            out[i] = (d, f"{n} = {a} {op} {b}{carry}; {n} = {wrap}")
    return out
