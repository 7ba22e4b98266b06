"""Error messages: NASM's `file:line: error: message` line unchanged (the same lines as
nasm prints), then pyasm's two additions, the source line and a caret under the token."""

from __future__ import annotations

import re

import pytest
from nasm_parity import diagnostics
from test_asm_helpers import nasm, pyasm, write

CASES = [
    ("bits 32\nmov eax, foo\n", "foo"),
    ("bits 32\n\tmov\tebx, [bar]\n", "bar"),
    ("bits 32\nadd eax, blah + 1\n", "blah"),
    ("%if bx > 1\n%endif\n", ">"),
    ("cpu 386\nrdtsc\n", "rdtsc"),
    ("x: db 1\nx: db 2\n", "x"),
]


@pytest.mark.parametrize("text,token", CASES, ids=[c[1] for c in CASES])
def test_error_line_then_source_and_caret(tmp_path, text, token):
    src = write(tmp_path, "e.asm", text)
    rc, _, nerr = nasm(src)
    status, _, perr = pyasm(src)
    assert rc == status == 1
    assert diagnostics(perr) == diagnostics(nerr)
    lines = perr.splitlines()
    first = next(i for i, ln in enumerate(lines) if ": error: " in ln)
    n = int(re.match(r".*?:(\d+): error", lines[first]).group(1))
    source, caret = lines[first + 1], lines[first + 2]
    assert source == "    " + text.splitlines()[n - 1]
    col = caret.index("^")
    assert source[col:col + len(token)] == token
    assert caret[col:] == "^" + "~" * (len(token) - 1)
    # the indentation is the source's own blanks and tabs, so the caret lines up
    assert caret[:col].strip() == ""
