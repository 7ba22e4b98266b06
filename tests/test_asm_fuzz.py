"""Random and mutated source must give a clean success or clean ``file:line: error:``
diagnostics, never a Python traceback (in-process through asm.cli.run, plus a few runs of
the real console script)."""

from __future__ import annotations

import io
import os
import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asm import cli

VALID_LINES = [
    "db 1, 2, 'abc', ?", "dw $-$$, 0x1234", "dd 1.5, label", "dq -1", "dt 3.14",
    "times 3 db 0x90", "resb 4", "label: db 1", ".local: dw .local", "x equ 5*3",
    "%define F(a) a+1", "db F(2)", "%macro m 1-2 0\ndb %1, %2\n%endmacro", "m 1", "m 1, 2",
    "%rep 2\ndb 1\n%endrep", "%if 1\ndb 2\n%else\ndb 3\n%endif", "section .data",
    "section .bss", "align 4", "alignb 8", "bits 32", "bits 16", "org 0x100",
    "struc s\n.a resd 1\nendstruc", "istruc s\nat s.a, dd 1\niend", "absolute 0x10",
    "mov eax, [ebx+ecx*4+8]", "mov ax, [es:bx+si]", "jmp 0x10:0x20", "jmp label", "call label", "push label", "add al, 5",
    "lock inc dword [eax]", "rep movsb", "jz short label", "lea esi, [esi+edi]",
    "%assign i i+1", "%ifdef F\n%endif", "incbin 'nofile'", "global label", "extern e",
    "db 'a' + 1 << 2 | 3", "%strlen n 'abc'", "db __LINE__", "db __?BITS?__",
]
ALPHABET = ("abcdefgxyz0123456789_.$@?:;,[]()+-*/%<>=!~&|^'\"` \t%#{}\\"
            "dbwqtrsemovjpclnhaiEAXBCDSPIF")

line = st.one_of(
    st.sampled_from(VALID_LINES),
    st.text(alphabet=ALPHABET, max_size=40),
    st.tuples(st.sampled_from(VALID_LINES), st.integers(0, 40), st.text(ALPHABET, max_size=6))
    .map(lambda t: t[0][:t[1]] + t[2] + t[0][t[1]:]),
    st.tuples(st.sampled_from(VALID_LINES), st.integers(0, 40), st.integers(0, 5))
    .map(lambda t: t[0][:t[1]] + t[0][t[1] + t[2]:]),
)


def _assemble(tmp_path, text: str) -> tuple:
    src = tmp_path / "f.s"
    src.write_text(text)
    out = tmp_path / "f.bin"
    if out.exists():
        out.unlink()
    err = io.StringIO()
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        status = cli.run(str(src), output=str(out), stderr=err)
    finally:
        os.chdir(old)
    return status, err.getvalue(), out.exists()


def _check(status: int, err: str, written: bool, name: str = "f.s") -> None:
    assert status in (0, 1)
    assert "Traceback" not in err and "internal error" not in err
    assert written == (status == 0)
    for diag in err.splitlines():
        assert (diag.startswith(name) or "f.s" in diag or diag.startswith("pyasm:")
                or diag.startswith("    ")), diag       # (pyasm's source and caret lines)
    if status == 1:
        assert ": error: " in err or ": fatal:" in err


@given(st.lists(line, min_size=1, max_size=12))
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_lines_fail_cleanly(tmp_path, lines):
    status, err, written = _assemble(tmp_path, "\n".join(lines) + "\n")
    _check(status, err, written, str(tmp_path / "f.s"))


@given(st.binary(max_size=200))
@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_bytes_fail_cleanly(tmp_path, data):
    (tmp_path / "f.s").write_bytes(data)
    out = tmp_path / "f.bin"
    if out.exists():
        out.unlink()
    err = io.StringIO()
    status = cli.run(str(tmp_path / "f.s"), output=str(out), stderr=err)
    assert status in (0, 1)
    assert "Traceback" not in err.getvalue() and "internal error" not in err.getvalue()


def test_pathological_inputs(tmp_path):
    cases = [
        "db " + "(" * 3000 + "1" + ")" * 3000,
        "db " + "-" * 5000 + "1",
        "%define a b\n%define b a\ndb a",
        "%define a a a\ndb a",
        "%macro m 0\nm\n%endmacro\nm",
        "%rmacro r 0\nr\n%endmacro\nr",
        "times 100000000000 db 0",
        "resb 0x7fffffffffffffff",
        "%rep 3\n%rep 3\ndb 1\n%endrep",
        "%include 'f.s'",
        "db 1" + " + 1" * 5000,
        "jmp $ + 0x10000000000",
        "\x00\x01\x02",
    ]
    for text in cases:
        status, err, written = _assemble(tmp_path, text + "\n")
        _check(status, err, written, str(tmp_path / "f.s"))


def test_console_script_on_garbage(tmp_path):
    """A few runs through the real entry point: still no traceback."""
    for k, text in enumerate(["db )(\n", "%macro\n", "mov eax,,\n", "\x7f\xff\n"]):
        src = tmp_path / f"g{k}.s"
        src.write_bytes(text.encode("latin-1"))
        r = subprocess.run([sys.executable, "-m", "asm.cli", src.name], cwd=tmp_path,
                           capture_output=True, text=True)
        assert r.returncode in (0, 1)
        assert "Traceback" not in r.stderr
