"""Alignment checking (Intel SDM vol. 3, 6.15 "Interrupt 17 - Alignment Check Exception
(#AC)"): a data access at CPL 3 to an operand not aligned to its size (word 2,
doubleword 4, quadword and 80-bit extended real 8) raises #AC with error code 0 when
CR0.AM and EFLAGS.AC are both set, and nothing happens when any of the three
conditions is missing. The fault names the instruction (EIP) and happens before it
changes anything. Ring 3 is entered with IRETD (its EFLAGS image sets AC or not)."""

from __future__ import annotations

import pytest
from protected_kit import CODE0, CODE3, DATA0, DATA3, TSS_SEL, Setup, fault_record, run_pyvm

AM = 0x40000


def _ring3(eflags: int) -> str:
    return f"""
mov ax, {DATA0:#x}
mov ds, ax
mov es, ax
mov ss, ax
mov esp, 0x9000
mov dword [0x3004], 0x8800          ; TSS.ESP0
mov dword [0x3008], {DATA0:#x}      ; TSS.SS0
mov ax, {TSS_SEL:#x}
ltr ax
push dword {DATA3:#x}
push dword 0x7000
push dword {eflags:#x}
push dword {CODE3:#x}
push dword user
iretd
user:
mov ax, {DATA3:#x}
mov ds, ax
mov es, ax
"""


def _run(tmp_path, insn: str, *, am: bool = True, eflags: int = 0x40202,
         ring3: bool = True) -> tuple:
    pre = _ring3(eflags) if ring3 else f"""
mov ax, {DATA0:#x}
mov ds, ax
mov ss, ax
mov esp, 0x7000
push dword {eflags:#x}
popfd
"""
    body = f"""{pre}
mov dword [0x8100], fault_here
fault_here:
{insn}
ud2
"""
    m = run_pyvm(tmp_path, Setup(body, cr0_extra=AM if am else 0))
    return m, fault_record(m), int.from_bytes(m.read(0x8100, 4), "little")


@pytest.mark.parametrize("insn", [
    "mov ax, [0x6001]",                     # word at an odd address
    "mov eax, [0x6002]",                    # doubleword not 4-aligned
    "mov dword [0x6001], 1",
    "add [0x6003], eax",
    "fild qword [0x6004]",                  # quadword not 8-aligned
    "fld dword [0x6002]",
    "fld tword [0x6004]",                   # 80-bit: 8
    "cmpxchg8b [0x6004]",
    "sub esp, 2\npush eax",                 # the stack too
    "sub esp, 2\npop eax",
    "les eax, [0x6002]",                    # 48-bit pointer: 4
    "mov esi, 0x6002\nlodsd",               # string instructions, element by element
    "mov edi, 0x6001\nstosw",
])
def test_misaligned_access_at_cpl3_raises_ac(tmp_path, insn):
    m, rec, at = _run(tmp_path, insn)
    if "\n" in insn:            # the fault is on the second instruction
        at += 3 if insn.startswith("sub") else 5        # sub esp, 2 / mov reg, imm32
    assert (rec["vector"], rec["code"], rec["cs"], rec["eip"]) == (17, 0, CODE3, at)


@pytest.mark.parametrize("insn", [
    "mov ax, [0x6002]", "mov eax, [0x6004]", "mov al, [0x6001]", "fild qword [0x6008]",
    "cmpxchg8b [0x6008]", "les ax, [0x6002]",       # 32-bit (16:16) pointer: 2
    "push eax",
    "mov esi, 0x6004\nlodsd", "mov edi, 0x6002\nmov ecx, 3\nrep stosw",
])
def test_aligned_access_does_not(tmp_path, insn):
    _, rec, _ = _run(tmp_path, insn)
    assert (rec["vector"], rec["cs"]) == (6, CODE3)


@pytest.mark.parametrize("kw", [
    {"am": False},                  # CR0.AM clear
    {"eflags": 0x202},              # EFLAGS.AC clear
    {"ring3": False},               # CPL 0
])
def test_no_check_unless_all_three_conditions_hold(tmp_path, kw):
    _, rec, _ = _run(tmp_path, "mov eax, [0x6002]", **kw)
    assert (rec["vector"], rec["cs"]) == (6, CODE3 if kw.get("ring3", True) else CODE0)


def test_popf_at_cpl3_turns_checking_on_and_off(tmp_path):
    on = "pushfd\nor dword [esp], 0x40000\npopfd\nmov eax, [0x6002]"
    _, rec, at = _run(tmp_path, on, eflags=0x202)
    # pushfd (1 byte) + or dword [esp], imm32 (7 bytes) + popfd (1 byte)
    assert (rec["vector"], rec["code"], rec["eip"]) == (17, 0, at + 9)
    off = "pushfd\nand dword [esp], ~0x40000\npopfd\nmov eax, [0x6002]"
    _, rec, _ = _run(tmp_path, off)
    assert (rec["vector"], rec["cs"]) == (6, CODE3)
