"""Debug registers in protected mode (Intel SDM vol. 3, ch. 17), the parts QEMU does not
show or a real-mode probe cannot reach (tests/test_pc_debugregs.py compares the rest
with qemu-system-i386): breakpoints on linear addresses through paging, data
breakpoints on every kind of access (stack, string, x87, SSE), the RF flag through
IRETD, single-step and data breakpoint in one #DB, general detect (DR7.GD; QEMU does
not model it) and the privilege rules of MOV DRn.

The body installs a ring-0 #DB handler that counts, records the saved EIP, DR6 and DR7,
clears DR6 and, by mode, disarms DR7 (0) or returns with RF set in the image (1)."""

from __future__ import annotations

import struct

import pytest
from protected_kit import CODE0, CODE3, DATA0, FLAT_SEGMENTS, IDT, Setup, fault_record, run_pyvm

REC = 0x8300        # count, EIP, DR6, DR7 (dwords); mode byte at REC + 16; ECX and the
                    # pushed EFLAGS at REC + 20, + 24

PRELUDE = f"""
{FLAT_SEGMENTS}mov eax, db_handler
mov word [{IDT + 8:#x}], ax
shr eax, 16
mov word [{IDT + 14:#x}], ax
fninit
"""

HANDLER = f"""
db_handler:
push eax
inc dword [{REC:#x}]
mov eax, dr7
mov [{REC + 12:#x}], eax
xor eax, eax
mov dr7, eax                    ; disarmed while the handler reads its own stack
mov eax, [esp + 4]
mov [{REC + 4:#x}], eax
mov eax, dr6
mov [{REC + 8:#x}], eax
mov [{REC + 20:#x}], ecx
mov eax, [esp + 12]
mov [{REC + 24:#x}], eax
xor eax, eax
mov dr6, eax
cmp byte [{REC + 16:#x}], 1
je .rf
and dword [esp + 12], ~0x100    ; TF: one single-step trap only
jmp .out
.rf:
or dword [esp + 12], 0x10000    ; RF in the image, DR7 armed again
mov eax, [{REC + 12:#x}]
mov dr7, eax
.out:
pop eax
iretd
"""


def _run(tmp_path, body: str, **setup) -> tuple:
    """(machine, (count, EIP, DR6, DR7) the handler saw, labels) after the final ud2."""
    src = PRELUDE + body + "\nud2\n" + HANDLER
    m = run_pyvm(tmp_path, Setup(src, **setup))
    rec = fault_record(m)
    assert rec["vector"] == 6, rec          # the body ran to its ud2
    return m, struct.unpack("<4I", m.read(REC, 16))


def _dr7(n: int, rw: int, length: int) -> int:
    """DR7 enabling breakpoint n (local) with R/W and LEN fields."""
    code = {1: 0, 2: 1, 8: 2, 4: 3}[length]
    return 1 << 2 * n | rw << 16 + 4 * n | code << 18 + 4 * n


def test_instruction_breakpoint_fires_before_and_rf_lets_it_run_once(tmp_path):
    """A loop compiled first (no breakpoint) then run again with DR0 on its body: each
    pass takes one fault-class #DB naming the instruction, the handler's IRETD with RF
    lets it run; 3 passes, 3 exceptions (DR6.B0), then DR7 cleared."""
    body = f"""
mov ecx, 200
warm: inc ebx
dec ecx
jnz warm
mov byte [{REC + 16:#x}], 1
xor ebx, ebx
mov eax, target
mov dr0, eax
mov eax, 1
mov dr7, eax
mov ecx, 3
target: inc ebx
dec ecx
jnz target
xor eax, eax
mov dr7, eax
mov [0x8400], ebx
mov dword [0x8404], target
"""
    m, (count, eip, dr6, dr7) = _run(tmp_path, body)
    target = int.from_bytes(m.read(0x8404, 4), "little")
    assert (count, eip, dr6, dr7) == (3, target, 0xFFFF0FF1, 0x401)
    assert int.from_bytes(m.read(0x8400, 4), "little") == 3
    assert not m.cpu.dbg                # DR7 cleared: the compiled-block loop again


def test_data_breakpoint_watches_linear_addresses_through_paging(tmp_path):
    """Linear 0x200000 maps to physical 0x300000: a store to the identity-mapped alias
    0x300004 does not hit DR1 = 0x200004, the store through 0x200004 does (a trap: the
    saved EIP is the next instruction)."""
    body = f"""
mov eax, 0x200004
mov dr1, eax
mov eax, {_dr7(1, 1, 4):#x}
mov dr7, eax
mov dword [0x300004], 7
mov dword [0x200004], 1
after:
mov dword [0x8404], after
"""
    m, (count, eip, dr6, dr7) = _run(tmp_path, body, paging=True, pte={0x200: 0x300000 | 7})
    after = int.from_bytes(m.read(0x8404, 4), "little")
    assert (count, eip, dr6) == (1, after, 0xFFFF0FF2)
    assert m.read(0x300004, 4) == b"\x01\0\0\0"


ACCESSES = [    # (code, R/W: 1 write, 3 read or write, expected hit)
    ("push eax", 1, True),                          # the stack, 0x8ffc
    ("sub esp, 4\npop eax", 3, True),
    ("sub esp, 4\npop eax", 1, False),              # a read: no write breakpoint
    ("call near after", 1, True),                   # the return address pushed
    ("mov dword [0x6000], 1", 1, True),
    ("mov eax, [0x6000]", 3, True),
    ("mov eax, [0x6000]", 1, False),
    ("cmp [0x6002], ax", 3, True),                  # overlapping the 4 bytes
    ("mov [0x6004], eax", 3, False),                # just after them
    ("mov esi, 0x5000\nmov edi, 0x6000\nmovsd", 1, True),
    ("mov esi, 0x6000\nlodsd", 3, True),
    ("fld1\nfstp dword [0x6000]", 1, True),
    ("fld dword [0x6000]", 3, True),
    ("movq mm0, [0x6000]", 3, True),
    ("movdqu [0x5ff8], xmm0", 1, True),
    ("fxsave [0x5f00]", 1, True),                   # 512 bytes: 0x5f00-0x60ff
]


@pytest.mark.parametrize("code, rw, hit", ACCESSES)
def test_data_breakpoint_on_each_kind_of_access(tmp_path, code, rw, hit):
    watched = 0x8FFC if "push" in code or "pop" in code or "call" in code else 0x6000
    body = f"""
mov eax, {watched:#x}
mov dr2, eax
mov eax, {_dr7(2, rw, 4):#x}
mov dr7, eax
{code}
after:
mov dword [0x8404], after
xor eax, eax
mov dr7, eax
"""
    m, (count, eip, dr6, _) = _run(tmp_path, body)
    after = int.from_bytes(m.read(0x8404, 4), "little")
    if hit:
        assert (count, eip, dr6) == (1, after, 0xFFFF0FF4)
    else:
        assert count == 0


def test_single_step_and_data_breakpoint_in_one_exception(tmp_path):
    """TF set and a write breakpoint hit by the same instruction: one #DB after it with
    DR6.BS and DR6.B0."""
    body = f"""
mov eax, 0x6000
mov dr0, eax
mov eax, {_dr7(0, 1, 4):#x}
mov dr7, eax
pushfd
or dword [esp], 0x100
popfd
mov dword [0x6000], 1
after:
mov dword [0x8404], after
"""
    m, (count, eip, dr6, _) = _run(tmp_path, body)
    after = int.from_bytes(m.read(0x8404, 4), "little")
    assert (count, eip, dr6) == (1, after, 0xFFFF4FF1)


def test_general_detect_faults_on_a_debug_register_access(tmp_path):
    """DR7.GD: MOV from DR0 is a fault (#DB naming the MOV) with DR6.BD; GD is clear
    when the handler runs, so its own MOV DRn work."""
    body = """
mov eax, 0x2000
mov dr7, eax
spot: mov eax, dr0
mov dword [0x8404], spot
"""
    m, (count, eip, dr6, dr7) = _run(tmp_path, body)
    spot = int.from_bytes(m.read(0x8404, 4), "little")
    assert (count, eip, dr6, dr7) == (1, spot, 0xFFFF2FF0, 0x400)


def test_mov_dr_at_cpl3_is_gp0(tmp_path):
    from test_protected_alignment import _ring3
    body = _ring3(0x202) + "mov dword [0x8100], spot\nspot: mov eax, dr7\nud2"
    m = run_pyvm(tmp_path, Setup(body))
    rec = fault_record(m)
    assert (rec["vector"], rec["code"], rec["cs"]) == (13, 0, CODE3)
    assert rec["eip"] == int.from_bytes(m.read(0x8100, 4), "little")


@pytest.mark.parametrize("de", [False, True])
def test_dr4_dr5_alias_dr6_dr7_unless_cr4_de(tmp_path, de):
    """CR4.DE clear: DR4/DR5 are DR6/DR7; set: #UD (here: the ud2 at the end is reached
    only in the first case, the MOV faults in the second)."""
    body = PRELUDE + f"""
mov eax, {0x8 if de else 0}
mov cr4, eax
mov eax, 0x700
mov dr7, eax
mov dword [0x8100], spot
spot: mov eax, dr5
mov [0x8104], eax
ud2
""" + HANDLER
    m = run_pyvm(tmp_path, Setup(body))
    rec = fault_record(m)
    spot = int.from_bytes(m.read(0x8100, 4), "little")
    assert (rec["vector"], rec["cs"]) == (6, CODE0)
    if de:
        assert rec["eip"] == spot       # #UD on the MOV itself
    else:
        assert rec["eip"] != spot and m.read(0x8104, 4) == struct.pack("<I", 0x700)


def test_breakpoint_inside_a_compiled_loop_body(tmp_path):
    """A loop that already ran as one compiled block (200 iterations) is armed with a
    breakpoint on an instruction in the middle of its body: the translation is
    redone so a block ends there, and each of the 3 next iterations takes its #DB."""
    body = f"""
mov byte [{REC + 16:#x}], 1
mov ecx, 200
call spin
mov eax, middle
mov dr3, eax
mov eax, {1 << 6:#x}
mov dr7, eax
mov ecx, 3
call spin
xor eax, eax
mov dr7, eax
mov [0x8400], ebx
mov dword [0x8404], middle
jmp done
spin:
inc ebx
middle: add edx, 2
dec ecx
jnz spin
ret
done:
"""
    m, (count, eip, dr6, _) = _run(tmp_path, body)
    middle = int.from_bytes(m.read(0x8404, 4), "little")
    assert (count, eip, dr6) == (3, middle, 0xFFFF0FF8)
    assert int.from_bytes(m.read(0x8400, 4), "little") == 203
    assert m.cpu.r[2] == 2 * 203        # edx: the instruction ran once per iteration


def test_data_breakpoint_inside_rep_movsd_traps_after_that_iteration(tmp_path):
    """REP MOVSD over 4 doublewords with a write breakpoint on the third: #DB after the
    third iteration, the saved EIP naming the REP MOVSD (ECX = 1 left) and RF set in
    the pushed EFLAGS; the handler returns and the copy completes (SDM 17.3.1.2,
    17.3.1.1 on RF)."""
    body = f"""
mov dword [0x5000], 1
mov dword [0x5004], 2
mov dword [0x5008], 3
mov dword [0x500c], 4
mov eax, 0x6008
mov dr0, eax
mov eax, {_dr7(0, 1, 4):#x}
mov dr7, eax
mov esi, 0x5000
mov edi, 0x6000
mov ecx, 4
cld
spot: rep movsd
mov [0x8400], ecx
mov dword [0x8404], spot
"""
    m, (count, eip, dr6, _) = _run(tmp_path, body)
    spot = int.from_bytes(m.read(0x8404, 4), "little")
    ecx, eflags = struct.unpack("<II", m.read(REC + 20, 8))
    assert (count, eip, dr6, ecx) == (1, spot, 0xFFFF0FF1, 1)
    assert eflags & 0x10000                                 # RF
    assert m.read(0x6000, 16) == struct.pack("<4I", 1, 2, 3, 4)
    assert int.from_bytes(m.read(0x8400, 4), "little") == 0


def test_task_switch_clears_the_local_enables(tmp_path):
    """A hardware task switch clears DR7's local enables L0-L3 and keeps the global
    ones (SDM 17.2.4): L0 | G1 before, G1 after."""
    from protected_kit import STANDARD_GDT, TSS_SEL, desc
    tss2 = 0x3100
    body = PRELUDE + f"""
mov ax, {TSS_SEL:#x}
ltr ax
mov dword [{tss2 + 0x20:#x}], task2         ; EIP
mov dword [{tss2 + 0x24:#x}], 2             ; EFLAGS
mov dword [{tss2 + 0x38:#x}], 0x8800        ; ESP
mov dword [{tss2 + 0x48:#x}], {DATA0:#x}    ; ES CS SS DS FS GS
mov dword [{tss2 + 0x4c:#x}], {CODE0:#x}
mov dword [{tss2 + 0x50:#x}], {DATA0:#x}
mov dword [{tss2 + 0x54:#x}], {DATA0:#x}
mov dword [{tss2 + 0x58:#x}], {DATA0:#x}
mov dword [{tss2 + 0x5c:#x}], {DATA0:#x}
mov eax, 0x1234
mov dr0, eax
mov eax, 0x5678
mov dr1, eax
mov eax, 0x9                                ; L0, G1 (instruction breakpoints)
mov dr7, eax
jmp 0x30:0
task2:
mov eax, dr7
mov [0x8400], eax
ud2
""" + HANDLER
    m = run_pyvm(tmp_path, Setup(body, gdt=STANDARD_GDT + [desc(tss2, 0x67, 0x89, 0)]))
    assert fault_record(m)["vector"] == 6
    assert m.read(0x8400, 4) == struct.pack("<I", 0x408)


def test_data_breakpoint_on_mov_ss_waits_for_the_next_instruction(tmp_path):
    """MOV SS holds off debug exceptions for one instruction (SDM 6.8.3): a read
    breakpoint hit by `mov ss, [m]` is reported after the instruction that follows."""
    body = f"""
mov word [0x6000], {DATA0:#x}
mov eax, 0x6000
mov dr1, eax
mov eax, {_dr7(1, 3, 2):#x}
mov dr7, eax
mov ss, [0x6000]
mov esp, 0x9000
after:
mov dword [0x8404], after
"""
    m, (count, eip, dr6, _) = _run(tmp_path, body)
    after = int.from_bytes(m.read(0x8404, 4), "little")
    assert (count, eip, dr6) == (1, after, 0xFFFF0FF2)
