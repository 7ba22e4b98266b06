"""Every V16 instruction's effects, flags and IP, every access rule and the order of the
checks of spec 6.1, straight from v16-spec.md sections 2, 3, 5 and 6.

Programs are raw bytes from the spec's opcode table, so these tests do not depend on the
assembler.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asm.v16.instructions import BY_OPCODE, TABLE
from formats.v16 import build_v16
from vm.v16.cpu import ERR_INSTR, ERR_MEM, ERR_SEGV, NO_ERR, SYS_HLT, V16CPU

REGS = ("AX", "BX", "CX", "DX")


def cpu_at(code: bytes, address: int = 0, **regs) -> V16CPU:
    """A reset machine with ``code`` at ``address`` and IP on it; registers by name."""
    cpu = V16CPU()
    if address + len(code) <= 0x8000:
        cpu.load(build_v16(address, address, code))
    else:                                # above the code area: write it like a debugger
        cpu.mem_write(address, code)
        cpu.reg_write("ip", address)
    for name, value in regs.items():
        cpu.reg_write(name, value)
    return cpu


def step(code: bytes, address: int = 0, **regs) -> tuple[V16CPU, int]:
    cpu = cpu_at(code, address, **regs)
    return cpu, cpu.step()


def unchanged(cpu: V16CPU, before: tuple) -> bool:
    return cpu.save()[:4] == before[:4] and cpu.save()[6] == before[6]


# -- reset and the register surface (section 2) ---------------------------------------------

def test_reset_state():
    cpu = V16CPU()
    assert cpu.registers() == dict.fromkeys(("AX", "BX", "CX", "DX", "SP", "IP", "FLAGS"), 0)
    assert len(cpu.mem) == 65536 and not any(cpu.mem)


def test_load_sets_ip_to_entry_and_clears_the_rest():
    cpu = V16CPU()
    cpu.load(build_v16(0x0100, 0x0102, b"\x01\x01\x02"))
    assert cpu.reg_read("ip") == 0x0102 and cpu.reg_read("PC") == 0x0102
    assert cpu.mem[0x100:0x103] == b"\x01\x01\x02" and not any(cpu.mem[:0x100])


def test_register_names_any_case_and_masks():
    cpu = V16CPU()
    cpu.reg_write("Ax", 0x12345)
    cpu.reg_write("flags", 0xFFFF)                 # bits 15-4 are reserved, always 0
    assert cpu.reg_read("AX") == 0x2345 and cpu.reg_read("FLAGS") == 0x000F
    with pytest.raises(ValueError):
        cpu.reg_read("eax")


def test_memory_surface():
    cpu = V16CPU()
    cpu.mem_write(0xFFFE, b"\x01\x02")
    assert cpu.mem_read(0xFFFE, 2) == b"\x01\x02"
    with pytest.raises(ValueError):
        cpu.mem_read(0xFFFF, 2)


def test_save_restore():
    cpu, _ = step(bytes.fromhex("1A 00"), AX=7)
    state = cpu.save()
    cpu.step()
    cpu.restore(state)
    assert cpu.save() == state


def test_run_count_and_steps():
    cpu = cpu_at(bytes.fromhex("01 01 01 02"))
    assert cpu.run(2) == NO_ERR and cpu.reg_read("ip") == 2 and cpu.steps == 2
    assert cpu.run() == SYS_HLT and cpu.steps == 3 and cpu.reg_read("ip") == 3


# -- one test per instruction --------------------------------------------------------------

def test_nop():
    cpu, code = step(b"\x01", AX=5, FLAGS=8)
    assert code == NO_ERR and cpu.reg_read("ip") == 1
    assert (cpu.reg_read("ax"), cpu.reg_read("flags")) == (5, 8)


def test_hlt_stops_with_ip_on_it_and_again():
    cpu, code = step(b"\x02", 0x10)
    assert code == SYS_HLT and cpu.stop == SYS_HLT and cpu.reg_read("ip") == 0x10
    assert cpu.steps == 0 and cpu.step() == SYS_HLT


@pytest.mark.parametrize("reg", range(4))
def test_out_writes_the_low_byte(reg):
    cpu, code = step(bytes([0x03, reg]), **{REGS[reg]: 0x1241 + reg})
    assert code == NO_ERR and bytes(cpu.output) == bytes([0x41 + reg])
    assert cpu.reg_read("ip") == 2


@pytest.mark.parametrize("reg", range(4))
def test_mov_reg_imm(reg):
    cpu, code = step(bytes([0x08 + reg, 0x05, 0x50]), FLAGS=0x5)
    assert code == NO_ERR and cpu.reg_read(REGS[reg]) == 0x5005
    assert cpu.reg_read("ip") == 3 and cpu.reg_read("flags") == 0x5


def test_mov_reg_reg():
    cpu, _ = step(bytes.fromhex("0C 03 01"), BX=0xBEEF)
    assert cpu.reg_read("dx") == 0xBEEF and cpu.reg_read("bx") == 0xBEEF
    assert cpu.reg_read("ip") == 3


def test_mov_load_absolute_reads_every_area():
    cpu = cpu_at(bytes.fromhex("0D 02 00 00"))     # reads its own code: allowed
    cpu.step()
    assert cpu.reg_read("cx") == 0x020D and cpu.reg_read("ip") == 4     # bytes 0D 02
    cpu = cpu_at(bytes.fromhex("0D 00 FE FF"))
    cpu.mem_write(0xFFFE, b"\x34\x12")
    cpu.step()
    assert cpu.reg_read("ax") == 0x1234


def test_mov_store_absolute():
    cpu, code = step(bytes.fromhex("0E 00 80 01"), BX=0xABCD)
    assert code == NO_ERR and cpu.mem[0x8000:0x8002] == b"\xcd\xab"
    assert cpu.reg_read("ip") == 4
    cpu, code = step(bytes.fromhex("0E FE FF 01"), BX=0xABCD)   # the stack area: allowed
    assert code == NO_ERR and cpu.mem[0xFFFE:] == b"\xcd\xab"


def test_mov_load_indirect():
    cpu = cpu_at(bytes.fromhex("0F 02 00"), AX=0x9000)
    cpu.mem_write(0x9000, b"\x78\x56")
    assert cpu.step() == NO_ERR and cpu.reg_read("cx") == 0x5678
    assert cpu.reg_read("ip") == 3


def test_mov_store_indirect():
    cpu, code = step(bytes.fromhex("18 01 02"), BX=0xC000, CX=0x0102)
    assert code == NO_ERR and cpu.mem[0xC000:0xC002] == b"\x02\x01"
    assert cpu.reg_read("ip") == 3


@pytest.mark.parametrize("bit,letter", [(8, "e"), (4, "g"), (2, "h"), (1, "l")])
def test_flag_set_and_clear(bit, letter):
    from asm.v16.instructions import MNEMONICS
    st_op, cl_op = MNEMONICS[f"st{letter}"][0].opcode, MNEMONICS[f"cl{letter}"][0].opcode
    cpu, _ = step(bytes([st_op]), FLAGS=0)
    assert cpu.reg_read("flags") == bit and cpu.reg_read("ip") == 1
    cpu, _ = step(bytes([cl_op]), FLAGS=0xF)
    assert cpu.reg_read("flags") == 0xF & ~bit and cpu.reg_read("ip") == 1


def test_flag_opcodes_are_the_originals():
    assert [BY_OPCODE[op].mnemonic for op in range(0x10, 0x18)] == \
        ["ste", "cle", "stg", "clg", "sth", "clh", "stl", "cll"]


def test_push_and_pop():
    cpu = cpu_at(bytes.fromhex("1A 00 1B 03"), AX=0x1234)
    assert cpu.step() == NO_ERR
    assert cpu.reg_read("sp") == 0xFFFE and cpu.mem[0xFFFE:] == b"\x34\x12"
    assert cpu.step() == NO_ERR
    assert cpu.reg_read("dx") == 0x1234 and cpu.reg_read("sp") == 0
    assert cpu.mem[0xFFFE:] == b"\x34\x12"          # pop leaves the memory as it was
    assert cpu.reg_read("ip") == 4


def test_call_pushes_next_and_ret_pops_it():
    cpu = cpu_at(bytes.fromhex("1C 10 00") + bytes(13) + b"\x1d")
    assert cpu.step() == NO_ERR
    assert cpu.reg_read("ip") == 0x10 and cpu.reg_read("sp") == 0xFFFE
    assert cpu.mem[0xFFFE:] == b"\x03\x00"
    assert cpu.step() == NO_ERR
    assert cpu.reg_read("ip") == 3 and cpu.reg_read("sp") == 0


@pytest.mark.parametrize("code,regs,reg,result", [
    ("20 00 01", {"AX": 0xFFFF, "BX": 2}, "AX", 0x0001),   # add r, r wraps
    ("21 02 34 12", {"CX": 1}, "CX", 0x1235),               # add r, imm
    ("22 03 00", {"DX": 1, "AX": 2}, "DX", 0xFFFF),          # sub r, r wraps
    ("23 01 01 00", {"BX": 0}, "BX", 0xFFFF),                # sub r, imm wraps
    ("24 00", {"AX": 0xFFFF}, "AX", 0),                      # inc wraps
    ("25 02", {"CX": 0}, "CX", 0xFFFF),                      # dec wraps
])
def test_arithmetic_wraps_and_leaves_flags(code, regs, reg, result):
    raw = bytes.fromhex(code)
    cpu, status = step(raw, FLAGS=0x9, **regs)
    assert status == NO_ERR and cpu.reg_read(reg) == result
    assert cpu.reg_read("flags") == 0x9 and cpu.reg_read("ip") == len(raw)


@pytest.mark.parametrize("a,b,flags", [
    (5, 5, 0x0008), (7, 3, 0x0006), (3, 7, 0x0001),
    (0xFFFF, 1, 0x0002),        # unsigned above, signed less
    (1, 0xFFFF, 0x0005),        # unsigned below, signed greater
    (0x8000, 0x7FFF, 0x0002), (0, 0, 0x0008),
])
def test_cmp_reg_and_imm(a, b, flags):
    cpu, _ = step(bytes.fromhex("26 00 01"), AX=a, BX=b, FLAGS=0xF)
    assert cpu.reg_read("flags") == flags and cpu.reg_read("ip") == 3
    assert (cpu.reg_read("ax"), cpu.reg_read("bx")) == (a, b)
    cpu, _ = step(bytes([0x27, 0x02, b & 0xFF, b >> 8]), CX=a)
    assert cpu.reg_read("flags") == flags and cpu.reg_read("ip") == 4


JUMPS = {
    0x28: lambda f: True,
    0x29: lambda f: bool(f & 8),                  # je
    0x2A: lambda f: not f & 8,                    # jne
    0x2B: lambda f: bool(f & 4),                  # jg
    0x2C: lambda f: not f & 8 and not f & 4,      # jl: E = 0 and G = 0
    0x2D: lambda f: bool(f & 2),                  # ja
    0x2E: lambda f: bool(f & 1),                  # jb
}


@pytest.mark.parametrize("op", sorted(JUMPS))
@pytest.mark.parametrize("flags", range(16))
def test_jumps(op, flags):
    cpu, status = step(bytes([op, 0x34, 0x12]), 0x0100, FLAGS=flags)
    assert status == NO_ERR
    assert cpu.reg_read("ip") == (0x1234 if JUMPS[op](flags) else 0x0103)
    assert cpu.reg_read("flags") == flags


def test_jump_target_is_checked_only_when_fetched():
    cpu = cpu_at(bytes.fromhex("28 00 90"))
    assert cpu.step() == NO_ERR and cpu.reg_read("ip") == 0x9000
    assert cpu.step() == ERR_INSTR and cpu.reg_read("ip") == 0x9000


# -- illegal opcodes and register bytes ------------------------------------------------------

ILLEGAL = [op for op in range(256) if op not in BY_OPCODE]


def test_the_table_has_39_opcodes():
    assert len(TABLE) == 39 and len(ILLEGAL) == 256 - 39
    assert {0x00, 0x04, 0x05, 0x06, 0x07, 0x19, 0x1E, 0x1F, 0x2F, 0xFF} <= set(ILLEGAL)


@pytest.mark.parametrize("op", ILLEGAL)
def test_illegal_opcode(op):
    cpu, status = step(bytes([op, 0, 0, 0]), 0x40)
    assert status == ERR_INSTR and cpu.reg_read("ip") == 0x40 and cpu.steps == 0


REG_BYTES = [insn for insn in TABLE if any(o.size == 1 for o in insn.operands)]


@pytest.mark.parametrize("insn", REG_BYTES, ids=lambda i: f"{i.opcode:02X}")
@pytest.mark.parametrize("bad", [4, 0xFF])
def test_illegal_register_byte(insn, bad):
    """Each register-number byte of each instruction, in turn, above 3: ErrInstr."""
    offsets, at = [], 1
    for kind in insn.operands:
        if kind.size == 1:
            offsets.append(at)
        at += kind.size
    for offset in offsets:
        raw = bytearray([insn.opcode] + [0] * (insn.length - 1))
        raw[offset] = bad
        if insn.opcode == 0x0E:
            raw[1:3] = b"\x00\x80"
        cpu = cpu_at(bytes(raw), AX=0x8000)
        before = cpu.save()
        assert cpu.step() == ERR_INSTR
        assert unchanged(cpu, before) and cpu.output == b""


# -- the access rules of section 3 -----------------------------------------------------------

@pytest.mark.parametrize("code,regs", [
    ("0E 00 00 00", {}),                 # mov [0x0000], ax
    ("0E FF 7F 00", {}),                 # 0x7FFF: its first byte is code
    ("18 01 00", {"BX": 0x1000}),        # mov [bx], ax
    ("18 01 00", {"BX": 0x7FFF}),
])
def test_store_into_the_code_area_is_errsegv(code, regs):
    cpu = cpu_at(bytes.fromhex(code), 0x20, AX=0xBEEF, **regs)
    before = cpu.save()
    assert cpu.step() == ERR_SEGV
    assert unchanged(cpu, before) and cpu.reg_read("ip") == 0x20


def test_store_at_8000_is_allowed():
    cpu, status = step(bytes.fromhex("18 01 00"), AX=1, BX=0x8000)
    assert status == NO_ERR and cpu.mem[0x8000] == 1


@pytest.mark.parametrize("code,regs", [
    ("0D 00 FF FF", {}),                 # mov ax, [0xFFFF]
    ("0F 00 01", {"BX": 0xFFFF}),        # mov ax, [bx]
    ("0E FF FF 00", {}),                 # mov [0xFFFF], ax
    ("18 01 00", {"BX": 0xFFFF}),        # mov [bx], ax
])
def test_word_access_at_ffff_is_errmem(code, regs):
    cpu = cpu_at(bytes.fromhex(code), AX=7, **regs)
    before = cpu.save()
    assert cpu.step() == ERR_MEM and unchanged(cpu, before)


def test_word_access_at_fffe_is_allowed():
    cpu, status = step(bytes.fromhex("0E FE FF 00"), AX=0x0102)
    assert status == NO_ERR and cpu.mem[0xFFFE:] == b"\x02\x01"


@pytest.mark.parametrize("code", ["1A 00", "1C 00 00"])
def test_stack_full_is_errsegv(code):
    cpu = cpu_at(bytes.fromhex(code), SP=0xC000)
    before = cpu.save()
    assert cpu.step() == ERR_SEGV and unchanged(cpu, before)
    assert cpu.reg_read("sp") == 0xC000


def test_push_at_c002_is_the_last_that_fits():
    cpu, status = step(bytes.fromhex("1A 00"), SP=0xC002, AX=9)
    assert status == NO_ERR and cpu.reg_read("sp") == 0xC000 and cpu.mem[0xC000] == 9


@pytest.mark.parametrize("code", ["1B 00", "1D"])
def test_stack_empty_is_errsegv(code):
    cpu = cpu_at(bytes.fromhex(code), 0x10)
    before = cpu.save()
    assert cpu.step() == ERR_SEGV and unchanged(cpu, before)
    assert cpu.reg_read("ip") == 0x10 and cpu.reg_read("sp") == 0


def test_pop_from_fffe_empties_the_stack():
    cpu, status = step(bytes.fromhex("1B 00"), SP=0xFFFE)
    assert status == NO_ERR and cpu.reg_read("sp") == 0


def test_instructions_run_from_the_data_area():
    cpu = cpu_at(bytes.fromhex("08 01 00 02"), 0x9000)
    assert cpu.run() == SYS_HLT and cpu.reg_read("ax") == 1 and cpu.reg_read("ip") == 0x9003


# -- the order of the checks (spec 6.1) ------------------------------------------------------

def test_fit_comes_before_register_bytes():
    cpu, status = step(bytes.fromhex("0C 09"), 0xFFFE)      # 3 bytes from 0xFFFE
    assert status == ERR_MEM


def test_register_bytes_come_before_fall_through():
    cpu, status = step(bytes.fromhex("24 07"), 0xFFFE)      # next = 0x10000, bad reg
    assert status == ERR_INSTR


def test_illegal_opcode_at_ffff():
    assert step(b"\x00", 0xFFFF)[1] == ERR_INSTR


@pytest.mark.parametrize("code,address,expected", [
    ("01", 0xFFFF, ERR_MEM),             # nop falls through to 0x10000
    ("02", 0xFFFF, SYS_HLT),             # hlt does not continue
    ("1D", 0xFFFF, ERR_SEGV),            # ret does not fall through: the empty stack
    ("28 00 10", 0xFFFD, NO_ERR),        # jmp
    ("24 00", 0xFFFE, ERR_MEM),          # inc
])
def test_fall_through(code, address, expected):
    cpu, status = step(bytes.fromhex(code), address)
    assert status == expected


def test_conditional_jump_falls_through_only_when_not_taken():
    assert step(bytes.fromhex("29 00 10"), 0xFFFD, FLAGS=8)[1] == NO_ERR
    cpu, status = step(bytes.fromhex("29 00 10"), 0xFFFD, FLAGS=0)
    assert status == ERR_MEM and cpu.reg_read("ip") == 0xFFFD


def test_call_falls_through_before_the_stack_check():
    assert step(bytes.fromhex("1C 00 10"), 0xFFFD, SP=0xC000)[1] == ERR_MEM


def test_a_load_error_comes_before_the_store():
    cpu = cpu_at(bytes.fromhex("0F 00 01"), BX=0xFFFF, AX=5)
    assert cpu.step() == ERR_MEM and cpu.reg_read("ax") == 5


@given(st.binary(min_size=1, max_size=8), st.integers(0, 0xFFFF), st.integers(0, 0xF))
def test_a_stop_changes_nothing(code, address, flags):
    """Whatever the bytes: a step either succeeds or leaves every register, FLAGS and
    memory as they were, with IP on the instruction."""
    address = min(address, 0x10000 - len(code))
    cpu = cpu_at(code, address, FLAGS=flags, SP=0xFFFE, BX=0x9000)
    before = cpu.save()
    status = cpu.step()
    if status != NO_ERR:
        assert unchanged(cpu, before) and cpu.reg_read("ip") == address
        assert cpu.step() == status                  # and stops again the same way
