"""NASM parity for gaps issue 13's last pass found: a conditional jump out of short range
on a CPU below the 386 (NASM's inverted short Jcc over a near JMP), the number-overflow
warning NASM gives with "short jump is out of range" (and a short jump to a plain number
in a flat binary, which NASM does not check). Each case runs through nasm (the oracle)
and pyasm: same exit status, bytes and diagnostics."""

from __future__ import annotations

import pytest
from nasm_parity import check, elf_dumps

# ---- Jcc beyond rel8 with `cpu 8086/186/286`: `jnz $+5; jmp target`

FAR = "times 200 nop\n"
JCC = {
    "forward": "jz x\n" + FAR + "x: nop\n",
    "backward": "x: " + FAR + "jz x\njnle x\n",
    # every condition: the short Jcc is the inverted one (opcode ^ 1)
    "all-conditions": "".join(f"j{c} x\n" for c in (
        "o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le",
        "g", "c", "nc", "z", "nz", "pe", "po", "nae", "nb", "na", "nbe", "nge", "nl", "ng",
        "nle")) + FAR + "x: nop\n",
    "in-range-stays-short": "jz x\nx: nop\ny: jnz y\n",
    # a plain number as target; the JMP's displacement wraps in 16 bits
    "number": "jz 0x300\njo 0x5\n",
    # `strict`: no short form, so the pair even in range
    "strict": "jz strict x\nx: nop\njz strict short x\n",
    # prefixes go on the Jcc, in NASM's order; the JMP keeps the mode's size
    "prefixes": "o32 jz x\no16 jz x\nes o32 jz x\na32 jz x\nrep jz x\nfs jz x\n" + FAR
                + "x: nop\n",
    # forward jumps that each push the target away: later passes grow them in turn
    "cascade": "jz x\n" * 60 + "times 10 nop\nx: nop\n",
    "org": "org 0x7c00\nx: " + FAR + "jc x\njz 0x7c00\n",
}
CPUS = ["8086", "186", "286"]


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("name", list(JCC))
def test_jcc_below_386(tmp_path, name, cpu):
    status, data, _ = check(tmp_path, f"cpu {cpu}\n" + JCC[name])
    assert status == 0


def test_jcc_below_386_bits_32(tmp_path):
    """In 32-bit code the JMP has a rel32 and the short Jcc skips 5 bytes (`bits 32`
    comes first: after `cpu 8086` NASM refuses it, as pyasm does)."""
    status, data, _ = check(tmp_path, "bits 32\ncpu 8086\njz x\n" + FAR + "x: nop\ny: "
                            + FAR + "jc y\n")
    assert status == 0 and data[:3] == b"\x75\x05\xe9"


@pytest.mark.parametrize("opt", ["0", "1"])
@pytest.mark.parametrize("name", ["forward", "backward", "in-range-stays-short", "number"])
def test_jcc_below_386_unoptimised(tmp_path, name, opt):
    # -O1 makes every Jcc near (so the pair even in range); -O0 keeps it short in range
    check(tmp_path, "cpu 8086\n" + JCC[name], f"-O{opt}", optimize=int(opt))


def test_jcc_386_unchanged(tmp_path):
    """From `cpu 386` on, the 0F 8x near form as before."""
    status, data, _ = check(tmp_path, "cpu 386\n" + JCC["forward"] + JCC["cascade"]
                            .replace("x", "y"))
    assert data[:2] == b"\x0f\x84"


REJECTED = {
    "near": "jz near x\nx: nop\n",            # no instruction for this cpu level
    "short-out-of-range": "jz short x\n" + FAR + "x: nop\n",
}


@pytest.mark.parametrize("name", list(REJECTED))
def test_jcc_below_386_rejected(tmp_path, name):
    status, _, _ = check(tmp_path, "cpu 8086\n" + REJECTED[name])
    assert status != 0


def test_jcc_below_386_elf(tmp_path):
    """A relocated target (extern, another section, a number) in an ELF object."""
    theirs, ours = elf_dumps(tmp_path, "cpu 8086\nextern e\njz e\njz 0x100\nsection .b\n"
                                       "y: jz y2\nsection .c\ny2: nop\n")
    assert ours == theirs
    assert "R_386_PC32\te" in theirs


# ---- short jumps out of range: the error and NASM's byte-overflow warning

OUT_OF_RANGE = {
    "loop-backward": "x: " + FAR + "loop x\n",
    "loop-forward": "loop x\n" + FAR + "x: nop\n",
    "all-rel8-only": "bits 32\nx: " + FAR + "loop x\njecxz x\nloopne x\njcxz x\nloope x\n",
    "short-keyword": "jmp short x\n" + FAR + "x: nop\njz short x\n",
    # NASM reaches its final pass: the other warnings come too
    "with-other-warning": "x: " + FAR + "loop x\nloop x\ndb 300\n",
    "in-macro": "%macro m 0\nloop x\n%endmacro\nx: " + FAR + "m\n",
    "cpu-8086": "cpu 8086\nx: " + FAR + "jcxz x\njz x\n",
    # a pass-1 error ends NASM there: no range error, no warning
    "pass-one-error": "x: " + FAR + "loop x\nmov ax, [bx\n",
    "mixed": "loop y\nloop 0x1000\nloop x\n" + FAR + "x: nop\ny:\n",
}


@pytest.mark.parametrize("name", list(OUT_OF_RANGE))
def test_short_out_of_range(tmp_path, name):
    status, _, perr = check(tmp_path, OUT_OF_RANGE[name])
    assert status != 0
    if name != "pass-one-error":
        assert "byte data exceeds bounds [-w+number-overflow]" in perr


def test_short_out_of_range_warning_off(tmp_path):
    status, _, perr = check(tmp_path, OUT_OF_RANGE["loop-backward"], "-w-number-overflow",
                            warnings=["-number-overflow"])
    assert status != 0 and "warning" not in perr


# a short jump to a plain number in a flat binary: NASM keeps the displacement's low byte
NUMBERS = ["loop 0x1000\n", "nop\nloop 0x1000\njcxz 0x2000\n", "jmp short 0x1000\n",
           "org 0x100\nloop 0x1000\n", "loop 0x10\n", "o32 loop 0x1000\njcxz -5\n"]


@pytest.mark.parametrize("text", NUMBERS)
def test_short_to_number(tmp_path, text):
    status, data, _ = check(tmp_path, text)
    assert status == 0 and data


# ---- where a line stops inside an expression: NASM's messages (`db 1 ?` & co.)

EXPRESSION_ERRORS = [
    # ends after an operator: "expression syntax error"
    "db 1 ?", "dw 1 ?", "dq 1 ?", "db \"a\" ?", "times 2 db 1 ?", "db 1 ? ; c", "db 1 +",
    "db -", "db 1 ? 2 :", "db 1 ? 2 : 3 ?", "db 1, 2 ?", "times 2 ?", "mov al, 1 ?",
    "mov al, 5 -", "mov al, ~", "mov al, 1 <<", "mov al, seg", "mov al, 1 ? 2 :",
    "db 1 ? ?", "db 1 ?, 2", "dw 1 ?,2", "db 1 ? :",
    # a `?' whose `:' never comes
    "db 1 ? 2", "dw 3 ? 4", "db 1 ? 2 3", "db 1 ? 2, 3", "dd 1 ? 2 3", "db 1 ? (2)",
    "db (1 ? 2) 3", "db 1 ? 2 ? 3 : 4", "mov al, [1 ? 2]", "mov al, 1 ? 2 ; c",
    "mov ax, [bx+(1 ? 2)]",
    # a complete operand inside `(`: "expecting `)'"
    "db (2 3)", "db 1 ? (2 3)", "mov al, [(1 2)]", "mov al, (1 ? 2 : 3 4)",
    # `?' (no value) and a float are whole data items: a comma must follow
    "db ? 1", "db ? ?", "db ?, ? 1", "dd -1.0 ?", "db ? (1)", "db 1, ? 2, 3",
    "times 2 db ? 1", "dw ? 1 2", "dd 1.0, 2.0 ?",
]


@pytest.mark.parametrize("line", EXPRESSION_ERRORS)
def test_expression_error_message(tmp_path, line):
    status, _, _ = check(tmp_path, f"x: {line}\nnop\n")
    assert status != 0


# and what still assembles around them
EXPRESSION_ACCEPTED = ["db ?", "db ?, 1", "dd ?,?,?", "db ? ; x", "db ?, 1 2",
                       "db 1 2, ?, 3 4", "db 1 ? 2 : 3", "db 1 ? 2 : 3 4",
                       "mov al, 1 ? 2 : 3"]


@pytest.mark.parametrize("line", EXPRESSION_ACCEPTED)
def test_expression_accepted(tmp_path, line):
    status, _, _ = check(tmp_path, f"x: {line}\nnop\n")
    assert status == 0


# ---- size keywords on a relative branch: rel8 forms take none, a Jcc's near form only
# after `near`; otherwise NASM's "mismatch in operand sizes"

BRANCH_SIZES = ["jz word x", "jz dword x", "jz byte x", "jo word x", "jz word 5",
                "jz short word x", "jz strict word x", "jz near byte x", "jmp byte x",
                "jmp short byte x", "jmp short word x", "loop byte x", "loop word x",
                "jcxz byte x", "jcxz word x", "jcxz near word x", "call byte x",
                # accepted
                "jz near word x", "jz near dword x", "jmp near word x", "jmp dword x",
                "call dword x", "jmp word 0x10:5"]


@pytest.mark.parametrize("bits", ["16", "32"])
@pytest.mark.parametrize("line", BRANCH_SIZES)
def test_branch_size_keyword(tmp_path, line, bits):
    check(tmp_path, f"bits {bits}\n{line}\nx: nop\n")


def test_jcc_near_size_below_386(tmp_path):
    status, _, _ = check(tmp_path, "cpu 8086\njz near word x\nx: nop\n")
    assert status != 0
