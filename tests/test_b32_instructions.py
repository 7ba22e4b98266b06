"""Every B32 instruction's semantics and flags, straight from spec section 3.

Programs are written as raw bytes from the spec's opcode table, so these tests do not
depend on the assembler.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vm.b32.cpu import B32CPU, IllegalOpcode, StepLimitReached

HEADER = bytes.fromhex("42 33 32 00 10 00 10")   # load $1000, start $1000 (spec section 2)
END = 0x04


def run(code, **regs) -> B32CPU:
    """Load ``code`` + END at $1000, set registers, run to END."""
    cpu = B32CPU()
    cpu.load(HEADER + bytes(code) + bytes([END]))
    for name, value in regs.items():
        setattr(cpu, name, value)
    cpu.run(max_steps=1000)
    assert cpu.halted
    return cpu


def step(code, **regs) -> B32CPU:
    """Execute exactly one instruction."""
    cpu = B32CPU()
    cpu.load(HEADER + bytes(code))
    for name, value in regs.items():
        setattr(cpu, name, value)
    cpu.step()
    return cpu


# -- reset and loading (sections 1, 2, 6) ---------------------------------------------

def test_reset_state():
    cpu = B32CPU()
    assert (cpu.A, cpu.B, cpu.D, cpu.X, cpu.Y, cpu.CF, cpu.PF) == (0, 0, 0, 0, 0, 0, 0)
    assert len(cpu.mem) == 65536
    for row in (0, 12, 24):
        for col in (0, 40, 79):
            assert cpu.cell(row, col) == (0x20, 0x07)
    assert cpu.mem[0xA000:0xAFA0] == bytes([0x20, 0x07]) * 2000
    assert cpu.mem[0xAFA0] == 0 and cpu.mem[0x9FFF] == 0


def test_last_address_ffff_is_usable():
    # LDX #$FFFF / LDA #$AB / STA ,X
    cpu = run([0x02, 0xFF, 0xFF, 0x01, 0xAB, 0x03])
    assert cpu.mem[0xFFFF] == 0xAB


def test_image_may_end_exactly_at_ffff():
    cpu = B32CPU()
    cpu.load(bytes.fromhex("42 33 32 FF FF FF FF 04"))   # END at $FFFF
    assert cpu.run() == 1
    assert cpu.IP == 0x0000                               # IP is 16 bits


# -- loads and store ------------------------------------------------------------------

def test_lda():
    cpu = step([0x01, 0x42], B=0x07)
    assert cpu.A == 0x42 and cpu.D == 0x4207 and cpu.IP == 0x1002


def test_ldb():
    cpu = step([0x22, 0x99], A=0x12)
    assert cpu.B == 0x99 and cpu.D == 0x1299 and cpu.IP == 0x1002


def test_ldx_little_endian():
    cpu = step([0x02, 0x34, 0x12])
    assert cpu.X == 0x1234 and cpu.IP == 0x1003


def test_ldy_little_endian():
    cpu = step([0x23, 0xCD, 0xAB])
    assert cpu.Y == 0xABCD and cpu.IP == 0x1003


def test_loads_change_no_flags():
    cpu = run([0x01, 0x00, 0x22, 0x00, 0x02, 0, 0, 0x23, 0, 0], CF=0x0A, PF=0x03)
    assert cpu.CF == 0x0A and cpu.PF == 0x03


def test_sta_writes_memory_and_screen():
    # Cell (row 2, column 5) is at $A000 + 2 * (80*2 + 5) = $A14A (spec section 5).
    cpu = run([0x02, 0x4A, 0xA1, 0x01, 0x41, 0x03, 0x02, 0x4B, 0xA1, 0x01, 0x4F, 0x03])
    assert cpu.mem[0xA14A] == 0x41
    assert cpu.cell(2, 5) == (0x41, 0x4F)
    assert cpu.screen.char(2, 5) == "A"


def test_sta_outside_the_screen_is_plain_memory():
    cpu = run([0x02, 0x00, 0x20, 0x01, 0x77, 0x03])
    assert cpu.mem[0x2000] == 0x77
    assert cpu.screen.lines() == []


def test_end_advances_ip_by_one_and_halts():
    cpu = step([0x04, 0x01, 0x05])
    assert cpu.halted and cpu.IP == 0x1001
    assert cpu.step() is False and cpu.A == 0          # nothing runs after END


# -- compares (3.1) ---------------------------------------------------------------------

@pytest.mark.parametrize("reg, value, expected", [
    (0x40, 0x40, 0x01),   # equal
    (0x30, 0x40, 0x06),   # less: NE | LT
    (0x50, 0x40, 0x0A),   # greater: NE | GT
    (0x7F, 0x80, 0x06),   # unsigned: $7F < $80
    (0xFF, 0x00, 0x0A),
])
def test_cmpa_cmpb(reg, value, expected):
    assert step([0x05, value], A=reg, CF=0xFF).CF == expected   # CF is cleared first
    assert step([0x06, value], B=reg, CF=0xFF).CF == expected


@pytest.mark.parametrize("reg, value, expected", [
    (0x1234, 0x1234, 0x01), (0x1233, 0x1234, 0x06), (0x1235, 0x1234, 0x0A),
    (0x7FFF, 0x8000, 0x06), (0xFFFF, 0x0000, 0x0A),
])
def test_cmpx_cmpy_cmpd(reg, value, expected):
    lo, hi = value & 0xFF, value >> 8
    assert step([0x07, lo, hi], X=reg).CF == expected
    assert step([0x08, lo, hi], Y=reg).CF == expected
    assert step([0x09, lo, hi], A=reg >> 8, B=reg & 0xFF).CF == expected


def test_compare_leaves_registers_and_pf():
    cpu = step([0x05, 0x10], A=0x20, PF=0x03)
    assert cpu.A == 0x20 and cpu.PF == 0x03 and cpu.IP == 0x1002


# -- jumps (JGT/JLT as documented, section 9 #1) ----------------------------------------

JUMP_TAKEN = {   # CF value -> which conditional jumps are taken
    0x01: {"JEQ"},
    0x06: {"JNE", "JLT"},
    0x0A: {"JNE", "JGT"},
}
OPCODE = {"JEQ": 0x0B, "JNE": 0x0C, "JGT": 0x0D, "JLT": 0x0E}


@pytest.mark.parametrize("cf", sorted(JUMP_TAKEN))
@pytest.mark.parametrize("name", sorted(OPCODE))
def test_conditional_jumps(name, cf):
    cpu = step([OPCODE[name], 0x00, 0x20], CF=cf)
    assert cpu.IP == (0x2000 if name in JUMP_TAKEN[cf] else 0x1003)
    assert cpu.CF == cf                                  # jumps never change CF


def test_jmp_is_absolute():
    cpu = step([0x0A, 0x34, 0x12], CF=0x00)
    assert cpu.IP == 0x1234


def test_hijkl_program_needs_documented_jgt_jlt():
    # Spec 3.1: A = 74, CMPA #107, JLT taken; A = 75, CMPA #12, JGT taken.
    code = [0x01, 74, 0x05, 107, 0x0E, 0x08, 0x10, 0x04,   # $1000..$1007, JLT -> $1008
            0x01, 75, 0x05, 12, 0x0D, 0x11, 0x10, 0x04,    # $1008..$100F, JGT -> $1011
            0x04, 0x22, 0x01]                              # $1010 END, $1011 LDB #1
    cpu = run(code)
    assert cpu.B == 1 and cpu.IP == 0x1014


# -- increments and decrements ------------------------------------------------------------

@pytest.mark.parametrize("opcode, reg, start, result, ov", [
    (0x0F, "A", 0x41, 0x42, 0), (0x0F, "A", 0xFF, 0x00, 1),
    (0x10, "B", 0x41, 0x42, 0), (0x10, "B", 0xFF, 0x00, 1),
    (0x11, "X", 0x00FF, 0x0100, 0), (0x11, "X", 0xFFFF, 0x0000, 1),
    (0x12, "Y", 0x1234, 0x1235, 0), (0x12, "Y", 0xFFFF, 0x0000, 1),
    (0x13, "D", 0x12FF, 0x1300, 0), (0x13, "D", 0xFFFF, 0x0000, 1),
])
@pytest.mark.parametrize("old_ov", [0, 1])
def test_inc(opcode, reg, start, result, ov, old_ov):
    cpu = step([opcode], **{reg: start}, PF=old_ov | 0x02)
    assert getattr(cpu, reg) == result
    assert cpu.OV == ov                                  # set exactly on wrap to 0
    assert cpu.CY == 1                                   # carry untouched
    assert cpu.D == cpu.A * 256 + cpu.B


def test_incd_updates_a_and_b():
    cpu = step([0x13], A=0x12, B=0xFF)
    assert (cpu.A, cpu.B, cpu.D) == (0x13, 0x00, 0x1300)


@pytest.mark.parametrize("opcode, reg, start, result", [
    (0x14, "A", 0x42, 0x41), (0x14, "A", 0x00, 0xFF),
    (0x15, "B", 0x42, 0x41), (0x15, "B", 0x00, 0xFF),
    (0x16, "X", 0x0100, 0x00FF), (0x16, "X", 0x0000, 0xFFFF),
    (0x17, "Y", 0x1235, 0x1234), (0x17, "Y", 0x0000, 0xFFFF),
    (0x18, "D", 0x1300, 0x12FF), (0x18, "D", 0x0000, 0xFFFF),
])
def test_dec_clears_ov_and_keeps_cy(opcode, reg, start, result):
    cpu = step([opcode], **{reg: start}, PF=0x03)       # OV and CY set before
    assert getattr(cpu, reg) == result
    assert cpu.OV == 0                                   # underflow is not detected
    assert cpu.CY == 1                                   # DECD leaves CY alone (9 #7)


def test_decd_updates_a_and_b():
    cpu = step([0x18], A=0x13, B=0x00)
    assert (cpu.A, cpu.B) == (0x12, 0xFF)


# -- rotates through carry ----------------------------------------------------------------

@pytest.mark.parametrize("opcode, reg", [(0x19, "A"), (0x1A, "B")])
@pytest.mark.parametrize("start, cy, result, new_cy", [
    (0x81, 0, 0x02, 1), (0x81, 1, 0x03, 1), (0x40, 1, 0x81, 0), (0x00, 0, 0x00, 0),
])
def test_rol(opcode, reg, start, cy, result, new_cy):
    cpu = step([opcode], **{reg: start}, PF=cy << 1)
    assert getattr(cpu, reg) == result and cpu.CY == new_cy
    assert cpu.D == cpu.A * 256 + cpu.B


@pytest.mark.parametrize("opcode, reg", [(0x1B, "A"), (0x1C, "B")])
@pytest.mark.parametrize("start, cy, result, new_cy", [
    (0x01, 0, 0x00, 1), (0x02, 1, 0x81, 0), (0x81, 1, 0xC0, 1), (0x80, 0, 0x40, 0),
])
def test_ror(opcode, reg, start, cy, result, new_cy):
    cpu = step([opcode], **{reg: start}, PF=cy << 1)
    assert getattr(cpu, reg) == result and cpu.CY == new_cy


def test_rotation_is_nine_bits_wide():
    # Nine rotations through carry restore the register and CY; eight do not (example 3).
    assert run([0x1A] * 9, B=0xC5).B == 0xC5
    eight = run([0x1A] * 8, B=0xC5)
    assert eight.B == 0x62 and eight.CY == 1
    assert run([0x1B] * 9, A=0x5A, PF=0x02).A == 0x5A


def test_rotates_leave_ov():
    assert step([0x19], A=0x80, PF=0x01).OV == 1


# -- add with carry, add ----------------------------------------------------------------

@pytest.mark.parametrize("opcode, reg", [(0x1D, "A"), (0x1E, "B")])
def test_adc(opcode, reg):
    cpu = step([opcode], **{reg: 5}, PF=0x02)            # CY = 1: add one
    assert getattr(cpu, reg) == 6 and cpu.CY == 1 and cpu.OV == 0
    cpu = step([opcode], **{reg: 5}, PF=0x01)            # CY = 0: nothing, OV kept
    assert getattr(cpu, reg) == 5 and cpu.OV == 1 and cpu.CY == 0
    cpu = step([opcode], **{reg: 0xFF}, PF=0x02)         # wraps: OV as for INC
    assert getattr(cpu, reg) == 0 and cpu.OV == 1 and cpu.CY == 1
    assert cpu.D == cpu.A * 256 + cpu.B


@pytest.mark.parametrize("opcode, reg", [(0x1F, "A"), (0x20, "B")])
@pytest.mark.parametrize("start, value, result, ov", [
    (0x10, 0x20, 0x30, 0),
    (0xF0, 0x20, 0x10, 1),      # carry out (section 9 #5)
    (0xFF, 0x00, 0xFF, 0),
    (0xFF, 0x01, 0x00, 1),
    (0x80, 0x7F, 0xFF, 0),
])
def test_add(opcode, reg, start, value, result, ov):
    cpu = step([opcode, value], **{reg: start}, PF=0x01 - ov)   # OV starts opposite
    assert getattr(cpu, reg) == result and cpu.OV == ov
    assert cpu.IP == 0x1002                                     # 2 bytes (9 #3)
    assert cpu.D == cpu.A * 256 + cpu.B


@pytest.mark.parametrize("a, b, d, ov", [
    (0xC8, 0x64, 0x012C, 1),    # 200 + 100 = 300
    (0x01, 0x02, 0x0003, 0),
    (0x80, 0x7F, 0x00FF, 0),    # 255: no carry
    (0xFF, 0x01, 0x0100, 1),
    (0xFF, 0xFF, 0x01FE, 1),    # the largest sum, 510
])
def test_addab(a, b, d, ov):
    cpu = step([0x21], A=a, B=b, PF=0x01 - ov)          # the tutorial had OV inverted
    assert cpu.D == d
    assert (cpu.A, cpu.B) == (d >> 8, d & 0xFF)
    assert cpu.OV == ov


# -- D = A*256 + B, always --------------------------------------------------------------

WRITES_A_OR_B = [
    [0x01], [0x22], [0x0F], [0x10], [0x14], [0x15], [0x19], [0x1A], [0x1B], [0x1C],
    [0x1D], [0x1E], [0x1F], [0x20], [0x21], [0x13], [0x18],
]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(WRITES_A_OR_B), st.integers(0, 255)),
                max_size=20),
       st.integers(0, 255), st.integers(0, 255), st.integers(0, 3))
def test_d_is_always_a_and_b(ops, a, b, pf):
    code = []
    for (opcode,), operand in ops:
        code.append(opcode)
        if opcode in (0x01, 0x22, 0x1F, 0x20):
            code.append(operand)
    cpu = B32CPU()
    cpu.load(HEADER + bytes(code) + bytes([END]))
    cpu.A, cpu.B, cpu.PF = a, b, pf
    while cpu.step():
        assert cpu.D == cpu.A * 256 + cpu.B
        assert 0 <= cpu.A <= 0xFF and 0 <= cpu.B <= 0xFF


def test_setting_d_sets_a_and_b():
    cpu = B32CPU()
    cpu.D = 0xBEEF
    assert (cpu.A, cpu.B) == (0xBE, 0xEF)


# -- faults -------------------------------------------------------------------------------

@pytest.mark.parametrize("opcode", [0x00, 0x24, 0x25, 0x80, 0xFF])
def test_illegal_opcode_halts_with_address_and_byte(opcode):
    cpu = B32CPU()
    cpu.load(HEADER + bytes([0x0F, opcode]))             # INCA, then the bad byte
    with pytest.raises(IllegalOpcode) as info:
        cpu.run()
    assert info.value.address == 0x1001 and info.value.opcode == opcode
    assert cpu.IP == 0x1001 and cpu.A == 1


def test_every_unassigned_opcode_is_illegal():
    for opcode in [0x00, *range(0x24, 0x100)]:
        cpu = B32CPU()
        cpu.load(HEADER + bytes([opcode]))
        with pytest.raises(IllegalOpcode):
            cpu.step()


def test_running_off_the_image_hits_zero_bytes():
    cpu = B32CPU()
    cpu.load(HEADER + bytes([0x0F]))
    with pytest.raises(IllegalOpcode) as info:
        cpu.run()
    assert (info.value.address, info.value.opcode) == (0x1001, 0x00)


def test_step_limit():
    cpu = B32CPU()
    cpu.load(HEADER + bytes([0x0A, 0x00, 0x10]))         # JMP to itself
    with pytest.raises(StepLimitReached) as info:
        cpu.run(max_steps=25)
    assert info.value.steps == 25 and cpu.steps == 25 and cpu.IP == 0x1000


def test_step_limit_not_reached_by_a_program_that_ends_in_time():
    cpu = B32CPU()
    cpu.load(HEADER + bytes([0x0F, 0x0F, 0x04]))
    assert cpu.run(max_steps=3) == 3 and cpu.halted
