"""NASM parity, round 15: each case runs nasm 2.16 (the oracle) and pyasm on the same
small source and compares exit status, bytes and diagnostics in order (or, for ELF,
objdump's view of both objects and their symbol tables)."""

from __future__ import annotations

import subprocess

import pytest
from conftest import require_tool
from nasm_parity import elf_dumps, same, same_diagnostics

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


# ---- (review of round 15) an EQU takes its value as NASM's immediate operand: a
# self-relative value (`5 - x`, `5 - $`, x in this section) is stored as a number (5 less
# x's offset in its section), not applied again where the name is used; a term multiplied
# by other than +-1 counts for nothing; another base is refused at the EQU's own line


@pytest.mark.parametrize("text", [
    "bits 32\nnop\nx:\ny equ 5-x\npush y\n", "bits 32\nnop\nx:\ny equ -x\nz equ 5-$\ndd y, z\n",
    "org 0x100\nbits 32\nnop\nx:\ny equ 5-x\ndd y\ndd 5-x\n",
    "org 0x100\nbits 32\ndd y, z\nnop\nx:\ny equ 9-x\nz equ -$\n",
    "org 0x100\nbits 32\nsection .a\nnop\nsection .b\nnop\nnop\nx:\ny equ 5-x\ndd y\n"
    "section .a\ndd y\n",
    "bits 32\nsection .a\nnop\nx:\nsection .b\nnop\ny equ x-$\ndd y\n",
    "bits 32\nsection .a\nnop\nx:\nsection .b\ny equ 5-x\n",
    "bits 32\nsection .b\ny equ -x\nsection .a\nnop\nx:\n",
    "bits 32\nnop\nx:\ny equ 2*x\nz equ x+x\nw equ 2*$\ndd y, z, w\n",
])
def test_equ_self_relative(tmp_path, text):
    same(tmp_path, text)


@pytest.mark.parametrize("equ", ["5-x", "-x", "5-$", "x-z", "x-$$", "-$$", "2*x", "x+x",
                                 "2*$", "x-$", "5-z", "foo-$"])
def test_equ_self_relative_elf(tmp_path, equ):
    text = ("extern foo\nsection .a\nnop\nnop\nx:\nsection .b\nnop\nz:\n"
            f"y equ {equ}\ndd y\nmov eax, y\npush y\nsection .a\ndd y\n")
    if equ in ("5-x", "-x"):
        text = text.replace("section .b\nnop\nz:\n", "z:\n")
    nasm_dump, pyasm_dump = elf_dumps(tmp_path, text, "-sr")
    assert pyasm_dump == nasm_dump


@pytest.mark.parametrize("equ", ["-x", "-foo", "foo-x", "3-foo", "x+foo", "$$-x"])
def test_equ_not_relocatable(tmp_path, equ):
    same_diagnostics(tmp_path, f"extern foo\nsection .a\nnop\nx:\nsection .b\nnop\n"
                               f"y equ {equ}\n")


def test_equ_self_relative_global(tmp_path):
    elf_dumps(tmp_path, "section .text\nnop\nx:\ny equ 9-x\nglobal y\n")
    nasm_table, pyasm_table = _symbol_tables(tmp_path)
    assert pyasm_table == nasm_table


# ---- (review) inside the brackets NASM's last size word counts: `[qword dword 5]` is a
# dword address; qword is refused only when it is the one that counts


@pytest.mark.parametrize("text", [
    "bits 32\nmov al, [qword dword 5]", "bits 32\nmov al, [qword dword ebx+ecx*4+8]",
    "bits 16\nmov al, [qword word 5]", "bits 32\nmov al, [qword byte 5]",
    "bits 32\nmov al, [qword dword fs:5]", "bits 32\nmov al, [qword nosplit dword 5]",
    "bits 32\nmov al, [qword tword 5]", "bits 32\nmov al, [tword qword 5]",
    "bits 32\nmov al, [tword qword ebx]", "bits 32\nmov al, [qword strict dword 5]",
    "bits 16\nmov al, [qword word bx+si+3]",
    # guards
    "bits 32\nmov al, [dword qword 5]", "bits 32\nmov al, [dword qword ebx]",
    "bits 32\nmov al, [tword 5]", "bits 32\nmov al, [tword ebx]",
])
def test_qword_overridden(tmp_path, text):
    same(tmp_path, text + "\n")


# ---- (review) a label named like a mnemonic, defined by `name: equ`


@pytest.mark.parametrize("text", [
    "loop: equ 5\nmov eax, loop\n", "add: equ $\ndd add\n", "nop: equ 1\ndb nop\n",
    "mov: equ 5\ndb mov\n", "jmp: equ 3\njmp jmp\n", "loop:equ 5\ndb loop\n",
    # guards
    "x: loop equ 5\n", "loop: jmp equ\nequ:\n",
])
def test_mnemonic_label_equ(tmp_path, text):
    same(tmp_path, "bits 32\n" + text)


# ---- (review) a self-relative value with a WRT: PC-relative, so refused as NASM's ELF
# writer does (a field's size first), at the line


@pytest.mark.parametrize("wrt", ["gotoff", "gotpc", "sym", "got", "plt"])
@pytest.mark.parametrize("line", ["dd 5-x wrt ..{}", "mov eax, 5-x wrt ..{}",
                                  "mov eax, [ebx+5-x wrt ..{}]", "dd z-$ wrt ..{}",
                                  "push dword 5-x wrt ..{}", "dw z-$ wrt ..{}",
                                  "db 5-x wrt ..{}", "jmp short z wrt ..{}"])
def test_self_relative_wrt(tmp_path, wrt, line):
    text = f"section .data\nz:\nsection .text\nnop\nx:\n{line.format(wrt)}\n"
    if same_diagnostics(tmp_path, text) == 0:
        nasm_dump, pyasm_dump = elf_dumps(tmp_path, text)
        assert pyasm_dump == nasm_dump


# ---- (review) "invalid use of self-relative expression" is an error of NASM's final
# pass: that pass's warnings come, around it in order; none when NASM stops earlier


@pytest.mark.parametrize("text", [
    "db 300\nnop\nback:\njmp 5-back\ndb 300\n", "nop\nback:\ncall 5-back\nmov al, 300\n",
    "section .a\nx: nop\nsection .b\njmp x-$\ndb 300\n", "jmp 5-back\ndb 300\nback:\n",
    "db 300\njmp x-$\nsection .a\nx:\n",
    "db 300\nnop\nback:\njmp 5-back\ndb 300\nmov eax, [ebx+2*fwd]\nfwd:\n",
    "mov al, ax\nmov eax, [ebx+2*fwd]\nfwd:\n",
    # guard: an error of pass 1 (fwd known then)
    "fwd:\njmp 5-$\nmov eax, [ebx+2*fwd]\nmov al, ax\ndb 300\n",
])
def test_self_relative_error_order(tmp_path, text):
    same(tmp_path, "bits 32\n" + text)
    same(tmp_path, "bits 32\n" + text, fmt="elf32")


# ---- (review) a global EQU of an extern or common symbol: NASM relocates against the
# last one defined in that symbol's segment, not the symbol itself


@pytest.mark.parametrize("decl", ["extern foo\n", "common foo 4\n"])
@pytest.mark.parametrize("body", [
    "global x\nx equ foo-4\ndd x\n", "global x\nx equ foo+4\ndd x\nmov eax, x\ncall x\n",
    "global x\nx equ foo\ndd x\ndd foo\n", "global x, y\nx equ foo\ny equ foo+1\ndd x\n",
    "global y, x\nx equ foo\ny equ foo+1\ndd foo\n",
    "dd foo\nglobal x\nx equ foo+2\nextern bar\ndd bar\n",
    "global x\nx equ foo-$\ndd x\ndd foo\n",
    # guards
    "x equ foo-4\ndd x\n", "x equ foo+4\ndd foo\n",
])
def test_global_equ_of_extern(tmp_path, decl, body):
    nasm_dump, pyasm_dump = elf_dumps(tmp_path, decl + "section .text\n" + body, "-sr")
    assert pyasm_dump == nasm_dump
    nasm_table, pyasm_table = _symbol_tables(tmp_path)
    assert pyasm_table == nasm_table


@pytest.mark.parametrize("equ", ["-foo", "3-foo", "foo*2-foo*3"])
def test_equ_of_common_refused(tmp_path, equ):
    same_diagnostics(tmp_path, f"common foo 4\nsection .text\nx equ {equ}\n")


# ---- (review) NASM 2.16.01's `<=>` giving -1 (its evaluator's mark of an unknown value)
# makes the whole expression unknown: 0 in data, NASM's sizes for an unknown operand, an
# address keeping its registers, a non-constant count or preprocessor value


@pytest.mark.parametrize("line", [
    "dd (0 <=> 3)+5", "mov eax, (0<=>3)+5", "push (0<=>3)+300", "times (1<=>2)+3 nop",
    "x equ (0<=>3)+5\ndd x", "dd (0<=>3)*0+7", "mov eax, [ebx+(0<=>3)]",
    "mov eax, [ebx*2+(0<=>3)]", "mov eax, [(0<=>3)]", "dd 1 ? (0<=>3) : 4",
    "dd (0<=>3) ? 1 : 2", "nop\njmp (0<=>3)+5", "nop\njmp 0\njmp (0<=>3)\njmp 0",
    "nop\nloop (0<=>3)", "shl eax, 1\nshl eax, (0<=>3)\nshl eax, 0", "add eax, (0<=>3)+5",
    "x: dd (x<=>y)+5\ny:", "times 2 dd (0<=>3)+1", "%if (0<=>3)+5\ndb 1\n%endif",
    "mov eax, [eax+ebx+(0<=>3)]", "lea eax, [eax*0+ebx*2+(0<=>3)]",
    "lea eax, [ebx+ecx+edx+(0<=>3)]", "lea eax, [nosplit ebx+(0<=>3)]",
    "%assign x (0<=>3)+5\ndd x",
    # guards
    "dd 0 <=> 3", "dd (3 <=> 0)+5", "dd 0 ? (0<=>3) : 4", "dd ((0<=>3)<=>0)",
    "dd (x<=>3)+5\nx:", "%if (3<=>0)\ndb 1\n%endif", "nop\ncall (0<=>3)+5",
    "resb (0<=>3)+2",
])
def test_leg_minus_one_unknown(tmp_path, line):
    same(tmp_path, f"bits 32\n{line}\n")


@pytest.mark.parametrize("line", ["x: dd (0<=>3)+x", "x: mov eax, (0<=>3)+x",
                                  "x: mov eax, [(0<=>3)+x]", "extern foo\ndd (0<=>3)+foo"])
def test_leg_minus_one_unknown_elf(tmp_path, line):
    nasm_dump, pyasm_dump = elf_dumps(tmp_path, f"section .text\n{line}\n", "-sr")
    assert pyasm_dump == nasm_dump


@pytest.mark.parametrize("body", [
    "dd x wrt ..sym\n", "mov eax, [ebx+x wrt ..got]\n", "dd x+1 wrt ..sym\ndd x+1 wrt ..sym\n",
    "global x\ndd x+1 wrt ..got\n", "%macro m 0\ndd x wrt ..sym\n%endmacro\nm\n",
    # guards
    "dd x wrt ..sym\nglobal x\n", "global x\ndd x+1 wrt ..sym\n",
])
def test_no_global_for_wrt_located(tmp_path, body):
    same_diagnostics(tmp_path, "section .data\nnop\nx: dd 0\nsection .text\n" + body)
