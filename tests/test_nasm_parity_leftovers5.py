"""NASM parity for issue 13's fifth round of leftovers: EQUs whose value is not known yet
(NASM defines them as 0 at once), SECTALIGN's bound, `default`'s first token, the names
global/extern take whole, `bits` read as C's atoi, a multi-line macro's name followed by
anything but a blank (`m:`, `m(1)`: still its call), plain directive words the
preprocessor leaves alone (a label, not a directive), `x equ strict 5`, the `[warning]`
directive, `%%x` and context-locals with no macro or context, a %rep body's errors per
repetition, errors NASM finds in its final pass (it goes on to it), ELF's `.tbss`/`.lbss`,
`x equ seg y`, `times n equ v`. Each case runs through nasm (the oracle) and pyasm."""

from __future__ import annotations

import pytest
from nasm_parity import check, same_diagnostics
from test_asm_helpers import split_cases

# ---- an EQU whose value is not known yet: NASM defines it as 0 (an expression with an
# unknown term is 0 as a whole), so the later passes start from there

EQUS = """
a equ b+1
b equ a-1
dw a, b
-----
a equ b*2+5
b equ a+3
dw a, b
-----
a equ b-1
b equ a+1
dd a, b
-----
a equ b
b equ a
times a nop
db 1
-----
a equ b
b equ a
times a+1 nop
c equ 5
times c-4 nop
-----
a equ b+1
b equ a-1
times a+2 nop
db 1
-----
a equ b+1
b equ a-1
c equ a+b+7
dw c
-----
a equ b
times a nop
b equ 3
-----
a equ b+1
times a nop
b equ 3
-----
a equ b
times a nop
b:
-----
times x nop
x equ 3
-----
a equ b+1
b equ a-1+zz
dw a, b
-----
a equ b+2
b equ a
times a nop
"""


@pytest.mark.parametrize("name,text", split_cases(EQUS))
def test_equs_not_known_yet(tmp_path, name, text):
    check(tmp_path, text, messages=not text.startswith("a equ b+2"))


# ---- directive arguments: SECTALIGN's bound (2^31 and more: "absurdly large"), `default`
# reads its first token (a comma is none), the name global/extern/... take is the whole
# argument the standard macro passes (`{a,b}`, `[global a,b]`: `a,b`), `bits` is C's atoi

DIRECTIVES = ["sectalign 1<<30", "sectalign 1<<31", "sectalign 1<<40", "sectalign 1<<40 nop",
              "sectalign 1<<63", "sectalign 0x80000000", "sectalign -1",
              "default ,rel", "[default ,rel]", "[default]", "[default rel,abs]",
              "[default rel abs]", "[default rel,]",
              "global {a,b}\na:\nb:", "[global a,b]\na:\nb:", "[global a, b]", "[extern a,b]",
              "[global a,]\na:", "global {a}, b\na:\nb:", "global a,,b\na:\nb:",
              "bits 16:", "bits 16 x", "bits 0x10", "bits 10h", "bits 16x", "bits 1_6",
              "bits 0b10000", "bits 16.", "bits 32:5", "bits +32", "bits 032", "bits -16",
              "bits 32 ,"]


@pytest.mark.parametrize("text", DIRECTIVES)
def test_directive_arguments(tmp_path, text):
    check(tmp_path, text + "\nmov ax, 1\n")


@pytest.mark.parametrize("text", ["global {a,b}\na:\nb:", "[extern a,b]", "[global a,]\na:",
                                  "global {a}, b\na:\nb:", "section .data\nsectalign 1<<31"])
def test_directive_arguments_elf(tmp_path, text):
    check(tmp_path, text + "\n", "-f", "elf32", fmt="elf32")


# ---- a multi-line macro's name followed by anything but a blank: NASM's parameters are
# the tokens after it (`m:` passes `:`); the directives' macros too (`use16:` warns, then
# is a label), and a plain directive word left alone is a label (`use16 x`, `warning +all`)

MACRO_CALLS = """
%macro m 0-1
db %0
%endmacro
m:
-----
%macro m 0-1
db %0, %1
%endmacro
m:2
-----
%macro m 0
db 5
%endmacro
m:
-----
%macro m 0-1
db %0, %1
%endmacro
m(1)
-----
%macro m 0-1
db %0
%endmacro
m+1
-----
%macro m 0-*
db %0
%endmacro
m,1
m"x"
m[1]
x:m
y m:
-----
use16:
nop
-----
use16 x
-----
use32 ; c
x: use16
y use16
nop
-----
warning -zeroing
-----
warning +all
-----
map all
-----
list x
-----
debug x
-----
pragma foo
-----
bits
-----
bits:
-----
global:
-----
org:
-----
x: bits 32
mov ax, 1
"""


@pytest.mark.parametrize("name,text", split_cases(MACRO_CALLS))
def test_macro_names_without_a_blank(tmp_path, name, text):
    check(tmp_path, text)


# ---- `x equ strict 5`: NASM's operand reader takes STRICT (no size, no NOSPLIT) first

STRICT_EQUS = ["x equ strict 5", "x equ strict dword 5", "x equ nosplit 5",
               "x equ strict strict 5", "x equ strict", "x equ", "x: equ strict 5",
               "x equ strict (5)", "x equ strict near 5", "x equ strict nosplit 5",
               "x: equ nosplit", "x equ strict nosplit", "x equ 5 strict",
               "x equ strict 5, 6", "x equ dword strict 5", "x equ 1+strict 5",
               "x equ 1+dword 5", "x equ -strict 5", "x equ 1+, 2", "x equ ~"]


@pytest.mark.parametrize("text", STRICT_EQUS)
def test_strict_equs(tmp_path, text):
    check(tmp_path, text + "\ndb x\n")


# ---- `[warning +class]`, `-class`, `*class`, `push`, `pop`: from the next line on, for the
# assembler's warnings and the preprocessor's; bytes cached for a line whose warning was
# dropped must not drop it where it is shown again (same text twice, several passes)

WARNING_DIRECTIVES = """
[warning -number-overflow]
dw 70000
[warning +number-overflow]
dw 70000
-----
[warning push]
[warning -number-overflow]
dw 70000
[warning pop]
dw 70000
-----
[warning -all]
dw 70000
x
[warning *number-overflow]
dw 70000
y
-----
[warning pop]
-----
[warning push]
[warning pop]
[warning pop]
-----
[warning -number]
dw 70000
-----
[warning -label-orphan]
x
[warning +all]
y
-----
[warning -orphan-labels]
x
[warning +orphan-labels]
y
-----
[warning none]
dw 70000
x
-----
[warning no-number-overflow]
dw 70000
[warning number-overflow]
dw 70000
-----
[warning -foo]
[warning foo]
dw 70000
-----
[warning -number-overflow]
times 3 dw 70000
jmp x
[warning +number-overflow]
times 2 dw 70000
x:
-----
[warning -zeroing]
resb 1
[warning +zeroing]
resb 1
jmp x
x:
-----
[warning push]
[warning -number-overflow]
mov ax, [bx+0x10005]
[warning pop]
mov ax, [bx+0x10005]
jmp x
times 200 nop
x:
-----
[warning -pp-macro-params]
%macro m 1
%endmacro
m
[warning +pp-macro-params]
m
-----
[warning -user]
%warning hi
[warning +user]
%warning ho
-----
%macro w 1
[warning %1]
%endmacro
w -number-overflow
dw 70000
w +number-overflow
dw 70000
"""


@pytest.mark.parametrize("name,text", split_cases(WARNING_DIRECTIVES))
def test_warning_directives(tmp_path, name, text):
    check(tmp_path, text)


# ---- `%%x` outside a macro (NASM's error, then the line without it), context-locals with
# no context (reported twice on an ordinary line, once on a directive; NASM's wording),
# lines NASM skips (a false %if: not expanded, no error), a %rep body's errors once per
# repetition

PERCENT_ERRORS = """
%%x: db 1
-----
db %%x
-----
mov ax, %%x
-----
db 1, %%x, 2
-----
db %%x1
-----
%%x
-----
db %%$x
-----
%%x db 1
-----
dd %%1
-----
%rep 2
db %%x
%endrep
-----
%define q %%x
db q
-----
db %$$x
-----
%push a
db %$$x
%pop
-----
%push a
%push b
db %$$$x
%pop
%pop
-----
db %$x, %$y
-----
%define %$x 1
-----
%assign %$x 1
-----
%ifdef %$x
db 1
%else
db 2
%endif
-----
%macro m 0
db %$x
%endmacro
m
-----
%pop
-----
%pop x
-----
%if 0
db %$x
%endif
%if 0
%ifdef %$y
%endif
%endif
%if 0
db %%z
%endif
db 1
-----
%if 0
%else
db %$x
%endif
-----
%rep 2
db %$x
%endrep
-----
%rep 2
%error hi
%endrep
-----
%rep 2
db 1+
%endrep
-----
%macro m 0
db 1+
%endmacro
m
m
-----
%rep 2
mov ax, zz
%endrep
-----
%rep 2
fld st8
%endrep
"""


@pytest.mark.parametrize("name,text", split_cases(PERCENT_ERRORS))
def test_percent_errors(tmp_path, name, text):
    check(tmp_path, text)


# ---- pass-1 errors NASM finds in its final pass only: it goes on to that pass, which
# also reports the symbols never defined (`fld st8` then `mov ax, zz`); not after
# `..start:` in a flat binary

FINAL_PASS = ["fld st8\nmov ax, zz", "mov ax, bl\nmov ax, zz", "mov ax, zz\nfld st8",
              "fld st8\njmp x\nx:\nmov ax, zz", "mov ax, bl\ndb 1+", "fld st8\nfld st9",
              "mov ax, bl\ndw 70000", "inc [bx]\nmov ax, zz", "cpu 8086\nbswap eax\nmov ax, zz",
              "mov ax, byte 5\nmov ax, zz", "jmp short x\ntimes 200 nop\nx:\nmov ax, zz",
              "..start:\ndd ..start\nmov ax, zz", "x equ strict dword 5\ndb x"]


@pytest.mark.parametrize("text", FINAL_PASS)
def test_errors_of_the_final_pass(tmp_path, text):
    check(tmp_path, text + "\n")


# ---- ELF's other nobits sections: `.tbss` and `.lbss` are nobits as `.bss` is (no zeroing
# warning for `resb`, data there is ignored with NASM's warning); in a flat binary they
# are ordinary sections

NOBITS_SECTIONS = ["section .tbss\nresb 4\ndb 1", "section .lbss\nresb 4\ndw 1",
                   "section .tbss\nx: resd 2\nsection .text\nmov eax, [x]",
                   "section .tdata\nresb 4", "section .tbss nobits\ndb 1"]


@pytest.mark.parametrize("text", NOBITS_SECTIONS)
@pytest.mark.parametrize("fmt", ["bin", "elf32"])
def test_nobits_sections(tmp_path, text, fmt):
    check(tmp_path, "bits 32\n" + text + "\n", "-f", fmt, fmt=fmt)


# ---- `x equ seg y`: NASM refuses a segment base only where one is output (an EQU that
# holds one is fine until something uses it); `seg` of a symbol never defined names it

SEGMENT_EQUS = ["x equ seg y\ny:", "x equ seg y\ny:\ndw x", "x equ seg y", "x equ seg 5",
                "y:\nx equ seg y", "x equ seg y + 1\ny:", "x equ (seg y)*2\ny:",
                "x equ seg y\ny:\nmov ax, x", "y:\nx equ seg y\ndw x",
                "x equ seg y\nx equ 5\ny:", "dw seg y\ny:", "mov ax, seg y\ny:", "dw seg zz"]


@pytest.mark.parametrize("text", SEGMENT_EQUS)
def test_segment_base_equs(tmp_path, text):
    check(tmp_path, text + "\n")


@pytest.mark.parametrize("text", SEGMENT_EQUS)
def test_segment_base_equs_elf(tmp_path, text):
    # (the messages and status: NASM also lists an unused `x` as a local undefined symbol)
    same_diagnostics(tmp_path, text + "\n")


# ---- `times n equ v`: each repetition is an EQU of its own (no label: NASM refuses each;
# the line's label, defined at `$` first, is redefined); `times 0` does nothing

TIMES_EQUS = ["times 2 equ 3", "times 1 equ 3", "times 0 equ 3", "x: times 2 equ 3",
              "x: times 1 equ 3", "x times 2 equ 3", "x: times 2 equ 3\ndb x",
              "x: times 0 equ 3\ndw x", "times 2 x equ 3", "times -1 equ 3",
              "x: times 2 equ $\ndw x", "times y equ 3\ny equ 2"]


@pytest.mark.parametrize("text", TIMES_EQUS)
def test_times_equ(tmp_path, text):
    check(tmp_path, text + "\n")


# ---- NASM's bounds warnings of a sign-extended byte (-128..127 or the operand size's top
# 128 values; named after that size unless the operand says `byte`) and of a far
# pointer's fields

BOUNDS = ["cmp cx, -65535", "cmp cx, -65536\ncmp cx, 65535\ncmp cx, 65536\ncmp cx, -32769",
          "cmp cx, -65409", "cmp cx, 65408", "add bx, -65535", "bits 32\ncmp ecx, -0x100000000",
          "bits 32\ncmp ecx, 0x100000000", "bits 32\ncmp cx, -65535", "cmp cx, byte 70000",
          "cmp cx, byte 65541", "cmp cx, strict byte -65535", "push byte 200",
          "push byte -65535", "push byte 65535", "push -65535", "bits 32\npush byte -65535",
          "bits 32\npush -65535", "o32 push byte -65535", "imul ax, bx, byte -65535",
          "imul ax, bx, -65535", "bits 32\ncmp ecx, byte -0x100000000",
          "bits 32\nmov eax, [ebx+0xFFFFFF80]", "mov ax, [bp+si+0x10000]",
          "jmp 0x10000:2", "jmp 2:0x10000", "jmp -65536:2", "jmp -65537:2", "jmp 2:-65537",
          "jmp 0x10000:0x10000", "call 0x10000:2", "bits 32\njmp 0x10000:2",
          "bits 32\njmp 2:0x100000000", "jmp x:0x10000\nx:", "jmp far [bx+0x10000]"]


@pytest.mark.parametrize("text", BOUNDS)
@pytest.mark.parametrize("opt", ["-Ox", "-O0"])
def test_bounds_warnings(tmp_path, text, opt):
    check(tmp_path, text + "\n", opt, optimize=0 if opt == "-O0" else 2)
