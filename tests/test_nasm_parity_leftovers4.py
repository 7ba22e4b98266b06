"""NASM parity for issue 13's fourth round of leftovers: the nobits warning once per piece
NASM writes an instruction in, a `.x` defined above every label (NASM names it after the
last label of the pass before), directive names followed by a colon and the names of
symbol declarations, a macro call's trailing empty parameter (NASM drops it: %0 changes),
`incbin` with a trailing comma or under TIMES, EQUs that only name each other, ORG's
second error. Each case runs through nasm (the oracle) and pyasm."""

from __future__ import annotations

import pytest
from nasm_parity import check, diagnostics, elf_dumps, same_listing
from test_asm_helpers import nasm, split_cases, write

# ---- instructions in a nobits section: one warning per piece NASM writes (each prefix,
# the opcode's literal bytes, a `+r` byte, ModRM with SIB, displacement, each immediate)

NOBITS_INSNS = """nop
o32 nop
rep movsd
a32 rep movsd
mov ax, 1
mov eax, 1
add eax, 0x12345678
add ax, 5
mov word [bx+5], 1
mov ax, [bx+si]
mov ax, [5]
mov eax, [ebx+eax*4+5]
lock add [bx], ax
es mov ax, [bx]
mov ax, [es:bx]
int 3
push 500
jmp 5:6
call far [bx]
fld dword [bx]
fwait
fadd
fadd st1
faddp
fstsw ax
fstsw [bx]
finit
fninit
movd mm0, eax
pshufd xmm0, xmm1, 5
movss xmm0, [bx]
enter 5, 6
imul ax, bx, 500
shl ax, 1
shl ax, 3
bswap eax
cmovz ax, bx
ret 4
aam
aam 5
loop $
times 3 nop
times 2 mov ax, 1
rep
"""


@pytest.mark.parametrize("fmt", ["bin", "elf32"])
@pytest.mark.parametrize("bits", [16, 32])
def test_nobits_instruction_pieces(tmp_path, fmt, bits):
    text = f"bits {bits}\nsection .bss\n" + NOBITS_INSNS
    if fmt == "bin":
        check(tmp_path, text)
    else:
        check(tmp_path, text, "-f", "elf32", fmt="elf32", messages=True)


def test_nobits_instruction_corpus(tmp_path):
    """Every form of the table (one generated line each) in .bss, as NASM warns."""
    import x86_corpus
    for bits in (16, 32):
        # (hint_nopN: some register forms are bytes pyasm's decoder refuses, `66 0F 1E FA`,
        # which asm.x86.pieces then counts as one piece)
        lines = [it.text for it in x86_corpus.items(seed=3, per_form=1, bits_list=(bits,))
                 if "$" not in it.text and not it.text.startswith("hint_nop")]
        head = f"bits {bits}\nsection .bss\n"
        # (a few generated lines NASM refuses in any section: left out)
        _, _, nerr = nasm(write(tmp_path, "t.asm", head + "\n".join(lines) + "\n"))
        refused = {n for n, kind, _ in diagnostics(nerr) if kind == "error"}
        assert len(refused) < 20, nerr
        kept = [t for k, t in enumerate(lines) if k + 3 not in refused]
        check(tmp_path, head + "\n".join(kept) + "\n")


# ---- `.x` above every label: in later passes NASM names it after the last label of the
# pass before (its label base is not reset between passes)

ORPHAN_LOCALS = """
.y: dw 1
f:
dd .y
-----
.y: dw 1
f:
dd f.y
-----
.y: dw 1
f:
dd f.y
g:
-----
dd .y
.y: dw 1
f:
-----
.y: dw 1
f:
jmp .y
-----
.y: dw 1
.z equ 5
dd .z
-----
.y: dw 1
f:
.y: dw 2
"""


@pytest.mark.parametrize("name,text", split_cases(ORPHAN_LOCALS))
def test_local_labels_above_every_label(tmp_path, name, text):
    check(tmp_path, text)


def test_local_labels_above_every_label_elf(tmp_path):
    theirs, ours = elf_dumps(tmp_path, "bits 32\n.y: dw 1\nf:\nglobal f.y\ndd .y\n", "-tdr")
    assert ours == theirs


# ---- a directive's name with a colon is its macro with `:` as the argument (not a label);
# the names of global/extern/static/required/common as NASM's reader checks them;
# `default` and `float` arguments; ORG's second error

DIRECTIVES = ["bits:", "bits: 16", "absolute:", "global:", "extern:", "common:", "static:",
              "required:", "cpu:", "default:", "org:", "sectalign:", "float:", "section:",
              "segment:", "warning:", "map:", "list:",
              "global 5", "global ,x\nx:", "global x y", "global x,y z", "global 1x",
              "global x-y", "global x.y@#~$?", "global $x\nx:", "extern ..@x",
              "global x, , y\nx:\ny:", "common x", "common 5 4", "static 5", "required 5",
              "static x:", "default foo", "default rel", "default abs, rel", "default bnd",
              "float foo", "float daz", "float near up", "float nodaz",
              "org x", "org 1+", "org x+1", "org 5\nx: dw x"]


@pytest.mark.parametrize("text", DIRECTIVES)
def test_directive_arguments(tmp_path, text):
    check(tmp_path, text + "\ndb 1\n")


ELF_DECLARATIONS = ["global x :function\nx:", "global x:function (x.e - x)\nx: nop\n.e:",
                    "common x 4:4", "common x:4", "extern x:y", "global x,\nx:",
                    "bits 32\nglobal:"]


@pytest.mark.parametrize("text", ELF_DECLARATIONS)
def test_declarations_elf(tmp_path, text):
    check(tmp_path, text + "\n", "-f", "elf32", fmt="elf32")


# ---- a multi-line macro call ending in a comma: NASM drops the empty last parameter
# (%0 counts one less, even below the macro's minimum), or calls a macro that takes
# one parameter less (both with a legacy warning)

TRAILING_COMMA = """
%macro m 1-*
db %0
%endmacro
m 1,
-----
%macro m 1-2
db %0
%endmacro
m 1,
-----
%macro m 2
db %0
%endmacro
m 1,
-----
%macro m 1
db %0
%endmacro
m 1,
-----
%macro m 1-3
db %0
%endmacro
m 1,,
-----
%macro m 1+
db %0, %1
%endmacro
m 1,
m 1,2,
-----
%macro m 0-*
db %0
%endmacro
m ,
-----
%macro m 1-3 7, 8
db %0, %2, %3
%endmacro
m 1,
m 1,2,
-----
%macro m 2
db %0
%endmacro
m 1, {}
-----
%macro m 2
db %0
%endmacro
m 1, ; c
x: m 1,
-----
%macro m 3
db %0
%endmacro
m 1,2,
-----
%macro m 1
db %1
%endmacro
m 1,,
-----
%macro n 1
db %1
%endmacro
%macro m 2
n %2,
%endmacro
m 1, 2
"""


@pytest.mark.parametrize("name,text", split_cases(TRAILING_COMMA))
def test_macro_trailing_empty_parameter(tmp_path, name, text):
    check(tmp_path, text)


# ---- incbin: a trailing comma (NASM's `incbin` macro drops it), and TIMES repeats
# the missing file's error

INCBIN = ['incbin "f",', 'incbin "f",,', 'incbin "f", 1,', 'incbin "f", 1, 2,',
          'incbin "f" , ', 'times 2 incbin "f",', 'x: incbin "f",', 'incbin "g",',
          'times 2 incbin "g"', 'times 3 incbin "g", 1', 'times 0 incbin "g"',
          'times 3 incbin "f", -1', 'times 2 incbin "f"']


@pytest.mark.parametrize("text", INCBIN)
def test_incbin_commas_and_times(tmp_path, text):
    (tmp_path / "f").write_bytes(b"abcdef")
    check(tmp_path, text + "\n")


# ---- EQUs that only name each other: NASM's later passes give them the values of the
# pass before (0 from the start), so they settle

EQUS = """
a equ b
b equ a
dw a
-----
a equ b
b equ a
-----
a equ b
b equ a
mov ax, a
-----
a equ b
b equ c
c equ a
dw a, b, c
-----
a equ b
b equ a
dw a, zz
-----
a equ zz
dw a
-----
a equ b * 2
b equ a
jmp a
-----
a equ b
b equ a
c equ a + 5
dw c
"""


@pytest.mark.parametrize("name,text", split_cases(EQUS))
def test_equs_naming_each_other(tmp_path, name, text):
    check(tmp_path, text)


def test_equs_naming_each_other_elf(tmp_path):
    theirs, ours = elf_dumps(tmp_path, "bits 32\na equ b\nb equ a\nmov eax, a\ndd b\n")
    assert ours == theirs


def test_equs_that_never_settle(tmp_path):
    # both give up (NASM after 1000 passes, with its pass counts in the message)
    status, _, err = check(tmp_path, "a equ b+1\nb equ a\ndw a\n", messages=False)
    assert status == 1 and "unable to find valid values for all labels" in err


# ---- displacement overflow warnings per the field NASM picks: an implicit byte warns for
# the wrap into -128..127 and once more beyond the address size, a word/dword twice beyond
# it, no field (`[bx+65536]` is `[bx]`) none, an absolute address once; `[byte 5]`

DISPLACEMENTS = """
mov ax, [bx+0x10005]
mov ax, [bx+0x10100]
mov ax, [bx+65536]
mov ax, [bx+0xffff]
mov ax, [bx+0xff80]
mov ax, [bx+0xff7f]
mov ax, [bx-65531]
mov ax, [bx-65536]
mov ax, [bx-65537]
mov ax, [bp+65536]
mov ax, [0x10005]
mov ax, [byte 5]
mov ax, [word 5]
mov ax, [byte bx+5]
mov ax, [bx-0x10100]
mov ax, [word 0x10005]
mov ax, [bx+si+0xffff]
mov word [byte 5], 1
mov ax, [byte 500]
-----
bits 32
mov eax, [ebx+0x100000000]
mov eax, [ebx+0x100000005]
mov eax, [ebx+0xffffff80]
mov eax, [ebx-0xffffffff]
mov eax, [ebx+0x1ffffffff]
mov eax, [ebp+0x100000000]
mov eax, [0x100000005]
mov eax, [byte 5]
mov eax, [word 5]
mov eax, [dword 5]
mov eax, [ebx+0x100000100]
mov eax, [eax*2+0x100000005]
mov eax, [eax*4+0x100000005]
mov eax, [-0x100000005]
mov eax, [ebx-0x100000100]
lea eax, [ebx+0xffffffff]
mov dword [ebx+0xffffffff], 5
mov eax, [esp+0xffffffff]
mov eax, [ebx+ecx*4+0xffffff00]
"""


@pytest.mark.parametrize("name,text", split_cases(DISPLACEMENTS))
@pytest.mark.parametrize("opt", ["-Ox", "-O0"])
def test_displacement_warnings(tmp_path, name, text, opt):
    check(tmp_path, text, opt, optimize=0 if opt == "-O0" else 2)


# ---- SECTALIGN reads its leading expression only (NASM ignores the rest)

SECTALIGNS = ["sectalign 4 nop", "sectalign 4, nop", "sectalign 4 5", "sectalign on",
              "sectalign off", "sectalign 3", "sectalign 3 nop", "sectalign 1+2",
              "sectalign 0", "sectalign (4)", "sectalign 4+", "sectalign 4 ; c",
              "sectalign 2*2 x", "sectalign 16\nsection .data\nsectalign 32 nop\ndb 1"]


@pytest.mark.parametrize("text", SECTALIGNS)
def test_sectalign_leading_expression(tmp_path, text):
    check(tmp_path, text + "\n")


def test_sectalign_leading_expression_elf(tmp_path):
    check(tmp_path, "section .data\nsectalign 16 nop\ndb 1\n", "-f", "elf32", fmt="elf32")


# ---- `name(...)` where name is no NASM function: NASM's parser stops at the `(`

CALLS = ["db x (1)", "db x(1), 2\nx:", "db 1, x (1), 2", "dw 1 + x(1)", "dd ilog2e(4)",
         "mov ax, x(1)\nx:", "push x(1)", "x equ y(1)", "dw (x(1))", "mov ax, [x(1)]",
         "mov ax, [bx+x(1)]", "dd __float32__(1)", "dd __?float32?__(1.5)",
         "dd __ilog2e__(4)"]


@pytest.mark.parametrize("text", CALLS)
def test_calls_of_non_functions(tmp_path, text):
    check(tmp_path, text + "\n")


# ---- an operand naming a symbol pass 1 never defined (`st8` is no register): NASM's
# final pass reports the symbol, not the operand combination; a size keyword after EQU

UNDEFINED_OPERANDS = ["fld st8", "fld st9", "fadd st0, st8", "fld x", "fld x\nx:",
                      "fld st8\nfld st1, st2", "mov ax, bx, x"]


@pytest.mark.parametrize("text", UNDEFINED_OPERANDS)
def test_undefined_operand_symbols(tmp_path, text):
    check(tmp_path, text + "\n")


SIZED_EQUS = ["x equ dword 5", "x equ byte 5", "x equ word 5+1", "x equ near 5",
              "x equ far 5", "x equ short 5", "x: equ dword 5", "x equ 5 dword"]


@pytest.mark.parametrize("text", SIZED_EQUS)
def test_size_keywords_after_equ(tmp_path, text):
    check(tmp_path, text + "\n")


# ---- near/short on an immediate: a size NASM's immediate forms lack (push: none match)

NEAR_IMMEDIATES = ["mov ax, near 1", "mov ax, far 1", "mov ax, short 1", "push near 5",
                   "push short 5", "push dword near 5", "add ax, near 5", "mov [bx], near 5",
                   "add [bx], short 5", "mov word [bx], near 5", "int near 5", "in al, near 5",
                   "enter near 5, 1", "enter 1, near 5", "ret near 4", "retf near 4",
                   "imul ax, bx, near 5", "mov al, short 5", "mov eax, near 5",
                   "bits 32\nmov eax, near 5", "loop near $", "jcxz near $", "fld near 5",
                   "mov cr0, near 5", "shl ax, near 1", "aam near 5", "mov ax, near x\nx:"]


@pytest.mark.parametrize("text", NEAR_IMMEDIATES)
def test_near_short_immediates(tmp_path, text):
    check(tmp_path, text + "\n")


# ---- `dd seg x`: NASM warns that the 16-bit segment is zero-extended (then refuses it)

SEGMENT_DATA = ["x: dd seg x", "x: dw seg x", "x: dq seg x", "x: dd 1, seg x", "x: dd seg 5"]


@pytest.mark.parametrize("text", SEGMENT_DATA)
@pytest.mark.parametrize("fmt", ["bin", "elf32"])
def test_segment_data_zero_extended(tmp_path, text, fmt):
    check(tmp_path, text + "\n", "-f", fmt, fmt=fmt)


# ---- listings: a warning comes out after the row being filled when NASM issued it (it
# prints a row when the next byte overflows it): a data item's bounds warning before its
# bytes, a nobits warning after them, a float overflow as the line is read

LISTED = ["db 1,2,3,4,5,6,7,8,9,300", "db 1,2,3,4,5,6,7,8,300", "db 300,1,2,3,4,5,6,7,8,9,10",
          "dw 1,2,3,4,5,70000", "dw 70000, 1,2,3,4,5,6,7,8,9,10,11,12,13",
          "db 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,300",
          "dd 1,2,3,4,5,6,7,8,9,10, 0x100000000", "dd 1,2,3, 1.0e40",
          "dd 1,2,3,4,5,6,7,8,9,10,11,1.0e40, 0x100000000",
          "times 3 db 1,2,3,4,5,6,7,8,9,10,300", "x: dd x, x, x, 0x100000000",
          "db 1,2,3,4,5,6,7,8,9,10,\"abcdefghijklmnopqrstuvwxyz\"",
          "section .bss\ndb 1,2,3,4,5,6,7,8,9,10,11,12",
          "section .bss\ndw 1,2,3,4,5,6,7,8,9,10,11,12",
          "section .bss\ndb \"abcdefghij\", 1, \"kl\"",
          "section .bss\ntimes 2 db 1,2,3,4,5,6,7,8,9,10",
          "section .bss\ndb 2 dup (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)",
          "section .bss\nmov ax, 1\nmov word [bx+5], 1\nfstsw [bx]\nrep movsd"]


@pytest.mark.parametrize("text", LISTED)
def test_listing_warning_rows(tmp_path, text):
    same_listing(tmp_path, text + "\n")


# ---- `dq symbol` in elf32: NASM's 32-bit relocation, the upper half zero, with a warning

DQ_RELOCS = ["extern e\ndq e", "extern e\ndq e+5, 7\ndd e", "section .data\nx: dq x + 3",
             "extern e\ndq e - $", "extern e\ndq e wrt ..sym", "extern e\ntimes 2 dq e",
             "extern e\ndq e wrt ..got", "extern e\ndq e wrt ..gotoff",
             "section .data\nx: dq x - $", "extern e\ndq e wrt ..plt",
             "extern e\ndq e wrt ..gotpc"]


@pytest.mark.parametrize("text", DQ_RELOCS)
def test_qword_relocations_elf(tmp_path, text):
    status, _, _ = check(tmp_path, "bits 32\n" + text + "\n", "-f", "elf32", fmt="elf32")
    if status == 0:
        theirs, ours = elf_dumps(tmp_path, "bits 32\n" + text + "\n", "-sr")
        assert ours == theirs


# ---- a negative %rep count: NASM warns and repeats nothing

NEGATIVE_REPS = ["%rep -1\ndb 1\n%endrep", "%rep -5\ndb 1\n%endrep\ndb 2",
                 "%assign n -2\n%rep n\ndb 1\n%endrep",
                 "%macro m 0\n%rep -1\ndb 1\n%endrep\n%endmacro\nm"]


@pytest.mark.parametrize("text", NEGATIVE_REPS)
def test_negative_rep_counts(tmp_path, text):
    check(tmp_path, text + "\n")


def test_immediates_whose_low_bits_are_a_small_positive_byte(tmp_path):
    # an earlier value of the same width class must not lend its long form to these:
    # their low 16/32 bits fit a sign-extended byte, so nasm picks the imm8 form
    check(tmp_path, "bits 32\nadd ax, -40000\nadd ax, -2147483648\npush -2147483648\n"
                    "cmp esi, -3000000000\ncmp esi, -3238392004\nadd ecx, 0x100000005\n"
                    "bits 16\nadd word [si], -40000\nadd word [si], -2147483648\n")
