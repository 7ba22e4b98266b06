"""The assembler's shortcuts give NASM's bytes and messages: a branch to a label not
defined yet (encoder.unknown_branch), an instruction naming labels whose values it saw
before in the same pass (Assembler._memo_stamp), a label defined again where an earlier
pass put it. Each case runs through nasm (the oracle) and pyasm."""

from __future__ import annotations

import pytest
from nasm_parity import check

CASES = {
    # forward branches of every kind, in both modes, some out of short range
    "forward-32": "bits 32\nloop .b\njecxz .b\njne a\njne a\njz .b\njz .b\ncall a\ncall a\n"
                  "jmp a\njmp a\n.b: nop\n"
                  "times 200 nop\na: ret\n",
    "forward-16": "bits 16\njne a\njne a\njz .b\ncall a\ncall a\njmp a\njmp a\n.b: nop\n"
                  "times 200 nop\na: ret\n",
    # 8086 (short jcc only) and 386 (near jcc too)
    "forward-8086": "cpu 8086\nbits 16\njmp a\njne a\njne a\ntimes 20 nop\na: ret\n",
    "forward-386": "cpu 386\nbits 32\njne a\ntimes 200 nop\na: ret\n",
    # never defined: the final pass reports it
    "forward-undefined": "bits 32\njne nowhere\njne nowhere\njmp nowhere\ncall nowhere\n"
                         "call nowhere\n",
    # the same instruction text naming local labels of different parents
    "memo-local-labels": "bits 32\nL1: inc dword [.a]\njmp .a\n.a: dd 0\nL2: inc dword [.a]\n"
                         "jmp .a\n.a: dd 0\n",
    # a label that moves between passes: the instruction's bytes follow it
    "memo-moving-label": "bits 32\nmov eax, [x]\nmov eax, [x]\njmp y\ntimes 130 nop\n"
                         "y: mov eax, [x]\nx: dd 1\nmov eax, [x]\n",
    # labels of other sections, an EQU, a label defined again in later passes
    "memo-sections": "bits 32\nsection .text\nmov eax, [d]\nadd [d+4], ebx\n"
                     "mov eax, [d]\nmov ecx, k*2\nmov ecx, k*2\njmp t\nt: nop\n"
                     "section .data\nd: dd 1, 2\nk equ 7\n",
}


@pytest.mark.parametrize("name", list(CASES))
def test_fast_path_parity(tmp_path, name):
    check(tmp_path, CASES[name])
