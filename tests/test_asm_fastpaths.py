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


# Assembler._encode_static: an immediate beyond +-256 takes the encoding of an earlier
# value of its class with the field patched; pairs of values of one class, near every
# boundary of the classes, with NASM's warnings where a value overflows its field
_IMM_PAIRS = [
    "add ecx, {}", (1000, 1001, 0xFFFFFF7F, 0xFFFFFF7E, 0x7FFFFFFF, 0x7FFFFFFE, 0x80000000,
                    0x80000001, -1000, -1001),
    "add ecx, strict dword {}", (1000, 1001),
    "add ecx, byte {}", (1000, 1001),
    "add eax, {}", (1000, 1001, -70000, -70001),
    "add cx, {}", (0xFF7F, 0xFF7E, 0x7FFF, 0x7FFE, 300, 301, 70000, 70001, -0x8001, -0x8002),
    "add al, {}", (300, 301),
    "imul eax, ebx, {}", (1000, 1001),
    "push {}", (1000, 1001),
    "push word {}", (1000, 1001),
    "mov eax, {}", (123456, 123457),
    "mov ax, {}", (70000, 70001),
    "mov byte [eax], {}", (300, 301),
    "sub dword [ebp-8], {}", (70000, 70001),
    "test ecx, {}", (100000, 100001),
    "cmp eax, {}", (0x12345678, 0x12345679),
    "ret {}", (1000, 1001),
    "retf {}", (0x1234, 0x1235),
    "enter {}, 0", (1000, 1001),
    "shl eax, {}", (300, 301),
    "mov ecx, {}", (-0x80000001, -0x80000002),
]


@pytest.mark.parametrize("bits", [16, 32])
def test_immediate_class_encodings(tmp_path, bits):
    lines = [f"bits {bits}"]
    for form, values in zip(_IMM_PAIRS[::2], _IMM_PAIRS[1::2]):
        lines += [form.format(v) for v in values]
    check(tmp_path, "\n".join(lines) + "\n")


def test_immediate_class_sign_extended_bytes(tmp_path):
    """Values whose low bits sign-extend from a byte (NASM's imm8 forms): the bytes and
    NASM's warnings (none for these; "dword value exceeds bounds" beyond 32 bits)."""
    src = ("bits 32\nadd ecx, 0xFFFFFF80\nadd ecx, 0xFFFFFF81\nadd cx, 0xFF80\n"
           "add cx, 0xFF81\nimul eax, ebx, 0xFFFFFF90\nimul eax, ebx, 0xFFFFFF91\n"
           "push 0xFFFFFF85\npush 0xFFFFFF84\npush word 0xFF85\npush word 0xFF84\n"
           "sub dword [ebp-8], 0xFFFFFFF0\nsub dword [ebp-8], 0xFFFFFFF1\n"
           "bits 16\nadd cx, 0xFF80\nadd cx, 0xFF81\nadd ecx, 0xFFFFFF80\n"
           "add ecx, 0xFFFFFF81\nadd ecx, 0x100000000\nadd ecx, 0x100000001\n")
    check(tmp_path, src, messages=True)
