"""V16 disassembly (canonical text of spec 7.4) and the round trip assemble ->
disassemble -> reassemble, over the samples, a generated program using every
instruction form, and arbitrary bytes."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asm.v16 import assemble, disassemble, roundtrip_bytes, roundtrip_file
from asm.v16.disassembler import instruction_at
from asm.v16.instructions import REGISTERS, TABLE, Operand
from formats.v16 import V16FormatError, build_v16

SAMPLES = sorted((Path(__file__).resolve().parent.parent / "samples" / "v16").glob("*.asm"))


def test_canonical_text_of_the_spec():
    data = assemble("mov bx, 0x5005\nmov [0x8000], ax\nx: jne x\n", "t.asm")
    lines = disassemble(data, listing=False)
    assert lines[-3:] == ["        mov bx, 0x5005", "        mov [0x8000], ax",
                          "        jne 0x0007"]


def test_header_lines_and_listing():
    lines = disassemble(build_v16(0x0100, 0x0101, b"\x01\x02"), "p.v16")
    assert lines == ["; p.v16: load 0x0100, entry 0x0101, 2 bytes", ".org 0x0100",
                     ".entry start", "        nop                     ; 0100: 01", "start:",
                     "        hlt                     ; 0101: 02"]


@pytest.mark.parametrize("raw,text", [
    ("00", ".byte 0x00"), ("0C 04 00", ".byte 0x0C"), ("0E 00 80", ".byte 0x0E"),
])
def test_what_is_no_instruction_becomes_bytes(raw, text):
    lines = disassemble(build_v16(0, 0, bytes.fromhex(raw)), listing=False)
    assert lines[4] == "        " + text


def test_instruction_at():
    mem = bytearray(0x10000)
    mem[0:3] = b"\x28\x34\x12"
    mem[0xFFFE:] = b"\x28\x00"           # cut off by the end of memory
    assert instruction_at(mem, 0) == "jmp 0x1234"
    assert instruction_at(mem, 0xFFFE) == ".byte 0x28"


def test_bad_file():
    with pytest.raises(V16FormatError):
        disassemble(b"V16\x00")


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_samples_round_trip(path):
    assert roundtrip_file(str(path)) is None


def every_form() -> list[str]:
    """Every row of the table with every register and edge values: canonical text."""
    values = ["0x0000", "0x0001", "0x7FFF", "0x8000", "0xFFFF"]
    choices = {Operand.REG: REGISTERS, Operand.IND: [f"[{r}]" for r in REGISTERS],
               Operand.IMM: values, Operand.MEM: [f"[{v}]" for v in values]}
    lines = []
    for insn in TABLE:
        pools = [[REGISTERS[insn.reg]] if o is Operand.FIXED else choices[o]
                 for o in insn.operands]
        for ops in itertools.product(*pools):
            lines.append(f"{insn.mnemonic} {', '.join(ops)}".rstrip())
    return lines


def test_generated_program_with_every_form():
    lines = every_form()
    assert {line.split()[0] for line in lines} == {i.mnemonic for i in TABLE}
    data = assemble("".join(f"        {line}\n" for line in lines), "every.asm")
    assert roundtrip_bytes(data) is None
    # and the disassembly is exactly the canonical text that was assembled
    assert [x.strip() for x in disassemble(data, listing=False)[4:]] == lines


@given(st.binary(min_size=1, max_size=200), st.integers(0, 0x100), st.data())
def test_any_bytes_round_trip(code, load, data):
    entry = data.draw(st.integers(load, load + len(code) - 1))
    assert roundtrip_bytes(build_v16(load, entry, code)) is None


def test_roundtrip_reports_a_bad_file():
    assert "not a valid V16 file" in roundtrip_bytes(b"nope")
