"""NASM parity, round 9 (issue 13): each case runs nasm 2.16 (the oracle) and pyasm on
the same small source and compares exit status, bytes, diagnostics (in order, with
NASM's "... from macro" notes) and, for listings, the listing file."""

from __future__ import annotations

import pytest
from nasm_parity import check, same  # (round files import `same` from here too)
from test_asm_helpers import nasm, pyasm, write


def same_listing(tmp_path, text: str) -> None:
    """The same status, and the same listing when nasm writes one (errors or not)."""
    src = write(tmp_path, "t.asm", text)
    rc, _, nerr = nasm(src, "-l", str(tmp_path / "n.lst"))
    status, _, perr = pyasm(src, listing=str(tmp_path / "p.lst"))
    assert rc == status, (nerr, perr)
    nlst, plst = tmp_path / "n.lst", tmp_path / "p.lst"
    assert nlst.exists() == plst.exists(), (nerr, perr)
    if nlst.exists():
        assert plst.read_text() == nlst.read_text()


# ---- bin: `common` is refused (as a special is) when the symbol reaches the output
# format, in the pass before the final one: once per symbol, at its first `common`,
# after pass 1's redefinition and declaration errors, among that pass's warnings;
# an external reference is a final-pass error

BIN_COMMON = [
    "common x 4\nglobal x\n", "common x 4\nstatic x\n", "common x 4\nx: nop\n",
    "common x 4\nx equ 5\n", "common x 4\ncommon x 4\n", "common x 4\ncommon x 8\n",
    "common x 4\ncommon x 4\nx equ 3\n", "common x 4\nglobal x\nglobal x\n",
    "db 1\ncommon x 4\ndb 2\ncommon x 4\ndb 3\n",
    "common x 4\ncommon y 4\nmov ax, zz\ncommon x 4\n",
    "extern x\ncommon x 4\n", "common x 4\nextern x\n", "common x 4:4\n",
    "common x 4\ndd x\n", "common x 4\nfoo\n", "foo\ncommon x 4\n",
    "common x 4\nextern y\ndd y\n", "extern y\ndd y\ncommon x 4\n",
    "%macro m 1\ncommon %1 4\n%endmacro\nm x\nm y\n",
    "%macro m 1\ncommon %1 4:4\n%endmacro\ndb 1\nm x\n",
    "%macro m 0\nrequired x:function\n%endmacro\nm\n",
    "global x:function\nx: nop\nfoo\n", "required x:function\nfoo\n",
    "%macro m 0\nx: nop\n%endmacro\nglobal x:function\nm\n",
    "extern y\ndd y\nmov ax, zz\n", "extern y\nmov ax, zz\ndd y\nfoo\n",
    "extern y\ndd y\ndd y\ndb 300\n", "extern y\ndd y\nbar:\nmov ax, [bx+\n",
]


@pytest.mark.parametrize("text", BIN_COMMON)
def test_bin_common_and_externals(tmp_path, text):
    same(tmp_path, text)


# ---- SEG of an expression holding a segment base (NASM's SEGBASE term): refused as
# "already a segment base" when it is one term, else not relocatable

SEG_SOURCES = [
    "y: db 1\ndw seg (seg y + 0)\n", "y: db 1\ndw seg (seg y + 5)\n",
    "y: db 1\ndw seg (2*seg y)\n", "y: db 1\ndw seg (seg y - seg y)\n",
    "y: db 1\ndw seg (seg y + y)\n", "y: db 1\ndw seg (seg y - seg y + y)\n",
    "dw seg (seg y + 0)\ny: db 1\n", "y: db 1\nx equ seg (seg y + 0)\n",
    "y: db 1\nx equ seg y\ndw seg x\n", "y: db 1\nx equ seg y\ndw seg (x+1)\n",
    "dw seg (seg 1 + 0)\n", "y: db 1\ndw seg ((seg y) * 1)\n",
    "y: db 1\nmov ax, seg (seg y + 0)\n", "y: db 1\ndw (seg seg y) + 1\n",
    "extern e\ndw seg (seg e + 0)\n", "%if seg 1\n%endif\n", "dw seg z\n",
]


@pytest.mark.parametrize("fmt", ["bin", "elf32"])
@pytest.mark.parametrize("text", SEG_SOURCES)
def test_seg_of_segment_base(tmp_path, text, fmt):
    same(tmp_path, text, fmt)


# ---- __floatN__(x) that overflows: NASM's float-overflow warning, once per line read

FLOAT_FUNC_SOURCES = [
    "dd __float32__(1e50)\n", "dd __float32__(-1e50)\n", "dq __float64__(1e500)\n",
    "dw __float16__(1e10)\n", "dd __float8__(1e10)\n", "times 2 dd __float32__(1e50)\n",
    "times 0 dd __float32__(1e50)\n", "x equ __float32__(1e50)\n",
    "%assign x __float32__(1e50)\n", "%if __float32__(1e50)\n%endif\n",
    "mov eax, __float32__(1e50)\n", "dd __float80e__(1e5000)\n",
    "dd __float32__(1e50), __float32__(1e60)\n",
    "[warning -float-overflow]\ndd __float32__(1e50)\n",
    "dd __float32__(1e50)\nfoo\n", "dd __float32__(0x1p200)\n",
    "[warning +error=float-overflow]\ndd __float32__(1e50)\n",
]


@pytest.mark.parametrize("text", FLOAT_FUNC_SOURCES)
def test_float_function_overflow(tmp_path, text):
    same(tmp_path, text)


# ---- listings: rows for the preprocessor's messages on its directive lines
# (%warning, %error, `%rep -1`...); the rest of a repetition %exitrep ended is listed,
# never read

LISTING_SOURCES = [
    "db 1\n%warning hello\ndb 2\n", "db 1\n%error bad\ndb 2\n",
    "%macro m 0\n%warning inside\ndb 1\n%endmacro\nm\n", "%rep 2\n%warning r\n%endrep\n",
    "db 1\n%warning a\n%warning b\n%error c\n", "%rep -1\n%endrep\ndb 1\n",
    "db 1\n%warning \"quoted\"\n", "%if 1\n%warning in if\n%endif\n",
    "%macro m 0\n%warning in m\n%error also\n%endmacro\nm\n",
    "[warning +error=user]\n%warning w\ndb 1\n", "%macro m 1 2\n%endmacro\ndb 1\n",
    "%rep 3\ndb 1\n%if 1\n%exitrep\n%endif\n%endrep\n",
    "%assign x 1\n%rep 2\n%exitrep\n%assign x 5\n%warning hi\n%if 1\n%error no\n%endif\n"
    "%rep 2\ndb 7\n%endrep\n%endrep\ndb x\n",
    "%rep 3\n%rep 2\ndb 1\n%exitrep\ndb 2\n%endrep\ndb 3\n%endrep\n",
    "%macro m 0\n%rep 2\ndb 1\n%exitrep\ndb 2\n%endrep\ndb 3\n%endmacro\nm\nm\n",
    "%assign i 0\n%rep 10\n%assign i i+1\n%if i == 3\n%exitrep\n%endif\ndb i\n%endrep\n",
]


@pytest.mark.parametrize("text", LISTING_SOURCES)
def test_listing(tmp_path, text):
    same_listing(tmp_path, text)


@pytest.mark.parametrize("text", LISTING_SOURCES[11:])
def test_exitrep_bytes(tmp_path, text):
    same(tmp_path, text)


# ---- %macro's parameter specification, token by token as NASM reads it: errors that
# still define the macro, `1 - 2` is no range, too many defaults warn; `%0` counts the
# defaults (a greedy macro's up to its maximum)

MACRO_SPECS = ["1 - 2", "1- 2", "1 -2", "1 +", "1+", "1-2 +", "1 .nolist", "1.NOLIST", "0x2",
               "1-*", "1-* 5", "1-2+ 7,8,9", "1 2,3", "2-1 5", "1-3 5,6,7", "", "x", "-1",
               "1-x", "x-y", "2-1", "1-", "1-3+.nolist 4", "1-2 5,6", "0-1 5",
               "1-2.nolist 3", "*"]


@pytest.mark.parametrize("spec", MACRO_SPECS)
def test_macro_spec(tmp_path, spec):
    same(tmp_path, f"%macro m {spec}\ndb %0\n%endmacro\nm 1\nm 1,2\n")


@pytest.mark.parametrize("text", [
    "%macro m 2-1\ndb 1\n%endmacro\nm 1, 2\ndb 5\n", "%macro m 2-1\n%endmacro\nm 1\n",
    "%macro m x\ndb 1\n%endmacro\ndb 2\n", "%macro m 1-x\ndb 1\n%endmacro\ndb 2\n",
    "%macro m 1-2 5,6\ndb %1, %2, %3\n%endmacro\nm 1\nm 1, 2\n",
    "%macro m 1-2+ 7,8,9\ndb %1, %2\n%endmacro\nm 1\nm 1, 2, 3\n",
])
def test_macro_spec_errors(tmp_path, text):
    same(tmp_path, text)


# ---- %{a:b}: parameter ranges, negative ones counted from the last (after %rotate);
# out of range or outside a macro: NASM's error, the line goes on without it; %+1/%-1
# of a parameter that is no condition code likewise

RANGES = ["1:2", "-1:-2", "2:1", "1:3", "0:1", "-3:1", "1:-1", "3:3", "-2:2", "1:1"]


@pytest.mark.parametrize("r", RANGES)
def test_parameter_range(tmp_path, r):
    same(tmp_path, f"%macro m 2\ndb %{{{r}}}\n%endmacro\nm 1, 2\n")


@pytest.mark.parametrize("text", [
    "%macro m 3\n%rotate 1\ndb %{1:3}\ndb %{-1:-3}\n%endmacro\nm 1, 2, 3\n",
    "%macro m 1-3 7,8\ndb %{1:-1}\n%endmacro\nm 1\n",
    "%macro m 0\ndb %{1:1}\n%endmacro\nm\n",
    "db %{1:2}\n", "db %{1}\n", "db %{-1}\n", "db %{1}a\n",
    "%macro m 1\ndb %-1\n%endmacro\nm 3\n", "%macro m 1\ndb 5, %+1\n%endmacro\nm 1\n",
    "%macro m 1\nj%-1 x\nx:\n%endmacro\nm z\n",
    "%macro m 1\nj%+1 %%x\nj%-1 %%x\n%%x:\n%endmacro\nm nz\nm ae\n",
])
def test_parameter_forms(tmp_path, text):
    same(tmp_path, text)


# ---- backquoted strings: `\x` with no digit is an x; \u/\U past U+10FFFF in NASM's
# 31-bit UTF-8

STRING_SOURCES = [
    "db `\\a\\b\\t\\n\\v\\f\\r\\e\\0\\\\\\'\\\"\\``\n", "db `\\x41\\x4\\x`\n",
    "db `\\xZZ`, `\\X`\n", "db `\\101\\7\\777`\n", "db `\\u00e9\\U0001F600`\n",
    "db `\\uD800`\n", "db `\\u12`, `\\u`\n", "dw `ab`, `\\u263a`\n",
    "".join(f"db `\\U{v:08x}`\n" for v in (0x7F, 0x80, 0x7FF, 0x800, 0xFFFF, 0x10000,
                                           0x10FFFF, 0x110000, 0x1FFFFF, 0x200000,
                                           0x3FFFFFF, 0x4000000, 0x7FFFFFFF, 0x80000000,
                                           0xFFFFFFFF)),
]


@pytest.mark.parametrize("text", STRING_SOURCES)
def test_backquoted_strings(tmp_path, text):
    same(tmp_path, text)


# ---- an unterminated string: NASM's preprocessor warns, then its parser's message

OPEN_STRINGS = [
    "db `abc\n", "db 'abc\n", 'db "abc\n', "mov eax, 'ab\n", "db 1, 'abc\n", "x equ 'ab\n",
    "db `a\\`\n", "foo 'abc\n", "db 'a', 'b\n", "dw 'ab' + 'c\n", "'abc\n", "x: 'abc\n",
    "times 'a\n", "mov 'a\n", "mov ax, [bx+'a\n", "nop 'a\n", "rep 'a\n",
    "%define x 'abc\ndb 1\n", "%if 'a\n%endif\n", "%assign x 'ab\n", "%error 'abc\n",
    "%warning \"abc\n", "%include 'abc\n", "%define x `a\\`\n",
    "%define x 'a' ; it's\ndb 1\n", "%if 1 ; 'a\n%endif\n", "; 'abc\ndb 1\n",
]


@pytest.mark.parametrize("text", OPEN_STRINGS)
def test_unterminated_string(tmp_path, text):
    same(tmp_path, text)


# ---- a label redefined: inside a macro, the macro's notes then the info note at the
# line read; outside, the note names the macro body's line that defined it; the new
# value stays (the same value again is no error; a third one's note names the second)

REDEFINED = [
    "%macro m 0\nx: nop\n%endmacro\nm\nm\n", "x: nop\n%macro m 0\nx: nop\n%endmacro\nm\n",
    "%macro m 0\nx: nop\n%endmacro\nm\nx: nop\n",
    "%macro m 0\nx: nop\n%endmacro\nm\ndb 1\nx equ 4\n",
    "x equ 1\n%rep 2\nx equ 2\n%endrep\n",
    "%macro m 0\nx: nop\n%endmacro\nm\ndb 1\ncommon x 4\n",
    "%macro m 1\nx equ %1\n%endmacro\nm 1\nm 2\nm 3\n",
    "%macro m 0\ncommon x 4\n%endmacro\ncommon x 8\nm\n", "x equ 1\nx equ 2\nx equ 3\n",
    "%macro m 0\nx equ 2\n%endmacro\nx equ 1\nm\nx equ 3\n",
    "%macro in 0\nx: nop\n%endmacro\n%macro out 0\nin\n%endmacro\nout\nx: nop\n",
]


@pytest.mark.parametrize("text", REDEFINED)
def test_label_redefined(tmp_path, text):
    same(tmp_path, text, "elf32")


# ---- incbin: an offset or length that is a forward reference (NASM's critical
# expression message) or relocatable (its offset); no file; more than three parameters

INCBIN_SOURCES = [
    'incbin "data.bin", 3, 5\n', 'incbin "data.bin", 30\n', 'incbin "data.bin", 3, 100\n',
    'incbin "data.bin", x\nx equ 2\n', 'incbin "data.bin", 1, x\nx equ 2\n',
    'incbin "data.bin", x+1\nx: db 1\n', 'incbin "data.bin", y\n',
    'x: incbin "data.bin", x\n', 'incbin "data.bin", $\n',
    'extern e\nincbin "data.bin", e\n', 'org 0x100\ndb 1,2\nx: incbin "data.bin", x\n',
    'db 1,2\nx: incbin "data.bin", 1, x\n',
    'section .text\ndb 1\nsection .data\ndb 1,2,3\nx: incbin "data.bin", x\n',
    'x: db 1\nincbin "data.bin", x-$\n', 'x: db 1\nincbin "data.bin", x*2\n',
    'x: db 1\nincbin "data.bin", 1, x*2\n',
    'x: db 1\nsection .b\ny: db 1\nincbin "data.bin", x+y\n',
    "incbin\n", "x: incbin\n", "times 2 incbin\n", "x incbin\n",
    'incbin "data.bin", 1, 2, 3\n', 'times 2 incbin "data.bin", 1, 2, 3\n',
    'incbin "data.bin", (1, 2), 3\n', 'incbin "data.bin", 1, 2, 3,\n',
    'incbin "data.bin", 1, 2,\n', 'times 2 incbin "data.bin", 1, 2, 3,\n',
]


@pytest.mark.parametrize("text", INCBIN_SOURCES)
def test_incbin(tmp_path, text):
    (tmp_path / "data.bin").write_bytes(bytes(range(65, 91)))
    same(tmp_path, text)


# ---- end of file inside a %if (NASM's fatal: nothing more) or a %rep

EOF_SOURCES = [
    "%if 1\ndb 1\n", "%rep 2\ndb 1\n", "%if 0\n", "db 1\n%if 1\nmov ax, zz\n",
    "%if 1\n%warning w\n", "%if 1\n%error e\n", "%if 1\n%rep 2\n", "%rep 1\n%if 1\n",
    "%rep 2\n%macro m 0\n", "db 1\n%rep 2\ndb 1\n%rep 3\n", "foo\n%if 1\n",
    "db 300\n%if 1\n",
]


@pytest.mark.parametrize("text", EOF_SOURCES)
def test_end_of_file(tmp_path, text):
    same(tmp_path, text)


# ---- bin sections: `start`/`align` that conflict (at the directive); NASM's output
# fatals (no line) once the final pass is over: unknown follows/vfollows, overlapping
# sections, one before the origin, a self-following one

BIN_SECTIONS = [
    "section .a align=16 start=0x11\ndb 1\n", "section .a start=0x11 align=16\ndb 1\n",
    "section .a start=0x11\nsection .a align=16\ndb 1\n",
    "section .a align=16\nsection .a start=0x11\ndb 1\n",
    "section .a start=0x20 align=16\ndb 1\n", "section .a start=0x11\nsectalign 16\ndb 1\n",
    "section .a align=16 start=0x11\nsection .a\ndb 1\n",
    "section .a vfollows=.zz\ndb 1\n", "section .a follows=.zz\ndb 1\n",
    "section .a start=10\ndb 1,2,3\nsection .b start=11\ndb 4\n",
    "section .a start=10\ndb 1,2,3\nsection .b start=12\ndb 4\nsection .c start=11\ndb 5\n",
    "section .a start=10\ndb 1,2,3\nsection .b start=13\ndb 4\n",
    "section .a start=10\nresb 3\nsection .b start=11\ndb 4\n",
    "org 16\nsection .a start=10\ndb 1\n", "section .a follows=.zz\ndb 1\nmov ax, zz\n",
    "section .a follows=.zz\nfoo\n", "section .b nobits follows=.zz\nresb 1\n",
    "section .a start=0x10\ndb 1\nsection .b start=0x10\n",
    "section .a start=0x10\nsection .b start=0x10\ndb 1\n",
    "section .a vstart=0\ndb 1,2\nsection .b vstart=1\ndb 1\n", "section .a follows=.a\ndb 1\n",
    "section .a follows=.b\ndb 1\nsection .b nobits\nresb 1\n",
    "org 0x100\nsection .a start=0x100\ndb 1\nsection .b start=0x50\ndb 2\n",
    "db 1\nsection .a start=0\ndb 2\n", "org 0x100\ndb 1\nsection .a start=0x100\ndb 2\n",
    "org 0x100\nsection .text\ndb 1\nsection .data\ndb 2\nsection .bss\nresb 4\nx: dw x\n",
    "section .a start=0x10\ndb 1\nsection .b follows=.a\ndb 2\nsection .c vstart=0x1000\n"
    "x: db 3\ndw x\n",
]


@pytest.mark.parametrize("text", BIN_SECTIONS)
def test_bin_sections(tmp_path, text):
    same(tmp_path, text)


# ---- listings: a macro call's label is its expansion's first row (not a .nolist
# macro's); `[list -]` ... `[list +]`: NASM's open `[list -]` row takes TIMES marks and
# is never written when the listing stays off

LISTING_MORE = [
    "%macro m 2\nmov ax, %1\nmov bx, %2\n%endmacro\nstart: m 1, 2\nm 3, 4\n",
    "%macro m 1.nolist\nx%1: db %1\n%endmacro\nlab: m 1\ndb 2\n",
    "%macro m 0\n%%l: nop\n%endmacro\nx: m\ny:m\n",
    "[list -]\ndb 1\n[list +]\ndb 2\n", "%macro m 0\n[list -]\ndb 1\n[list +]\n%endmacro\nm\n",
    "[list -]\n[list -]\ndb 1\n[list +]\ndb 2\n[list +]\ndb 3\n", "db 1\n[list +]\ndb 2\n",
    "[list -]\n%macro m 0\ndb 1\n%endmacro\n[list +]\nm\n", "[list -]\ndb 1\n",
    "[list -]\ntimes 3 db 1\n[list +]\ndb 2\n", "[list -]\nresb 3\n[list +]\ndb 2\n",
]


@pytest.mark.parametrize("text", LISTING_MORE)
def test_listing_more(tmp_path, text):
    same_listing(tmp_path, text)
    same(tmp_path, text)


# ---- a segment base in an instruction's 32-bit field (immediate or displacement, not
# a relative jump's): NASM's zext-reloc warning before the format's refusal

ZEXT_SOURCES = [
    "y: db 1\nx equ seg y\nmov eax, x\n", "y: db 1\nx equ seg y\npush dword x\n",
    "y: db 1\nx equ seg y\nmov ax, x\n", "y: db 1\nx equ seg y\ndd x\n",
    "y: db 1\nmov eax, seg y\n", "y: db 1\npush seg y\n", "bits 32\ny: db 1\npush seg y\n",
    "y: db 1\nx equ seg y\nmov dword [0], x\n", "y: db 1\nx equ seg y\nadd eax, x\n",
    "y: db 1\nx equ seg y\nmov eax, [x]\n", "y: db 1\nx equ seg y\nimul eax, ebx, x\n",
    "%macro m 0\nmov eax, seg y\n%endmacro\ny: db 1\nm\n", "y: db 1\njmp seg y\n",
    "y: db 1\nmov ax, seg y\ndd seg y\n", "y: db 1\npush word seg y\n",
]


@pytest.mark.parametrize("fmt", ["bin", "elf32"])
@pytest.mark.parametrize("text", ZEXT_SOURCES)
def test_segment_base_field(tmp_path, text, fmt):
    same(tmp_path, text, fmt)


# ---- %rep with no count (an error, no repetition) or one NASM cannot evaluate (no
# %rep block: its %endrep has none to match); %exitrep/%exitmacro/%rotate forms

REP_SOURCES = [
    "%rep\n%endrep\n", "%rep x\n%endrep\nx equ 2\n", "%rep 1.5\n%endrep\n",
    "%rep 2 ; c\ndb 1\n%endrep\n", "%rep ; c\ndb 1\n%endrep\n", "%rep -1\ndb 1\n%endrep\n",
    "%rep zz\ndb 1\n%endrep\ndb 2\n", "%macro m 0\n%exitmacro\ndb 1\n%endmacro\nm\ndb 2\n",
    "%exitrep\n", "%exitmacro\n", "%rep 2\n%rep 2\n%exitrep\n%endrep\ndb 1\n%endrep\n",
    "%rotate 1\n", "%macro m 2\n%rotate -1\ndb %1, %2\n%endmacro\nm 1, 2\n",
    "%assign i 0\n%rep 1000000\n%assign i i+1\n%if i > 3\n%exitrep\n%endif\n%endrep\ndb i\n",
    "%macro m 1-*\n%rep %0\ndb %1\n%rotate 1\n%endrep\n%endmacro\nm 1\nm 1, 2, 3\nm\n",
]


@pytest.mark.parametrize("text", REP_SOURCES)
def test_rep_forms(tmp_path, text):
    same(tmp_path, text)


# ---- an operand that ends at `(` or `[` (NASM's expression parser finds nothing
# there): "expression syntax error" (asm/grammar.py's _syntax_error)

OPEN_OPERANDS = [
    "x equ (\n", "dw (\n", "mov ax, (\n", "mov ax, [\n", "dw ((\n", "mov ax, [(\n",
    "push word [\n", "mov ax, es:[\n", "x equ [\n", "x: equ [\n", "dw 1, (\n", "mov [\n",
    "dw (1+(\n", "mov ax, [bx+(\n", "jmp [\n", "x: times 2 db (\n", "%assign x (\n",
    "mov ax, [bx\n", "db 2 dup (\n", "x equ [1]\n", "times ( nop\n", "mov ax, [bx+\n",
]


@pytest.mark.parametrize("text", OPEN_OPERANDS)
def test_open_operand(tmp_path, text):
    same(tmp_path, text)


# ---- review mends of round 9: a bin fatal for an unknown follows=/vfollows= section
# after the final pass's warnings; an empty incbin parameter besides the trailing one

MENDS = [
    "section .a follows=.b\ndb 1\n%warning hi\n", "section .a vfollows=.b\ndb 1\n%warning hi\n",
    "section .bss vfollows=.x\ndb 1\n%warning hi\n",
    'incbin "data.bin",,,,\n', 'incbin "data.bin",,1,2,3\n', 'incbin "data.bin",1,,2,3\n',
    'incbin "data.bin",1,2,3,,\n', 'times 2 incbin "data.bin",,,,\n', 'x: incbin "data.bin",,,,\n',
]


@pytest.mark.parametrize("text", MENDS)
def test_review_mends(tmp_path, text):
    (tmp_path / "data.bin").write_bytes(bytes(range(65, 91)))
    same(tmp_path, text)


# ---- pp-open-string: NASM warns once per source line it reads (active, or a macro or
# %rep body being defined), not per expansion; with -E too

OPEN_STRING_ONCE = [
    '%define x "abc\ndb x\n', '%define x "abc\ndb x\ndb x\n',
    '%macro m 0\ndb "abc\n%endmacro\nm\nm\n', '%macro m 0\n%define y "abc\n%endmacro\nm\nm\n',
    '%macro m 0\n%if 0\ndb "abc\n%endif\n%endmacro\nm\n', '%macro m 1\ndb %1\n%endmacro\nm "abc\n',
    '%rep 2\n%assign x "abc\n%endrep\n', '%rep 0\ndb "abc\n%endrep\n',
    '%if 0\n%rep 2\ndb "abc\n%endrep\n%endif\n', '%if 0\n%elif "abc\n%endif\n',
    '%if 0\n%if "abc\n%endif\n%endif\n', '%macro m 0\ndb "abc\n%endmacro\n%rep 2\nm\n%endrep\n',
]


@pytest.mark.parametrize("text", OPEN_STRING_ONCE)
def test_open_string_warned_once(tmp_path, text):
    same(tmp_path, text)


@pytest.mark.parametrize("text", ['db "abc\n', '%define x "abc\ndb x\n',
                                  '%rep 2\ndb "abc\n%endrep\n', "mov ax, 'ab\n"])
def test_open_string_preprocess_only(tmp_path, text):
    check(tmp_path, text, "-E", ordered=True, preprocess_only=True)


# ---- a label redefined: NASM reports it and goes on with the line (whose bytes move
# the next definition: a third one is an error too)

REDEFINED_MORE = [
    "x: nop\nx: nop\nx: nop\n", "x: nop\nx: nop\nx: nop\nx: nop\n",
    "x: db 1\nx: mov ax, zz\nx: nop\n", "x: nop\nx: times 2 nop\nx: nop\n",
    "%macro m 0\nx: nop\n%endmacro\nm\nm\nm\n", "x: nop\nx: db 300\nx: nop\n",
    "x: nop\nx: nop\nfoo\nx: nop\n", "x equ 1\nx: nop\nx: nop\n", "x equ 1\nx equ 2\nx equ 3\n",
]


@pytest.mark.parametrize("text", REDEFINED_MORE)
def test_label_redefined_goes_on(tmp_path, text):
    same(tmp_path, text)


# ---- listings: a directive's message where its line is not listed (a .nolist macro's,
# or under `[list -]`) goes on the row being filled (the call's, the `[list -]` row)

LISTING_MUTED = [
    "%macro m 0.nolist\n%warning hi\ndb 1\n%endmacro\nm\ndb 2\n",
    "%macro m 0.nolist\ndb 1\n%warning hi\n%endmacro\nm\nm\n",
    "%macro m 0.nolist\n%warning hi\n%endmacro\nx: m\n",
    "%macro m 0.nolist\nn\n%endmacro\n%macro n 0\n%warning hi\ndb 1\n%endmacro\nm\n",
    "%macro m 0.nolist\n%rep 2\n%warning hi\ndb 1\n%endrep\n%endmacro\nm\n",
    "[list -]\n%macro m 0.nolist\n%warning hi\n%endmacro\nm\n[list +]\ndb 1\n",
    "[list -]\n%warning hi\n%warning ho\n[list +]\ndb 1\n",
    "db 1\n[list -]\n%warning hi\n[list +]\n%warning ho\n",
]


@pytest.mark.parametrize("text", LISTING_MUTED)
def test_listing_muted_messages(tmp_path, text):
    same_listing(tmp_path, text)


# ---- a %if opened in a macro's or %rep's expansion stays open when it ends (a `%endif`
# after the call matches it; none: the end-of-file fatal), closed by %exitmacro/%exitrep;
# a %rep it opened and did not end: NASM's fatal at the call

EXPANSION_ENDS = [
    "%macro m 0\n%if 1\ndb 1\n%endmacro\nm\ndb 2\n", "%macro m 0\n%if 0\ndb 1\n%endmacro\nm\ndb 2\n",
    "%macro m 0\n%rep 2\ndb 1\n%endmacro\nm\ndb 2\n",
    "%macro m 0\n%rep 2\n%rep 3\ndb 1\n%endrep\n%endmacro\nm\ndb 2\n",
    "%macro m 0\nn\n%endmacro\n%macro n 0\n%rep 2\n%endmacro\nm\n",
    "%macro m 0\n%if 1\n%endmacro\ndb 0\nm\n%endif\ndb 2\n",
    "%macro m 0\n%if 0\n%endmacro\nm\ndb 1\n%endif\ndb 2\n",
    "%rep 2\n%if 1\n%endrep\ndb 1\n%endif\n%endif\ndb 2\n",
    "%macro m 0\n%if 1\n%endmacro\n%macro n 0\n%endif\n%endmacro\nm\ndb 1\nn\ndb 2\n",
    "%macro m 0\n%if 0\n%else\ndb 3\n%endmacro\nm\ndb 1\n%endif\ndb 2\n",
    "%macro m 0\n%if 1\n%exitmacro\n%endif\ndb 5\n%endmacro\nm\ndb 1\n",
    "%macro m 0\n%if 1\n%if 1\n%exitmacro\n%endif\n%endif\n%endmacro\nm\ndb 1\n",
    "%rep 3\ndb 4\n%if 1\n%exitrep\n%endif\n%endrep\ndb 1\n%endif\ndb 2\n",
    "%macro m 0\n%rep 2\ndb 1\n%endmacro\nm\n%endrep\n",
]


@pytest.mark.parametrize("text", EXPANSION_ENDS)
def test_expansion_ends_open(tmp_path, text):
    same(tmp_path, text)


# ---- a segment base as a count (TIMES, DUP, RESx, align's sectalign and TIMES): NASM's
# message for a non-constant count, not the output format's segment-base refusal

SEG_COUNTS = [
    "times seg $ nop\n", "resb seg $\n", "x: db 1\nalign seg x\n", "x: db 1\ntimes seg x nop\n",
    "x: db 1\nresw seg x\n", "x: db 1\nalignb seg x\n", "x: db 1\ndb seg x dup (1)\n",
    "x: db 1\nsectalign seg x\n", "times 4 db 0\nx: db 1\nsectalign seg x+3\n",
    "x: db 1\ny equ seg x\ntimes y nop\n", "x: db 1\nalign seg x, db 0\n",
    "x: db 1\ntimes (seg x)/2 nop\n", "x: db 1\ny equ seg x\nresb y\n",
    "extern e\ntimes seg e nop\n",
]


@pytest.mark.parametrize("fmt", ["bin", "elf32"])
@pytest.mark.parametrize("text", SEG_COUNTS)
def test_segment_base_count(tmp_path, text, fmt):
    same(tmp_path, text, fmt)
