"""NASM parity for branches issue 13's last pass found wrong or missing: the size keyword of
an indirect far call/jmp (`far dword [x]` is m16:32: 66h in 16-bit code), an o16/o32
prefix on a near branch (66h, but the displacement keeps the mode's size), and the
bnd/repne/lock prefixes on branches (NASM's BND forms refuse repne, the others bnd).
Each case runs through nasm (the oracle) and pyasm: same exit status, bytes and
diagnostics."""

from __future__ import annotations

import pytest
from nasm_parity import check, elf_dumps

FAR = "times 200 nop\n"

# ---- call/jmp far [mem] with a size keyword: word = m16:16, dword = m16:32

FAR_SIZES = ["", "word ", "dword ", "qword ", "byte ", "tword ", "oword "]


@pytest.mark.parametrize("bits", ["16", "32"])
@pytest.mark.parametrize("size", FAR_SIZES)
@pytest.mark.parametrize("op", ["call", "jmp"])
def test_far_indirect_size(tmp_path, op, size, bits):
    status, data, _ = check(tmp_path, f"bits {bits}\n{op} far {size}[x]\n"
                                      f"{op} far {size}[bx+si]\n{op} far {size}[eax]\n"
                                      f"{op} far {size}[es:x]\nx: dw 0\n")
    if (size, bits) in (("dword ", "16"), ("word ", "32")):
        assert data[0] == 0x66           # the other operand size: silent before


FAR_OTHER = [
    "call dword far [x]", "jmp word far [x]",
    # a prefix against the keyword: the prefix's size, NASM's prefix-opsize warning
    "o32 call far [x]", "o16 call far [x]", "o16 jmp far [x]",
    # the m16:32 form is a 386 one
    "cpu 286\ncall far dword [x]", "cpu 286\ncall far word [x]", "cpu 286\njmp far [x]",
    # near indirect: qword is a 64-bit form, other sizes a mismatch (NASM's messages)
    "call qword [x]", "jmp qword [x]", "call byte [x]", "jmp tword [x]", "call oword [x]",
    # `far` on a seg:offset immediate, and sizes on one
    "jmp far 0x10:5", "call far 0x10:5", "jmp far dword 0x10:5", "call far word 0x10:5",
    "jmp dword 0x10:5", "jmp word 0x10:5", "jmp qword 0x10:5", "jmp byte 0x10:5",
]


@pytest.mark.parametrize("bits", ["16", "32"])
@pytest.mark.parametrize("line", FAR_OTHER)
def test_far_other(tmp_path, line, bits):
    check(tmp_path, f"bits {bits}\n{line}\nx: dw 0\n")


# ---- o16/o32 on a near branch: 66h, the displacement keeps the size of `bits`

OSIZE = ["jz x", "jmp x", "call x", "jz near x", "jmp near x", "jz strict x",
         "jz x\n" + FAR, "jmp x\n" + FAR, "jz 0x1234", "jz 0x12345", "call 0x12345",
         "jmp 0x1234", "jmp 0x10:5", "call 0x10:5", "call [x]", "loop x", "jcxz x",
         # a size keyword still chooses the form
         "jz near dword x", "jz near word x", "jmp dword x", "call word x", "jz dword x"]


@pytest.mark.parametrize("bits", ["16", "32"])
@pytest.mark.parametrize("prefix", ["o16", "o32"])
@pytest.mark.parametrize("line", OSIZE)
def test_osize_prefix_on_branch(tmp_path, line, prefix, bits):
    check(tmp_path, f"bits {bits}\ncpu 386\n{prefix} {line}\nx: nop\n")


def test_o32_jz_16bit_offset(tmp_path):
    """The case issue 13 named: `o32 jz x` in 16-bit code is 66 0F 84 with a rel16."""
    status, data, _ = check(tmp_path, "bits 16\no32 jz x\n" + FAR + "x: nop\n")
    assert data[:5] == bytes.fromhex("660f84c800")


def test_osize_prefix_branch_elf(tmp_path):
    """To an external symbol: the relocation's size is the mode's too."""
    theirs, ours = elf_dumps(tmp_path, "bits 16\nextern e\no32 jz e\no32 call e\no32 jmp e\n"
                                       "bits 32\no16 jz e\no16 call e\no16 jmp near e\n"
                                       "bnd call e\nbnd jmp e\nbnd jz e\n")
    assert ours == theirs
    assert "R_386_PC16\te" in theirs


# ---- bnd, repne/repnz and lock on branches

PREFIXED = [
    # NASM's BND forms (near call/jmp/ret, a Jcc): repne/repnz refused
    "repne call x", "repnz call x", "repne jz near x", "repne jmp near x", "repne call [x]",
    "repne jmp [x]", "repne ret", "repne retn", "repne ret 4", "repne retw", "repne retnd",
    "repne jz x\n" + FAR, "repnz jmp x\n" + FAR, "repne call 5",
    # ...but taken where a form without the flag fits
    "repne jz x", "repnz jz x", "repne jmp x", "repnz jmp short x", "repne loop x",
    "repne jcxz x", "repne jmp far [x]", "repne retf", "repne call 0x10:5", "repne fld1",
    # bnd: F2 on the BND forms, refused elsewhere, dropped (a warning) on jmp short
    "bnd jz x", "bnd jz short x", "bnd jz near x", "bnd jz x\n" + FAR, "bnd call x",
    "bnd call [x]", "bnd jmp near x", "bnd jmp [x]", "bnd jmp x\n" + FAR, "bnd ret",
    "bnd ret 4", "bnd retw", "bnd retd", "bnd retnw 4", "bnd jz 0x100", "bnd call 5",
    "bnd jmp x", "bnd jmp 5", "bnd jmp short x", "bnd jmp far [x]", "bnd call far [x]",
    "bnd retf", "bnd retfw", "bnd loop x", "bnd jcxz x", "bnd nop", "bnd mov ax, bx",
    "bnd jmp 0x10:5", "bnd bnd ret", "bnd o32 call x", "o32 bnd jz near x",
    "bnd es jmp [x]", "nobnd jz x", "bnd repne jz x", "bnd rep ret",
    # lock: not lockable; NASM warns twice where it picks short or near by distance
    "lock jz x", "lock jmp x", "lock jz x\n" + FAR, "lock jmp x\n" + FAR, "lock jz 0x100",
    "lock jz $", "lock jmp x+1", "lock o32 jz x", "lock jz short x", "lock jz near x",
    "lock jz strict x", "lock jmp near x", "lock call x", "lock loop x", "lock jcxz x",
    "lock jmp [x]", "lock jmp 0x10:5", "lock bnd jz x", "repne lock jz x",
]


@pytest.mark.parametrize("cpu", ["", "cpu 8086\n", "cpu 386\nbits 32\n"])
@pytest.mark.parametrize("line", PREFIXED)
def test_branch_prefixes(tmp_path, line, cpu):
    check(tmp_path, f"{cpu}{line}\nx: nop\n")


def test_bnd_jz_bytes(tmp_path):
    """`bnd jz x` is F2 74 00 (pyasm dropped the bnd); out of range under `cpu 8086` the
    F2 goes on the inverted short Jcc before the JMP."""
    assert check(tmp_path, "bnd jz x\nx: nop\n")[1] == bytes.fromhex("f2740090")
    data = check(tmp_path, "cpu 8086\nbnd fs o32 a32 jz x\n" + FAR + "x: nop\n")[1]
    assert data[:7] == bytes.fromhex("f26466677503e9")


BELOW_386 = ["repne jz near x", "bnd jz near x", "lock jz 0x100", "bnd jz 0x100",
             "lock bnd jz x\n" + FAR, "repne jz x\n" + FAR, "bnd jz x\n" + FAR]


@pytest.mark.parametrize("cpu", ["8086", "286"])
@pytest.mark.parametrize("line", BELOW_386)
def test_branch_prefixes_below_386(tmp_path, line, cpu):
    check(tmp_path, f"cpu {cpu}\n{line}\nx: nop\n")


# ---- NASM's "invalid operand size prefix" warning: the operands chose the other size

OPSIZE_WARNING = ["o32 mov ax, bx", "o16 mov eax, ebx", "o32 retfw", "o16 retd", "o16 movsd",
                  "o32 movsw", "o32 push ax", "o16 pushad", "o32 inc word [x]",
                  "o32 push word 5", "o32 call word [x]", "o16 call dword [x]",
                  "o32 call far word [x]", "o16 jmp far dword [x]",
                  # none: the prefix chose the form
                  "o32 mov eax, ebx", "o16 mov [x], 5", "o32 jz x",
                  # an unsized push immediate keeps the mode's size (o32 push 500 in 16-bit
                  # code is 66 68 F4 01) and warns; `byte` takes the prefix's
                  "o32 push 5", "o16 push 5", "o32 push 500", "o16 push 500", "o32 push x",
                  "o16 push x", "o16 push -1", "o32 push 0x12345", "o32 push strict 5",
                  "o32 push dword 5", "o16 push word 500", "o16 push byte 5",
                  "o32 push byte 5", "o32 push ax", "o16 push eax", "o32 push es",
                  "o32 push [x]", "o16 push dword [x]"]


@pytest.mark.parametrize("bits", ["16", "32"])
@pytest.mark.parametrize("line", OPSIZE_WARNING)
def test_opsize_prefix_warning(tmp_path, line, bits):
    check(tmp_path, f"bits {bits}\n{line}\nx: dw 0\n")


# the new errors and warnings are final-pass ones: a pass-1 error elsewhere hides them
FINAL_PASS = ["o32 mov ax, bx\nmov ax, [bx", "bnd jmp x\nmov ax, [bx",
              "repne call x\nmov ax, [bx", "bnd nop\nmov ax, [bx",
              "bnd nop\no32 mov ax, bx\nbnd jmp x\nlock jz x", "repnz ret\nmov ax,",
              "x: " + FAR + "loop x\nrepne call x\no32 mov ax, bx\nbnd jmp y"]


@pytest.mark.parametrize("text", FINAL_PASS)
def test_final_pass_diagnostics(tmp_path, text):
    status, _, _ = check(tmp_path, text + "\nx: nop\ny: nop\n" if not text.startswith("x:")
                         else text + "\ny: nop\n")
    assert status != 0


# NASM's call/jmp of the default operand size are 8086 forms in 32-bit code too (only a
# size keyword, or a register, picks its 386 o32 form)
ODF_LEVEL = ["jmp far [x]", "call far [x]", "call far dword [x]", "call far word [x]",
             "jmp [x]", "call x", "jmp near x", "call 0x10:5", "call eax", "call dword [x]",
             "call dword x", "call word x", "jmp x\n" + FAR, "jz x\n" + FAR, "bnd call x",
             "y: call y", "o16 call far [x]"]


@pytest.mark.parametrize("cpu", ["8086", "286"])
@pytest.mark.parametrize("line", ODF_LEVEL)
def test_default_size_branch_level_bits_32(tmp_path, line, cpu):
    check(tmp_path, f"bits 32\ncpu {cpu}\n{line}\nx: nop\n")


@pytest.mark.parametrize("line", ["o32 call far [x]", "o32 call [x]", "o32 call x",
                                  "o32 jmp 0x10:5", "o32 ret", "o32 call dword [x]"])
def test_default_size_branch_level_o32(tmp_path, line):
    check(tmp_path, f"cpu 286\n{line}\nx: nop\n")


UNOPTIMISED = ["bits 16\ncall far dword [x]", "o32 jz x", "bits 32\no16 jmp x", "bnd jz x",
               "repne jz x", "repne call x", "bnd jmp x", "lock jz x", "lock jmp x",
               "lock jmp x\n" + FAR, "lock jz 0x100", "lock jmp 0x100", "lock jz short x",
               "cpu 8086\nrepne jz near x", "cpu 8086\nbnd jz x\n" + FAR,
               "cpu 8086\nlock jz x\n" + FAR, "bits 32\ncpu 286\ncall x", "o32 mov ax, bx"]


@pytest.mark.parametrize("opt", ["0", "1"])
@pytest.mark.parametrize("text", UNOPTIMISED)
def test_unoptimised(tmp_path, text, opt):
    check(tmp_path, text + "\nx: nop\n", f"-O{opt}", optimize=int(opt))
