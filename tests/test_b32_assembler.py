"""The B32 assembler: encodings from the spec's opcode table, syntax, and errors."""

from __future__ import annotations

import pytest

from asm.b32.assembler import assemble
from asm.errors import AsmErrors

HEADER = bytes.fromhex("42 33 32 00 10 00 10")   # load $1000, entry $1000


def code_of(source: str, origin: int = 0x1000) -> bytes:
    """The code image (header dropped) of a program."""
    return assemble(source, "t.asm", origin)[7:]


def errors_of(source: str, origin: int = 0x1000) -> list[str]:
    with pytest.raises(AsmErrors) as info:
        assemble(source, "t.asm", origin)
    return [str(e) for e in info.value.errors]


def one_error(source: str) -> str:
    errors = errors_of(source)
    assert len(errors) == 1, errors
    return errors[0]


# Spec section 3: source form -> encoding, for every instruction but END.
ENCODINGS = [
    ("LDA #$2A", "01 2A"),
    ("LDX #$A000", "02 00 A0"),
    ("STA ,X", "03"),
    ("CMPA #5", "05 05"),
    ("CMPB #255", "06 FF"),
    ("CMPX #$1234", "07 34 12"),
    ("CMPY #1", "08 01 00"),
    ("CMPD #$ABCD", "09 CD AB"),
    ("JMP #$1234", "0A 34 12"),
    ("JEQ #$2000", "0B 00 20"),
    ("JNE #4096", "0C 00 10"),
    ("JGT #$FFFF", "0D FF FF"),
    ("JLT #0", "0E 00 00"),
    ("INCA", "0F"), ("INCB", "10"), ("INCX", "11"), ("INCY", "12"), ("INCD", "13"),
    ("DECA", "14"), ("DECB", "15"), ("DECX", "16"), ("DECY", "17"), ("DECD", "18"),
    ("ROLA", "19"), ("ROLB", "1A"), ("RORA", "1B"), ("RORB", "1C"),
    ("ADCA", "1D"), ("ADCB", "1E"),
    ("ADDA #$10", "1F 10"),          # 2 bytes, not the tutorial's 3 (section 9 #3)
    ("ADDB #1", "20 01"),
    ("ADDAB", "21"),
    ("LDB #$C5", "22 C5"),
    ("LDY #8", "23 08 00"),
]


@pytest.mark.parametrize("source, encoding", ENCODINGS, ids=[s for s, _ in ENCODINGS])
def test_encoding(source, encoding):
    program = f"Start:\n {source}\n END Start\n"
    assert assemble(program, "t.asm") == HEADER + bytes.fromhex(encoding) + b"\x04"


def test_all_35_mnemonics():
    from asm.b32.instructions import TABLE
    assert len(TABLE) == 35
    assert sorted(i.opcode for i in TABLE) == list(range(0x01, 0x24))
    assert len(ENCODINGS) + 1 == 35                       # + END


def test_end_emits_04_and_sets_entry():
    out = assemble("First:\n INCA\nSecond:\n INCB\n END Second\n", "t.asm")
    assert out == bytes.fromhex("42 33 32 00 10 01 10 0F 10 04")


# -- syntax -------------------------------------------------------------------------------

def test_comments_and_blank_lines_anywhere():
    plain = "Start:\n LDA #1\nLoop:\n INCA\n JMP #Loop\n END Start\n"
    noisy = """; a program
; with comments

Start:   ; the start

 LDA #1 ; load

Loop:
; a comment line between a label and its instruction
    INCA
 JMP #Loop;no space before the comment

 END Start ; the end
"""
    assert code_of(noisy) == code_of(plain) == bytes.fromhex("01 01 0F 0A 02 10 04")


def test_case_insensitive():
    upper = "START:\n LDX #$A00A\nLOOP:\n STA ,X\n JNE #LOOP\n END START\n"
    mixed = "Start:\n ldx #$a00a\nloop:\n sta ,x\n Jne #LOOP\n end start\n"
    assert code_of(upper) == code_of(mixed) == bytes.fromhex("02 0A A0 03 0C 03 10 04")


def test_label_and_instruction_on_one_line():
    two_lines = "Start:\n LDA #42\nLoop:\n INCA\n JMP #Loop\n END Start\n"
    one_line = "Start: LDA #42\nLoop: INCA\n JMP #Loop\n END Start\n"
    no_colon = "Start LDA #42\nLoop\tINCA\n JMP #Loop\n END Start\n"
    assert code_of(one_line) == code_of(two_lines) == code_of(no_colon)


def test_label_in_column_0_needs_no_colon_and_indented_label_needs_one():
    assert code_of("Start\n INCA\n JMP #Start\n END Start\n") == bytes.fromhex("0F 0A 00 10 04")
    assert code_of("  Start:\n INCA\n JMP #Start\n END Start\n") == \
        bytes.fromhex("0F 0A 00 10 04")


def test_forward_references_everywhere():
    source = """Start:
 LDX #Here
 LDY #Here
 CMPX #Here
 CMPY #Here
 CMPD #Here
 JMP #Here
Here:
 END Start
"""
    # Here = $1000 + 3 * 6 = $1012
    assert code_of(source) == bytes.fromhex(
        "02 12 10 23 12 10 07 12 10 08 12 10 09 12 10 0A 12 10 04")


def test_origin_moves_labels_and_header():
    out = assemble("Start:\n JMP #Start\n END Start\n", "t.asm", origin=0x2000)
    assert out == bytes.fromhex("42 33 32 00 20 00 20 0A 00 20 04")


def test_end_stops_assembly():
    source = "Start:\n INCA\n END Start\nthis is not ; assembled\n  FOO BAR #baz\n"
    assert code_of(source) == bytes.fromhex("0F 04")


def test_crlf_tabs_and_no_final_newline():
    assert code_of("Start:\r\n\tLDA\t#$FF\r\n\tEND\tStart") == bytes.fromhex("01 FF 04")


def test_number_forms():
    source = "S:\n LDA #$ff\n LDA #$00FF\n LDA #255\n LDX #65535\n LDX #$fFfF\n END S\n"
    assert code_of(source) == bytes.fromhex("01 FF 01 FF 01 FF 02 FF FF 02 FF FF 04")


def test_sta_forms():
    assert code_of("S:\n STA ,X\n STA , x\n STA,X\n END S\n") == bytes.fromhex("03 03 03 04")


def test_end_label_may_be_written_with_hash_or_as_a_number():
    assert assemble("S:\n INCA\nT:\n END #T\n", "t.asm")[5:7] == b"\x01\x10"
    assert assemble("S:\n INCA\n END #$1234\n", "t.asm")[5:7] == b"\x34\x12"


def test_label_named_like_a_register_or_with_digits():
    assert code_of("X:\n JMP #X\nLoop2:\n JMP #loop2\n END X\n") == \
        bytes.fromhex("0A 00 10 0A 03 10 04")


def test_image_may_fill_memory_up_to_ffff():
    out = assemble("S:\n INCA\n END S\n", "t.asm", origin=0xFFFE)
    assert out == bytes.fromhex("42 33 32 FE FF FE FF 0F 04")


# -- errors -------------------------------------------------------------------------------

def test_error_format_file_line():
    assert one_error("Start:\n FOO\n END Start\n") == \
        "t.asm:2: error: unknown instruction 'FOO'"


def test_unknown_mnemonic_suggests():
    assert "did you mean 'LDA'" in one_error("S:\n LDAA #1\n END S\n")


@pytest.mark.parametrize("line, fix", [
    (" LDA 42", "LDA #42"),
    (" LDX $A000", "LDX #$A000"),
    (" JMP S", "JMP #S"),
])
def test_missing_hash(line, fix):
    message = one_error(f"S:\n{line}\n END S\n")
    assert message.startswith("t.asm:2: error: missing '#'") and fix in message


@pytest.mark.parametrize("line", [
    " LDA #256", " LDB #$100", " CMPA #1000", " ADDA #$1FF",
    " LDX #65536", " CMPY #$10000", " JMP #70000", " ADDB #$FFFF",
])
def test_value_out_of_range(line):
    message = one_error(f"S:\n{line}\n END S\n")
    assert message.startswith("t.asm:2: error: value ") and "out of range" in message


def test_byte_operand_cannot_be_a_label():
    assert "not a label" in one_error("S:\n LDA #S\n END S\n")


def test_undefined_label():
    assert one_error("S:\n JMP #Nowhere\n END S\n") == \
        "t.asm:2: error: undefined label 'Nowhere'"
    assert "did you mean 'Loop'" in one_error("Loop:\n JMP #Lopo\n END Loop\n")
    assert one_error("S:\n INCA\n END Begin\n").startswith("t.asm:3: error: undefined label")


def test_duplicate_label():
    assert one_error("Loop:\n INCA\nloop:\n INCB\n END Loop\n") == \
        "t.asm:3: error: duplicate label 'loop' (first defined on line 1)"


def test_missing_end():
    assert one_error("Start:\n INCA\n INCB\n") == (
        "t.asm:3: error: missing END: finish the program with 'END label', naming the "
        "label where execution starts")
    assert one_error("").startswith("t.asm:1: error: missing END")


def test_end_without_label():
    assert "END needs the label" in one_error("S:\n INCA\n END\n")


@pytest.mark.parametrize("line", [" STA ,Y", " STA ,A", " STA #5", " STA", " STA X"])
def test_bad_sta_operand(line):
    assert one_error(f"S:\n{line}\n END S\n") == \
        "t.asm:2: error: STA stores A at the address in X and is written 'STA ,X'"


def test_operand_form_errors():
    assert "takes no operand" in one_error("S:\n INCA #1\n END S\n")
    assert "needs an operand" in one_error("S:\n LDA\n END S\n")
    assert "no ',X' form" in one_error("S:\n LDA ,X\n END S\n")


@pytest.mark.parametrize("operand, hint", [
    ("0x10", "#$10"), ("10h", "#$10"), ("'A'", "#65"), ("-1", "unsigned"),
    ("$G0", "hex digits"), ("", "followed by a number"),
])
def test_bad_numbers_explain_the_syntax(operand, hint):
    assert hint in one_error(f"S:\n LDA #{operand}\n END S\n")


def test_instruction_in_column_0():
    # The spec reads a column-0 word as a label; the tutorial silently dropped the line.
    for line in ("INCX", "JMP #S", "END S"):
        message = one_error(f"S:\n INCA\n{line}\n END S\n" if line != "END S"
                            else "S:\n INCA\nEND S\n")
        assert message.startswith("t.asm:3: error: '") and "column 0" in message


def test_bad_label_name():
    # The tutorial would have cut the name at '_' and defined "MY"; say so instead.
    errors = errors_of("MY_LOOP:\n INCA\n JMP #MY_LOOP\n END MY_LOOP\n")
    assert errors[0].startswith("t.asm:1: error: bad label name 'MY_LOOP'")
    assert "letters and digits" in errors[0]


def test_junk_after_operand():
    assert "comments start with ';'" in one_error("S:\n LDA #1 load one\n END S\n")


def test_program_past_ffff():
    assert "past $FFFF" in one_error_at("S:\n LDX #1\n END S\n", 0xFFFE)


def one_error_at(source: str, origin: int) -> str:
    errors = errors_of(source, origin)
    assert len(errors) == 1, errors
    return errors[0]


def test_origin_out_of_range():
    with pytest.raises(AsmErrors) as info:
        assemble("S:\n END S\n", "t.asm", 0x10000)
    assert "origin" in str(info.value)


def test_every_error_is_reported_with_its_line():
    source = """Start:
 FOO
 LDA 42
 LDA #300
 JMP #Nowhere
Start:
 STA ,Y
"""
    assert [e.split(": error: ")[0] for e in errors_of(source)] == [
        "t.asm:2", "t.asm:3", "t.asm:4", "t.asm:5", "t.asm:6", "t.asm:7", "t.asm:7"]


def test_bad_line_keeps_later_addresses():
    # LDA 42 is reported, but still counts 2 bytes, so only one error comes out.
    errors = errors_of("S:\n LDA 42\nL:\n JMP #L\n END S\n")
    assert len(errors) == 1
