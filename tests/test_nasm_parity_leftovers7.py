"""NASM parity for issue 13's seventh round of leftovers: a warning made an error in pass 1
ends NASM there (as an error does: no final-pass messages, no `%warning`), and the Python
API reports such errors among its diagnostics in NASM's order; the scanner's "numeric
constant ... does not fit in 64 bits" warning on every literal; a single-line macro
defined both with and without parameters (an error by default); symbol specials in bin
(`global x:function`) and the checks of `global`/`static` redeclarations. Each case runs
through nasm (the oracle) and pyasm."""

from __future__ import annotations

import re

import pytest
from nasm_parity import check, elf_dumps, same_diagnostics
from test_asm_helpers import nasm, write

import asm

# ---- a warning made an error in pass 1 ends NASM after that pass; `%warning`/`%error`
# and the final pass's warnings and errors never come

PASS_ONE_WARNING_ERRORS = [
    ("db 300\nx\nmov ax, zz\n", ["-Werror"]),
    ("mov ax, zz\ndb 300\nx\n", ["-Werror"]),
    ("x\nfld st8\n", ["-Werror"]),
    ("x\ntimes 2 db 300\n", ["-Werror=label-orphan"]),
    ("x\n%warning hi\n", ["-Werror=label-orphan"]),
    ("%warning hi\nfoo bar\n", []),
    ("%warning hi\nx\n", ["-Werror=label-orphan"]),
    ("db 300\nmov ax, zz\n", ["-Werror"]),                  # (final-pass: both come)
    ("db 0x10000000000000001\nmov ax, zz\ndb 300\n", ["-Werror=number-overflow"]),
    ("[warning +error=label-orphan]\nx\nmov ax, zz\n", []),
]


@pytest.mark.parametrize("text,options", PASS_ONE_WARNING_ERRORS)
def test_pass_one_warning_errors(tmp_path, text, options):
    check(tmp_path, text, *options, warnings=[o[2:] for o in options])


# ---- the API: a run failed by warnings made errors lists them as errors, NASM's order

_NASM_LINE = re.compile(r"^[^:\n]*:(\d+): (error|warning): (.*)$", re.M)

API_SOURCES = [
    "[warning +error=label-orphan]\nx\nnop\n",
    "[warning +error=label-orphan]\nx\nnop\nfoo bar\ny\n",
    "%define a 1\n%define a(x) 2\ndb 1\n",
    "[warning +error=number-overflow]\ndb 300\nmov ax, zz\n",
    "[warning +error=label-orphan]\nx\n%define a 1\n%define a(x) 2\ny\n",
    "db 300\n[warning +error=number-overflow]\ndw 0x10000\n",
]


@pytest.mark.parametrize("text", API_SOURCES)
def test_api_warning_errors(tmp_path, text):
    rc, _, nerr = nasm(write(tmp_path, "t.asm", text))
    assert rc != 0
    expected = [(int(n), m) for n, kind, m in _NASM_LINE.findall(nerr) if kind == "error"]
    assert expected
    with pytest.raises(asm.AssemblyError) as info:
        asm.assemble(text, filename="t.asm")
    got = [(d.line, d.message) for d in info.value.diagnostics]
    assert got == expected, nerr


# ---- "numeric constant ... does not fit in 64 bits": NASM's scanner, on every literal

WIDE_LITERALS = [
    "db 0x10000000000000000\n",
    "dq 0x1_0000_0000_0000_0001\n",
    "dw 0x10000000000010000\n",
    "db 18446744073709551617\n",
    "db 0q7777777777777777777777777\n",
    "mov ax, 0x10000000000000001\n",
    "bits 32\nmov eax, 0x10000000000000001\nadd ecx, 0x10000000000000002\n"
    "push 0x10000000000000003\n",
    "db 0x10000000000000000 >> 60\n",
    "%assign a 0x10000000000000001\ndb a\n",
    "%if 0x10000000000000001\ndb 1\n%endif\n",
    "%rep 0x10000000000000001 & 3\nnop\n%endrep\n",
    "%assign i 0\n%rep 2\n%assign i i+0x10000000000000001\n%endrep\ndb i\n",
    "%define N 0x10000000000000001\ndb N\ndb N\n",
    "x equ 0x10000000000000001\ndb x\n",
    "times 0x10000000000000001 nop\n",
    "times 3 db 0x10000000000000001\n",
    "%rep 2\ndb 0x10000000000000001\n%endrep\n",
    "db 0x10000000000000001, 0x20000000000000000\n",
    "db 0x10000000000000001\nfoo bar\n",
    "jmp 0x10000000000000010\n",
    "mov ax, [0x10000000000000010]\n",
    "resb 0x10000000000000001\n",
    "db 0xffffffffffffffff, -0xffffffffffffffff\n",
]


@pytest.mark.parametrize("text", WIDE_LITERALS)
def test_wide_literals(tmp_path, text):
    check(tmp_path, text)


def test_wide_literals_incbin(tmp_path):
    write(tmp_path, "f", "abc")
    check(tmp_path, 'incbin "f", 0x10000000000000001\ntimes 2 incbin "f", '
          "0x10000000000000002\n")


@pytest.mark.parametrize("options", [["-w-number-overflow"], ["-Werror=number-overflow"]])
def test_wide_literals_options(tmp_path, options):
    check(tmp_path, "db 0x10000000000000001\ndb 300\n", *options,
          warnings=[o[2:] for o in options])


# ---- a single-line macro both with and without parameters: an error unless the rules
# say otherwise; the new definition replaces the old ones

MACRO_PARAMS = [
    ("%define a 1\n%define a(x) 2\ndb a, a(1)\n", []),
    ("%define a(x) 1\n%define a 2\ndb a, a(1)\n", []),
    ("%define a(x) 1\n%define a(x,y) 2\ndb a(3), a(1,2)\n", []),
    ("%define a 1\n%xdefine a(x) 2\n%assign a 3\n%undef a\n%define a(x) 4\ndb 1\n", []),
    ("%define a 1\n%define a(x) 2\ndb a(1)\n", ["-w-error=pp-macro-def-param-single"]),
    ("%define a 1\n%define a(x) 2\ndb a(1)\n", ["-w-all"]),
    ("%define a 1\n%define a(x) 2\ndb a(1)\n", ["-Wno-error"]),
    ("[warning -error=pp-macro-def-param-single]\n%define a 1\n%define a(x) 2\n"
     "[warning *error=pp-macro-def-param-single]\n%define a 1\ndb a(1)\n", []),
    ("%idefine a 1\n%idefine a(x) 2\ndb a(1)\n", []),
    ("%define a 1\n%define a(x) 2\ndb 0x10000000000000001\ndb 300\nmov ax, zz\n", []),
]


@pytest.mark.parametrize("text,options", MACRO_PARAMS)
def test_macro_with_and_without_parameters(tmp_path, text, options):
    check(tmp_path, text, *options, warnings=[o[2:] for o in options])


@pytest.mark.parametrize("options", [[], ["-w-error=pp-macro-def-param-single"]])
def test_macro_with_and_without_parameters_preprocess_only(tmp_path, options):
    check(tmp_path, "%define a 1\n%define a(x) 2\ndb a(1), 0x10000000000000001\n", "-E",
          *options, warnings=[o[2:] for o in options], preprocess_only=True)


# ---- symbol specials: bin refuses them where the symbol is defined (in the pass before
# NASM's final one, which never comes); global/static redeclarations

BIN_SPECIALS = [
    "global x:function\nx: nop\n",
    "x: nop\nglobal x:function\n",
    "global x:function\n",
    "extern x:function\nnop\n",
    "global x:\nx: nop\n",
    "global x:function\nx equ 5\n",
    "global x:function, y:data\nx: nop\ny: nop\n",
    "global y:function, x:data\nx: nop\ny: nop\n",
    "global x:function\nx: nop\nfoo bar\n",
    "global x:function\nx: nop\nmov ax, zz\ndb 300\n",
    "global x:function\nx: nop\ny\n",
    "common x 4:4\n",
    "common x 4\n",
    "static x:function\nx: nop\n",
    "required x:function\n",
    "global x:{foo}\nx: nop\n",
]


@pytest.mark.parametrize("text", BIN_SPECIALS)
def test_bin_specials(tmp_path, text):
    check(tmp_path, text)


REDECLARATIONS = [
    "global x\nstatic x\nx: nop\n",
    "static x\nglobal x\nx: nop\n",
    "static x\nstatic x\nx: nop\n",
    "global x:function\nglobal x:data\nx: nop\n",
    "global x:function\nglobal x: function\nx: nop\n",
    "global x:function\nglobal x:FUNCTION\nx: nop\n",
    "global x:function\nglobal x:function hidden\nx: nop\n",
    "global x:function\nglobal x\nglobal x:data\nx: nop\n",
    "global x:function\nrequired x:data\nx: nop\n",
    "global x:function\nstatic x:data\nx: nop\n",
    "global x, y\nstatic y, x\nx: nop\ny:\n",
]


@pytest.mark.parametrize("text", REDECLARATIONS)
def test_redeclarations(tmp_path, text):
    check(tmp_path, text)
    same_diagnostics(tmp_path, text, "elf32")


# ---- ELF: the specials' words in any order, then the rest is the size (`function 4`)

ELF_SIZES = ["function 4", "4", "function hidden 4", "hidden 4", "function 4+4", "data 2*3",
             "function weak 4", "(4)", "function (4)", "data (2*3)", "function (y-x)",
             "function 4+(2)", "data y-x", "function y - x", "data -1", "4 data",
             "hidden 4 function"]


@pytest.mark.parametrize("special", ELF_SIZES)
def test_elf_special_sizes(tmp_path, special):
    ours, theirs = elf_dumps(tmp_path, f"global x:{special}\nx: nop\ny:\n", "-t")
    assert ours == theirs


# ---- review mends: a macro parameter outside a macro call is NASM's error (not `db % 5`,
# which skips the `%`); `seg $` before anything is in the implicit .text writes no symbol
# into a section that is not written

OUTSIDE_MACROS = ["db %5", "db %0", "db %-1", "db %+1", "db %00", "mov eax, %1",
                  "dw 3 %2", "%define q %1\ndb 1", "%xdefine q %1", "%if %1\n%endif",
                  "db % 5", "db 7 % 5", "%macro m 1\ndb %1\n%endmacro\nm 4"]


@pytest.mark.parametrize("text", OUTSIDE_MACROS)
def test_macro_parameters_outside_a_macro(tmp_path, text):
    check(tmp_path, text + "\n")


@pytest.mark.parametrize("text", ["x equ seg $\n", "x equ seg $$\n"])
def test_seg_of_the_empty_implicit_text(tmp_path, text):
    ours, theirs = elf_dumps(tmp_path, text, "-t")
    assert ours == theirs
    assert asm.assemble(text, fmt="elf32").data[:4] == b"\x7fELF"     # (no ElfError)


@pytest.mark.parametrize("text", ["common x 4:0\n", "common x 4:3\n", "common x 4:16\n",
                                  "y:\nx equ 1 wrt y\n", "x equ 1 wrt 2\n",
                                  "section .data\ny: dd 1\nx equ 1 wrt y\n"])
def test_common_alignment_and_equ_wrt(tmp_path, text):
    check(tmp_path, text, "-f", "elf32", fmt="elf32")


# ---- %elif: NASM settles it (no open %if, after %else, an earlier branch taken) before
# reading its operand; after %else it is a warning, as a second %else is

ELIF_SETTLED = ["%elifdef %$x\n", "%elifndef %$x\n", "%if 1\n%elifdef %$x\n%endif\n",
                "%if 1\n%elif %$x\n%endif\n", "%if 0\n%elif %$x\n%endif\n",
                "%if 0\n%else\n%elif %$x\n%endif\n", "%if 0\n%else\n%else\ndb 1\n%endif\n",
                "%if 1\n%else\n%elif 1\ndb 2\n%endif\n",
                "%if 0\n%else\ndb 3\n%elifdef x\ndb 4\n%endif\n",
                "%push a\n%if 0\n%elifdef %$x\ndb 1\n%endif\n"]


@pytest.mark.parametrize("text", ELIF_SETTLED)
@pytest.mark.parametrize("options", [[], ["-w-pp-else-elif"], ["-w-pp-else-else"]])
def test_elif_settled_before_its_operand(tmp_path, text, options):
    check(tmp_path, text, *options, warnings=[o[2:] for o in options])


# ---- a symbol declared extern and defined in the same source is global (NASM), before or
# after the definition

EXTERN_DEFINED = ["extern x\nsection .text\nx: nop\ncall x\n",
                  "section .text\ncall x\nextern x\nx: nop\n",
                  "section .text\nx: nop\nextern x\ncall x\n",
                  "extern x\nx equ 5\nmov eax, x\n",
                  "extern x, y\nsection .text\ncall y\nx: ret\n",
                  "extern x\nsection .data\nx: dd x\n"]


@pytest.mark.parametrize("text", EXTERN_DEFINED)
def test_an_extern_defined_here_is_global(tmp_path, text):
    ours, theirs = elf_dumps(tmp_path, text, "-drt")
    assert ours == theirs
    check(tmp_path, text)           # (bin: the same bytes and messages)
