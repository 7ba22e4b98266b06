"""b32-spec.md section 7: the three worked examples, exact bytes and exact end states.

Every expected value below is copied from the spec, not computed by our code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from asm.b32.assembler import assemble
from vm.b32.cpu import B32CPU

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "b32"

EXAMPLE_1 = """\
Start:
 LDX #$A000
Loop:
 LDA #42
 STA ,X
 INCX
 LDA #$1E
 STA ,X
 INCX
 CMPX #$A014
 JNE #Loop
 END Start
"""

EXAMPLE_2 = """\
Tail:
 LDA #33
 STA ,X
 JMP #Stop
Start:
 LDX #$A000
 JMP #Tail
Stop:
 END Start
"""

EXAMPLE_3 = """\
Begin:
 LDB #$C5
 LDY #8
 LDX #$A000
Next:
 LDA #48
 ROLB
 ADCA
 STA ,X
 INCX
 INCX
 DECY
 CMPY #0
 JNE #Next
 END Begin
"""

BYTES_1 = bytes.fromhex(
    "42 33 32 00 10 00 10"
    "02 00 A0"
    "01 2A"
    "03"
    "11"
    "01 1E"
    "03"
    "11"
    "07 14 A0"
    "0C 03 10"
    "04")

BYTES_2 = bytes.fromhex(
    "42 33 32 00 10 06 10"
    "01 21 03 0A 0C 10"
    "02 00 A0 0A 00 10"
    "04")

BYTES_3 = bytes.fromhex(
    "42 33 32 00 10 00 10"
    "22 C5  23 08 00  02 00 A0"
    "01 30  1A  1D  03  11  11  17"
    "08 00 00  0C 08 10  04")


def run(program: bytes) -> B32CPU:
    cpu = B32CPU()
    cpu.load(program)
    cpu.run(max_steps=10_000)
    return cpu


@pytest.mark.parametrize("source, expected, length", [
    (EXAMPLE_1, BYTES_1, 25),
    (EXAMPLE_2, BYTES_2, 20),
    (EXAMPLE_3, BYTES_3, 30),
], ids=["example1", "example2", "example3"])
def test_exact_bytes(source, expected, length):
    assert len(expected) == length
    assert assemble(source, "example.asm") == expected


@pytest.mark.parametrize("name, expected", [
    ("example1.asm", BYTES_1), ("example2.asm", BYTES_2), ("example3.asm", BYTES_3)])
def test_samples_are_the_spec_examples(name, expected):
    text = (SAMPLES / name).read_text()
    assert assemble(text, name) == expected


def test_example_1_end_state():
    cpu = run(BYTES_1)
    for col in range(10):
        assert cpu.cell(0, col) == (0x2A, 0x1E)
    assert cpu.cell(0, 10) == (0x20, 0x07)
    assert cpu.X == 0xA014
    assert cpu.A == 0x1E
    assert cpu.CF == 0x01
    assert cpu.IP == 0x1012
    assert cpu.halted


def test_example_2_end_state():
    cpu = run(BYTES_2)
    assert cpu.cell(0, 0) == (ord("!"), 0x07)
    assert cpu.cell(0, 1) == (0x20, 0x07)
    assert cpu.IP == 0x100D          # END at $100C, plus 1


def test_example_2_starts_at_the_execution_address():
    cpu = B32CPU()
    cpu.load(BYTES_2)
    assert cpu.IP == 0x1006
    assert cpu.mem[0x1000:0x100D] == BYTES_2[7:]


def test_example_3_end_state():
    cpu = run(BYTES_3)
    assert cpu.screen.row_text(0).rstrip() == "11000101"
    for i, bit in enumerate("11000101"):
        assert cpu.mem[0xA000 + 2 * i] == ord(bit)
        assert cpu.mem[0xA001 + 2 * i] == 0x07
    assert cpu.Y == 0
    assert cpu.X == 0xA010
    assert cpu.CF == 0x01
    assert cpu.CY == 1
    assert cpu.B == 0x62
    assert cpu.IP == 0x1017
