"""NASM parity, round 8 (issue 13): each case runs nasm 2.16 (the oracle) and pyasm on
the same small source and compares exit status, bytes and diagnostics."""

from __future__ import annotations

import io
import os
import re
import subprocess

import pytest
from conftest import require_tool
from nasm_parity import check, diagnostics_in_order
from test_asm_helpers import nasm, pyasm, write

import asm
from asm import cli

# ---- NASM prints each message as it goes: errors and warnings interleaved in the order
# of the lines (per pass), not the warnings first

ORDER_SOURCES = [
    # final-pass errors among final-pass warnings
    "db 300\nfoo\nfld st8\n%warning hi\nmov ax, zz\ndw 70000\nbar\n",
    # the preprocessor's warnings among the final pass's errors
    "db 300\n%rep -1\n%endrep\nmov ax, zz\n%rep -2\n%endrep\nfoo\n",
    # an error, then the warning the same line gives after it
    "jmp short x\ntimes 200 nop\nx:\nfoo\nmov ax,zz\n",
    # errors ending pass 1 among pass 1's warnings
    "foo\nmov ax, [ax+\nbar\ndb 1,\nbaz\n",
    "%macro m 2\n%endmacro\nm 1\nmov ax,zz\n",
    # a warning in an included file, between errors of the including one
    "mov ax, zz\n%include 'inc.asm'\nmov ax, yy\n",
    # inside a macro (its body's lines come before the call's)
    "%macro m 0\nfoo\nmov ax, zz\n%endmacro\nmov ax, yy\nm\nbar\n",
    # a warning made an error among errors
    "[warning +error=label-orphan]\nmov ax, zz\nx\nmov bx, yy\n",
    "[warning +error=number-overflow]\nmov ax, zz\ndb 300\nmov bx, yy\ndw 70000\n",
]


@pytest.mark.parametrize("text", ORDER_SOURCES)
def test_message_order(tmp_path, text):
    write(tmp_path, "inc.asm", "db 1\nqux\nmov ax, xx\ndw 70000\n")
    check(tmp_path, text, ordered=True)


PP_ORDER_SOURCES = [
    "%rep -1\n%endrep\n%error x\n%rep -2\n%endrep\n%warning w\n",
    "%error a\n%rep -1\n%endrep\n%error b\n",
]


@pytest.mark.parametrize("text", PP_ORDER_SOURCES)
def test_preprocess_only_message_order(tmp_path, text):
    check(tmp_path, text, "-E", ordered=True, preprocess_only=True)


_NASM_LINE = re.compile(r"^[^:\n]*:(\d+): (error|warning): (.*)$", re.M)

API_ORDER_SOURCES = [
    "[warning +error=label-orphan]\nmov ax, zz\nx\nmov bx, yy\n",
    "[warning +error=number-overflow]\nmov ax, zz\ndb 300\nmov bx, yy\ndw 70000\n",
    "%macro m 0\nx\nmov ax, zz\n%endmacro\n[warning +error=label-orphan]\nmov ax, yy\nm\n",
]


@pytest.mark.parametrize("text", API_ORDER_SOURCES)
def test_api_diagnostics_order(tmp_path, text):
    """asm.assemble's AssemblyError.diagnostics: the errors (warnings made errors
    included) in the order NASM prints them."""
    rc, _, nerr = nasm(write(tmp_path, "t.asm", text))
    assert rc != 0
    expected = [(int(n), m) for n, kind, m in _NASM_LINE.findall(nerr) if kind == "error"]
    with pytest.raises(asm.AssemblyError) as info:
        asm.assemble(text, filename="t.asm")
    assert [(d.line, d.message) for d in info.value.diagnostics] == expected, nerr


# ---- `[warning *error]`: the classes back to the command line's error state, and a
# class that is an error by default (pp-macro-def-param-single) stays one

RESTORE_SOURCES = [
    ("[warning *error]\n%define a 1\n%define a(x) 2\ndb 1\n", ()),
    ("[warning *error=all]\n%define a 1\n%define a(x) 2\ndb 1\n", ()),
    ("[warning -error=pp-macro-def-param-single]\n%define a 1\n%define a(x) 2\ndb 1\n"
     "[warning *error]\n%define b 1\n%define b(x) 2\n", ()),
    ("[warning -error=pp-macro-def-param-single]\n%define a 1\n%define a(x) 2\ndb 1\n"
     "[warning *error=pp-macro]\n%define b 1\n%define b(x) 2\n", ()),
    ("[warning *error]\n%define a 1\n%define a(x) 2\ndb 1\n", ("-w-error",)),
    ("[warning *error]\n%define a 1\n%define a(x) 2\ndb 1\n",
     ("-w-error=pp-macro-def-param-single",)),
    ("[warning *error=pp]\n%define a 1\n%define a(x) 2\ndb 1\n",
     ("-w-error=pp-macro", "-w+error=pp-macro-def")),
]


@pytest.mark.parametrize("text,options", RESTORE_SOURCES)
def test_warning_restore_default_errors(tmp_path, text, options):
    check(tmp_path, text, *options, warnings=[o[2:] for o in options], ordered=True)


# ---- `%fatal`: NASM's "fatal:"; -E writes the lines before a failure to stdout

FATAL_SOURCES = [
    "%fatal f\ndb 1\n",
    "db 1\n%fatal f\ndb 2\n",
    "mov ax, zz\n%fatal f\nmov bx, yy\n",
    "foo\n%fatal f\n",
]


@pytest.mark.parametrize("text", FATAL_SOURCES)
def test_fatal(tmp_path, text):
    check(tmp_path, text, ordered=True)


PREPROCESS_FAILURES = [
    "%error e\ndb 1\n",
    "db 1\n%error e\ndb 2\n",
    "db 1\n%fatal f\ndb 2\n",
    "%rep 2\n%error e\n%endrep\ndb 3\n",
    "%macro m 0\ndb 1\n%error e\ndb 2\n%endmacro\nm\ndb 3\n",
    "db 1\n%error e\n%rep -1\n%endrep\ndb 2\n",
]


@pytest.mark.parametrize("text", PREPROCESS_FAILURES)
def test_preprocess_only_failure_output(tmp_path, text):
    """nasm -E to stdout: the lines up to the failure (all of them after %error), then
    exit 1; pyasm prints the same."""
    src = write(tmp_path, "t.asm", text)
    r = subprocess.run([require_tool("nasm"), "-E", "t.asm"], capture_output=True,
                       text=True, cwd=tmp_path)
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        status = cli.run(str(src.name), preprocess_only=True, stdout=out, stderr=err)
    finally:
        os.chdir(old)
    assert (status, out.getvalue()) == (r.returncode, r.stdout)
    assert diagnostics_in_order(err.getvalue()) == diagnostics_in_order(r.stderr)


# ---- pp-macro-def-case-single: a single-line macro defined both case sensitive and
# insensitive (NASM's warning; the newer one shadows the older)

CASE_SOURCES = [
    "%define a 1\n%idefine A(x) 2\ndb a, A(1), a(1)\n",
    "%idefine A(x) 2\n%define a 1\ndb a, A(1), a(1)\n",
    "%define a 1\n%idefine A 2\ndb a, A\n",
    "%idefine a 1\n%define A 2\ndb a, A\n",
    "%define a(x) 1\n%idefine A 2\ndb a, A, a(1)\n",
    "%idefine a(x) 1\n%define A 2\ndb a, A, a(1)\n",
    "%define a 1\n%define A 2\n%idefine a 3\ndb a, A\n",
    "%idefine a 1\n%define a 2\ndb a, A\n",
    "%idefine a 1\n%define a 2\n%define a 3\ndb a, A\n",
    "%define a(x,y) 1\n%idefine A(x) 2\ndb a(1,2), A(3)\n",
    "[warning -pp-macro-def-case-single]\n%define a 1\n%idefine A 2\ndb a, A\n",
    "%idefine a 1\n%idefine A 2\ndb a, A\n",
]


@pytest.mark.parametrize("text", CASE_SOURCES)
def test_macro_def_case_single(tmp_path, text):
    check(tmp_path, text, ordered=True)


# ---- declarations of one name (NASM's declare_label): which go together, which are
# "declared both as", which redefine the label; `required` is an extern always written

_DECLS = {"global": "global x", "static": "static x", "extern": "extern x",
          "required": "required x", "common": "common x 4", "label": "x: nop",
          "equ": "x equ 5"}


def _symbols(path) -> list:
    """readelf -s's symbol rows (the file symbol's name left out)."""
    out = subprocess.run([require_tool("readelf"), "-sW", str(path)], capture_output=True,
                         text=True, check=True).stdout
    return [line.split()[1:] for line in out.splitlines()[3:] if "FILE" not in line]


def same_object(tmp_path, text: str, fmt: str = "elf32") -> None:
    """The same status and diagnostics (in order) as nasm -f fmt, and for elf32 on
    success the same symbol table."""
    src = write(tmp_path, "t.asm", text)
    rc, _, nerr = nasm(src, "-f", fmt, out=tmp_path / "n.o")
    status, _, perr = pyasm(src, out=tmp_path / "p.o", fmt=fmt)
    assert (rc, diagnostics_in_order(nerr)) == (status, diagnostics_in_order(perr)), \
        (nerr, perr)
    info = re.findall(r"^[^:\n]*:(\d+): info: (.*)$", nerr, re.M)
    assert re.findall(r"^[^:\n]*:(\d+): info: (.*)$", perr, re.M) == info, (nerr, perr)
    if rc == 0 and fmt == "elf32":
        assert _symbols(tmp_path / "p.o") == _symbols(tmp_path / "n.o")


@pytest.mark.parametrize("first", list(_DECLS))
@pytest.mark.parametrize("second", list(_DECLS))
def test_declaration_pairs(tmp_path, first, second):
    same_object(tmp_path, f"{_DECLS[first]}\n{_DECLS[second]}\n")


BIN_DECLARATIONS = [f"{_DECLS[a]}\n{_DECLS[b]}\n" for a in _DECLS for b in _DECLS
                    if "common" not in (a, b)] + [
    "extern x\ncommon x 4\n", "required x\ncommon x 4\n", "x equ 5\ncommon x 4\n",
    "required x\ndd x\n",
]


@pytest.mark.parametrize("text", BIN_DECLARATIONS)
def test_declaration_pairs_bin(tmp_path, text):
    same_object(tmp_path, text, "bin")


@pytest.mark.parametrize("text", [
    "common x 4\ncommon x 8\n", "common x 4\ncommon x 4\n", "common x 4:\ncommon x 4:8\n",
    "common x 8\nx equ 1\n"])
def test_common_twice(tmp_path, text):
    """NASM: a second `common` of another size redefines the label (the same size, or
    another alignment, is no error)."""
    same_object(tmp_path, text)


# ---- ELF specials of static, extern and required symbols (type, size, visibility)

SPECIALS = [
    "static x:function\nx: nop\nret\n",
    "static x:function (x.end-x)\nx: nop\nret\n.end:\n",
    "static x:data 4\nsection .data\nx: dd 1\n",
    "static x:function hidden 4\nx: nop\n",
    "static x:object\nx: nop\n",
    "static x:protected\nx: nop\n",
    "required x:function\nx: nop\n",
    "required x:data 8\n",
    "required x\nextern y\nrequired z\ndd y\n",
    "required x\ncall x\n",
    "extern x:function\ncall x\n",
    "extern x:function 4\ncall x\n",
    "extern x:data\nx: nop\n",
    "extern x:y\n",
    "extern x\nrequired x\n",
    "global x:function\nglobal x: function\nx: nop\n",
]


@pytest.mark.parametrize("text", SPECIALS)
def test_symbol_specials(tmp_path, text):
    same_object(tmp_path, text)


# ---- `%error`: NASM reports it in its final pass (after pass 1's errors, never); with
# other final-pass messages in line order

PP_ERROR_SOURCES = [
    "mov ax, 1+\n%error e1\ndb 1\n",
    "%error e1\nmov ax, 1+\n%error e2\n",
    "mov ax, zz\n%error e1\n",
    "foo equ\n%error e1\n",
    "%define a 1\n%define a(x) 2\n%error e1\n",
    "%if\n%endif\n%error e1\n",
    "%assign x 1/0\n%error e1\n",
    "%error e\n%fatal f\n",
    "%error e1\nfoo\n%error e2\nfld st8\ndb 300\n",
    "%rep 2\n%error e\n%endrep\n",
    "db 1\n%warning w\n%error e\n",
    "%warning w\n%error e\nfoo\n",
    "%error e\n%warning w\nfoo\n",
    "mov ax, zz\n%error e1\nfoo\n%warning w\nmov ax, yy\n",
    "[warning +error=label-orphan]\nfoo\n%error e\n",
]


@pytest.mark.parametrize("text", PP_ERROR_SOURCES)
def test_pp_error_in_final_pass(tmp_path, text):
    check(tmp_path, text, ordered=True)


# ---- literals: hex/octal/binary floats that overflow warn as decimal ones do; `times 0`
# still gives the scanner's warnings; `seg seg y`

LITERAL_SOURCES = [
    "dd 0x1p200\n", "dd 0x1p128\n", "dd 0x1.8p128\n", "dd 0x1.ffffffp127\n",
    "dd 0q1p200\n", "dd 0b1p200\n", "dd $1p200\n", "dq 0x1p1024\n", "dw 0x1p20\n",
    "dt 0x1p20000\n", "times 2 dd 0x1p200\n",
    "times 0 db 0x10000000000000000\n", "times 0 dw 0x1_0000_0000_0000_0000\n",
    "times 0 mov ax, [bx+0x10000000000000000]\n",
    "times 0 jmp 0x10000000000000000:0x20000000000000000\n",
    "times 0 resb 0x10000000000000000\n", "times 0 dd 2 dup (0x1p200, 3)\n",
    "times 0 dq 0x1p2000, 0x1p200\n", "times 0 dd 1e50\n",
    "y: db 1\nx equ seg seg y\n", "y: db 1\ndw seg seg y\n", "x equ seg seg y\ny: db 1\n",
    "dw seg (seg y)\ny: db 1\n", "dw seg +seg y\ny: db 1\n", "dw seg seg 1\n",
]


@pytest.mark.parametrize("text", LITERAL_SOURCES)
def test_literals(tmp_path, text):
    check(tmp_path, text, ordered=True)


def test_float_overflow_table(tmp_path):
    """asm.expr.float_overflow and encode_float against nasm on every float size."""
    import asm.expr as E
    values = ("0x1p127 0x1p128 0x1p129 0x1.8p128 0x1.ffffffp127 0x1.fffffep127 0q1p200 "
              "0b1p200 $1p200 0x1p-200 0t1e50 1e50 3.4028235e38 3.4028236e38 "
              "0x1.fffffffffffff8p1023 0x1p1024 1.7976931348623159e308 65504.0 65520.0 "
              "0x1.ffep15 1e4933 0x1p16384").split()
    src = write(tmp_path, "t.asm", "".join(f"{d} {v}\n" for d in ("dw", "dd", "dq", "dt")
                                           for v in values))
    rc, data, nerr = nasm(src)
    assert rc == 0, nerr
    warned = {int(n) for n in re.findall(r":(\d+): warning: overflow in floating", nerr)}
    line, at = 0, 0
    for unit in (2, 4, 8, 10):
        for v in values:
            line += 1
            assert E.encode_float(v, unit) == data[at:at + unit], (unit, v)
            assert E.float_overflow(v, unit) == (line in warned), (unit, v)
            at += unit


# ---- listings: NASM writes the listing when its final pass ran, errors included; a
# message row inside a macro has the macro level

LISTING_SOURCES = [
    "db 1\nfoo\nmov ax, zz\ndb 300\n",
    "db 1\nmov ax, 1+\ndb 2\n",
    "db 1\n%fatal f\ndb 2\n",
    "times 2 db 1\nmov ax, zz\n%rep 2\ndb 2\n%endrep\n",
    "db 1\nx: equ 1\nx: equ 2\n",
    "[warning +error=number-overflow]\ndb 300\nmov ax, zz\n",
    "db 1\nfoo\n%macro m 0\ndb 1\nbar\n%endmacro\nm\n",
    "%macro m 0\ndb 300\n%endmacro\nm\nm\n",
]


@pytest.mark.parametrize("text", LISTING_SOURCES)
def test_listing_on_failure(tmp_path, text):
    src = write(tmp_path, "t.asm", text)
    rc, _, nerr = nasm(src, "-l", str(tmp_path / "n.lst"))
    status, _, perr = pyasm(src, listing=str(tmp_path / "p.lst"))
    assert rc == status, (nerr, perr)
    nlst, plst = tmp_path / "n.lst", tmp_path / "p.lst"
    assert nlst.exists() == plst.exists(), (nerr, perr)
    if nlst.exists():
        assert plst.read_text() == nlst.read_text()
