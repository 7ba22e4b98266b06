"""Alignment checking (Intel SDM vol. 3, 6.15 "Interrupt 17 - Alignment Check Exception
(#AC)"): a data access at CPL 3 to an operand not aligned to its size (word 2,
doubleword 4, quadword and 80-bit extended real 8) raises #AC with error code 0 when
CR0.AM and EFLAGS.AC are both set, and nothing happens when any of the three
conditions is missing. The fault names the instruction (EIP) and happens before it
changes anything. Ring 3 is entered with IRETD (its EFLAGS image sets AC or not)."""

from __future__ import annotations

import pytest
from protected_kit import (
    CODE0,
    CODE3,
    DATA0,
    DATA3,
    FLAT_SEGMENTS,
    TSS_SEL,
    Setup,
    fault_record,
    run_pyvm,
)

AM = 0x40000


def _ring3(eflags: int) -> str:
    return f"""
{FLAT_SEGMENTS}mov dword [0x3004], 0x8800          ; TSS.ESP0
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


# ---- frames, ENTER/LEAVE, segment registers, x87 areas, SGDT (SDM vol. 3, 6.15) ----------

@pytest.mark.parametrize("insn, back", [
    (f"sub esp, 2\ncall {CODE3:#x}:0x10000", 3),        # far CALL pushes CS:EIP at CPL 3
    ("sub esp, 2\nretf", 3),                            # far RET pops at CPL 3
    ("sub esp, 2\niretd", 3),                           # IRET to the same level
    ("sub esp, 2\nenter 8, 0", 3),
    ("mov ebp, esp\nsub ebp, 2\nleave", 5),             # mov ebp, esp (2) + sub ebp, 2 (3)
    ("sub esp, 1\no16 push ds", 3),                     # a selector: word, 2
    ("sub esp, 1\no16 pop ds", 3),
    ("fldcw [0x6001]", 0),                              # control word: 2
    ("fnstsw [0x6003]", 0),
    ("fld qword [0x6004]", 0),                          # double precision: 8
    ("fstp qword [0x600c]", 0),
    ("fnstenv [0x6002]", 0),                            # 32-bit environment: 4
    ("o16 fnstenv [0x6001]", 0),                        # 16-bit environment: 2
    ("fnsave [0x6006]", 0),
    ("sgdt [0x6004]", 0),                               # the base dword at +2 is not 4-aligned
    ("sidt [0x6001]", 0),
    ("sldt [0x6001]", 0),                               # 16-bit stores: 2
    ("str [0x6003]", 0),
    ("smsw [0x6001]", 0),
])
def test_more_misaligned_user_accesses_raise_ac(tmp_path, insn, back):
    m, rec, at = _run(tmp_path, insn)
    assert (rec["vector"], rec["code"], rec["cs"], rec["eip"]) == (17, 0, CODE3, at + back)


@pytest.mark.parametrize("insn", [
    "sub esp, 2\no16 push ds",              # word-aligned selector pushes and pops
    "o16 push ds\no16 pop ds",
    "enter 6, 0\nleave",
    "fldcw [0x6002]", "fnstsw [0x6002]", "fld qword [0x6008]", "fnstenv [0x6004]",
    "o16 fnstenv [0x6002]", "fnsave [0x6004]",
    "sgdt [0x6002]", "sidt [0x6006]",       # limit word at 2 mod 4, base dword aligned
    "sldt [0x6002]", "str [0x6006]", "smsw [0x6002]",
    "sub esp, 2\nmov dword [0x7100], 0\nud2",   # ring-0 frame: the inner stack, never #AC
])
def test_aligned_or_supervisor_accesses_do_not(tmp_path, insn):
    _, rec, _ = _run(tmp_path, insn)
    assert (rec["vector"], rec["cs"]) == (6, CODE3)


def test_exception_frame_on_a_misaligned_ring3_stack_is_ac_with_ext(tmp_path):
    """An exception taken at CPL 3 through a gate to a DPL-3 code segment pushes its frame
    on the current (misaligned) stack: #AC, EXT set (an external event, SDM 6.13), the
    saved EIP the instruction that raised the first exception."""
    m, rec, at = _run_with_gate(tmp_path, 6, "sub esp, 2\nud2")
    assert (rec["vector"], rec["code"], rec["cs"], rec["eip"]) == (17, 1, CODE3, at + 3)


def test_int_frame_on_a_misaligned_ring3_stack_is_ac_without_ext(tmp_path):
    m, rec, at = _run_with_gate(tmp_path, 3, "sub esp, 2\nint3")
    assert (rec["vector"], rec["code"], rec["cs"], rec["eip"]) == (17, 0, CODE3, at + 3)


def test_same_level_frame_on_an_aligned_stack_is_delivered(tmp_path):
    m, rec, _ = _run_with_gate(tmp_path, 3, "int3")
    assert int.from_bytes(m.read(0x8200, 4), "little") == 0xC0FFEE     # the DPL-3 handler ran
    assert (rec["vector"], rec["cs"]) == (6, CODE3)


def _run_with_gate(tmp_path, vector: int, insn: str) -> tuple:
    """IDT entry `vector` -> a DPL-3 interrupt gate to a CPL-3 handler that marks 0x8200
    and runs ud2 (vector 6 keeps its ring-0 stub when `vector` is not 6)."""
    from protected_kit import IDT
    patch = f"""
mov eax, user_handler
mov word [{IDT + vector * 8:#x}], ax
shr eax, 16
mov word [{IDT + vector * 8 + 6:#x}], ax
mov word [{IDT + vector * 8 + 2:#x}], {CODE3:#x}
mov byte [{IDT + vector * 8 + 5:#x}], 0xEE
"""
    body = f"""
mov ax, {DATA0:#x}
mov ds, ax
{patch}
{_ring3(0x40202)}
mov dword [0x8100], fault_here
fault_here:
{insn}
ud2
user_handler:
mov dword [0x8200], 0xC0FFEE
{"hlt" if vector == 6 else "ud2"}
"""
    m = run_pyvm(tmp_path, Setup(body, cr0_extra=AM))
    return m, fault_record(m), int.from_bytes(m.read(0x8100, 4), "little")


def test_descriptor_reads_from_a_misaligned_gdt_never_raise_ac(tmp_path):
    """Descriptor-table accesses are supervisor accesses even when a CPL-3 segment load
    makes them: a GDT at 0x5002 (every descriptor 2 mod 4) is read and its accessed bits
    set without #AC."""
    body = f"""
mov ax, {DATA0:#x}
mov ds, ax
mov es, ax
mov esi, 0x800
mov edi, 0x5002
mov ecx, 48
cld
rep movsb
lgdt [gdtr]
jmp {CODE0:#x}:reloaded
gdtr: dw 47
      dd 0x5002
reloaded:
{_ring3(0x40202)}
mov dword [0x8100], fault_here
fault_here:
mov ax, {DATA3:#x}
mov fs, ax
ud2
"""
    m = run_pyvm(tmp_path, Setup(body, cr0_extra=AM))
    rec = fault_record(m)
    assert (rec["vector"], rec["cs"]) == (6, CODE3)


def _call_gate_run(tmp_path, count: int, misalign: int, esp0: int = 0x8800) -> tuple:
    """A far CALL at CPL 3 through a DPL-3 32-bit call gate (GDT selector 33h) copying
    `count` dword parameters to a ring-0 ud2 at 12000h, ESP lowered by `misalign`, the
    TSS's ESP0 `esp0` (written from ring 3: no paging, a flat DPL-3 data segment)."""
    from protected_kit import STANDARD_GDT, gate
    gdt = STANDARD_GDT + [gate(CODE0, 0x12000, 0xEC, count)]
    body = f"""{_ring3(0x40202)}
mov dword [0x3004], {esp0:#x}
sub esp, 8
sub esp, {misalign}
mov dword [0x8100], fault_here
fault_here:
call 0x33:0
ud2
"""
    m = run_pyvm(tmp_path, Setup(body, gdt=gdt, cr0_extra=AM, memory={0x12000: b"\x0f\x0b"}))
    return fault_record(m), int.from_bytes(m.read(0x8100, 4), "little")


def test_call_gate_parameter_reads_from_a_misaligned_ring3_stack_raise_ac(tmp_path):
    """The parameters are read from the caller's stack at CPL 3 (SDM vol. 2A CALL: #AC(0)
    for an unaligned memory reference while CPL is 3): #AC(0) on the CALL, nothing
    switched (the handler's frame names CPL 3's CS)."""
    rec, at = _call_gate_run(tmp_path, 2, 2)
    assert (rec["vector"], rec["code"], rec["cs"], rec["eip"]) == (17, 0, CODE3, at)


@pytest.mark.parametrize("count, misalign", [(2, 0), (0, 2)])
def test_call_gate_copies_to_the_inner_stack_never_raise_ac(tmp_path, count, misalign):
    """Aligned parameters, or none to read: the pushes on the ring-0 stack (here at a
    misaligned ESP0) are made at CPL 0, where #AC is never raised (SDM vol. 3, 6.15)."""
    rec, _ = _call_gate_run(tmp_path, count, misalign, esp0=0x8802)
    assert (rec["vector"], rec["cs"]) == (6, CODE0)
