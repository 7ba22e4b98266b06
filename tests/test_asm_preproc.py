"""The preprocessor against nasm -f bin: the assembled bytes must be identical."""

from __future__ import annotations

import pytest
from test_asm_helpers import both, nasm, pyasm, split_cases, write

CASES = split_cases(r"""
%define X 5
%define Y X+1
db X, Y
%undef X
%define X 9
db X, Y
----
%define f(x) x+1
%define f(x,y) x*y
%define g 7
db f(2), f(2,3), f (4), g
%define h(x) x %+ _end
foo_end: dd h(foo)
----
%idefine Q 9
db q, Q
%xdefine z Q
%undef Q
%define Q 1
db z
----
%define a b
%define b a
a: db 1
b: db 2
dd a, b
----
%assign k 3*4
db k
%assign k k+1
db k
%iassign j 2
db J
----
%defstr s hello world
db s
%strlen n "abc"
db n
%substr t "hello", 2, 3
db t
%substr t2 "hello", 3
db t2
%substr t3 "hello", -2, 2
db t3
%strcat u "ab", 'cd', `e`
db u
%deftok tok 'db 7'
tok
----
%macro mm 1-3 5, 6
db %0, %1, %2, %3
%%loc: dw %%loc
%endmacro
mm 1
mm 1, 2, 3
mm {1, 2}
----
%macro m 2+
db %1
db %2
%endmacro
m 1, 2, 3
----
%macro pushall 1-*
%rep %0
db %1
%rotate 1
%endrep
%endmacro
pushall 1, 2, 3, 4
----
%macro rev 1-*
%rep %0
%rotate -1
db %1
%endrep
%endmacro
rev 1, 2, 3
----
%macro outer 1
db %1
inner %1+1
%endmacro
%macro inner 1
dw %1
%endmacro
outer 5
----
%macro early 1
db 1
%if %1 > 2
%exitmacro
%endif
db 2
%endmacro
early 1
early 5
----
%macro brace 1
db %{1}, %1
%endmacro
brace 7
%macro range 3
db %{1:3}
%endmacro
range 4, 5, 6
----
%imacro LoudMacro 0
db 0x11
%endmacro
loudmacro
LOUDMACRO
----
%macro lab 0
db 3
%endmacro
here: lab
there lab
dd here, there
----
%rep 3
db 1
%endrep
%assign i 0
%rep 10
%assign i i+1
%if i > 4
%exitrep
%endif
db i
%endrep
----
%assign i 0
%rep 3
%assign j 0
%rep 2
db i*10+j
%assign j j+1
%endrep
%assign i i+1
%endrep
----
%ifdef FOO
db 1
%elifdef BAR
db 2
%else
db 3
%endif
%ifndef FOO
db 4
%endif
%define FOO
%ifdef FOO
db 5
%endif
----
%ifidn a, a
db 5
%endif
%ifidni A, a
db 6
%endif
%ifnidn a, b
db 7
%endif
%ifnum 5
db 8
%endif
%ifstr 'x'
db 9
%endif
%ifid foo
db 10
%endif
%ifempty
db 11
%endif
%ifmacro foo
db 12
%else
db 13
%endif
%macro foo 1
%endmacro
%ifmacro foo 1
db 14
%endif
%iftoken +
db 15
%endif
----
%if 1 > 2 || 3 == 3 && !0
db 1
%elif 1
db 2
%endif
%if (5 ^^ 0) != 1
db 3
%else
db 4
%endif
%if 0
%if 1
db 5
%endif
%elif 2 >= 2
db 6
%endif
----
x equ 5
%if x > 3
db 1
%endif
%assign y x+1
db y
----
%push foo
%define %$v 4
%$lab: db %$v
%ifctx foo
db 1
%endif
%pop
----
db __BITS__, __?BITS?__
bits 32
db __BITS__
dd __LINE__, __?LINE?__
db __FILE__
db __?NASM_MAJOR?__, __NASM_MINOR__, __?NASM_SUBMINOR?__
%ifidn __?OUTPUT_FORMAT?__, bin
db 0x77
%endif
----
section .data
%defstr S __?SECT?__
db S
section .text
%defstr S2 __SECT__
db S2
----
%define STR 'hello'
%strlen L STR
db L, STR
----
%define PASTE(a, b) a %+ b
PASTE(my, label): db 1
dd mylabel
----
%macro defs 1
%define %1_val 42
%endmacro
defs foo
db foo_val
----
%macro local 0
jmp %%skip
db 1
%%skip:
%endmacro
local
local
----
db 1 ; comment with %1 and 'quote
db 2 ; %define in comment
----
%define long_line db 1, \
 2, 3
long_line
db 4, \
   5
----
%macro greedy 1-2+ 0
db %1
db %2
%endmacro
greedy 1
greedy 1, 2, 3
----
%rep 0
db 1
%endrep
db 2
----
%include "inc.inc"
db INC_VALUE
""")


@pytest.mark.parametrize("name,text", CASES, ids=[c[0] for c in CASES])
def test_matches_nasm(tmp_path, name, text):
    write(tmp_path, "inc.inc", "%define INC_VALUE 33\ndb 0x44\n")
    nb, pb, _ = both(tmp_path, text)
    assert pb == nb


def test_include_search_path(tmp_path):
    (tmp_path / "incdir").mkdir()
    write(tmp_path / "incdir", "deep.inc", "%macro fromdeep 0\ndb 0x5a\n%endmacro\n")
    src = write(tmp_path, "m.s", '%include "deep.inc"\nfromdeep\ndb 1\n')
    rc, nb, err = nasm(src, "-I", str(tmp_path / "incdir"))
    assert rc == 0, err
    status, pb, perr = pyasm(src, include_paths=[str(tmp_path / "incdir")])
    assert status == 0, perr
    assert pb == nb


def test_command_line_defines(tmp_path):
    src = write(tmp_path, "d.s", "db VALUE\n%ifdef FLAG\ndb 1\n%endif\n%ifdef GONE\ndb 2\n%endif\n")
    rc, nb, err = nasm(src, "-DVALUE=7", "-DFLAG", "-DGONE", "-UGONE")
    assert rc == 0, err
    status, pb, perr = pyasm(src, defines=["VALUE=7", "FLAG", "GONE"], undefines=["GONE"])
    assert status == 0, perr
    assert pb == nb


def test_preprocess_only_reassembles(tmp_path):
    """-E output assembles to the same bytes (it is self-contained source)."""
    from asm.cli import preprocess_text
    text = CASES[6][1] + CASES[8][1]
    pre = preprocess_text(text, "x.s")
    assert "%macro" not in pre and "%rep" not in pre
    _, a, _ = both(tmp_path, text, "a.s")
    _, b, _ = both(tmp_path, pre, "b.s")
    assert a == b


def test_macro_heavy_file(tmp_path):
    """A larger generated source: nested macros, %rep, %assign and conditionals."""
    lines = ["%macro entry 2", "%%e: dd %1, %2, %%e", "%if %1 % 3 == 0", "db 'fizz'",
             "%endif", "%endmacro", "%assign n 0", "%rep 300", "entry n, n*n", "%assign n n+1",
             "%endrep"]
    nb, pb, _ = both(tmp_path, "\n".join(lines) + "\n")
    assert pb == nb
