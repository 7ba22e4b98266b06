"""Long expressions (session 29): flat chains of thousands of terms (`1+1+...+1`, NASM
takes 8192) and long runs of prefix operators assembled with NASM's bytes, where pyasm
said "expression too deeply nested" at ~1000 terms (Python's recursion limit: the
template fill, the expression compiler, the symbol scan, the memory operand's scan).
nasm 2.16 is the oracle: status, bytes, diagnostics, listing and ELF object."""

from __future__ import annotations

import pytest
from test_nasm_parity_leftovers9 import same, same_listing


def _chain(op: str, n: int, term: str = "1") -> str:
    return op.join([term] * n)


N = 8192        # NASM's longest `1+1+...` ("expression too long" at 8193)

FLAT = [
    "bits 32\ndd " + _chain("+", N) + "\n",
    "bits 32\ndd " + _chain("-", N) + "\n",
    "bits 32\ndd " + _chain("*", N, "1") + "\n",
    "bits 32\ndq 0" + "+3-1*2" * 2000 + "\n",          # mixed precedences
    "bits 32\ndd 5" + "<<1>>1" * 3000 + "\n",
    "bits 32\ndd " + _chain("+", 4000, "(1)") + "\n",
    "bits 32\ndd " + _chain("+", 4000, "-1") + "\n",
    "bits 32\ndd 7" + "/1 % 9" * 2000 + "\n",
    "bits 32\ndd 0" + "|1^2&3" * 2000 + "\n",
    "bits 32\nmov eax, " + _chain("+", 5000) + "\n",
    "bits 32\nmov eax, [ebx+" + _chain("+", 5000) + "]\n",
    "bits 32\nx: dd x" + "+1" * 5000 + "\nmov eax, y" + "-1" * 5000 + "\ny:\n",
    "bits 32\na: dd b-a" + "+1" * 5000 + "\nb:\n",
    "times " + _chain("+", 5000) + " db 7\n",
    "%assign q " + _chain("*", 6000) + "+" + _chain("+", 2000) + "\ndd q\n",
    "%if " + _chain("+", 6000) + " = 6000\ndb 1\n%else\ndb 2\n%endif\n",
    "%assign q " + _chain("-", 3000) + "\ntimes q+3000 db 1\n",
    "x equ " + _chain("+", 6000) + "\ndd x\n",
    "dd " + "-" * 7000 + "1\n",
    "dd " + "-(" * 4000 + "1" + ")" * 4000 + "\n",
    "dd " + "~" * 3001 + "5, " + "!" * 3000 + "1\n",
    # errors in a long chain: the same message as NASM's
    "dd " + _chain("+", 3000) + "+zz\n",
    "dd 1" + "+1" * 3000 + "/0\n",
    "dd " + _chain("*", 3000, "2") + "*$\n",
    "dd ~" + "-" * 3000 + "$\n",
    # forward references inside a long chain (NASM's unknown operands, next pass)
    "dd (y-$$)/2" + "+1" * 100 + "\ny:\n",
    "dd 1" + "+1" * 100 + "/z\nz equ 0\n",
    "dd 3" + "*2" * 100 + "/z-1\nz equ 2\n",
    "bits 32\nmov eax, [ebx*n" + "+1" * 100 + "]\nn equ 2\n",
    "bits 32\nmov eax, [ebx" + "+1" * 100 + "*n]\nn equ 4\n",
    "dd w" + "-1" * 100 + " < 5\nw equ 3\n",
    "dd " + "-" * 100 + "q, " + "~" * 100 + "q, " + "!" * 100 + "q\nq equ 5\n",
]


@pytest.mark.parametrize("text", FLAT, ids=range(len(FLAT)))
def test_long_chain_bin(tmp_path, text):
    same(tmp_path, text)


ELF = [
    "bits 32\nextern e\ndd e" + "+1" * 5000 + "\nmov eax, [e" + "-1" * 5000 + "]\n",
    "bits 32\nsection .data\nx: dd 0\nsection .text\nmov eax, x" + "+2" * 5000 + "\n",
]


@pytest.mark.parametrize("text", ELF, ids=range(len(ELF)))
def test_long_chain_elf(tmp_path, text):
    same(tmp_path, text, fmt="elf32")


def test_long_chain_listing(tmp_path):
    same_listing(tmp_path, "bits 32\ndd " + _chain("+", 3000) + "\nmov eax, "
                 + _chain("-", 3000) + "\n")
