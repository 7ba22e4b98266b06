"""NASM parity for issue 13's sixth round of leftovers: the command line's -w options under
`[warning]` directives (one list, NASM's order), warnings made errors (`-Werror=x`,
`[warning +error=x]`), `endstruc`/`iend`/`at` outside a struc (a context-local with no
context stays in the line), a `%` where a data item starts, EQU message forms, ELF's
`x equ seg y` symbol, `sectalign` and `common` argument reading, `incbin`'s 64-bit
overflow warning, `%elifdef` of a context-local, `.tbss progbits` and incompatible section
redeclarations, `nobnd` on the Jcc-over-JMP form, literals of over 4,300 digits. Each case
runs through nasm (the oracle) and pyasm."""

from __future__ import annotations

import pytest
from nasm_parity import check
from test_asm_helpers import split_cases

# ---- -w options then `[warning]` directives: NASM starts each pass from the command
# line's state, the directives change it; `*class` goes back to the command line's

WARNING_OPTIONS = [
    ("x:\n[warning +label-orphan]\ny\nlodsb\nz\n", ["-w-label-orphan"]),
    ("[warning +label-orphan]\nx\n[warning *label-orphan]\ny\n", ["-w-label-orphan"]),
    ("[warning +label-orphan]\nx\n", ["-w-all"]),
    ("[warning +label]\nx\n", ["-w-all"]),
    ("[warning +all]\nx\n[warning *all]\ny\n", ["-w-label-orphan"]),
    ("[warning push]\n[warning +label-orphan]\nx\n[warning pop]\ny\n", ["-w-label-orphan"]),
    ("[warning -label-orphan]\nx\n", ["-w+label-orphan"]),
    ("[warning *label]\nx\n", ["-w-label-orphan"]),
    ("[warning *label-orphan]\ny\n", ["-w-all"]),
    ("db 300\n[warning *number-overflow]\ndb 300\n", ["-w-number-overflow", "-w+all"]),
]


@pytest.mark.parametrize("text,options", WARNING_OPTIONS)
def test_warning_options_then_directives(tmp_path, text, options):
    check(tmp_path, text, *options, warnings=[o[2:] for o in options])


# ---- warnings made errors: NASM says `error: ... [-w+error=class]` and fails; a class
# must still be shown; `*error=class` restores the command line's error state

WARNING_ERRORS = [
    ("x\nnop\n", ["-Werror=label-orphan"]),
    ("x\nnop\n", ["-w+error=label-orphan"]),
    ("x\nnop\n", ["-w+error"]),
    ("x\nnop\n", ["-Werror"]),
    ("x\nnop\n", ["-Werror=all"]),
    ("x\nnop\n", ["-Werror=label"]),
    ("x\nnop\n", ["-w-error=label-orphan"]),
    ("x\nnop\n", ["-Wno-error=label-orphan"]),
    ("x\nnop\n", ["-Werror=foo"]),
    ("x\nnop\n", ["-w-label-orphan", "-Werror=label-orphan"]),
    ("x\nnop\n", ["-Werror=label-orphan", "-w-label-orphan"]),
    ("[warning error=label-orphan]\nx\nnop\n", []),
    ("[warning +error=label-orphan]\nx\nnop\n", []),
    ("[warning +error]\nx\nnop\n", []),
    ("[warning error]\nx\nnop\n", []),
    ("[warning +error=foo]\nx\nnop\n", []),
    ("[warning -error=label-orphan]\nx\nnop\n", ["-Werror"]),
    ("[warning -error]\nx\nnop\n", ["-Werror"]),
    ("[warning error=label-orphan]\nx\n[warning *label-orphan]\ny\n", ["-Werror=label-orphan"]),
    ("[warning -error=label-orphan]\nx\n[warning *error=label-orphan]\ny\n",
     ["-Werror=label-orphan"]),
    ("[warning -error=label-orphan]\nx\n[warning *label-orphan]\ny\n",
     ["-Werror=label-orphan"]),
    ("x\n[warning -error]\ny\n[warning push]\n[warning error]\nz\n[warning pop]\nw\n", []),
    ("db 300\n", ["-Werror=number-overflow"]),
    ("db 300\nfoo bar\n", ["-Werror=number-overflow"]),
    ("times 3 db 300\n", ["-Werror"]),
    ("%macro m 0\nx\n%endmacro\nm\n", ["-Werror"]),
]


@pytest.mark.parametrize("text,options", WARNING_ERRORS)
def test_warnings_as_errors(tmp_path, text, options):
    check(tmp_path, text, *options, warnings=[o[2:] for o in options])


# ---- endstruc / iend / at outside a struc: NASM's standard macros run with no context;
# each context-local is reported (twice on a line it assembles, once in a directive's
# operands) and stays in the line, which goes on

STRUC_OUTSIDE = """
endstruc
-----
iend
-----
at 4, db 1
-----
at x, db 1
-----
at 4
-----
nop
endstruc
nop
-----
iend
iend
-----
x: endstruc
-----
struc s
.a resb 1
endstruc
at s.a, db 1
-----
struc s
.a resb 1
endstruc
istruc s
at s.a, db 1
iend
iend
-----
struc s
.a resb 1
.b resw 1
endstruc
istruc s
at .a, db 1
at .b, dw 2
iend
"""


@pytest.mark.parametrize("name,text", split_cases(STRUC_OUTSIDE))
def test_struc_macros_outside_a_struc(tmp_path, name, text):
    check(tmp_path, text)


CONTEXT_LOCALS = [
    "db (%$x)", "db 1-%$x", "mov ax, %$x", "times %$x db 0", "%$x nop", "dd %$$x*2",
    "db %$x", "db %$x+1", "dw 5, %$x", "%{$x}_size equ 1", "times %{$x}_size-($-%$y) db 0",
    "%substr x %$b 1", "%substr x 5 1", "%substr x", "%substr %$a %$b", "%substr x %$b %$c",
    "%strlen x %$b", "%strlen %$a %$b", "%strcat x %$b", "%strcat %$a %$b",
    "%strcat x 'a', %$b", "%deftok %$a %$b", "%defstr %$a %$b", "%assign %$a %$b",
    "%xdefine %$a %$b", "%isubstr x 5 1",
    "%push\n%assign %$a 1\n%xdefine %$b %$a+1\n%defstr %$c %$b\ndb %$c\n%pop",
]


@pytest.mark.parametrize("text", CONTEXT_LOCALS)
def test_context_locals_without_a_context(tmp_path, text):
    check(tmp_path, text + "\n")


# ---- a `%` where a data item starts: NASM skips it unless `%(` follows

DATA_PERCENT = ["db % 5", "db 1, % 5", "dd % 3*2", "db % $$, 1", "db % % 5", "dw % -5",
                "dq % 1.5", 'db % "ab"', "db 2 dup % 5", "db 2 dup (% 5)", "db byte % 5",
                "db %", "db 1,%", "db 1 % 3", "db (7) % 3", "db %(1,2)"]


@pytest.mark.parametrize("text", DATA_PERCENT)
def test_percent_where_a_data_item_starts(tmp_path, text):
    check(tmp_path, text + "\n")


# ---- EQU forms NASM's operand reader refuses, in its order

EQU_FORMS = ["x equ far 1", "x equ far 1\ndw x", "x equ far 1+2", "x equ far y\ny:",
             "x equ far -1", "x equ far (1)", "x: equ far 1", "x equ 1, far 2", "x equ far",
             "x equ near", "x equ short", "x equ dword", "x equ dword,", "x equ far far",
             "x equ far ,", "x equ far [1]", "x equ dword [1]", "x equ 1, far",
             "x equ 1, dword", "x equ 1, far,", "x equ 1, dword 2", "x equ wrt 1",
             "y: nop\nx equ wrt y", "x equ (wrt 1)", "x equ *2", "x equ (/2)",
             "x equ 1 wrt 2", "times 3 equ", "x: times 3 equ", "times 0 equ",
             "x: times 0 equ", "times equ 1", "x: times equ 1", "times -1 equ"]


@pytest.mark.parametrize("text", EQU_FORMS)
def test_equ_forms(tmp_path, text):
    check(tmp_path, text + "\n")


@pytest.mark.parametrize("text", ["x equ 1 wrt 2", "y:\nx equ y wrt ..gotpc"])
def test_equ_wrt_elf(tmp_path, text):
    check(tmp_path, text + "\n", "-f", "elf32", fmt="elf32")


# ---- ELF: `x equ seg y` is a symbol at that offset of y's section (undefined for an
# extern y, which it makes NASM write); other EQUs may name it

SEGMENT_EQUS_ELF = [
    "section .text\ny: nop\nx equ seg y\nglobal x",
    "section .text\nnop\nnop\ny: nop\nx equ seg y",
    "section .text\nnop\nsection .data\ndb 1\ny: db 2\nx equ seg y\nglobal x",
    "section .bss\nresb 4\ny: resb 1\nx equ seg y+3",
    "extern y\nx equ seg y",
    "extern y\nx equ seg y\ndd y\nglobal x",
    "y: nop\nx equ seg y\nz equ x+1",
    "extern y\nx equ seg y\nz equ x+1-1\nglobal z",
    "y: nop\nx equ seg y\ndd x",
]


@pytest.mark.parametrize("text", SEGMENT_EQUS_ELF)
def test_segment_base_equ_symbols(tmp_path, text):
    check(tmp_path, text + "\n", "-f", "elf32", fmt="elf32")


# ---- sectalign: NASM evaluates its argument (a name not defined yet is an error of its
# own; nothing at all is fine)

SECTALIGN = ["sectalign off x\nnop", "sectalign on x\nnop", "[sectalign]\nnop",
             "[sectalign ]\nnop", "sectalign y\ny equ 16", "sectalign y+1\nnop",
             "[sectalign off]", "[sectalign on]\nnop", "sectalign $\nnop",
             "times 4 nop\nsectalign $\nnop", "sectalign y\ny:", "sectalign -(1+y)\ny equ 3",
             "sectalign off\nnop", "sectalign on\nalign 8\nnop"]


@pytest.mark.parametrize("text", SECTALIGN)
def test_sectalign_arguments(tmp_path, text):
    check(tmp_path, text + "\n")


# ---- common: NASM's readnum reads the size (what follows the number is ignored), the
# alignment is the special's first word, then ELF's type word and size expression

COMMONS = ["common x 4 5", "common x 4 8", "common x 4 zz", "common x 4 +", "common x 4*2",
           "common x 2+2", "common x -4", "common x 1e", "common x 4:8 5", "common x 4:8*2",
           "common x 4:8 2+3", "common x 4:8 zz", "common x 4:8 (3)", "common x 4:zz",
           "common x 4:", "common x 4:3", "common x 4:8 data", "common x 4:data 8",
           "common x 4 :8", "common x 4: 8", "common x (4) 5", "common x 4 ,5",
           "common x 4:8 y\ny equ 7", "common x 4:8 function 5"]


@pytest.mark.parametrize("text", COMMONS)
def test_common_arguments(tmp_path, text):
    check(tmp_path, text + "\n", "-f", "elf32", fmt="elf32")


# ---- incbin: an offset or length literal over 64 bits (NASM's scanner warns, once a line)

INCBINS = ['incbin "f", 0x10000000000000000', 'incbin "f", 0x10000000000000001',
           'incbin "f", 0x1_0000_0000_0000_0002, 1', 'incbin "f", 2, 0x10000000000000001',
           'incbin "f", 99999999999999999999999', 'times 2 incbin "f", 0x10000000000000001',
           'times 3 incbin "f", 0x10000000000000001, 1',
           'x: incbin "f", 0x10000000000000001, 0x10000000000000001',
           'incbin "f", 0x10000000000000001 ; 0x10000000000000001']


@pytest.mark.parametrize("text", INCBINS)
def test_incbin_wide_literals(tmp_path, text):
    (tmp_path / "f").write_bytes(b"abcdef")
    check(tmp_path, text + "\n")


# ---- %elifdef: NASM works out an %elif in the state of the branch before (not emitting):
# its errors are not shown, a context-local with no context is not defined, and an
# error ends the %if

ELIFS = """
%ifdef y
db 1
%elifdef %$x
db 2
%else
db 3
%endif
-----
%ifdef y
%elifndef %$x
db 2
%else
db 3
%endif
-----
%if 0
%elif %$x
db 2
%else
db 3
%endif
-----
%ifdef y
%elifdef %$$x
db 2
%else
db 3
%endif
-----
%push
%ifdef y
%elifdef %$$x
db 2
%else
db 3
%endif
%pop
-----
%if 0
%elifdef %$x z
db 2
%else
db 3
%endif
-----
%if 0
%elifdef 5
db 2
%else
db 3
%endif
-----
%if 0
%elif 1+
db 2
%else
db 3
%endif
db 4
-----
%if 0
%elif zz
db 2
%elif 1
db 5
%else
db 3
%endif
db 4
-----
%push
%define %$x 1
%ifdef y
db 1
%elifdef %$x
db 2
%endif
%pop
-----
%ifdef 5
db 1
%endif
-----
%ifdef a,b
db 1
%endif
-----
%define b 1
%ifdef a b
db 1
%endif
"""


@pytest.mark.parametrize("name,text", split_cases(ELIFS))
def test_elifdef_and_errors_in_elif(tmp_path, name, text):
    check(tmp_path, text)


# ---- ELF section types: `.tbss progbits` has contents; a redeclaration whose attributes
# make another type or other flags is warned about and ignored

SECTIONS = ["section .tbss progbits\ndb 1,2,3",
            "section .tbss\nresb 4\nsection .tbss progbits\nresb 4",
            "section .tbss\nsection .tbss progbits\nresb 4",
            "section .data\ndb 1\nsection .data nobits",
            "section foo\ndb 1\nsection foo nobits\nresb 1",
            "section foo\nsection foo nobits\nresb 1",
            "section foo progbits\ndb 1\nsection foo nobits",
            "section foo nobits\nresb 1\nsection foo progbits",
            "section foo\nsection foo write", "section foo write\nsection foo write",
            "section foo write\nsection foo", "section foo write\nsection foo exec",
            "section .tbss\nsection .tbss nobits", "section .bss\nsection .bss progbits",
            "section .lbss\nresb 1\nsection .lbss progbits",
            "section .tbss progbits\nsection .tbss", "section .tbss\nsection .tbss tls"]


@pytest.mark.parametrize("text", SECTIONS)
def test_elf_section_types(tmp_path, text):
    check(tmp_path, text + "\n", "-f", "elf32", fmt="elf32")


# ---- nobnd on the short Jcc over a JMP that a `cpu` below the 386 gives

NOBND = ["cpu 286\nnobnd jz far_away\ntimes 200 nop\nfar_away:",
         "cpu 8086\nnobnd jc x\ntimes 300 nop\nx:",
         "cpu 286\ndefault bnd\nnobnd jz x\ntimes 200 nop\nx:",
         "cpu 286\nnobnd rep jz x\ntimes 200 nop\nx:",
         "cpu 286\nbnd nobnd jz x\ntimes 200 nop\nx:"]


@pytest.mark.parametrize("text", NOBND)
def test_nobnd_jcc_over_jmp(tmp_path, text):
    check(tmp_path, text + "\n")


# ---- literals of more than 4,300 digits (CPython's limit on int() of a str): NASM's
# bytes, the value modulo 2**64 (its 64-bit overflow warning is not pyasm's yet)

LONG = "1" * 5000
LONG_LITERALS = [f"dq {LONG}", f"db 1\ndq {LONG}", f"%assign x {LONG}\ndq x",
                 f"mov eax, 1{LONG}-{LONG}", f"dq 0x{LONG}", f"%if {LONG}\ndb 1\n%endif",
                 f"x equ {LONG}\ndq x", f"dq {LONG}h"]


@pytest.mark.parametrize("text", LONG_LITERALS, ids=range(len(LONG_LITERALS)))
def test_literals_of_many_digits(tmp_path, text):
    check(tmp_path, text + "\n", messages=False)


# ---- -E: NASM prints the preprocessor's warnings (made errors by -Werror: it fails)

PREPROCESS = [("%warning hi\n%define a 1\nx\n", []), ("%warning hi\nx\n", ["-Werror"]),
              ("%warning hi\nx\n", ["-w-user"]), ("%warning hi\nx\n", ["-Werror=user"]),
              ("%warning hi\nx\n", ["-Werror=user", "-w-user"])]


@pytest.mark.parametrize("text,options", PREPROCESS)
def test_preprocess_only_warnings(tmp_path, text, options):
    check(tmp_path, text, "-E", *options, warnings=[o[2:] for o in options],
          preprocess_only=True)
