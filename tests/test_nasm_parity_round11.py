"""NASM parity, round 11 (issue 13): each case runs nasm 2.16 (the oracle) and pyasm on
the same small source and compares exit status, bytes and diagnostics (in order, with
NASM's "... from macro" notes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from nasm_parity import diagnostics_in_order, elf_dumps
from test_asm_helpers import nasm, pyasm, write
from test_nasm_parity_cmdline import _both
from test_nasm_parity_leftovers9 import same

# ---- `%use fp` and `%use altreg`: NASM's standard packages (fp.mac's constants and
# functions, altreg.mac's numbered registers; the 16/32-bit ones assemble)

@pytest.mark.parametrize("text", [
    "%use fp\n%use fp\ndd Inf, NaN, QNaN, SNaN, float32(1.5)\ndw float16(2.0)\n"
    "%ifdef __?USE_FP?__\ndb 1\n%endif\n",
    "%use fp\ndq float64(-2.5)\ndb float8(1.0)\ndd inf\n",
    "%use 'fp'\ndt float80m(1.0)\n",
    "%use altreg\nbits 32\nmov r0d, r7d\nmov r3w, r1w\nmov r0h, r3l\nmov r2b, r1b\n"
    "mov R1D, 4\nlea r6d, [r5d+r4d]\n",
    "%use altreg\n%ifdef R2W\ndb 1\n%endif\n%ifdef r2w\ndb 2\n%endif\n",
])
def test_use_fp_altreg(tmp_path, text):
    same(tmp_path, text)


# ---- `times N db` without operands: NASM's parser warns once, whatever the count (0,
# several, negative or not constant)

@pytest.mark.parametrize("text", [
    "times 2 db\n", "times 0 db\n", "x: times x db\n", "times -1 db\n",
    "times 3 dw\ndb 1\n", "times y db\ny equ 2\n", "times 2 times 3 dd\n",
    # guard
    "db\ntimes 2 db 1\n",
])
def test_times_empty_data(tmp_path, text):
    same(tmp_path, text)


# ---- %clear: the global macros go (the standard ones too), context-local ones stay;
# an unknown option is an error, a non-identifier trailing garbage. %aliases reads
# on/off or a constant expression

@pytest.mark.parametrize("text", [
    "%define x 1\n%clear\ndb x\n", "%clear 5\n", "%define x 1\n%clear 5\ndb x\n",
    "%clear foo bar\n", "%clear \"x\"\n", "%clear foo\n%clear bar\n",
    "%clear\ndb __?NASM_MAJOR?__\n", "%clear\ndb __?LINE?__\n", "%clear\ndb 1\nalign 4\n",
    "%macro m 0\ndb 7\n%endmacro\n%clear\nm\n", "%clear\nsection .text\n",
    "%idefine x 1\n%defalias y x\n%clear\ndb X\n%ifdefalias y\ndb 1\n%endif\n",
    "%push c\n%define %$x 1\n%clear\ndb %$x\n", "%clear\nincbin \"t.asm\"\n",
    "%aliases 1 2\n", "%aliases $\n%aliases $$+1\n", "%aliases foo bar\n", "%aliases (\n",
    # guards
    "%aliases 0\n", "%aliases yes\n", "%aliases TRUE\n", "%aliases off\n",
])
def test_clear_and_aliases(tmp_path, text):
    same(tmp_path, text)


# ---- `%$`, `$` and `$$` are no macro identifiers (`%$$` is a context's)

@pytest.mark.parametrize("text", [
    "%define %$\n", "%define $ 1\n", "%xdefine %$ 1\n", "%assign %$ 1\n", "%undef %$\n",
    "%push c\n%define %$ 1\n", "%define %$(x) 1\n", "%idefine %$\n", "%defstr %$ 1\n",
    "%define $$ 1\n%define $x 1\n%define %$$$ 1\n", "%undef $\n", "%strlen %$ \"a\"\n",
    "%deftok $ \"a\"\n",
    # guards
    "%define x %$\ndb 1\n", "%if %$\n%endif\n", "%ifdef %$\n%endif\n", "%error %$\n",
    "%define %$$ 1\n",
])
def test_context_sigil_is_no_name(tmp_path, text):
    same(tmp_path, text)


# ---- wider-than-8-byte data from an integer: one error per integer item and per TIMES
# repetition, in NASM's wording for DT too

@pytest.mark.parametrize("text", [
    "dt 5\ndo 5\n", "dt x\nx:\n", "dt 2+3\n", "dt 1, 2, 1.0, 3\ndt 1.0, x\nx:\n",
    "times 2 do 5\ntimes 3 dt 1, 2\ntimes 2 dt 1.0, 'ab', 1\n",
    # guards
    "dt 1.0, 'ab'\ndo 2.5\n",
])
def test_wide_integer_data(tmp_path, text):
    same(tmp_path, text)


# ---- `%{`: unterminated (closed at the end of the line, its comment in it), empty
# (the `%` operator), or holding no parameter (`%{x}`); a stored body's warnings come as
# NASM reads it

@pytest.mark.parametrize("text", [
    "db %{\n", "db 1 %{x\n", "db %{}\n", "db 5 %{} 3\n", "db %{1\n", "%define a %{\n",
    "db 1 %{x}\n", "db 6 %{ } 4\n", "db %{1 ; c\n", "%macro m 1\ndb %{1\n%endmacro\nm 3\n",
    "%macro m 1\ndb 7 %{}2\n%endmacro\nm 3\n", "%rep 2\ndb 7 %{}2\n%endrep\n",
    "db 5 %{}3\n", "%macro m 1\ndb 7 %{}2\n%endmacro\n",
    # guards
    "%macro m 1\ndb %{1}\n%endmacro\nm 3\n", "%macro m 2\ndb %{1:2}\n%endmacro\nm 3, 4\n",
])
def test_percent_braces(tmp_path, text):
    same(tmp_path, text)


# ---- a preprocessor expression is worked out as it is read: a symbol not defined
# before the syntax error is reported instead of it; a `(` or `?` left open gets NASM's
# own message

@pytest.mark.parametrize("text", [
    "%macro m 0\n%if x %%\n%endif\n%endmacro\nm\n", "%if x %%\n%endif\n",
    "%if x +\n%endif\n", "%if (x\n%endif\n", "%if 1 + (x *\n%endif\n",
    "%assign y x %%\n", "%rep x *\n%endrep\n", "%if ((2) x\n%endif\n", "%if (1\n%endif\n",
    "%assign x (1 2\n", "%if 1 ? 2\n%endif\n", "%if (1 ? 2\n%endif\n",
    "%if x ? 2\n%endif\n", "%if 1 ? x\n%endif\n", "%if 1 ? 2 3\n%endif\n",
    # guards
    "%if 1 +\n%endif\n", "%if (1 + \n%endif\n", "%if (1 ? 2 :\n%endif\n",
    "%if 1 ? 2 +\n%endif\n", "%if x y\n%endif\n",
])
def test_pp_expression_read_as_it_goes(tmp_path, text):
    same(tmp_path, text)


# ---- bin: `seg y wrt 5` is refused for its WRT, then for the segment base (the
# 32-bit field's warning first); an EQU operand with an unclosed `[`

@pytest.mark.parametrize("text", [
    "y: db 1\ndw seg y wrt 5\n", "y: db 1\nmov ax, seg y wrt 5\n",
    "y: db 1\ndw seg y wrt z\nz equ 3\n", "y: db 1\ndd seg y wrt 5\nmov eax, seg y wrt 5\n",
    "x equ 1, [bx\n", "x equ [bx\n", "x: equ [bx\n", "x equ 1, 2, [3\n", "x equ [bx) \n",
    # guards
    "y: db 1\ndw y wrt 5\n", "y: db 1\ndw seg y wrt y\n", "dw 1 wrt 5\n", "x equ [\n",
    "x equ 1, [\n", "x equ [bx]\n", "x equ (1\n",
])
def test_wrt_and_equ_brackets(tmp_path, text):
    same(tmp_path, text)


@pytest.mark.parametrize("text", ["y: db 1\ndw seg y wrt 5\nmov ax, seg y wrt 5\n"])
def test_seg_wrt_number_elf(tmp_path, text):
    same(tmp_path, text, "elf32")


# ---- --gpostfix/--lpostfix/--postfix hold in ELF (the pragma's postfixes do not, as in
# NASM 2.16.01); --gprefix is no line of -E's output

@pytest.mark.parametrize("args", [
    ["-f", "elf32", "--gpostfix", "_g", "g.asm", "-o", "g.o"],
    ["-f", "elf32", "--lpostfix", "_l", "g.asm", "-o", "g.o"],
    ["-f", "elf32", "--postfix", "_p", "g.asm", "-o", "g.o"],
    ["-f", "elf32", "--gprefix", "p_", "--gpostfix", "_g", "g.asm", "-o", "g.o"],
    ["-f", "elf32", "--lprefix", "L_", "--lpostfix", "_l", "g.asm", "-o", "g.o"],
    ["-E", "--gprefix", "_g", "e.asm"],
    ["--gpostfix", "_g", "e.asm", "-o", "e.bin"],
], ids=" ".join)
def test_symbol_affix_options(tmp_path, args):
    n, p = _both(tmp_path, args)
    assert p == n


@pytest.mark.parametrize("text", [
    "%pragma elf gpostfix _g\nglobal x\nx: db 1\ny: db 2\nextern e\ndd e\n",
    "%pragma output lpostfix _l\nglobal x\nx: db 1\ny: db 2\n",
])
def test_pragma_postfix_ignored(tmp_path, text):
    nasm_t, pyasm_t = elf_dumps(tmp_path, text, "-t")
    assert pyasm_t == nasm_t


# ---- NASM's scanner warns about each `ptr` it reads (any case; labels and EQUs too,
# expressions of org/absolute/sectalign, not other directives' words), in the final pass

PTR_SOURCES = [
    "ptr:\ndb ptr\n", "ptr equ 1\nmov ax, [ptr]\n", "mov ax, [x]\nx equ ptr\nptr:\n",
    "times 0 db ptr\nptr:\n", "db ptr, ptr\nptr:\n", "db PTR\nPTR:\n",
    "mov ax, zz\ndb ptr\nptr:\n", "jmp ptr\nptr: nop\n", "ptr: jmp ptr\n",
    "mov ax, word ptr [bx]\n", "%rep 2\nptr%+1: db 1\n%endrep\n",
    "[warning -ptr]\nptr:\n[warning +ptr]\nptr2:\n", "global ptr\nptr:\n",
    "org ptr\nptr equ 0\n", "sectalign ptr\nptr equ 4\n", "times 3 db ptr\nptr:\n",
    "%macro m 1\ndb %1\n%endmacro\nm ptr\nptr:\n", "x: dw ptr - x\nptr:\n",
    # guards
    "db \"ptr\"\n%warning ptr\n", "section ptr\n", "cpu ptr\n", "db 1 ; ptr\nptr2: db ptr2\n",
    ".ptr: db 1\nptr.x: db 2\n",
]


@pytest.mark.parametrize("text", PTR_SOURCES)
def test_ptr_warning(tmp_path, text):
    same(tmp_path, text)


@pytest.mark.parametrize("text", ["global ptr\nptr:\nextern PTR\ndd PTR\ncommon Ptr 4\n"])
def test_ptr_warning_elf(tmp_path, text):
    same(tmp_path, text, "elf32")


@pytest.mark.parametrize("option", ["-w-ptr", "-w+error=ptr", "-w+all"])
def test_ptr_warning_options(tmp_path, option):
    root = Path(__file__).resolve().parent.parent
    (tmp_path / "t.asm").write_text("ptr:\ndb ptr\n")
    runs = []
    for cmd in (["nasm"], [sys.executable, "-m", "asm.cli"]):
        r = subprocess.run(cmd + [option, "t.asm", "-o", "t.bin"], cwd=tmp_path,
                           capture_output=True, text=True,
                           env=dict(os.environ, PYTHONPATH=str(root)))
        runs.append((r.returncode, [line for line in r.stderr.splitlines()
                                    if not line.startswith(" ")]))
    assert runs[1] == runs[0]


# ---- NASM goes on past `expecting ]` with the memory operand closed: an address it
# cannot encode is a second error

@pytest.mark.parametrize("text", [
    "mov ax, [es\n", "bits 32\nmov ax, [es\n", "mov ax, [cs\n", "mov ax, [ax\n",
    "mov ax, [es+bx\n", "mov ax, [al\n", "lea ax, [es\n", "push word [es\n", "jmp [es\n",
    "x equ [es\n",
    # guards
    "mov ax, [bx\n", "mov ax, [eax\n", "mov ax, [bx\nx: dw x\n", "mov ax, es:[bx\n",
    "mov ax, [x\n",
])
def test_open_memory_operand(tmp_path, text):
    same(tmp_path, text)


# ---- %unmacro removes only the macro of exactly the counts it names (min, max, `+`)

@pytest.mark.parametrize("text", [
    "%macro m 0\ndb 1\n%endmacro\n%unmacro m 1\nm\n",
    "%macro m 1\ndb 1\n%endmacro\n%unmacro m 0\nm 1\n",
    "%macro m 1-2\ndb 1\n%endmacro\n%unmacro m 1\nm 1\n",
    "%macro m 1\ndb 1\n%endmacro\n%unmacro m 1-2\nm 1\n",
    "%macro m 1+\ndb 1\n%endmacro\n%unmacro m 1\nm 1\n",
    "%macro m 1\ndb 1\n%endmacro\n%unmacro m 1+\nm 1\n",
    "%macro m 0-*\ndb 1\n%endmacro\n%unmacro m 0\nm\n",
    "%macro m 0\ndb 1\n%endmacro\n%unmacro m 0-*\nm\n",
    "%macro m 1\ndb 1\n%endmacro\n%macro m 2\ndb 2\n%endmacro\n%unmacro m 1\nm 1\nm 1,2\n",
    "%macro m 1-3\ndb 1\n%endmacro\n%unmacro m 2\nm 1\n",
    # guards
    "%macro m 1-2\ndb 1\n%endmacro\n%unmacro m 1-2\nm 1\n",
    "%macro m 1.nolist\ndb 1\n%endmacro\n%unmacro m 1\nm 1\n",
])
def test_unmacro_exact_counts(tmp_path, text):
    same(tmp_path, text)


# ---- ELF section attributes: size words (any start of one, `*N`) give the entry size
# and alignment, `pointer` is 4; the array types default to 4; `readonly`, `nomerge`,
# `nostrings`; `merge` needs an entry size or `strings`

ELF_SECTION_ATTRS = [
    "pointer", "merge", "merge strings", "merge byte", "merge strings dword",
    "pointer align=16", "align=16 pointer", "init_array", "fini_array", "preinit_array",
    "byte", "dword", "qword", "merge word", "b", "tword", "readonly", "dword*2",
    "nomerge", "pointer*2", "oword", "zword", "merge dword align=2", "dword align=2",
    "nobits dword", "merge nomerge", "merge strings nostrings", "nomerge merge",
    # guards
    "strings", "note", "nowrite", "notls", "bogus", "progbits alloc exec write align=8",
]


@pytest.mark.parametrize("attrs", ELF_SECTION_ATTRS)
def test_elf_section_attributes(tmp_path, attrs):
    src = write(tmp_path, "t.asm", f"section .foo {attrs}\ndb 1\n")
    rc, _, nerr = nasm(src, "-f", "elf32", out=tmp_path / "n.o")
    status, _, perr = pyasm(src, out=tmp_path / "p.o", fmt="elf32")
    assert (rc, diagnostics_in_order(nerr)) == (status, diagnostics_in_order(perr))
    if rc == 0:
        def header(path):
            out = subprocess.run(["readelf", "-SW", str(path)], capture_output=True,
                                 text=True, check=True).stdout
            return [line.split()[1:] for line in out.splitlines() if " .foo " in line]
        assert header(tmp_path / "p.o") == header(tmp_path / "n.o")
