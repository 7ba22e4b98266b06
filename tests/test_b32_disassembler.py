"""The B32 disassembler and the assemble -> disassemble -> reassemble round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asm.b32.assembler import assemble
from asm.b32.disassembler import disassemble
from asm.b32.roundtrip import roundtrip_bytes, roundtrip_file
from formats.b32 import B32Image, read_b32

SAMPLES = sorted((Path(__file__).resolve().parent.parent / "samples" / "b32").glob("*.asm"))

# Spec section 3: opcode -> encoded length, END ($04) excluded.
LENGTH = {0x01: 2, 0x02: 3, 0x03: 1, 0x05: 2, 0x06: 2, 0x07: 3, 0x08: 3, 0x09: 3,
          0x0A: 3, 0x0B: 3, 0x0C: 3, 0x0D: 3, 0x0E: 3, 0x1F: 2, 0x20: 2, 0x22: 2, 0x23: 3,
          **{op: 1 for op in range(0x0F, 0x1F)}, 0x21: 1}


def test_length_table_covers_34_opcodes():
    assert sorted(LENGTH) == [op for op in range(0x01, 0x24) if op != 0x04]


def test_disassembly_of_example_2():
    image = read_b32(bytes.fromhex("42 33 32 00 10 06 10 01 21 03 0A 0C 10 02 00 A0 0A 00 10 04"))
    code = [line.split(";")[0].strip() for line in disassemble(image).splitlines()]
    code = [line for line in code if line]
    assert code == ["L1000:", "LDA #$21", "STA ,X", "JMP #L100C",
                    "START:", "LDX #$A000", "JMP #L1000",
                    "L100C:", "END START"]


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_every_sample_round_trips(path):
    assert roundtrip_file(str(path)) is None


def test_samples_exist():
    names = {p.name for p in SAMPLES}
    assert {"hello.asm", "pattern.asm", "example1.asm", "example2.asm", "example3.asm",
            "every_instruction.asm"} <= names


def test_round_trip_at_another_origin():
    source = "Start:\n LDX #$A000\nLoop:\n INCX\n CMPX #$A010\n JNE #Loop\n END Start\n"
    assert roundtrip_bytes(assemble(source, "t.asm", origin=0x4000)) is None


def test_jumps_outside_the_image_stay_absolute():
    image = B32Image(0x1000, 0x1000, bytes.fromhex("0A 00 20 04"))
    text = disassemble(image)
    assert "JMP #$2000" in text
    assert roundtrip_bytes(image.to_bytes()) is None


def test_entry_in_the_middle_of_an_instruction_is_written_as_an_address():
    image = B32Image(0x1000, 0x1001, bytes.fromhex("01 0F 04"))
    assert "END #$1001" in disassemble(image)
    assert roundtrip_bytes(image.to_bytes()) is None


def test_round_trip_reports_the_first_difference():
    # An unassigned byte cannot be written in B32 assembly (there is no DB).
    problem = roundtrip_bytes(B32Image(0x1000, 0x1000, bytes.fromhex("0F FF 04")).to_bytes())
    assert problem is not None and "$1001" in problem and "$FF" in problem
    # END stops assembly, so code after a first END is lost.
    problem = roundtrip_bytes(B32Image(0x1000, 0x1000, bytes.fromhex("04 0F 04")).to_bytes())
    assert problem is not None and "$1001" in problem


def test_round_trip_of_a_bad_source(tmp_path):
    path = tmp_path / "bad.asm"
    path.write_text("Start:\n FOO\n END Start\n")
    assert "unknown instruction 'FOO'" in roundtrip_file(str(path))


instruction = st.sampled_from(sorted(LENGTH)).flatmap(
    lambda op: st.binary(min_size=LENGTH[op] - 1, max_size=LENGTH[op] - 1)
    .map(lambda operand: bytes([op]) + operand))


@settings(max_examples=150, deadline=None)
@given(st.lists(instruction, min_size=0, max_size=30), st.integers(0, 0x7FFF), st.data())
def test_random_programs_round_trip(instructions, load, data):
    starts = [load]
    for ins in instructions:
        starts.append(starts[-1] + len(ins))
    code = bytearray()
    for ins in instructions:
        if 0x0A <= ins[0] <= 0x0E and data.draw(st.booleans()):
            # Aim this jump at an instruction, so that the disassembler makes a label.
            target = data.draw(st.sampled_from(starts))
            ins = bytes([ins[0]]) + target.to_bytes(2, "little")
        code += ins
    code += b"\x04"
    entry = data.draw(st.sampled_from(starts) | st.integers(0, 0xFFFF))
    assert roundtrip_bytes(B32Image(load, entry, bytes(code)).to_bytes()) is None
