"""x86 register names: kind, size in bytes and the number used in ModRM/opcode fields."""

from __future__ import annotations

from typing import NamedTuple


class RegInfo(NamedTuple):
    kind: str   # 'gpr', 'sreg', 'creg', 'dreg', 'treg', 'fpu', 'mmx', 'xmm'
    size: int   # bytes (fpu: 10)
    num: int    # encoding number 0-7


REGISTERS: dict[str, RegInfo] = {}
for _n, _name in enumerate(("al", "cl", "dl", "bl", "ah", "ch", "dh", "bh")):
    REGISTERS[_name] = RegInfo("gpr", 1, _n)
for _n, _name in enumerate(("ax", "cx", "dx", "bx", "sp", "bp", "si", "di")):
    REGISTERS[_name] = RegInfo("gpr", 2, _n)
    REGISTERS["e" + _name] = RegInfo("gpr", 4, _n)
for _n, _name in enumerate(("es", "cs", "ss", "ds", "fs", "gs")):
    REGISTERS[_name] = RegInfo("sreg", 2, _n)
for _n in range(8):
    REGISTERS[f"st{_n}"] = RegInfo("fpu", 10, _n)
    REGISTERS[f"mm{_n}"] = RegInfo("mmx", 8, _n)
    REGISTERS[f"dr{_n}"] = RegInfo("dreg", 4, _n)
    REGISTERS[f"xmm{_n}"] = RegInfo("xmm", 16, _n)
for _n in range(8):     # (NASM names cr1, cr5-cr7 and tr0-tr2 too, reserved on the CPU)
    REGISTERS[f"cr{_n}"] = RegInfo("creg", 4, _n)
    REGISTERS[f"tr{_n}"] = RegInfo("treg", 4, _n)

GPR8 = ("al", "cl", "dl", "bl", "ah", "ch", "dh", "bh")
GPR16 = ("ax", "cx", "dx", "bx", "sp", "bp", "si", "di")
GPR32 = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")
SREGS = ("es", "cs", "ss", "ds", "fs", "gs")


def is_register(name: str) -> bool:
    return name.lower() in REGISTERS
