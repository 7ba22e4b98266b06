"""`%line N[+M] [file]` (what `nasm -E` writes) against nasm 2.16.01: every message names
the file and line NASM names (the whole `file:line: kind: message` line is compared, not
only the line number), including NASM's quirks: the line after the directive is N + M,
and the directive takes effect as the file is read (inside a false %if, a macro or %rep
body being defined). DWARF and stabs rows under %line: tests/test_nasm_parity_dwarf.py."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool

from asm import cli

_MESSAGE = re.compile(r"^\S.*?:\d+: (?:error|warning|fatal): .*$", re.M)

CASES = {
    "basic": "nop\n%line 100+1 other.asm\nl1\nl2\nl3\n",
    "increment": "%line 100+2 other.asm\nl1\nl2\nl3\n",
    "zero-increment": "%line 10+0 x.asm\nl1\nl2\n",
    "default-increment": "%line 100 other.asm\nl1\nl2\n",
    "no-file-name": "l0\n%line 7\nl1\nl2\n",
    "name-kept": "%line 5 f.asm\nl1\n%line 20\nl2\n",
    "quoted-name": "%line 100+1 \"other x.asm\"\nl1\n",
    "name-with-blanks": "%line 100+1   other x.asm  \nl1\n",
    "comment": "%line 20 f ; c\nl1\n",
    "radix": "%line 0x10 f\nl1\n",
    "upper-case": "%LINE 20 f\nl1\n",
    "bad-number": "%line abc\nl1\n",
    "missing-number": "%line\nl1\n",
    "negative": "%line -5 f\nl1\n",
    "bad-increment": "%line 5+\nl1\n",
    "include": "a1\n%include \"inc.asm\"\na2\n%line 10 m.asm\n%include \"inc.asm\"\na3\n",
    "macro-call": "%macro m 0\nnop\nzz\n%endmacro\n%line 50 f.asm\nm\nmov eax, ebx, ecx\n",
    "false-if": "%line 5 f.asm\n%if 0\n%line 90 g.asm\n%endif\nzz\n",
    "else-branch": "%if 1\n%else\n%line 90 g.asm\n%endif\nzz\n",
    "macro-definition": "%macro m 0\n%line 70 h.asm\n%endmacro\nzz\nm\nyy\n",
    "rep-body": "%rep 2\n%line 70 h.asm\nzz\n%endrep\nyy\n",
    "continued-line": "%line 5 f.asm\nmov eax, \\\n ebx\nzz\n",
    "file-and-line-macros": "%line 5 f.asm\n%error hi __FILE__ __LINE__\n",
    "assembler-errors": "%line 40+3 e.asm\nmov eax, [ebx*3+ecx*5]\nadd al, 300\njmp short far_\n"
                        "times 200 nop\nfar_:\n",
}
FILES = {"inc.asm": "%line 30 inc.asm\nq1\n"}


def _messages(text: str) -> list:
    """NASM's message lines (pyasm adds the source line and a caret after each: not
    compared), in order of line; NASM reports preprocessor errors before warnings."""
    return sorted(_MESSAGE.findall(text))


@pytest.mark.parametrize("name", list(CASES))
def test_line_directive_messages(tmp_path: Path, name: str, capsys):
    exe = require_tool("nasm")
    for fname, text in FILES.items():
        (tmp_path / fname).write_text(text)
    (tmp_path / "t.asm").write_text(CASES[name])
    n = subprocess.run([exe, "-f", "elf32", "t.asm", "-o", "n.o"], capture_output=True,
                       text=True, cwd=tmp_path)
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        status = cli.main(["-f", "elf32", "t.asm", "-o", "p.o"])
    finally:
        os.chdir(old)
    err = capsys.readouterr().err
    assert status == n.returncode, (n.stderr, err)
    assert _messages(err) == _messages(n.stderr), f"nasm:\n{n.stderr}\npyasm:\n{err}"
    if status == 0:
        assert (tmp_path / "p.o").read_bytes() == (tmp_path / "n.o").read_bytes()


# ---- -E: the preprocessed output (NASM's own %line markers, blanks, incbin)

PP_FILES = {"inc.inc": "%macro two 1\n  db %1\n  db %1+1\n%endmacro\nincd: dd 5\n",
            "blob.bin": "abc", "a b.bin": "abcdef", "inc.asm": "%line 30 inc.asm\nq1\n"}
PP_CASES = {
    "incbin": "  incbin \"a b.bin\"\nincbin 'blob.bin', 2, 3\n  incbin \"blob.bin\" ; c\n"
              "incbin \"blob.bin\",,2\nx: incbin \"blob.bin\"\ntimes 2 incbin \"blob.bin\"\n"
              "INCBIN \"blob.bin\"\n%define S \"blob.bin\"\nincbin S\nincbin `blob.bin`\n",
    "blanks": "mov   eax,\t\t7\n\tdb  \"a  b\" ,  1\nlabel:   nop\n  dd `x  y`, 2  ; c\n",
    "include-line-macros": "bits 32\n%include \"inc.inc\"\n  two 3\n  incbin \"blob.bin\"\n"
                           "%define X 7\n  mov eax, X ; comment\n%line 100+1 other.asm\n"
                           "  nop\n%rep 2\n  inc eax\n%endrep\n%if 0\n  bad\n%endif\n  ret\n"
                           "%line 5 third.asm\n  hlt\n%pragma elf gprefix _\n%assign q 3\n"
                           "  dd q\n%include \"inc.asm\"\n  nop\n",
}


@pytest.mark.parametrize("name", list(PP_CASES))
def test_preprocess_only_output(tmp_path: Path, name: str, capsys):
    """`-E` prints what `nasm -E` prints, byte for byte."""
    exe = require_tool("nasm")
    for fname, text in PP_FILES.items():
        (tmp_path / fname).write_text(text)
    (tmp_path / "t.asm").write_text(PP_CASES[name])
    n = subprocess.run([exe, "-E", "t.asm"], capture_output=True, text=True, cwd=tmp_path)
    assert n.returncode == 0, n.stderr
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        status = cli.main(["-E", "t.asm"])
    finally:
        os.chdir(old)
    assert status == 0
    assert capsys.readouterr().out == n.stdout


def test_listing_under_line_directive(tmp_path: Path):
    """`-l`: the %line lines are listed, the lines after them with their new numbers."""
    exe = require_tool("nasm")
    (tmp_path / "t.asm").write_text("nop\n%line 100+1 other.asm\nmov eax, ebx\nnop\n"
                                    "%line 5+2 third.asm\nnop\n%if 0\n%line 9 x.asm\n%endif\n"
                                    "nop\n%macro m 0\n%line 50 y.asm\nnop\n%endmacro\nm\n"
                                    "%rep 2\n%line 70 z.asm\nnop\n%endrep\nnop\n")
    subprocess.run([exe, "-f", "bin", "-l", "n.lst", "t.asm", "-o", "n.bin"], check=True,
                   cwd=tmp_path)
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert cli.main(["-f", "bin", "-l", "p.lst", "t.asm", "-o", "p.bin"]) == 0
    finally:
        os.chdir(old)
    assert (tmp_path / "p.lst").read_text() == (tmp_path / "n.lst").read_text()
    assert (tmp_path / "p.bin").read_bytes() == (tmp_path / "n.bin").read_bytes()
