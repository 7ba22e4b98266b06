"""NASM parity, round 12 (issue 13): each case runs nasm 2.16 (the oracle) and pyasm on
the same small source and compares exit status, bytes and diagnostics in order (with
NASM's "... from macro" notes), or the listing file."""

from __future__ import annotations

import pytest
from nasm_parity import same
from test_asm_helpers import nasm, pyasm
from test_nasm_parity_leftovers9 import same_listing

# ---- a data or reserve word where an operand starts is a symbol (NASM's parser reads
# it so), and a label with a colon


@pytest.mark.parametrize("text", [
    "cmp dw 5, 1\n", "push dw 3\n", "push dw\n", "dw: db 1\ncmp dw 5, 1\npush dw\n",
    "bits 32\nmov eax, dd\ncmp dw, 5\npush dw+1\njmp DQ\nmov eax, [dw]\n",
    "dw: db 1\ndw dw\nresb: db 2\ndd resb\nDQ: dd DQ\n", "db dw\n", "dd 1, dw\n",
    "x equ dw\n", "dw:\nx equ dw\n", "dw dw\ntimes dw db 1\n",
    "mov ax, [dw]\nmov ax, dw:5\nmov ax, [dw+resw]\n", "times dw +\n",
    # guards (TIMES reads a data word as its count)
    "times db 1\n", "times resb 1\n", "times dw 5\n", "x: times db 1\n",
    "dw 5\nresb 2\nx: dd 1\n", "times 2 dw 3\n",
])
def test_data_word_as_symbol(tmp_path, text):
    same(tmp_path, text)


# ---- unknown values: an undefined symbol times 0 (or cancelled) is no unknown any
# more; a data item NASM refuses keeps its size while the labels settle

@pytest.mark.parametrize("text", [
    "dd (x-$$)*y\nx:\ny:\n", "dd 8*y, 1, 8*y\ny: db 1\n",
    "bits 32\nmov eax, [ebx*(2+0*x)]\nx:\n", "bits 32\nmov eax, [ebx*(2+0*x)]\n",
    "bits 32\nmov eax, [ebx*(2+x*0)]\nx:\n", "bits 32\nmov eax, [ebx*(2+(x-x))]\nx:\n",
    "bits 32\nmov eax, [ebx*(2+0*(x+1))]\nx equ 5\n",
    "bits 32\nmov eax, [ebx*(2+(x/2)*0)]\nx:\n",
    # guards
    "dd (x-$$)*y\nx:\ny equ 2\n", "x:\ny:\ndd (x-$$)*y\n",
    "bits 32\nmov eax, [ebx*(2+x)]\nx equ 0\n",
])
def test_unknown_values(tmp_path, text):
    same(tmp_path, text)


# ---- smartalign: the NOP run NASM's macro makes with `times N nop` is listed as one
# `90` and `<rep N>` (after the jump over it, or alone in the `nop` mode)

@pytest.mark.parametrize("text", [
    "%use smartalign\nbits 32\nnop\nalign 16\ndb 1\nalignmode p6\nalign 32\ndb 2\n",
    "%use smartalign\nbits 32\nnop\nalign 256\ndb 1\nalign 4\nnop\nalign 16\n"
    "alignmode nop\nnop\nalign 32\nalignmode generic, 2\ndb 1\nalign 8\nbits 16\n"
    "align 512\ndb 2\nalignmode k8, 1\nalign 16\n",
    "%use smartalign\nalignmode nop\ndb 1\nalign 2\nalign 4\nalignmode generic, 1\n"
    "db 1\nalign 4\n",
])
def test_smartalign_listing(tmp_path, text):
    same_listing(tmp_path, text)


# ---- a register in data: NASM's parser refuses the value (`not simple or relocatable`,
# in pass 1, a forward reference or not), after the evaluator's own errors

@pytest.mark.parametrize("text", [
    "bits 32\ndd 1+1+1*eax\n", "dd eax\n", "dd eax*eax\ndd eax/2\ndd -eax\ndd ~eax\n"
    "dd eax-eax\ndd eax, 1+1+1*eax, ebx\ndw x+eax\nx:\ndq eax\n",
    "dw eax\ndw x+eax\nx:\n", "dd -eax\ndd eax*eax\n", "dw 1+\ndd -eax\n",
    "mov eax, [eax*eax]\ndd -eax\n", "dw x+eax\nx:\ndw 1\n", "db 1 dup eax\n",
    # guard
    "bits 32\nmov eax, [1+1+1*eax]\n",
])
def test_register_in_data(tmp_path, text):
    same(tmp_path, text)


# ---- NASM's evaluator takes fewer than 8192 operators and `(` in one expression, nested
# however deep (`1+(1+(...))`, 4095 levels): beyond, "expression too long"

def _nested(head: str, unit: str, n: int, leaf: str = "1", close: int = 1) -> str:
    return head + unit * n + leaf + ")" * (n * close)


@pytest.mark.parametrize("text", [
    _nested("dd ", "1+(", 4095), _nested("dd ", "1+(", 4096), _nested("dd ", "1+(1+", 2730),
    _nested("dd ", "1+(1+", 2731), _nested("dd ", "(", 8192),
    "dd " + "1+" * 8192 + "1\n", "dd " + "-" * 8192 + "1\n",
    "bits 32\nmov eax, [" + "1+(" * 4095 + "eax" + ")" * 4095 + "]\n",
    "bits 32\nmov eax, [" + "1+" * 5000 + "eax+" + "1+" * 5000 + "1]\n",
    "bits 32\nmov eax, " + "1+(" * 4095 + "x" + ")" * 4095 + "\nx:\n",
    "x equ " + "1+" * 8192 + "1\n", "times " + "0+" * 8192 + "1 nop\n",
    "%if " + "1+(" * 4095 + "1" + ")" * 4095 + "\ndb 1\n%endif\n",
    "%if " + "1+" * 8192 + "1\n%endif\n", "%assign x " + "-" * 8192 + "1\n",
    "db 1 ? " + "1+" * 5000 + "1 : " + "1+" * 5000 + "1\n",
    # guards (below the limit)
    _nested("dd ", "(", 8191), "dd " + "1+" * 8191 + "1\n", "dd " + "~" * 8191 + "1\n",
    "dd " + "1+" * 5000 + "1, " + "1+" * 5000 + "1\n",
], ids=lambda text: f"{text[:12]}...{len(text)}")
def test_expression_length(tmp_path, text):
    same(tmp_path, text)


# ---- registers of 64-bit mode (altreg's too) outside it: NASM's parser knows them,
# refusing one only REX reaches; a 64-bit one the instruction refuses. A register in an
# EQU or a count is no constant; a section alignment of one sets nothing

@pytest.mark.parametrize("text", [
    "%use altreg\nbits 32\nmov r8d, 1\nmov r0, 1\nmov r8b, 1\n", "%use altreg\nbits 32\nmov r0, 1\n",
    "bits 32\nmov r8d, 1\n", "bits 32\nmov rax, 1\n", "bits 32\nmov eax, [r8]\n",
    "bits 32\nmov sil, 1\n", "bits 16\nmov r15, 1\ndb 1\nnop\n",
    "bits 32\nmov eax, r9d\nmov eax, r9\nmov spl, 1\n", "rax: nop\n", "dd rax\n", "dd r8d\n",
    "bits 32\npush r8d\npush rax\ninc sil\n", "bits 32\nmov eax, [eax+r8d]\n",
    "bits 32\nmov eax, [rax]\n", "mov rax, 1\nfoo\n", "bits 32\nmov rax, 1\nmov eax, [rax]\n",
    "x equ r8d\n", "x equ eax+1\ny equ eax*eax\nz equ ~eax\n", "x equ eax\ntimes eax nop\n",
    "times eax+1 nop\ntimes eax*eax nop\n", "sectalign eax\n", "align eax\n",
    "sectalign eax+1\nsectalign 1+\n", "bits 32\nalign ebx*2\nnop\n",
    "sectalign x+eax\nx:\n", "sectalign 8\nsectalign eax\nalign 16\n",
    # guards
    "x equ y+eax\ny:\n", "x equ y+eax\ny equ 1\n", "x equ eax-eax\ndb x\n", "%use altreg\nbits 32\nmov r1d, r2d\nmov r3b, r0h\n",
])
def test_long_mode_registers(tmp_path, text):
    same(tmp_path, text)


# ---- `%+` pastes outside a macro too; a `ptr` the preprocessor makes (pasted, from
# the environment, %deftok, %tok, macro parameters) gets NASM's warning

@pytest.mark.parametrize("text", [
    "bits 32\nmov eax, P%+TR\n", "db P%+TR\n", "x%+y: db 1\ndb xy\n", "db 1 %+ 2\n",
    "%strcat s \"pt\", \"r\"\n%deftok t s\nbits 32\nmov eax, dword t [ebx]\n",
    "%define q pt %+ r\nbits 32\nmov eax, dword q [ebx]\n",
    "%macro m 2\nmov eax, dword %1%2 [ebx]\n%endmacro\nbits 32\nm pt, r\n",
    "%macro m 2\nmov eax, dword %{1}%{2} [ebx]\n%endmacro\nbits 32\nm pt, r\n",
    "%macro %$m 0\nnop\n%endmacro\n", "%push c\n%macro %$m 0\nnop\n%endmacro\n%$m\n",
    "%push c\n%macro %$$m 0\n%endmacro\n",
    # guards
    "db 1 ; %+ 2\n", "db 'a' %+ 'b'\n", "%define a 1\ndb a%+2\n", "%imacro %1 0\n%endmacro\n",
    "bits 32\nmov eax, dword %tok(\"ptr\") [ebx]\n",
])
def test_paste_and_made_ptr(tmp_path, text):
    same(tmp_path, text)


def test_ptr_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("P12WORD", "ptr")
    same(tmp_path, "bits 32\nmov eax, dword %!P12WORD [ebx]\n")


# ---- NASM's scanner warns about each `ptr` it reads: on a line its parser refuses, up
# to the token it stops at (and, skipping the rest of an instruction's line, after the
# error); past the first symbol never defined, none

@pytest.mark.parametrize("text", [
    "bits 32\nmov eax, dword ptr [ebx] +\n", "dd ptr +\n", "mov ax, ptr ptr\n",
    "x: mov eax, [ptr\n", "mov ax, ptr 5\n", "mov ax, ptr 5 ptr\n", "mov ax, 1 2 ptr\n",
    "mov ax, [bx] ptr\n", "mov ax, [bx] 1 ptr\n", "dd 1 ptr 2\n", "dd 1 2 ptr ptr\n",
    "dd ptr 1 ptr\n", "mov ax, ptr + ptr\n", "dd (ptr ptr\n", "x equ 1 2 ptr\n",
    "bits 32\nmov eax, x + ptr\n", "dd x, ptr, y\n", "dd x + ptr + y\n", "dd x + ptr)\n",
    "db x, ptr\nptr:\n", "dd .a + ptr\n",
    # guards
    "mov eax, ptr\nmov ebx, x\n", "db ptr, x\nfoo 1\n", "mov ax, (1 2) ptr\n",
    "times 1 2 ptr\n", "dd 1, 2 3, ptr\n", "db ptr, x\n", "db 1, ptr, x\nptr:\n",
    "x: dd y, ptr\ny:\n", "z:\n.a: dd z.a + ptr\n", "dd ptr + x\n",
])
def test_ptr_warnings_read(tmp_path, text):
    same(tmp_path, text)


# ---- a listed source line is cut at 1020 bytes, as NASM counts them (a character it
# cuts is written in part)

@pytest.mark.parametrize("text", [
    "db 1 ; " + "\u00e9" * 600 + "\n", "db 3 ; " + "a\u00e9" * 400 + "\n",
    "db 4 ; " + "\u20ac" * 400 + "\n",
    # guards
    "db 2 ; " + "a" * 1100 + "\n", "db 5 ; " + "\u00e9" * 200 + "\n",
])
def test_listing_cut_in_bytes(tmp_path, text):
    src = tmp_path / "t.asm"
    src.write_text(text, encoding="utf-8")
    rc, _, nerr = nasm(src, "-l", str(tmp_path / "n.lst"))
    status, _, perr = pyasm(src, listing=str(tmp_path / "p.lst"))
    assert rc == status == 0, (nerr, perr)
    assert (tmp_path / "p.lst").read_bytes() == (tmp_path / "n.lst").read_bytes()


# ---- past `expecting ]` NASM closes the memory operand: its address's own errors come
# second; 16- and 32-bit registers in one address are refused for the address sizes

@pytest.mark.parametrize("bits", [16, 32])
@pytest.mark.parametrize("line", [
    "mov ax, [bx+si+di", "mov ax, [eax+bx", "mov eax, [eax+ebx+ecx", "mov eax, [eax*2+ebx*2",
    "mov ax, [r8", "mov ax, [a32 bx", "mov ax, [eax+bx]", "mov ax, [bx+ecx*2]",
    "lea ax, [si+eax]",
    # guards
    "mov ax, [es", "mov ax, [bx", "mov ax, [bx+ax", "mov eax, [esp*2",
])
def test_closed_memory_second_errors(tmp_path, bits, line):
    same(tmp_path, f"bits {bits}\n{line}\n")


# ---- %use masm: NASM 2.16.01's package (`ptr` makes a memory operand, `flat:` is no
# override, `offset` nothing, proc/endp/segment/ends, `tbyte`); `%null` does nothing

_MASM = "%use masm\nbits 32\n{}\nx: nop\n"


@pytest.mark.parametrize("line", [
    "mov eax, dword ptr ptr [ebx]", "mov eax, ptr [ebx]", "mov eax, [flat:ebx]",
    "mov eax, flat:[ebx]", "mov eax, dword flat:[ebx]", "jmp dword ptr [eax]",
    "push dword ptr 5", "mov eax, [ebx + dword ptr 4]", "mov eax, dword ptr x",
    "mov eax, offset x", "mov byte ptr [eax], 1", "mov eax, [ptr ebx]",
    "movzx eax, byte ptr [ebx]", "mov eax, ds:[ebx]", "mov eax, [fs:flat:ebx]",
    "call near ptr x", "mov eax, dword ptr es:[ebx]", "fld tbyte ptr [eax]", "mov eax, ptr",
    "ptr: nop", "mov eax, ptr x+4", "mov eax, dword ptr 4[ebx]", "mov eax, dword ptr",
    "mov eax, ptr ptr", "push ptr", "mov eax, flat", "db ptr", "x equ ptr 5",
    "mov eax, dword ptr es:4[ebx]", "mov [ebx], dword ptr 4", "mov eax, [flat:ebx",
    "mov eax, [flat:]",
])
def test_use_masm(tmp_path, line):
    same(tmp_path, _MASM.format(line))


@pytest.mark.parametrize("text", [
    "%use masm\nbits 32\nmov eax, dword ptr [ebx]\nmov eax, offset x\nfld tbyte ptr [eax]\n"
    "foo proc\nret\nfoo endp\nfar1 proc far\nret\nRET\nfar1 endp\nret\nx: nop\n"
    "%ifdef __?USE_MASM?__\ndb 1\n%endif\nmov eax, [flat:ebx]\ntext segment\nret\n"
    "text ends\nends\nproc\nendp\n%use masm\n",
    "%null a b c\nnop\n", "%null\n",
    "bits 32\nmov eax, dword __?masm_ptr?__ [ebx]\n",
])
def test_use_masm_macros(tmp_path, text):
    same(tmp_path, text)


# ---- `%xdefine` with parameters: the body is expanded with the parameters kept out of
# it (a parameter named as a macro, `%arg`'s `a`, stays the parameter)

@pytest.mark.parametrize("text", [
    "%define a (ebp+8)\n%xdefine CAT(a,b) a %+ b\nCAT(lab, 1): db 1\n",
    "%define a 7\n%xdefine F(a) a+1\ndb F(2)\n",
    # guards
    "%define a 7\n%ixdefine F(a) A+1\ndb F(2)\n", "%define a 7\n%xdefine F(a) %str(a)\ndb F(2)\n",
    "%define k 3\n%xdefine F(a) a+k\n%define k 4\ndb F(2)\n",
    "%define b 7\n%xdefine F(a) a %+ b\ndb F(2)\n",
])
def test_xdefine_parameters(tmp_path, text):
    same(tmp_path, text)
