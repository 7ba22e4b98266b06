"""NASM parity, round 15: each case runs nasm 2.16 (the oracle) and pyasm on the same
small source and compares exit status, bytes and diagnostics in order (or, for ELF,
objdump's view of both objects and their symbol tables)."""

from __future__ import annotations

import subprocess

import pytest
from conftest import require_tool
from nasm_parity import elf_dumps, same

# ---- NASM's self-relative value with no target: `5 - x`, x in the section being
# assembled (a PC-relative relocation against no symbol in ELF, a number in a flat
# binary); an address keeps the size its offset gives, an immediate never shortens, a
# branch to one is refused


@pytest.mark.parametrize("text", [
    "back:\nmov [0xffff-back],ax\n", "org 0x100\nback:\nmov [0xffff-back],ax\n",
    "bits 32\nnop\nback:\nmov [0xffff-back],ax\nmov eax,[-back]\ndd 0xffff-back\n",
    "bits 32\nsection .a\nnop\nsection .b\nback:\nmov eax,[0xffff-back]\n"
    "mov eax, [ebx+5-back]\n",
    "org 0x7c00\nbits 32\nnop\nback:\ndb 5-back\ndw 5-back\nmov al, 300-back\n",
    "bits 32\norg 0x100\nnop\nback:\nmov eax, [ebx+5-back]\nmov eax, [ebx+0x1ff-back]\n"
    "mov eax, [ebx+1-back]\nmov eax, [byte ebx+300-back]\n",
    "org 0x7c00\nbits 16\nnop\nback:\nmov ax, [bx+5-back]\nmov ax, [bx+0x20000-back]\n"
    "mov ax, [0x20000-back]\n",
    "bits 32\nnop\nback:\npush 5-back\nimul eax, 5-back\npush byte 5-back\n",
    "bits 32\nnop\nback:\njmp 5-back\n", "bits 32\nnop\nback:\nloop 5-back\n",
    "bits 32\nsection .a\nx: nop\nsection .b\njmp x-$\ncall x-$\n",
    # guards
    "bits 16\noth: db 1\nback: nop\nloop -oth-3+fwd\nfwd: nop\n",
    "bits 32\nnop\nback:\ndd 2*back\n", "bits 32\nnop\nback:\nmov eax, [ebx-2*back]\n",
])
def test_self_relative_without_target(tmp_path, text):
    same(tmp_path, text)


@pytest.mark.parametrize("text", [
    "bits 32\nnop\nback:\nmov eax, [ebx+5-back]\ndb 5-back\ndw 5-back\ndd 0xffff-back\n"
    "mov eax,[-back]\npush byte 5-back\npush 5-back\nmov ax, 5-back\n"
    "mov eax, [ebx+0x200-back]\n",
])
def test_self_relative_without_target_elf(tmp_path, text):
    nasm_dump, pyasm_dump = elf_dumps(tmp_path, text)
    assert pyasm_dump == nasm_dump


# ---- an immediate as NASM's parser takes it: a segment base multiplied by other than 1
# or -1 counts for nothing (no shorter form for such a value either); one that is not
# relocatable is an invalid operand; in a flat binary only the current section's base
# may be taken off


@pytest.mark.parametrize("text", [
    "bits 32\norg 0x100\nnop\nback:\nmov eax, 2*back\nmov eax, -2*back\nmov eax, 3*back-$\n",
    "bits 32\nnop\nback:\npush 2*back\nshl eax, 2*back-1\nimul eax, 2*back\nadd ebx, 2*back\n",
    "bits 32\nnop\nback:\nmov al, 2*back+300\npush word 2*back\n",
    "bits 32\nsection .a\noth: nop\nsection .b\nback:\nmov eax, back+oth\n",
    "bits 32\nsection .a\noth: nop\nsection .b\nback:\nmov eax, -oth\n",
    "bits 32\nsection .text\nl0: nop\ndd l0-l2\nsection .data\nl2: db 1\n",
    "bits 32\nsection .text\nl0: nop\nmov eax, l0-l2\nsection .data\nl2: db 1\n",
    "bits 32\nsection .text\nl0: nop\ndd l2-l3\nsection .data\nl2: db 1\n"
    "section .x\nl3: db 2\n",
    # guards
    "bits 32\nshl eax, strict 1\nshl eax, 1\npush 3\n",
    "bits 32\nsection .text\nl0: nop\ndd l2-l0\nmov eax, l2-$\ndb l2-$\n"
    "mov eax, [ebx+l2-$]\nsection .data\nl2: db 1\n",
    "bits 32\nnop\nback:\nmov eax, 2*back+eax\n",
])
def test_immediate_segment_terms(tmp_path, text):
    same(tmp_path, text)


# ---- `[qword ...]`: a 64-bit mode address, refused in the mode's own words (and the
# absolute one warns that its size is ignored, after the error)


@pytest.mark.parametrize("bits", [16, 32])
@pytest.mark.parametrize("ea", ["qword bx", "qword ebx", "qword x", "qword es:x",
                                "a16 qword x", "qword a32 x", "qword a16 bx", "qword 5",
                                "qword eax+ebx"])
def test_qword_address(tmp_path, bits, ea):
    same(tmp_path, f"bits {bits}\nmov al, [{ea}]\nx:\n")


# ---- NASM's register order: a register multiplied by 0 is still the index register it
# takes first; its base hint is a register multiplied inside a group too


@pytest.mark.parametrize("ea", [
    "eax*0+ebx*2", "ebx*2+eax*0", "ebx+eax*0+ebx*8", "ecx*2+eax*0",
    "dword (edx-ebp)*1+esi+ebp", "(edx-ebp)*1+esi+ebp", "(edx+1)*1+esi",
    "(edx+1)*2+esi", "(ebp+4)*1+eax",
    # guards
    "eax*0+eax*2", "ebx+ebx", "ebx+ebx+ecx", "ebx-ebx+ecx", "eax*0+ecx", "(edx+esi)*1",
    "(esi+edx)*1", "esi+(edx+0)*1",
])
def test_register_order(tmp_path, ea):
    same(tmp_path, f"bits 32\nlea eax, [{ea}]\n")


# ---- `equ` after an instruction's mnemonic is a name where an operand starts


@pytest.mark.parametrize("text", [
    "equ:\njmp equ\n", "jmp equ\nequ:\n", "jmp equ\n", "equ:\nmov eax, equ\n",
    "equ:\njmp equ+1\n", "equ:\nmov ax, [bx+equ]\n", "equ:\npush strict word equ\n",
    "x: jmp equ\nequ:\n", "equ:\njmp short equ\n", "nop equ 5\n",
    # guards
    "equ:\nmov ax, 1 equ\n", "equ:\nmov ax, [bx] equ\n", "x equ 5\nmov eax, x\n",
])
def test_equ_as_operand(tmp_path, text):
    same(tmp_path, text)


# ---- messages: `?`'s condition, a forward symbol in ABSOLUTE, RESB's count read as an
# operand, an error NASM meets in a pass before its final one (no final-pass warnings)


@pytest.mark.parametrize("text", [
    "back: nop\ndb (back ? 1 : 2)\n", "back: nop\nmov ax, [bx+(back ? 1 : 2)]\n",
    "absolute x\nx:\n", "absolute 3*x\nx equ 5\n", "absolute x\n",
    "resb 0*eax+1\n", "resb eax-eax+2\n", "resw (ebx-ebx)*3+2\n", "resb eax\n",
    "resb 1+eax\n", "resb x+eax\nx equ 2\n",
    "db 300\nresb x\nx:\n",
    # guards
    "x equ 5\nabsolute x\nresb 1\ny:\nsection .text\nmov ax, y\n",
    "db 300\nresb x\nx equ 2\n", "db 300\nresb 1\nx:\nresb x\n",
])
def test_messages(tmp_path, text):
    same(tmp_path, text)


# ---- an extern some evaluated expression names is in the symbol table, even when its
# value counted for nothing (`?:`'s other arm, `foo-foo`)


@pytest.mark.parametrize("body", [
    "dd (1 ? 2 : foo)\ndd bar\n", "dd foo-foo\n", "x equ 1 ? 2 : foo\n",
    "mov eax, [ebx+(0 ? foo : 4)]\n", "mov eax, 1 ? 2 : foo\n",
    # guard
    "%if 0\ndd foo\n%endif\n",
])
def test_extern_named(tmp_path, body):
    text = "extern foo\nextern bar\nsection .text\n" + body
    dumps = elf_dumps(tmp_path, text, "-s")
    assert dumps[1] == dumps[0]
    nasm_table, pyasm_table = _symbol_tables(tmp_path)
    assert pyasm_table == nasm_table


# ---- an address error NASM's parser meets in a pass after its first (a label ahead):
# it ends NASM before the final pass, whose warnings never come


@pytest.mark.parametrize("text", [
    "bits 32\nsection .text\nmov eax, [byte 4+ebx+$-l3]\nsection .data\nl2:\n"
    "mov eax, [byte -200-$+l2+esi*2+ebx]\nl3:\n",
    "bits 32\ndb 300\nmov eax, [ebx+2*fwd]\nfwd:\n",
    # guard: found in pass 1, as NASM
    "bits 32\nfwd:\ndb 300\nmov eax, [ebx+2*fwd]\n",
])
def test_address_error_before_final_pass(tmp_path, text):
    same(tmp_path, text)
    same(tmp_path, text, fmt="elf32")


# ---- a name before `(` is a function only when NASM's scanner knows it; its UTF
# functions' message names them as the scanner does


@pytest.mark.parametrize("text", [
    "dd __float64h__(1.5)\n", "dd __?float64h?__(1.5)\n", "dd __bfloat16__(1.5)\n",
    "mov eax, __floatxx__(1.5)\n", "dd __?utf16?__(1)\n", "dd __utf32le__(1)\n",
    "x: dd __utf16__(x)\n",
    # guards
    "dd __?bfloat16?__(1.5)\n", "dd __float8__(1.5)\n", "dd __ilog2e__(8)\n",
    "dd __utf16__(\"ab\")\n", "dd foo(1.5)\nfoo:\n",
])
def test_function_names(tmp_path, text):
    same(tmp_path, text)


# ---- two size words before an operand: NASM's parser takes the first


@pytest.mark.parametrize("line", [
    "mov al, dword byte [ebx]", "mov eax, byte dword [ebx]", "mov al, byte dword [ebx]",
    "inc dword byte [ebx]", "inc byte dword [ebx]", "push word dword [ebx]",
    "mov eax, dword word [ebx]", "mov eax, dword byte es:[ebx]", "push dword word 5",
    "push byte dword 5",
])
def test_first_size_word(tmp_path, line):
    same(tmp_path, f"bits 32\n{line}\n")


# ---- an EQU of an extern (plus an offset) is undefined in ELF, at 0, as NASM writes it


@pytest.mark.parametrize("body", [
    "x equ foo\n", "x equ foo+4\ndd x\n", "global x\nx equ foo+4\n",
    # guards
    "x equ 5\nglobal x\n", "section .data\ny: db 1\nx equ y+1\nglobal x\n",
])
def test_equ_of_extern(tmp_path, body):
    elf_dumps(tmp_path, "extern foo\n" + body)
    nasm_table, pyasm_table = _symbol_tables(tmp_path)
    assert pyasm_table == nasm_table


def _symbol_tables(tmp_path) -> tuple:
    """`readelf -sW` of nasm's object (n.o) and pyasm's (p.o), the directory left out."""
    readelf = require_tool("readelf")
    return tuple(subprocess.run([readelf, "-sW", str(tmp_path / o)], capture_output=True,
                                text=True, check=True).stdout.replace(f"{tmp_path}/", "")
                 for o in ("n.o", "p.o"))
