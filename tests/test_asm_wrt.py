"""NASM's ``wrt`` operator (``wrt ..gotpc/..gotoff/..got/..plt/..sym``) against the oracle:
``pyasm -f elf32`` writes the same object bytes as ``nasm -f elf32`` for position-independent
code, and rejects what nasm rejects (in ELF and in ``-f bin``) with an error, not a
traceback."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pytest
from test_asm_helpers import error_lines, split_cases

from asm import expr as E
from asm import parser as P
from asm.cli import run as pyasm_run
from tests.conftest import require_tool

# each source assembles in nasm -f elf32; pyasm must produce the same bytes
OBJECTS = split_cases(r"""
extern _GLOBAL_OFFSET_TABLE_
section .text
get: call .pc
.pc: pop ebx
add ebx, _GLOBAL_OFFSET_TABLE_ + $$ - .pc wrt ..gotpc
ret
----
extern _GLOBAL_OFFSET_TABLE_
global f
f: call .pc
.pc: pop ecx
add ecx, _GLOBAL_OFFSET_TABLE_ + $$ - $ wrt ..gotpc
lea ecx, [ecx + _GLOBAL_OFFSET_TABLE_ + $$ - $ wrt ..gotpc]
mov edx, _GLOBAL_OFFSET_TABLE_ + $$ - $ wrt ..gotpc
ret
----
section .text
lea eax, [ebx + msg wrt ..gotoff]
lea eax, [ebx + msg + 3 wrt ..gotoff]
mov eax, [ebx + tbl wrt ..gotoff]
mov ecx, [ebx + 4*esi + tbl wrt ..gotoff]
mov eax, msg wrt ..gotoff
push dword msg wrt ..gotoff
lea eax, [ebx + here wrt ..gotoff]
here: ret
section .rodata
msg: db "fmt %d", 10, 0
section .data
tbl: dd 1, 2, 3
----
extern printf, puts
global gvar, gfun
section .text
gfun: mov eax, [ebx + printf wrt ..got]
mov eax, [ebx + gvar wrt ..got]
mov eax, [ebx + gfun wrt ..got]
call [ebx + puts wrt ..got]
call printf wrt ..plt
call puts wrt ..plt
jmp printf wrt ..plt
jmp near later wrt ..plt
extern later
section .data
gvar: dd 0
----
extern ext
global g1, g2
section .data
g1: dd 7
x:  dd g1 wrt ..sym
    dd g2 wrt ..sym
    dd ext wrt ..sym
    dw g1 wrt ..sym
    dd g1 + 2 wrt ..sym
g2: dd 0
    dd 5 wrt ..gotoff
section .text
    mov eax, [ebx + 5 wrt ..gotoff]
    mov eax, g1 wrt ..sym
----
; forward references: the labels and externs are only known later
section .text
start:
lea eax, [ebx + fwd wrt ..gotoff]
mov eax, [ebx + gfwd wrt ..got]
mov eax, [ebx + late wrt ..gotoff]
call .loc
.loc:
global gfwd
section .data
fwd: db 1
gfwd: dd 2
section .text
late: ret
----
; wrt ends the whole expression, after ?: and unary operators
section .data
v: dd 0
dd 1 ? v : 3 wrt ..gotoff
dd (v) + 4 wrt ..gotoff
dd v - $$ + $$ wrt ..gotoff
""")

# nasm -f elf32 rejects these; so does pyasm, at the same lines, with a clean message
ELF_ERRORS = split_cases(r"""
msg: dd msg wrt msg
----
mov ax, seg msg
msg: dw 0
----
dw seg 5
----
msg: dd msg wrt 5
----
x equ msg wrt ..gotoff
msg: dd 0
----
msg: dd (msg wrt ..gotoff)
----
msg: dd msg wrt ..gotoff + 4
----
msg: dd msg wrt ..undefinedspecial
----
extern e
mov eax, e wrt ..plt
----
extern e
call e wrt ..gotoff
----
extern e
call e wrt ..got
----
extern e
jmp short e wrt ..plt
----
x: dw x wrt ..gotoff
----
extern e
call e wrt ..sym
----
extern e
mov eax, [ebx + e + 4 wrt ..got]
----
section .data
dd 1 ? 2 wrt ..gotoff : 3
----
section .data
v: dd 0
dd v wrt ..gotoff ? 2 : 3
""")

BIN_ERRORS = split_cases(r"""
bits 16
mov ax, seg msg
msg: dw 0
----
dw seg 5
----
bits 32
msg: db 1
lea eax, [ebx + msg wrt ..gotoff]
----
bits 32
msg: dd msg wrt ..sym
----
bits 32
call $ wrt ..plt
----
bits 32
dd $ wrt ..got
----
bits 32
add ebx, $$ - $ wrt ..gotpc
----
bits 32
msg: dd msg wrt 5
----
bits 32
msg: dd msg wrt msg
""")


def _nasm(src: Path, fmt: str) -> tuple:
    exe = require_tool("nasm")
    out = src.with_suffix(f".nasm.{fmt}")
    r = subprocess.run([exe, "-f", fmt, src.name, "-o", out.name], capture_output=True,
                       text=True, cwd=src.parent)
    return r.returncode, out.read_bytes() if r.returncode == 0 else None, r.stderr


def _pyasm(src: Path, fmt: str) -> tuple:
    out = src.with_suffix(f".py.{fmt}")
    err = io.StringIO()
    # the ELF file symbol is the path as given: run from the source's directory like nasm
    old = os.getcwd()
    os.chdir(src.parent)
    try:
        status = pyasm_run(src.name, fmt=fmt, output=out.name, stderr=err)
    finally:
        os.chdir(old)
    return status, out.read_bytes() if out.exists() else None, err.getvalue()


def _readelf(path: Path) -> str:
    require_tool("readelf")
    return subprocess.run(["readelf", "-aW", str(path)], check=True, capture_output=True,
                          text=True).stdout


@pytest.mark.parametrize("case", OBJECTS, ids=[c[0] for c in OBJECTS])
def test_object_matches_nasm(case, tmp_path):
    src = tmp_path / "t.asm"
    src.write_text(case[1])
    rc, theirs, nerr = _nasm(src, "elf32")
    assert rc == 0, f"nasm rejected the test source:\n{nerr}"
    status, ours, perr = _pyasm(src, "elf32")
    assert status == 0, perr
    if ours != theirs:
        assert _readelf(src.with_suffix(".py.elf32")) == _readelf(
            src.with_suffix(".nasm.elf32"))
        pytest.fail("readelf -aW agrees but the bytes differ")


# NASM quirks the ELF writer (asm/elf_output.py) does not reproduce yet
WRITER_GAPS = split_cases(r"""
; nasm writes 0 in place: the offset of an extern with wrt ..sym is lost
extern ext
section .data
dd ext + 4 wrt ..sym
----
; nasm 2.16 writes R_386_32 here; the writer picks R_386_GOTPC for any absolute
; reference to _GLOBAL_OFFSET_TABLE_
extern _GLOBAL_OFFSET_TABLE_
section .data
dd _GLOBAL_OFFSET_TABLE_
""")


@pytest.mark.xfail(strict=True, reason="ELF writer: NASM quirk not reproduced")
@pytest.mark.parametrize("case", WRITER_GAPS, ids=[c[0] for c in WRITER_GAPS])
def test_writer_gaps(case, tmp_path):
    test_object_matches_nasm(case, tmp_path)


def _same_errors(text: str, fmt: str, tmp_path: Path) -> str:
    src = tmp_path / "t.asm"
    src.write_text(text)
    rc, _, nerr = _nasm(src, fmt)
    assert rc != 0, "nasm accepted the test source"
    status, data, perr = _pyasm(src, fmt)
    assert status == 1 and data is None, perr
    assert "Traceback" not in perr
    assert error_lines(perr) == error_lines(nerr), (perr, nerr)
    return perr


@pytest.mark.parametrize("case", ELF_ERRORS, ids=[c[0] for c in ELF_ERRORS])
def test_elf_errors_like_nasm(case, tmp_path):
    _same_errors(case[1], "elf32", tmp_path)


@pytest.mark.parametrize("case", BIN_ERRORS, ids=[c[0] for c in BIN_ERRORS])
def test_bin_errors_like_nasm(case, tmp_path):
    _same_errors(case[1], "bin", tmp_path)


@pytest.mark.parametrize("text, message", [
    ("lea eax, [ebx + msg wrt ..gotoff]\nmsg: db 1\n", "symbol `..gotoff' not defined"),
    ("call $ wrt ..plt\n", "symbol `..plt' not defined"),
    ("dd 1 wrt 5\n", "WRT not supported by binary output format"),
    ("x: dd x wrt x\n", "invalid right-hand operand to WRT"),
])
def test_bin_messages(text, message, tmp_path):
    src = tmp_path / "t.asm"
    src.write_text("bits 32\n" + text)
    status, data, err = _pyasm(src, "bin")
    assert status == 1 and data is None
    assert message in err


@pytest.mark.parametrize("text, message", [
    ("msg: dd msg wrt 5\n", "ELF format does not support this use of WRT"),
    ("x equ msg wrt ..gotoff\nmsg: dd 0\n", "bad syntax for EQU"),
    ("msg: dd (msg wrt ..gotoff)\n", "expecting `)'"),
    ("extern e\nmov eax, e wrt ..plt\n", "non-PC-relative PLT"),
    ("extern e\ncall e wrt ..gotoff\n", "PC-relative GOT"),
    ("global g\ng: call g wrt ..plt\n", "jump within its own section"),
    ("dd 1 ? 2 wrt ..gotoff : 3\n", "expression syntax error"),
    # found by the ELF writer, which knows no line numbers
    ("nop\nlocal: dd local wrt ..got\n", "unable to find a suitable global symbol"),
])
def test_elf_messages(text, message, tmp_path):
    src = tmp_path / "t.asm"
    src.write_text(text)
    status, data, err = _pyasm(src, "elf32")
    assert status == 1 and data is None
    assert message in err


def test_wrt_closes_the_expression():
    """NASM's evaluate(): ``a + b wrt c`` is ``(a + b) wrt c``; the right side is one operand."""
    node = P.parse_expr("_GLOBAL_OFFSET_TABLE_ + $$ - .pc wrt ..gotpc").node
    assert type(node) is E.Binary and node.op == "wrt"
    assert node.right == E.Sym("..gotpc")
    assert type(node.left) is E.Binary and node.left.op == "-"
    assert type(P.parse_expr("a wrt ..got + 4").node) is E.Invalid
    assert type(P.parse_expr("(a wrt ..got)").node) is E.Invalid
