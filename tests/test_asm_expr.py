"""Expressions, numeric literals, character constants and floats against nasm.

Many cases are batched into one source (one nasm run, one pyasm run): each case is a
data line, and the outputs are compared line by line through the listing-free layout of
fixed-size slots (``times SLOT*(k+1)-($-$$) db 0``).
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_asm_helpers import both

from asm import expr as E

SLOT = 64


def _batched(tmp_path, lines: list, name: str = "b.s") -> list:
    src = []
    for k, line in enumerate(lines):
        src.append(line)
        src.append(f"times {SLOT}*({k}+1)-($-$$) db 0")
    nb, pb, _ = both(tmp_path, "\n".join(src) + "\n", name)
    mism = []
    for k, line in enumerate(lines):
        a, b = nb[SLOT * k:SLOT * (k + 1)], pb[SLOT * k:SLOT * (k + 1)]
        if a != b:
            mism.append((line, a.hex(), b.hex()))
    return mism


NUMBERS = """
dd 0x1F, 1Fh, 0b101, 101b, 17q, 17o, 0d99, 0h1f, 0o17, 0q17, 0y101
dd 1_000, 0x_1f, $1F, 0FFh, 99d, 0t99, 10y, 0xFFFF_FFFF, 1010_1010b
dq 0x7fffffffffffffff, -0x8000000000000000, 18446744073709551615
dd 'ab', "abcd", `a\\n`, 'a'+1, `\\x41\\102\\u00e9`, `\\e\\a\\b\\t\\v\\f\\r\\0`
dw "\\", '"', `\\``, `\\'`
""".strip().splitlines()

OPERATORS = """
db 5 % 3, -7 / 2, -7 // 2, -7 %% 3, 7 %% -3, 1 << 3, 0x80 >> 1, ~0, !0, !5, 3^5, 3|4, 6&3
dd -7 / 2, -7 // 2, 7/-2, 7//-2, -7 % 3, -7 %% 3, -1 >> 28, -1 >>> 28
dd 1 <<< 2, 1 << 63 >> 62, -8 >>> 1
dd 1 < 2, 2 == 2, 1 <> 2, 1 != 1, 1 && 0, 1 || 0, 1 ^^ 1, 1 ? 5 : 6, 0 ? 5 : 6
dd 1 <= 1, 2 >= 3, 1 = 1, 3 > 2
db 1 <=> 2, 2 <=> 1, 1 <=> 1
dd 1 + 2 * 3 - 4 / 2 << 1 | 3 & 7 ^ 9
dd (1 + 2) * 3, -(-5), +4, ~~3, !!7, - - 3
dd 2 + 3 << 1, 1 | 2 ^ 3 & 4, 1 < 2 == 1, 5 - 3 - 1, 100 / 10 / 5
dq 0x123456789 * 0x10, 0xffffffff * 0xffffffff, 1 << 40
dd 1 ? 2 ? 3 : 4 : 5, (1 || 0) + (0 && 1)
dd 'ab' << 8, 'a' * 2
""".strip().splitlines()


def test_numbers_and_strings(tmp_path):
    assert _batched(tmp_path, NUMBERS) == []


def test_operators(tmp_path):
    assert _batched(tmp_path, OPERATORS) == []


def _random_expr(rng: random.Random, depth: int = 0) -> str:
    if depth > 3 or rng.random() < 0.3:
        return rng.choice([str(rng.randint(0, 300)), hex(rng.randint(0, 1 << 32)),
                           f"{rng.randint(0, 255):o}q", f"{rng.randint(0, 15):b}b",
                           f"'{chr(rng.randint(65, 90))}'", "-1", "(label - $$)"])
    op = rng.choice(["+", "-", "*", "/", "//", "%", "%%", "<<", ">>", ">>>", "&", "|", "^",
                     "<", "==", "!=", "&&", "||"])
    left, right = _random_expr(rng, depth + 1), _random_expr(rng, depth + 1)
    if op in ("/", "//", "%", "%%"):
        right = f"(({right}) | 1)"
    if op in ("<<", ">>", ">>>"):
        right = f"(({right}) & 31)"
    text = f"{left} {op} {right}"
    return f"({text})" if rng.random() < 0.5 else text


def test_random_expressions(tmp_path):
    rng = random.Random(1234)
    lines = ["label:"] + [f"dq {_random_expr(rng)}" for _ in range(300)]
    assert _batched(tmp_path, lines) == []


FLOATS = ["0.0", "1.0", "1.5", "0.1", "3.14159265358979323846", "1e10", "1.e-5",
          "6.5e-39", "1.4e-45", "3.4028235e38", "3.5e38", "1.7976931348623157e308",
          "2.2250738585072014e-308", "4.9e-324", "2.5e-324", "123456789.0", "0.333333333333",
          "0x1.8p1", "0x1p-1074", "0x1.fffffep127", "1_000.5", "0.5e1", "65504.0", "65520.0",
          "6.0e-8", "1.0e4000", "1.0e-4000", "0.000001", "9007199254740993.0",
          "__?Infinity?__", "__?QNaN?__", "__?SNaN?__", "__?NaN?__"]


@pytest.mark.parametrize("unit", ["dw", "dd", "dq", "dt"])
def test_floats(tmp_path, unit):
    lines = [f"{unit} {f}, -{f}" for f in FLOATS]
    assert _batched(tmp_path, lines, f"{unit}.s") == []


def test_random_floats(tmp_path):
    """Decimal literals near rounding boundaries: exact round-to-nearest-even."""
    rng = random.Random(99)
    vals = []
    for _ in range(150):
        mant = rng.randint(1, 10 ** rng.randint(1, 20))
        exp = rng.randint(-320, 310)
        vals.append(f"{mant}.0e{exp}")
    lines = [f"dd {v}\ndq {v}\ndt {v}" for v in vals]
    assert _batched(tmp_path, lines, "rf.s") == []


@given(st.text(alphabet="0123456789abcdefhoqxyt_$.", min_size=1, max_size=12))
@settings(max_examples=300, deadline=None)
def test_read_number_never_crashes(text):
    try:
        E.read_number(text)
    except E.AsmError:
        pass


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=20, max_size=40))
@settings(max_examples=4, deadline=None)
def test_hypothesis_floats_match_nasm(tmp_path_factory, values):
    """NASM's own (not always correctly rounded) conversion, reproduced bit for bit."""
    tmp = tmp_path_factory.mktemp("hf")
    lines = []
    for x in values:
        text = repr(abs(x))
        if "." not in text and "e" not in text:
            text += ".0"
        sign = "-" if str(x).startswith("-") else ""
        lines.append(f"dd {sign}{text}\ndq {sign}{text}\ndt {sign}{text}")
    assert _batched(tmp, lines, "hf.s") == []
