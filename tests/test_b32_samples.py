"""The programs in samples/b32 do what their comments say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from asm.b32.assembler import assemble
from vm.b32.cpu import B32CPU

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "b32"

# Spec section 3: the 35 mnemonics.
MNEMONICS = """LDA LDX STA END CMPA CMPB CMPX CMPY CMPD JMP JEQ JNE JGT JLT INCA INCB INCX
INCY INCD DECA DECB DECX DECY DECD ROLA ROLB RORA RORB ADCA ADCB ADDA ADDB ADDAB LDB LDY""".split()


def run_sample(name: str) -> B32CPU:
    cpu = B32CPU()
    cpu.load(assemble((SAMPLES / name).read_text(), name))
    cpu.run(max_steps=100_000)
    assert cpu.halted
    return cpu


def test_hello():
    cpu = run_sample("hello.asm")
    assert cpu.screen.lines() == ["Hello, World!", "Greetings from B32"]
    assert [cpu.screen.attr(0, c) for c in range(13)] == [0x1E] * 13      # yellow on blue
    assert cpu.screen.attr(0, 13) == 0x07
    rainbow = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F]
    assert [cpu.screen.attr(1, c) for c in range(18)] == (rainbow * 3)[:18]


def test_pattern_fills_the_screen():
    cpu = run_sample("pattern.asm")
    for row in range(25):
        for col in range(80):
            expected = 0x21 + (80 * row + col) % 94      # '!'..'~', over and over
            assert cpu.cell(row, col) == (expected, expected)


def test_every_instruction_uses_all_35_and_passes():
    text = (SAMPLES / "every_instruction.asm").read_text()
    code = "\n".join(line.split(";")[0] for line in text.splitlines())
    used = {word.upper() for word in re.findall(r"\b[A-Za-z]+\b", code)}
    assert set(MNEMONICS) <= used
    assert len(MNEMONICS) == 35
    cpu = run_sample("every_instruction.asm")
    assert cpu.screen.lines() == ["PASS", "ABCDEFG"]
    assert [cpu.screen.attr(0, c) for c in range(4)] == [0x0A] * 4


def test_every_instruction_reports_a_failure():
    # Break one check (CMPB #155 -> CMPB #156): the program must say FAIL after group G.
    text = (SAMPLES / "every_instruction.asm").read_text().replace("CMPB #155", "CMPB #156")
    cpu = B32CPU()
    cpu.load(assemble(text, "broken.asm"))
    cpu.run(max_steps=100_000)
    assert cpu.screen.lines() == ["FAIL", "ABCDEFG"]
    assert cpu.screen.attr(0, 0) == 0x4F


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.asm")))
def test_sample_ends_normally(name):
    run_sample(name)
