"""Pass 1's bytes for a line not seen before, from its shape.

Generated and hand-written sources repeat a few line shapes with other numbers and
labels (``add ecx, 7919``, ``L12: mov eax, [ebx+740]``). Parsing and encoding each such
line costs a parse tree, operand objects and an encoder search; here the second line of a
shape that always emits the same bytes (Statement._emits: no symbol, `$` or warning) is
learned as its bytes and, for each decimal number beyond +-256 in it, the field that holds
the number; the later lines of the shape only patch those fields. A line `jcc name` (a
branch to a label) gets its Insn made as the parser would make it (_branch).

A shape (_shape) is the line's text with a leading ``label:`` taken apart and such numbers
cut out, each replaced by its class (what the encoder's choices and warnings may depend
on: number_class), plus the mode. Learning (learn) takes a number as a field only where
it alone makes the value of its operand (with registers, ``*`` scales, ``+``/``-`` and
size words) and checks the field against encodings of other numbers of the same class
(every byte of it that may change within the class); a shape whose bytes do not follow its
numbers exactly is kept as not learnable.
"""

from __future__ import annotations

import re
import sys
from typing import Callable, Optional

from asm import expr as E
from asm import parser as P
from asm.errors import AsmError
from asm.x86.registers import REGISTERS

_LIMIT = 20_000                 # shapes kept

# The learned shapes serve every assembly of the process (asm.api, the tests): an entry
# holds bytes that depend on the line's text, the mode (in the key) and nothing else of
# the assembly. The caller checks the rest: the `cpu` level against the entry's, and it
# uses shapes only at -Ox without listing or debug information (-O0/-O1 encode otherwise).
# `default bnd` changes bytes but is not in the key: the assembler keeps shapes' bytes out
# of it (once the directive appears pass 1 is never the result and its runs are flattened;
# `_fixed` refuses while it is on). Other state that changes bytes must join the key
# (tests/test_asmpypy.py runs several options in turn).

# shape -> (bytes, cpu level, fields), None when the shape cannot be learned, 0 when one
# line of it has been seen (a shape is learned from its second line); fields:
# ((number index, size, the bytes before, the bytes after),) for one number, else
# ((number index, size, offset, None), ...)
_learned: dict = {}

# an optional `label:` and the first word after it. Under PyPy each regular expression
# of the per-line path is JIT-compiled into traces of its own (the 100,000-line benchmark:
# about 0.02 s of its CPU time), so there _head finds the same with str methods; CPython, whose
# regular expressions are C, keeps _HEAD (str methods cost it 0.03 s)
_PYPY = sys.implementation.name == "pypy"
_HEAD = re.compile(r"[ \t]*(?:([A-Za-z_][A-Za-z0-9_$#@~.?]*|\.[A-Za-z_][A-Za-z0-9_$#@~.?]*)"
                   r"[ \t]*:)?[ \t]*([A-Za-z_][A-Za-z0-9_]*)")
_NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$#@~.?"
_WORD_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
_FIRST_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")


def _head(text: str) -> Optional[tuple]:
    """(label or None, the first word, where it starts) of a line, as _HEAD matches it;
    None where it does not match."""
    body = text.lstrip(" \t")
    colon = body.find(":")
    if colon > 0:
        label = body[:colon].rstrip(" \t")
        first = label[1:2] if label[:1] == "." else label[:1]
        if first in _FIRST_CHARS and not label.strip(_NAME_CHARS):
            after = body[colon + 1:].lstrip(" \t")
            if after[:1] in _FIRST_CHARS:
                end = len(after) - len(after.lstrip(_WORD_CHARS))
                return label, after[:end], len(text) - len(after)
    if body[:1] in _FIRST_CHARS:        # (no label: the first word of the line)
        end = len(body) - len(body.lstrip(_WORD_CHARS))
        return None, body[:end], len(text) - len(body)
    return None


# the decimal numbers of a line (not part of a name or of another number's text)
_NUMBERS = re.compile(r"(?<![A-Za-z0-9_$#@~.?])([1-9][0-9]*)(?![A-Za-z0-9_$#@~.?])").split
_SCAN = P._SCAN_RE.findall

# tokens a numbered operand may hold besides its number
_OPERAND_WORDS = frozenset(("+", "-", "[", "]", "*", "byte", "word", "dword", "qword",
                            "tword", "oword", "strict"))


# the classes of the most common numbers beyond +-256 (ints no small number is)
_SHORT = 1 << 15
_NEG_SHORT = -(1 << 15)
_WORD = 1 << 16                 # 0x8000 <= v < 0xFF00
_DWORD = 1 << 31                # 2**16 <= v < 2**31, low word 0x101..0xFEFF


def number_class(v: int):
    """What the encoder's choices and warnings may depend on in a number besides the bytes
    of its field. A small number (-256..256) is its own class (imm8 forms, `int 3`, a shift
    by 1); beyond, the widths it fits, signed and unsigned (16-bit displacements warn below
    -2**16, dword ones below -2**32), and its low 16, 32 and 64 bits where they are small,
    positive or negative (they wrap to a byte's displacement or immediate: the imm8 form
    of `add cx, 0xff80`, of `add ax, -2147483648`). Both the line shapes here and the
    assembler's encodings of immediates (Assembler._encode_static) go by it."""
    if 256 < v < 1 << 15:
        return _SHORT           # (the common ones, quickly)
    if -(1 << 15) <= v < -256:
        return _NEG_SHORT
    if -256 <= v <= 256:
        return v
    # two whole classes of the tuple below, as one int each (its hash is quicker)
    if 1 << 15 <= v < 0xFF00:
        return _WORD
    if 1 << 16 <= v < 1 << 31 and 0x100 < v & 0xFFFF < 0xFF00:
        return _DWORD
    lo16 = v & 0xFFFF
    lo32 = v & 0xFFFF_FFFF
    lo64 = v & 0xFFFF_FFFF_FFFF_FFFF
    return (v < -(1 << 63), v < -(1 << 32), v < -(1 << 31), v < -(1 << 16), v < -(1 << 15),
            v < 0, v >= 1 << 15, v >= 1 << 16, v >= 1 << 31, v >= 1 << 32, v >= 1 << 63,
            v >= 1 << 64, lo16 if lo16 <= 0x100 or lo16 >= 0xFF00 else -1,
            lo32 if lo32 <= 0x100 or lo32 >= 0xFFFF_FF00 else -1,
            lo64 if lo64 <= 0x100 or lo64 >= 0xFFFF_FFFF_FFFF_FF00 else -1)


def number_field(data: bytes, v: int,
                 encode: Callable[[int], Optional[bytes]]) -> Optional[tuple]:
    """(offset, size) of the field of ``data`` (an encoding with the number ``v`` beyond
    +-256) that holds v's low bytes, where ``encode(w)`` (the same encoding with another
    number w of v's class instead, None if it has none or differs in more than its bytes)
    differs from ``data`` in that field only, holding w: checked with one such w per byte
    of the field (w: v with one bit flipped, sign kept). None if there is no such field:
    the encoding is then not one of the class's."""
    cls = number_class(v)
    probes: dict = {}

    def probe(bit: int):
        w = abs(v) ^ (1 << bit)
        if v < 0:
            w = -w
        if number_class(w) != cls:
            return None
        if w not in probes:
            probes[w] = encode(w)
        return w, probes[w]

    got = next((g for g in map(probe, range(8)) if g is not None), None)
    if got is None or got[1] is None or len(got[1]) != len(data):
        return None
    diff = [i for i in range(len(data)) if data[i] != got[1][i]]
    if len(diff) != 1:
        return None
    offset = diff[0]
    size = next((s for s in (8, 4, 2, 1) if offset + s <= len(data)
                 and data[offset:offset + s] == (v & ((1 << 8 * s) - 1)).to_bytes(s, "little")),
                None)
    if size is None:
        return None
    mask = (1 << 8 * size) - 1
    for byte in range(size):
        for bit in range(8 * byte, 8 * byte + 8):
            got = probe(bit)
            if got is None:
                continue
            w, other = got
            if other != data[:offset] + (w & mask).to_bytes(size, "little") + \
                    data[offset + size:]:
                return None
            break               # (one number per byte of the field)
    return offset, size


_reserved: Optional[frozenset] = None


def _plain_name(name: str) -> bool:
    """Whether a name is a label's (no register, keyword, mnemonic or directive: what
    the parser reads as an ID)."""
    global _reserved
    if _reserved is None:
        from asm.x86.encoder import mnemonics
        _reserved = frozenset(P._KEYWORDS) | mnemonics() | P.DIRECTIVES
    return name.lower() not in _reserved


def _shape(text: str, bits: int, skip: frozenset):
    """(shape, the cut-out numbers with their signs, label or None, the text after the
    label) of a line; for a branch (a first word in ``skip``), _branch's Insn; None for a
    line with a string, or with nothing cut out and no label (the line cache serves its
    repeats)."""
    if '"' in text or "'" in text or "`" in text:
        return None
    if _PYPY:
        head = _head(text)
        if head is None:
            return None
        label, word, start = head
    else:
        m = _HEAD.match(text)
        if m is None:
            return None
        label, word = m.groups()
        start = m.start(2)
    if word in skip or word.lower() in skip:
        return None if label is not None else _branch(text)
    if label is not None and not _plain_name(label):
        return None
    rest = text[start:]
    if ";" in rest:
        rest = rest[:rest.index(";")]
    parts = _NUMBERS(rest.rstrip())
    n = len(parts)
    if n == 3:                  # (one number: most lines)
        v = int(parts[1])
        if v > 256:
            if parts[0].rstrip()[-1:] == "-":
                v = -v
            c = (_SHORT if 0 < v < 32768 else _NEG_SHORT if -32768 <= v < 0
                 else number_class(v))
            return (bits, label is not None, parts[0], c, parts[2]), (v,), label, rest
    if label is None and n == 1:
        return None
    if n == 5:                  # (two numbers: the loop below, unrolled; under PyPy a
        numbers = []            # loop of its own would be a trace of its own)
        a = int(parts[1])
        if a > 256:
            if parts[0].rstrip()[-1:] == "-":
                a = -a
            numbers.append(a)
            ca = number_class(a)
        else:
            ca = parts[1]
        b = int(parts[3])
        if b > 256:
            if parts[2].rstrip()[-1:] == "-":
                b = -b
            numbers.append(b)
            cb = number_class(b)
        else:
            cb = parts[3]
        if not numbers and label is None:
            return None
        return ((bits, label is not None, parts[0], ca, parts[2], cb, parts[4]), numbers,
                label, rest)
    key = [bits, label is not None, parts[0]]
    numbers = []
    for i in range(1, n, 2):
        v = int(parts[i])
        if v > 256:
            if parts[i - 1].rstrip()[-1:] == "-":
                v = -v
            numbers.append(v)
            key.append(number_class(v))
        else:
            key.append(parts[i])
        key.append(parts[i + 1])
    if not numbers and label is None:
        return None
    return tuple(key), numbers, label, rest


def lookup(text: str, bits: int, skip: frozenset):
    """(label or None, bytes, cpu level) of a line of a learned shape; for a branch to a
    label (``jne L5``: a first word in ``skip`` and a name), its Insn; None otherwise."""
    got = _shape(text, bits, skip)
    if got is None or type(got) is P.Insn:
        return got
    entry = _learned.get(got[0])
    if not entry:
        return None
    data, level, fields = entry
    if fields:
        numbers = got[1]
        if len(fields) == 1:
            _, size, head, tail = fields[0]
            return got[2], head + (numbers[0] & _MASKS[size]).to_bytes(size, "little") + tail, level
        out = bytearray(data)
        for k, size, offset, _ in fields:
            out[offset:offset + size] = (numbers[k] & _MASKS[size]).to_bytes(size, "little")
        data = bytes(out)
    return got[2], data, level


_MASKS = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFF_FFFF, 8: 0xFFFF_FFFF_FFFF_FFFF}


# `jcc label`, with blanks and a comment (under PyPy: _branch_words, see _HEAD)
_BRANCH = re.compile(r"[ \t]*([A-Za-z]+)[ \t]+([A-Za-z_.][A-Za-z0-9_$#@~.?]*)[ \t]*(?:;.*)?$")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_NAME_FIRST = frozenset(_LETTERS + "_.")


def _branch_words(text: str) -> Optional[tuple]:
    """(mnemonic, name) of a line `mnemonic name` as _BRANCH matches it; None for
    another line."""
    body = text.lstrip(" \t")
    after = body.lstrip(_LETTERS)
    if len(after) == len(body):
        return None
    name = after.lstrip(" \t")
    if len(name) == len(after) or name[:1] not in _NAME_FIRST:
        return None
    tail = name[1:].lstrip(_NAME_CHARS)
    name = name[:len(name) - len(tail)]
    tail = tail.lstrip(" \t")
    # ($: the end, or a last newline; `.` takes no newline)
    newline = tail.find("\n")
    if (newline >= 0 and newline != len(tail) - 1) or (tail[:1] != ";" and tail[:1] != "\n"
                                                       and tail):
        return None
    return body[:len(body) - len(after)], name


# the mnemonic as written -> the Insn of its first `mnemonic name` line, when such lines
# parse as below (its mnemonic, and the kind the assembler found for it, serve the others)
_branches: dict = {}


def _branch(text: str) -> Optional[P.Insn]:
    """The Insn of a line `mnemonic name` (a branch's mnemonic), made as the parser makes
    it (checked on the first line of each mnemonic); None for another line."""
    if _PYPY:
        words = _branch_words(text)
        if words is None:
            return None
        word, name = words
    else:
        m = _BRANCH.match(text)
        if m is None:
            return None
        word, name = m.groups()
    if not _plain_name(name):
        return None
    first = _branches.get(word)
    if first is None:
        try:
            st = P.parse_line(text)
        except AsmError:
            return None
        a = st.action
        ok = (st.label is None and not st.colon and not st.times and st.equ is None
              and type(a) is P.Insn and not a.prefixes and len(a.operands) == 1
              and type(a.operands[0]) is P.OpExpr and not a.operands[0].mods
              and type(a.operands[0].expr.node) is E.Sym
              and a.operands[0].expr.node.name == name)
        _branches[word] = a if ok else False
        return a if ok else None
    if first is False:
        return None
    insn = P.Insn((), first.mnemonic, (P.OpExpr((), P.CExpr(E.Sym(name))),))
    # what asm.assembler's _insn_kind and _branch_target would find again (the kind
    # depends on the mnemonic only; None while the first line's is not known)
    insn._kind = first._kind
    insn._target = (name, first.mnemonic.lower())
    return insn


def learn(text: str, emits: tuple, skip: frozenset,
          encode: Callable[[str], Optional[tuple]]) -> None:
    """Learn the shape of a line that pass 1 just assembled the slow way, whose bytes never
    change (its Statement._emits, an instruction's: ``(bits, bytes, cpu level)``).
    ``encode(text)`` gives another line's _emits the same way (None if it has none)."""
    if len(_learned) >= _LIMIT or len(emits) != 3:
        return
    got = _shape(text, emits[0], skip)
    if got is None:
        return
    key, numbers, _label, rest = got
    if key not in _learned:
        _learned[key] = 0       # (learned at its second line: a shape seen once costs
        return                  # no probes)
    if _learned[key] != 0:
        return
    fields = None
    try:
        fields = _fields(rest, numbers, emits, encode)
    except Exception:       # (a probe line the encoder refuses: not learnable, never an error)
        pass
    if fields is not None and len(fields) == 1:
        k, offset, size = fields[0]
        data = emits[1]
        fields = ((k, size, data[:offset], data[offset + size:]),)
    elif fields is not None:
        fields = tuple((k, size, offset, None) for k, offset, size in fields)
    _learned[key] = None if fields is None else (emits[1], emits[2], fields)


def _fields(rest: str, numbers: list, emits: tuple, encode) -> Optional[tuple]:
    """((number index, offset, size), ...) of the line's numbers; None if one of them
    is not a field of its own."""
    if not numbers:
        return ()
    toks = _SCAN(rest)
    marked = [i for i, t in enumerate(toks) if t.isdigit() and t[0] != "0" and int(t) > 256]
    if [int(toks[i]) for i in marked] != [abs(v) for v in numbers]:
        return None
    operand = 1                 # where the operand of each token starts
    starts = []
    for i, t in enumerate(toks):
        if t == ",":
            operand = i + 1
        starts.append(operand)
    fields = []
    for k, at in enumerate(marked):
        lo = starts[at]
        hi = at + 1
        while hi < len(toks) and toks[hi] != ",":
            hi += 1
        if not _alone(toks, lo, hi, at) or (toks[at - 1] == "-") != (numbers[k] < 0):
            return None
        field = _field(toks, at, numbers[k], emits, encode)
        if field is None:
            return None
        fields.append((k, *field))
    spans = sorted((o, o + s) for _, o, s in fields)
    if any(a[1] > b[0] for a, b in zip(spans, spans[1:])):
        return None
    return tuple(fields)


def _alone(toks: list, lo: int, hi: int, at: int) -> bool:
    """Whether the number toks[at] alone makes the value of the operand toks[lo:hi], up to
    the sign before it: registers, their scales, + and - and size words around it."""
    for i in range(lo, hi):
        if i == at:
            continue
        t = toks[i]
        low = t.lower()
        if low in REGISTERS or low in _OPERAND_WORDS:
            continue
        if t.isdigit() and ((toks[i - 1] == "*" and toks[i - 2].lower() in REGISTERS)
                            or (i + 2 < hi and toks[i + 1] == "*"
                                and toks[i + 2].lower() in REGISTERS)):
            continue            # a register's scale
        return False
    before = toks[at - 1] if at > lo else ","
    if before == "*" or (at + 1 < hi and toks[at + 1] == "*"):
        return False
    if before in ("+", "-") and (at - 1 <= lo or toks[at - 2] in ("+", "-", "*")):
        return False            # `--5000`, `+5000`
    return True


def _field(toks: list, at: int, v: int, emits: tuple, encode) -> Optional[tuple]:
    """(offset, size) of the field of the bytes that holds the number toks[at] (signed:
    ``v``; see number_field); None if there is no such field."""
    def encode_with(w: int) -> Optional[bytes]:
        line = list(toks)
        line[at] = str(abs(w))
        got = encode(" ".join(line))
        if got is None or got[0] != emits[0] or got[2] != emits[2]:
            return None
        return got[1]

    return number_field(emits[1], v, encode_with)
