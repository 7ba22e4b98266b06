"""Near branches against the code segment limit (Intel SDM vol. 2, JMP/Jcc/CALL/RET/
LOOP/JCXZ: "IF tempEIP is beyond code segment limit THEN #GP(0)"): the fault is taken
at the branch itself (the pushed EIP names it), a CALL pushes nothing, and a branch
that is not taken, or that stays inside the limit, runs on. The code runs in a ring-0
code segment at base 0 whose limit ends at 0x10FFF (byte granular), just past the
branches (at 0x10FE0)."""

from __future__ import annotations

import pytest
from protected_kit import STANDARD_GDT, Setup, desc, fault_record, run_pyvm

LIMITED = 0x30
GDT = STANDARD_GDT + [desc(0, 0x10FFF, 0x9A, 0x4)]     # 0x30: code, limit 0x10FFF, D=1
BEYOND = 0x11010        # LOOP/JECXZ reach it from 0x10FE0 (rel8)


def _run(tmp_path, branch: str, setup_regs: str = "") -> tuple:
    body = f"""
mov ax, 0x10
mov ds, ax
mov es, ax
mov ss, ax
mov esp, 0x9000
jmp {LIMITED:#x}:limited
limited:
{setup_regs}
mov dword [0x8100], branch_at
jmp branch_at
times 0xFE0 - ($ - $$) nop
branch_at:
{branch}
ud2
"""
    m = run_pyvm(tmp_path, Setup(body, gdt=GDT))
    at = int.from_bytes(m.read(0x8100, 4), "little")
    return m, fault_record(m), at


@pytest.mark.parametrize("branch,regs,pushed", [
    (f"jmp {BEYOND:#x}", "", 0),
    (f"jz {BEYOND:#x}", "xor eax, eax", 0),
    (f"call {BEYOND:#x}", "", 0),
    ("call eax", f"mov eax, {BEYOND:#x}", 0),
    ("jmp eax", f"mov eax, {BEYOND:#x}", 0),
    ("call [0x8200]", f"mov dword [0x8200], {BEYOND:#x}", 0),
    ("ret", f"push dword {BEYOND:#x}", 4),          # the return address stays pushed
    ("ret 8", f"push dword {BEYOND:#x}", 4),
    (f"loop {BEYOND:#x}", "mov ecx, 2", 0),
    (f"jecxz {BEYOND:#x}", "xor ecx, ecx", 0),
])
def test_branch_beyond_the_limit_faults_at_the_branch(tmp_path, branch, regs, pushed):
    m, rec, at = _run(tmp_path, branch, regs)
    assert (rec["vector"], rec["code"], rec["cs"], rec["eip"]) == (13, 0, LIMITED, at)
    # ring 0, no stack switch: EFLAGS sits just below the stack the branch left
    assert rec["esp"] == 0x9000 - pushed - 4
    if branch.startswith("loop"):
        assert m.reg("ecx") == 2            # a fault: the instruction did not happen


@pytest.mark.parametrize("branch,regs", [
    (f"jnz {BEYOND:#x}", "xor eax, eax"),           # not taken
    (f"loop {BEYOND:#x}", "mov ecx, 1"),            # ECX reaches 0: not taken
    (f"jecxz {BEYOND:#x}", "mov ecx, 1"),
    ("call near inside\ninside:\npop eax", ""),      # inside the limit
])
def test_branches_not_taken_or_inside_the_limit_run_on(tmp_path, branch, regs):
    _, rec, _ = _run(tmp_path, branch, regs)
    assert (rec["vector"], rec["cs"]) == (6, LIMITED)      # the ud2 after it
