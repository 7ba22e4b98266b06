"""NASM's wording for common errors and warnings (and the same acceptance), each against
the nasm oracle: the same exit status, bytes and `line: kind: message` lines."""

from __future__ import annotations

import pytest
from nasm_parity import check, diagnostics
from test_asm_helpers import nasm, pyasm, write

CASES = {
    # an immediate that does not fit its field: NASM's number-overflow warnings
    "imm-overflow-32": "bits 32\nmov al, 300\nmov al, -129\nmov al, 255\nmov al, -256\n"
                       "mov al, -257\nmov ax, 70000\nmov ax, -65536\nmov eax, 0x100000000\n"
                       "push byte 1000\npush byte 200\npush byte -129\nadd eax, byte 200\n"
                       "int 300\nadd al, 256\nmov byte [eax], 256\nimul eax, ebx, 300\n"
                       "enter 70000, 300\nret 70000\nmov eax, -0x80000001\nmov eax, 0xffffffff\n",
    "imm-overflow-16": "bits 16\nmov ax, 70000\nmov al, 300\npush byte 200\n"
                       "mov eax, 0x1ffffffff\nx: mov al, 300\nmov bl, 300\nmov bl, 300\n"
                       "in al, 300\nout 256, al\nmov ax, -65537\n",
    # NASM warns once per repetition
    "times-warnings": "times 3 db 256\ntimes 2 pop cs\ntimes 2 mov al, 300\n",
    # a comma after an instruction's last operand is dropped
    "trailing-comma": "bits 32\npush eax,\ninc eax,\nx: push eax ,\nmov eax, ebx,\n"
                      "times 2 push eax,\nlock add [eax], ebx,\npush dword 1,\n",
    "trailing-comma-errors": "bits 32\nmov eax,\nadd eax, ; c\n",
    # (a syntax error stops NASM after pass 1: the two kinds in separate sources)
    "trailing-comma-syntax": "bits 32\nnop,\nmov eax,,\n",
    "trailing-comma-jump": "bits 32\njmp x,\n",
    # syntax errors
    "instruction-expected": "foo bar\nfoo: bar\nfoo bar baz\n",
    "comma-expected": "bits 32\nmov eax ebx\nmov eax, 1 2\nmov eax, ebx ecx\n",
    "expecting-paren": "dd (1\ndb (1+2\nmov eax, (1\nmov eax, [ebx+(2]\npush (1, 2\n",
    "expecting-bracket": "mov eax, [ebx\n",
    # effective addresses: too many registers; the mode's address size in the message
    "ea-16": "bits 16\nmov eax, [eax+ebx+ecx]\nmov eax, [bx+si+di]\nmov eax, [esp*2]\n"
             "mov eax, [bx+si+4*di]\nmov eax, [eax*2+ebx*2]\nmov eax, [bx*3]\n",
    "ea-32": "bits 32\nmov eax, [eax+ebx+ecx]\nmov eax, [bx+si+di]\nmov eax, [bx+bp]\n"
             "mov eax, [si+di]\nmov eax, [bx*3]\nmov eax, [ax]\nmov eax, [eax*2+ebx+ecx]\n",
    # reservations: a count from a later EQU is fine; NASM's words for the others
    "res-forward-equ": "resb x\nx equ 4\nsection .bss\nresw n\nn equ 3\nq: resb 1\n"
                       "section .text\ntimes 2 resb n\n",
    "res-undefined": "resb x\nresd y+1\n",
    "res-label": "x: resb x\n",
    # an error NASM finds in pass 1 stops it there: no final-pass warnings
    "pass-one-error": "bits 32\nl1\nmov eax, [eax*2+ebx*2]\nmov al, 300\nresb 1\n",
    "pass-one-error-16": "bits 16\npop cs\nlock mov eax, ebx\ndb 256\ndw 70000\n"
                         "mov eax, [eax*2+ebx*2]\n",
    "syntax-error-warnings": "bits 32\nl1\nfoo bar\nmov al, 300\nresb 1\n",
    # one NASM finds in its final pass: the warnings come too
    "final-pass-error": "bits 32\nl1\nmov eax, ebx, ecx\nmov al, 300\nresb 1\n",
}


@pytest.mark.parametrize("name", list(CASES))
def test_message_parity(tmp_path, name):
    check(tmp_path, CASES[name])


@pytest.mark.parametrize("fmt", ["bin", "elf32"])
def test_zeroing_warning_per_format(tmp_path, fmt):
    """`resb` and `db ?` in a progbits section: the words differ between bin and ELF."""
    src = write(tmp_path, "z.asm", "resb 1\nsection .data\nresd 2\ndb ?\n")
    rc, _, nerr = nasm(src, "-f", fmt)
    status, _, perr = pyasm(src, fmt=fmt)
    assert rc == status == 0
    assert diagnostics(perr) == diagnostics(nerr) and len(diagnostics(nerr)) == 3


@pytest.mark.parametrize("option", ["-O0", "-O1"])
def test_overflow_warnings_unoptimised(tmp_path, option):
    check(tmp_path, CASES["imm-overflow-32"], option, optimize=int(option[2]))


def test_overflow_warnings_listed_per_repetition(tmp_path):
    src = write(tmp_path, "t.asm", CASES["times-warnings"])
    rc, _, _ = nasm(src, "-l", str(tmp_path / "n.lst"))
    status, _, _ = pyasm(src, listing=str(tmp_path / "p.lst"))
    assert rc == status == 0
    assert (tmp_path / "p.lst").read_text() == (tmp_path / "n.lst").read_text()
