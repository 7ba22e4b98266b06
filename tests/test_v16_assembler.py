"""The V16 assembler (v16-spec.md section 7): lines, values, operand shapes, directives,
and every error of 7.4 as ``file:line: error: message``, all of them in one run."""

from __future__ import annotations

import pytest

from asm.errors import AsmErrors
from asm.v16 import assemble, assemble_program, looks_like_v16_source
from asm.v16.instructions import TABLE

HEADER = bytes.fromhex("56 31 36 00 00 00 00 00")


def code(text: str) -> bytes:
    data = assemble(text, "t.asm")
    assert data[:4] == b"V16\x00"
    return data[8:]


def errors(text: str) -> list[str]:
    with pytest.raises(AsmErrors) as e:
        assemble(text, "t.asm")
    lines = [str(x) for x in e.value.errors]
    assert all(line.startswith("t.asm:") and ": error: " in line for line in lines)
    return lines


def one_error(text: str, line: int, fragment: str) -> None:
    found = errors(text)
    assert len(found) == 1, found
    assert found[0].startswith(f"t.asm:{line}: error: ") and fragment in found[0], found[0]


# -- lines and values ----------------------------------------------------------------------

def test_case_insensitive_mnemonics_and_registers():
    assert code("MOV AX, 0X05\nHlt\n") == bytes.fromhex("08 05 00 02")


def test_crlf_blank_lines_comments_and_columns():
    text = "\r\n; comment\r\n   \r\nstart:nop ; c\r\n\tnop\r\nnop;x\r\n"
    assert code(text) == b"\x01\x01\x01"


def test_label_alone_and_shared():
    p = assemble_program("a:\nb: nop\n_c9: hlt\n", "t.asm")
    assert p.labels == {"a": 0, "b": 0, "_c9": 1}


def test_labels_are_case_sensitive():
    p = assemble_program("x: nop\nX: jmp x\n", "t.asm")
    assert p.labels == {"x": 0, "X": 1}


@pytest.mark.parametrize("value,encoded", [
    ("42", "2A 00"), ("-1", "FF FF"), ("0x5005", "05 50"), ("0XabCD", "CD AB"),
    ("65535", "FF FF"), ("-32768", "00 80"), ("'A'", "41 00"), ("'\\n'", "0A 00"),
    ("'\\t'", "09 00"), ("'\\0'", "00 00"), ("'\\\\'", "5C 00"), ("'\\''", "27 00"),
    ("'\\\"'", "22 00"), ("';'", "3B 00"), ("' '", "20 00"),
])
def test_values(value, encoded):
    assert code(f"mov ax, {value}\n") == bytes.fromhex("08 " + encoded)


def test_forward_references():
    assert code("jmp end\nnop\nend: hlt\n") == bytes.fromhex("28 04 00 01 02")


@pytest.mark.parametrize("source,opcode", [
    ("mov ax, 7", 0x08), ("mov bx, 7", 0x09), ("mov cx, 7", 0x0A), ("mov dx, 7", 0x0B),
    ("mov cx, dx", 0x0C), ("mov cx, [7]", 0x0D), ("mov [7], cx", 0x0E),
    ("mov cx, [dx]", 0x0F), ("mov [bx], cx", 0x18), ("add ax, bx", 0x20),
    ("add ax, 1", 0x21), ("sub ax, bx", 0x22), ("sub ax, 1", 0x23), ("cmp ax, bx", 0x26),
    ("cmp ax, 1", 0x27),
])
def test_shapes_select_the_opcode(source, opcode):
    assert code(source + "\n")[0] == opcode


def test_encoding_follows_source_order():
    assert code("mov [0x8000], cx\n") == bytes.fromhex("0E 00 80 02")
    assert code("mov [bx], cx\n") == bytes.fromhex("18 01 02")
    assert code("add dx, 0x1234\n") == bytes.fromhex("21 03 34 12")


def test_every_table_row_is_reachable_from_source():
    from asm.v16.instructions import REGISTERS, Operand
    for insn in TABLE:
        shapes = {Operand.REG: "cx", Operand.IMM: "0x1234", Operand.MEM: "[0x8000]",
                  Operand.IND: "[dx]"}
        ops = [REGISTERS[insn.reg] if o is Operand.FIXED else shapes[o] for o in insn.operands]
        assert code(f"{insn.mnemonic} {', '.join(ops)}\n")[0] == insn.opcode


# -- directives ----------------------------------------------------------------------------

def test_org_and_entry():
    data = assemble(".org 0x0100\nnop\nmain: hlt\n.entry main\n", "t.asm")
    assert data == bytes.fromhex("56 31 36 00 00 01 01 01 01 02")


def test_org_from_an_earlier_equ_and_labels_are_absolute():
    p = assemble_program(".equ base, 0x200\n.org base\nx: jmp x\n", "t.asm")
    assert p.image.load == 0x200 and p.labels["x"] == 0x200
    assert p.image.code == bytes.fromhex("28 00 02")


def test_label_before_org_gets_the_load_address():
    assert assemble_program("top: .org 0x10\nnop\n", "t.asm").labels["top"] == 0x10


def test_equ_constants():
    p = assemble_program(".equ n, 10\n.equ c, 'x'\nmov ax, n\nmov bx, c\n", "t.asm")
    assert p.constants == {"n": 10, "c": 0x78}
    assert p.image.code == bytes.fromhex("08 0A 00 09 78 00")


def test_byte_and_word():
    assert code('.byte 1, -1, 255, \'A\', "hi\\n\\0"\n') == bytes.fromhex("01 FF FF 41 68 69 0A 00")
    assert code(".word 0x1234, -2, w\nw: .word 'A'\n") == bytes.fromhex("34 12 FE FF 06 00 41 00")
    assert code('.byte "a;b"\n') == b"a;b"


def test_directives_ignore_case():
    assert code(".BYTE 1\n.Word 2\n") == bytes.fromhex("01 02 00")


# -- every error of section 7.4 ------------------------------------------------------------

def test_unknown_mnemonic():
    one_error("nop\npussh ax\n", 2, "unknown mnemonic 'pussh' (did you mean 'push'?)")


def test_unknown_directive():
    one_error(".bytes 1\n", 1, "unknown directive '.bytes' (did you mean '.byte'?)")


@pytest.mark.parametrize("source", [
    "mov [1], 2", "mov 1, ax", "push 5", "jmp ax", "add [bx], ax", "out 1", "hlt ax",
    "mov ax", "inc [bx]", "cmp 1, ax", "mov [ax], [bx]", "call [0x10]",
])
def test_operand_shape_not_in_the_table(source):
    found = errors(source + "\n")
    assert len(found) == 1 and "t.asm:1: error:" in found[0]
    assert "no form" in found[0] or "needs operands" in found[0]


@pytest.mark.parametrize("reg", ["sp", "ip", "flags", "SP", "Flags"])
def test_register_other_than_ax_dx(reg):
    one_error(f"mov ax, {reg}\n", 1, f"register '{reg}' cannot be an operand")
    one_error(f"push {reg}\n", 1, "cannot be an operand")
    one_error(f"mov ax, [{reg}]\n", 1, "cannot be an operand")


@pytest.mark.parametrize("source", [
    "mov ax, 65536", "mov ax, -32769", "mov ax, 0x10000", ".byte 256", ".byte -129",
    ".word 70000", ".equ big, 65536", "mov ax, '\u20ac'",
])
def test_value_out_of_range(source):
    found = errors(source + "\n")
    assert len(found) == 1
    assert "out of range" in found[0] or "does not fit in a byte" in found[0]


def test_label_value_out_of_byte_range():
    one_error(".org 0x100\nx: .byte x\n", 2, "out of range")


def test_undefined_name():
    one_error("jmp nowhere\n", 1, "undefined name 'nowhere'")
    one_error("loop: jmp Loop\n", 1, "did you mean 'loop'? names are case-sensitive")


def test_org_needs_an_earlier_constant():
    one_error(".org later\n.equ later, 5\nnop\n", 1, ".org needs a number or an earlier .equ")


def test_duplicate_name():
    one_error("a: nop\na: nop\n", 2, "duplicate name 'a' (first defined on line 1)")
    one_error(".equ a, 1\na: nop\n", 2, "duplicate name 'a'")


@pytest.mark.parametrize("name", ["ax", "BX", "sp", "ip", "flags"])
def test_register_names_cannot_be_names(name):
    one_error(f"{name}: nop\n", 1, "is a register name")
    one_error(f".equ {name}, 1\nnop\n", 1, "is a register name")


def test_org_after_code():
    one_error("nop\n.org 0x100\n", 2, ".org after code")


def test_org_twice():
    one_error(".org 0\n.org 0\nnop\n", 2, ".org given twice")


def test_entry_twice():
    one_error("a: nop\n.entry a\n.entry a\n", 3, ".entry given twice")


def test_empty_image():
    one_error("; nothing\nlabel:\n", 2, "the image is empty")
    one_error("", 1, "the image is empty")


def test_image_does_not_fit_the_code_area():
    one_error(".org 0x7FFE\nnop\nnop\nnop\n", 4, "does not fit in the code area")
    assert len(assemble(".org 0x7FFF\nhlt\n", "t.asm")) == 9       # exactly fits


def test_entry_outside_the_image():
    one_error("nop\nend:\n.entry end\n", 3, "is outside the image")


def test_entry_must_be_a_label():
    one_error(".equ k, 0\nnop\n.entry k\n", 3, ".entry needs a label")
    one_error("nop\n.entry 0\n", 2, ".entry needs a label")


@pytest.mark.parametrize("source,fragment", [
    ("mov ax, 0x5G", "bad number '0x5G'"), ("mov ax, 08h", "bad number"),
    ("mov ax, 'ab'", "exactly one character"), ("mov ax, ''", "exactly one character"),
    ("mov ax, '\\q'", "unknown escape"), ("mov ax, 'a", "unterminated character"),
    (".byte \"abc", "unterminated string"), ("mov ax bx", "separated by ','"),
    ("mov ax,", "expected an operand after ','"), ("mov ax, [bx", "missing ']'"),
    ("mov ax, bx+2", "no expressions"), ("mov ax, [bx+2]", "no expressions"),
    ("a: b: nop", "one label per line"), ("mov ax, \"s\"", "only allowed in .byte"),
    (".word \"s\"", "no strings"), (".byte", "at least one value"),
    (".equ 5, 5", "needs a name"), (".equ a, b", "number or a character literal"),
    (".org", "takes 1 operand"), (".byte [5]", "no memory operand"), ("x : nop", "':'"),
    (".byte ax", "not the register"),
])
def test_syntax_errors(source, fragment):
    one_error(source + "\n", 1, fragment)


def test_all_errors_in_one_run_sorted_by_line():
    found = errors("foo\nnop\nmov ax, sp\njmp nowhere\nmov ax, 70000\n")
    assert [line.split(":")[1] for line in found] == ["1", "3", "4", "5"]


def test_a_bad_line_keeps_its_label():
    # The label of a line that does not parse is still defined: one error, not two.
    one_error("x: mov ax bx\njmp x\n", 1, "separated by ','")


def test_error_object_str_is_the_lines():
    with pytest.raises(AsmErrors) as e:
        assemble("foo\nbar\n", "p.asm")
    assert str(e.value).splitlines() == [
        "p.asm:1: error: unknown mnemonic 'foo'", "p.asm:2: error: unknown mnemonic 'bar'"]


# -- recognising a V16 source --------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "ste\nhlt\n", "mov ax, 'A'\nout ax\nhlt\n", ".org 0\nmov cx, 3\n",
    "x: .entry x\nnop\n", "  .equ n, 5\n  mov ax, n\n  hlt\n",
])
def test_looks_like_v16(text):
    assert looks_like_v16_source(text)


@pytest.mark.parametrize("text", [
    "mov cx, 3\ndec cx\n",                              # valid x86 too: no marker
    "bits 16\nmov ax, 1\nout dx, al\n",                 # x86
    "section .text\nglobal _start\n_start: mov eax, 1\nint 0x80\n",
    "org 0x100\nmov ah, 9\nint 0x21\nste\n",            # 'org', 'int': x86
    "Start:\n LDA #42\n END Start\n",                   # B32
    "msg: db 'hi', 0\n.byte 1\n",                       # db is NASM
    "",
])
def test_does_not_look_like_v16(text):
    assert not looks_like_v16_source(text)
