"""NASM parity, round 10 (issue 13): each case runs nasm 2.16 (the oracle) and pyasm on
the same small source and compares exit status, bytes, diagnostics (in order, with
NASM's "... from macro" notes) and, for listings and debug information, the files."""

from __future__ import annotations

import os
import subprocess

import pytest
from conftest import require_tool
from test_asm_helpers import write
from test_nasm_parity_leftovers9 import same, same_listing

from asm import cli
from asm.errors import AsmErrors

# ---- NASM names no macro defined `.nolist` in its notes, nor any inside one (its
# pp_error_list_macros stops there); a label it defines was "originally defined" at
# the line that called it, and its lines' debug rows are that line's too

NOLIST_SOURCES = [
    "%macro m 0.nolist\nfoo\n%endmacro\nm\n",
    "%macro m 0.nolist\n%warning hi\n%endmacro\nm\n",
    "%macro m 0.nolist\nmov ax, [bx+\n%endmacro\nm\n",
    "%macro in 0.nolist\nfoo\n%endmacro\n%macro out 0\nin\n%endmacro\nout\n",
    "%macro in 0\nfoo\n%endmacro\n%macro out 0.nolist\nin\n%endmacro\nout\n",
    "%macro in 0\nfoo\n%endmacro\n%macro mid 0.nolist\nin\n%endmacro\n"
    "%macro out 0\nmid\n%endmacro\nout\n",
    "%macro m 0.nolist\nx: nop\n%endmacro\nm\nx: nop\n",
    "%macro m 0.nolist\nx: nop\n%endmacro\nx: nop\nm\n",
    "%macro n 0.nolist\nx: nop\n%endmacro\n%macro m 0\nn\n%endmacro\nm\nx: nop\n",
    "%macro m 0.nolist\n%rep 2\ndb 300\n%endrep\n%endmacro\nm\n",
]


@pytest.mark.parametrize("text", NOLIST_SOURCES)
def test_nolist_macro_notes(tmp_path, text):
    same(tmp_path, text)


def test_nolist_macro_debug_lines(tmp_path):
    """`-g`: a `.nolist` macro's lines are the calling line's (in a macro, its body's)."""
    exe = require_tool("nasm")
    write(tmp_path, "t.asm", "%macro n 0.nolist\nnop\nnop\n%endmacro\n%macro m 0\nnop\nn\n"
                             "%endmacro\nm\nn\nnop\n")
    subprocess.run([exe, "-f", "elf32", "-g", "-F", "dwarf", "t.asm", "-o", "n.o"],
                   check=True, cwd=tmp_path)
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert cli.main(["-f", "elf32", "-g", "-F", "dwarf", "t.asm", "-o", "p.o"]) == 0
    finally:
        os.chdir(old)
    assert (tmp_path / "p.o").read_bytes() == (tmp_path / "n.o").read_bytes()


# ---- a label redefined by the label of `x times N equ v` and then by its EQU: two
# errors, the second's note at the line itself

@pytest.mark.parametrize("text", [
    "x: nop\nx times 2 equ 3\n", "x: nop\nx times 1 equ 3\n", "x: nop\nx times 3 equ 3\n",
    "x: nop\nx times 0 equ 3\n", "x:\nx times 2 equ 3\n",
])
def test_times_equ_redefinitions(tmp_path, text):
    same(tmp_path, text)


# ---- listings: a `<rep N>` that overflows a row starts one at the offset of the row
# it overflowed (in a `.nolist` macro's row too)

@pytest.mark.parametrize("text", [
    "nop\ntimes 2 db 1,2,3,4,5,6,7,8,9\nnop\n",
    "nop\ntimes 2 db 1,2,3,4,5,6,7,8\nnop\n",
    "%macro m 0.nolist\ndb 5\ntimes 3 db 1,2\ntimes 2 dw 7\ndb 6\n%endmacro\nnop\nm\nnop\n",
    "%macro m 0.nolist\ndb 5\ntimes 3 db 1,2\ntimes 2 dd 7\ntimes 2 dd 8\ndb 6\n%endmacro\n"
    "nop\nm\nnop\n",
])
def test_listing_rep_row_offset(tmp_path, text):
    same_listing(tmp_path, text)


# ---- listings: a macro's or a %rep's body line as NASM keeps it, in tokens (no comment,
# a run of blanks one space); a continuation row of an expansion has its level

EXPANSION_LISTINGS = [
    "%macro m 1\n  ; only comment\n\n  mov ax, %1 ; c\n  db `a\\t  b`,  \"x ; y\"   ; z\n"
    "  mov   ax,[ bx +  2 ]\n%%l:   nop\n\t%if 1\n\tnop\n\t%endif\n  x%1y  :  nop\n"
    "%endmacro\nm 5\n",
    "%rep 2\n\t\tinc   ax  ; up\n%endrep\n   plainline:    nop  ; c\n",
    "%macro m 0\n    times 12 db 1  ; twelve\n%endmacro\nm\n",
    "%assign i 0\n%rep 3\n  db i,  i\n  %assign i i+1\n%endrep\n",
    "%macro m 0\n  %rep 2\n    db  'it''s'   \n  %exitrep\n    nop\n  %endrep\n%endmacro\nm\n",
    "%macro m 2\ndb %{1}, %{2}, %{1:2}\n%push c\n%define %$x 1\ndb %{$x}, %$x\n%pop\n"
    "db %{1:-1}\n%endmacro\nm 1, 2\n",
    "%use smartalign\nalignmode p6\nnop\n",
]


@pytest.mark.parametrize("text", EXPANSION_LISTINGS)
def test_listing_of_expansions(tmp_path, text):
    same_listing(tmp_path, text)


def test_listing_of_an_included_file_as_written(tmp_path):
    write(tmp_path, "inc1.inc", "  nop   ; x\n\tdb  1,  2\n")
    same_listing(tmp_path, "nop\n%include \"inc1.inc\"\n  nop  ; y\n")


# ---- ORG of a segment base: not a critical expression

@pytest.mark.parametrize("text", [
    "x: org seg x\n", "y:\norg seg y\n", "y:\norg seg y + 3\n", "y:\norg (seg y)*2\n",
    "org seg 5\n", "org seg x\nx:\n",
])
def test_org_segment_base(tmp_path, text):
    same(tmp_path, text)


# ---- a negative TIMES count: an error of NASM's final pass (count 0 until then), not
# shown when pass 1 fails for another reason

@pytest.mark.parametrize("text", [
    "times -1 db 0\nx: nop\nx: nop\n", "times -1 db 0\nx equ y\n", "times -1 db 0\ndb 300\n",
    "mov ax, zz\ntimes -1 db 0\n", "times -1 db 0\nmov ax, zz\n",
    "x times -1 equ 3\nmov ax, zz\n", "x times -1 equ 3\nx: nop\nx: nop\n",
    "times -1 equ 3\ndw x\n",
])
def test_negative_times_in_final_pass(tmp_path, text):
    same(tmp_path, text)


# ---- scalar operators on an operand that meets a symbol not defined yet (NASM's
# is_just_unknown): no error in that pass, the result is unknown

@pytest.mark.parametrize("text", [
    "dd (x-$$)/2\nx:\n", "times (x-$$)/2 db 0\nx:\n", "times (x-$$)/0 db 1\nx:\n",
    "dd (x-$$)/0\nx:\n", "dd (x-$)>>1\nx:\n", "dd (x-$$) < 5\nx:\n", "dd ~(x-$$)\nx:\n",
    "dd (x-$$)*(x-$$)\nx:\n", "dd (x-$$) ? 1 : 2\nx:\n", "dd x+(y/2)\ny:\nx:\n",
    "mov ax, [(bx+x)/2]\nx:\n", "mov ax, [bx+(x-$$)/2]\nx:\n", "dd x/0\nx equ 5\n",
    "db (end-$$+511)/512\ntimes 600 db 0\nend:\n",
])
def test_unknown_operands_of_scalar_operators(tmp_path, text):
    same(tmp_path, text)


# ---- preprocessor expressions: NASM reads one expression and warns about the rest;
# no warning while an %elif is worked out; warnings inside a macro at the calling line

@pytest.mark.parametrize("text", [
    "%rep 2 3\ndb 1\n%endrep\n", "%if 1 2\ndb 1\n%endif\n", "%assign x 1 2\ndb x\n",
    "%rep 2)\ndb 1\n%endrep\n", "%rep 2,3\ndb 1\n%endrep\n", "%assign x (1+2) 2 3\ndb x\n",
    "%assign x 1 ? 2 : 3 4\ndb x\n", "%if 1 x\ndb 2\n%endif\n",
    "%if 0\ndb 1\n%elif 1 2\ndb 2\n%endif\n", "%if 0\n%elif 'abcdefghij'\n%endif\n",
    "%macro m 0\n%rep 2\n%assign x 1 2\n%endrep\n%endmacro\nm\n",
    "%macro m 0\n%assign x 'abcdefghij'\n%endmacro\nm\n",
    "%macro m 0\n%define a 1\n%define a(x) 2\n%endmacro\nm\n",
    "%macro q 2\n%endmacro\n%macro m 0\nq 1\n%endmacro\nm\n",
    "%macro m 0\ndb %sel(3, 1)\n%endmacro\nm\n",
    "%macro m 0\n%define A 1\n%idefine a 2\n%endmacro\nm\n",
    "%rep body outside macros\n%endrep\n", "%assign x 'abcdefghij' 2\ndb x\n",
    "%if x y\n%endif\n",
])
def test_preprocessor_trailing_garbage(tmp_path, text):
    same(tmp_path, text)


# ---- `incbin` is NASM's standard macro (%push, %pathsearch, %depend, %pop): its
# messages for a first parameter that is no string, the unique numbers it takes

INCBIN_SOURCES = [
    "incbin 5\n", "incbin ,\n", "incbin 5,,\n", "incbin ,5\n", "incbin x\n", "incbin <f.bin>\n",
    "incbin 5 \"f.bin\"\n", "incbin (5)\n", "x: incbin 5\n", "incbin 5\nincbin x\n",
    "incbin \"f.bin\" 3\n", "incbin \"f.bin\" 3,\n", "incbin\n", "incbin \"f.bin\",\n",
    "%macro m 0\n%%a:\n%endmacro\nm\nm\nincbin 5\n", "%macro m 0\nincbin 5\n%endmacro\nm\n",
    "incbin \"f.bin\"\n%macro m 0\n%%a: db 1\n%%a: db 1\n%endmacro\nm\n",
    "%ifmacro incbin\ndb 1\n%endif\n%ifmacro incbin 1-2+\ndb 2\n%endif\n",
    "incbin \"f.bin\",1,1,1\n", "times 2 incbin \"f.bin\"\n", "INCBIN \"f.bin\", 1\n",
]


@pytest.mark.parametrize("text", INCBIN_SOURCES)
def test_incbin_macro(tmp_path, text):
    write(tmp_path, "f.bin", "abc")
    same(tmp_path, text)


def test_incbin_preprocess_only(tmp_path):
    exe = require_tool("nasm")
    src = write(tmp_path, "t.asm", "incbin 5\nx: incbin \"f.bin\" 3\nincbin 7, 2\n")
    want = subprocess.run([exe, "-E", "t.asm"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert want.returncode == 1
    with pytest.raises(AsmErrors) as failed:    # (-E fails too, with its output)
        cli.preprocess_text(src.read_text(), "t.asm")
    assert failed.value.output.splitlines() == want.stdout.splitlines()


# ---- `X wrt LABEL`: refused as NASM's WRT does, before a segment base in X is

WRT_SOURCES = [
    "y: dd seg y wrt y\n", "y: dw seg y wrt y\n", "extern e\ny: dd seg e wrt y\n",
    "y: mov eax, seg y wrt y\n", "y: dd seg y wrt z\n",
]


@pytest.mark.parametrize("text", WRT_SOURCES)
@pytest.mark.parametrize("fmt", ["bin", "elf32"])
def test_wrt_of_segment_base(tmp_path, text, fmt):
    same(tmp_path, text, fmt)


@pytest.mark.parametrize("text", ["y: dd seg y wrt z\nz equ 5\n", "y: dd seg y wrt 5\n",
                                  "y: dd seg y wrt ..gotoff\n"])
def test_wrt_number_of_segment_base_elf(tmp_path, text):
    same(tmp_path, text, "elf32")


# ---- an unterminated string: after a data item NASM's data reader skips its token
# (`db 1 'a` is `db 1`, with the preprocessor's warning); after an instruction's operand
# its parser's message

@pytest.mark.parametrize("text", [
    "db 1 'a\n", "dw 1 'ab\n", "db 1 'a, 2\n", "db 'a\n", "db 1, 'a\n", "db 1 + 'a\n",
    "times 2 db 1 'a\n", "x: db 1 'a\n", "dd 1.5 'a\n", "db 1 2 'a\n", "mov ax, 1 'a\n",
    "mov ax, [bx] 'a\n", "jmp x 'a\nx:\n", "push (1) 'a\n", "mov ax, bx 'a\n",
    "nop 'a\n", "mov ax, 'a\n", "mov [bx] 'a\n",
])
def test_unterminated_string_after_an_operand(tmp_path, text):
    same(tmp_path, text)


# ---- `x equ v, ...`: NASM reads the next operands (a trailing comma ends them) before
# refusing a second one

@pytest.mark.parametrize("text", [
    "x equ 1,\ndw x\n", "x equ 1,,\ndw x\n", "x: equ 1,\ndw x\n", "x equ 1, 2,\ndw x\n",
    "x equ 1, dword\n", "x equ 1, [bx]\n", "x equ 1, ]\n", "x equ 1, 2+\n", "x equ 1, (2\n",
    "x equ 1, seg\n", "x equ 1 2\n", "x equ 1, [\n", "x equ 1, (\n", "x equ ,\n",
    "x equ 1, 2, 3+\n", "x equ 1, a ? 2\n", "x equ 1, -\n",
])
def test_equ_operands(tmp_path, text):
    same(tmp_path, text)


# ---- `cpu`: NASM takes the first of its names a word begins, feature flags (with `no`,
# +, -, *), words split at blanks and commas

CPU_PROBE = "bswap eax\ncpuid\nrdtsc\ncmovz ax,bx\nsfence\nlfence\nmonitor\n"


@pytest.mark.parametrize("words", [
    "3", "p", "pent", "d", "a", "i", "8", "1", "pentiumm", "p6", "pentiumpro", "pentiumii",
    "nehalem", "westmere", "sandybridge", "ivybridge", "evex", "vex", "latevex", "noevex",
    "novex", "+evex", "-vex", "*", "x", "w", "k", "m", "386,486", "386 ,486", "nofoo", "+foo",
    "386 *", "386 +*", "386 foo 486", "NO386", "no3", "386\t486", "PENTIUM", "x86-", "-",
    "386,,486", "99",
])
def test_cpu_names(tmp_path, words):
    same(tmp_path, f"cpu {words}\n{CPU_PROBE}")


# ---- preprocessor directives: NASM's messages for an unknown %word (its parser's, the
# line passed on), empty or malformed arguments; %ifdefalias

@pytest.mark.parametrize("text", [
    "%foo\n", "%foo x\n", "  %foo\n", "%d 1\n", "%xassign x\n",
    "%macro m 0\n%foo\n%endmacro\nm\n", "%ifdef\n%endif\n", "%ifdef \n%endif\n",
    "%ifdef 5\n%endif\n", "%rotate \n", "%macro m 0\n%rotate\n%endmacro\nm\n",
    "%xdefine \n", "%ixdefine \n", "%idefine \n", "%define \n", "%assign G\n",
    "%assign x\n", "%push 1\n", "%push x y\n%pop\n", "%unmacro\n", "%unmacro m\n",
    "%unmacro m x\n", "%unmacro m 1\n", "%macro m 1-2\n%endmacro\n%unmacro m 1-2\nm\n",
    "%strcat x\ndb x\n", "%strcat x 'a', 'b'\ndb x\n", "%defalias\n", "%defalias 5\n",
    "%defalias a\n", "%defalias a 5\n",
    "%defalias a b\n%ifdefalias a\ndb 1\n%endif\n%ifdefalias b\ndb 2\n%endif\n",
    "%ifndefalias a\ndb 3\n%endif\n", "%elifdefalias a\n",
    "%ifdefalias __FILE__\ndb 4\n%endif\n%ifdefalias __?FILE?__\ndb 5\n%endif\n",
    "%if 0\n%elifdefalias __LINE__\ndb 6\n%endif\n",
    "%defalias a b\n%undef a\n%ifdefalias a\ndb 7\n%endif\n",
])
def test_preprocessor_directive_messages(tmp_path, text):
    same(tmp_path, text)


# ---- a multi-line macro of the same name (case and all) whose parameter counts
# overlap one already defined, the standard macros' too: NASM's redefinition warning

@pytest.mark.parametrize("text", [
    "%macro m 0\n%endmacro\n%macro m 0\n%endmacro\n", "%imacro align 1-2+\n%endmacro\n",
    "%macro align 1-2+\n%endmacro\n", "%imacro align 1\n%endmacro\n",
    "%imacro ALIGN 2\n%endmacro\n", "%macro static 1\n%endmacro\n",
    "%imacro struc 1-2\n%endmacro\n", "%macro m 1\n%endmacro\n%macro m 2\n%endmacro\n",
    "%macro m 1+\n%endmacro\n%macro m 2\n%endmacro\n",
    "%macro m 1-*\n%endmacro\n%macro m 5\n%endmacro\n",
    "%macro m 3\n%endmacro\n%macro m 1-2+\n%endmacro\n",
    "%imacro m 1\n%endmacro\n%macro M 1\n%endmacro\n",
    "%macro m 0\n%endmacro\n%imacro m 0\n%endmacro\n", "%macro incbin 1\n%endmacro\n",
    "%macro m 2-3\n%endmacro\n%macro m 0-1\n%endmacro\n",
    "%imacro endstruc 0.nolist 1\n%endmacro\n",
])
def test_macro_redefinition_warning(tmp_path, text):
    same(tmp_path, text)


# ---- truncated lines (from fuzzing the corpus): NASM's parser's first message

@pytest.mark.parametrize("text", [
    "resd\n", "resb\n", "x: resd\n", "times 2 resd\n", "mov dx, [cs:\n", "mov [es:\n",
    "jmp [cs:\n", "mov dx, [x:\n", "mov dx, [x:bx]\n", "x equ (1 |\n", "mov ax, (1 +\n",
    "mov ax, (1\n", "db (1 + 2\n", "push (1 *,\n", "bits 32\nmovzx edx, byte [cs:\n",
    "PS_ARITH equ (PS_CF | PS_PF | \n",
])
def test_truncated_line_messages(tmp_path, text):
    same(tmp_path, text)


# ---- `%!NAME`: an environment variable NASM warns about when it does not exist

@pytest.mark.parametrize("text", [
    "%!PYVM_NO_SUCH_VAR\n", "db %!PYVM_NO_SUCH_VAR\n", "db %!\"PYVM_NO_SUCH_VAR\"\n",
    "db %!PATH\n", "db %{!PYVM_NO_SUCH_VAR}\n", "%if 0\ndb %!PYVM_NO_SUCH_VAR\n%endif\n",
    "%macro m 0\ndb %!PYVM_NO_SUCH_VAR\n%endmacro\nm\n",
    "db %!PYVM_NO_SUCH_VAR, %!PYVM_NO_SUCH_VAR2\n",
])
def test_environment_variables(tmp_path, text):
    same(tmp_path, text)
