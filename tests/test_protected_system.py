"""Protected-mode system behaviour Unicorn does not model (it neither delivers exceptions
through the IDT nor checks data segment limits): exceptions with their error codes,
ring transitions with the TSS stack switch, virtual-8086 IOPL checks, translations
dropped when a page table changes, and the triple fault that ends a run. The expected
values are the 80386 Programmer's Reference Manual's rules (chapter 9: error code = the
selector with EXT/IDT bits, 0 for a limit or null-selector fault, vector*8+2 for an IDT
entry; chapter 5: page-fault error code P | W/R << 1 | U/S << 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from protected_kit import (
    BODY,
    CODE0,
    CODE3,
    DATA0,
    DATA3,
    FLAT_SEGMENTS,
    STANDARD_GDT,
    TSS_SEL,
    Setup,
    desc,
    fault_record,
    nasm,
    run_pyvm,
)

REPO = Path(__file__).resolve().parent.parent
PROLOGUE = f"""
{FLAT_SEGMENTS}"""
GDT_PLUS = STANDARD_GDT + [
    desc(0x50000, 0x0FFF, 0x92, 0x4),       # 0x30 data, limit 0xFFF
    desc(0x50000, 0x0FFF, 0x12, 0x4),       # 0x38 not present
    desc(0x50000, 0x0FFF, 0xB2, 0x4),       # 0x40 data DPL 1
    desc(0x50000, 0x0FFF, 0x90, 0x4),       # 0x48 read-only data
    desc(0x50000, 0x0FFF, 0x98, 0x4),       # 0x50 execute-only code
]


def _fault(tmp_path, body: str, **kw) -> dict:
    m = run_pyvm(tmp_path, Setup(PROLOGUE + body, gdt=GDT_PLUS, **kw))
    return fault_record(m)


@pytest.mark.parametrize("body,vector,code", [
    ("mov ax, 0x30\nmov fs, ax\nmov eax, [fs:0xFFE]", 13, 0),        # limit
    ("xor eax, eax\nmov gs, ax\nmov eax, [gs:0]", 13, 0),           # null selector
    ("mov ax, 0x38\nmov fs, ax", 11, 0x38),                         # not present
    ("mov ax, 0x40\nmov ss, ax", 13, 0x40),                         # SS DPL != CPL
    ("mov ax, 0x48\nmov ss, ax", 13, 0x48),                         # read-only stack
    ("mov ax, 0x50\nmov ds, ax", 13, 0x50),                         # execute-only data
    ("mov ax, 0x48\nmov fs, ax\nmov dword [fs:0], 1", 13, 0),       # write to read-only
    ("mov ax, 0x3ff8\nmov fs, ax", 13, 0x3FF8),                     # beyond the GDT
    ("mov ax, 0x0c\nmov fs, ax", 13, 0x0C),                         # TI=1, no LDT
    ("int 0x40", 13, 0x40 * 8 + 2),                                 # beyond the IDT
    ("mov ax, 0x30\nmov ds, ax\njmp 0x30:0", 13, 0x30),             # jump to data
    ("mov eax, 0\ndiv eax", 0, None),
    ("ud2", 6, None),
    ("int3", 3, None),
    ("mov eax, cr0\nor al, 8\nmov cr0, eax\nfld1", 7, None),              # CR0.TS: #NM
    ("pushfd\nor dword [esp], 0x100\npopfd\nmov eax, 1", 1, None),     # TF: #DB
])
def test_exception_vector_and_error_code(tmp_path, body, vector, code):
    rec = _fault(tmp_path, body)
    assert (rec["vector"], rec["code"]) == (vector, code)
    assert rec["cs"] == CODE0


def test_faulting_instruction_is_restartable(tmp_path):
    """The pushed EIP names the faulting instruction (a trap, INT3, the next one; the
    single-step trap comes after the instruction following the POPF that set TF)."""
    rec = _fault(tmp_path, "pushfd\nor dword [esp], 0x100\npopfd\nmov eax, 1\nnop")
    assert rec["eip"] == BODY + len(nasm(tmp_path, "bits 32\n" + PROLOGUE +
                                         "pushfd\nor dword [esp], 0x100\npopfd\nmov eax, 1",
                                         "pre3"))
    assert rec["eflags"] & 0x100
    rec = _fault(tmp_path, "nop\nmov ax, 0x38\nmov fs, ax")
    assert rec["eip"] == BODY + len(nasm(tmp_path, "bits 32\n" + PROLOGUE + "nop\nmov ax, 0x38",
                                         "pre"))
    rec = _fault(tmp_path, "int3\nnop")
    assert rec["eip"] == BODY + len(nasm(tmp_path, "bits 32\n" + PROLOGUE + "int3", "pre2"))


RING3 = f"""
mov dword [0x3004], 0x8800          ; TSS.ESP0
mov dword [0x3008], {DATA0:#x}      ; TSS.SS0
mov ax, {TSS_SEL:#x}
ltr ax
push dword {DATA3:#x}               ; SS
push dword 0x7000                   ; ESP
push dword 0x202                    ; EFLAGS (IOPL 0)
push dword {CODE3:#x}               ; CS
push dword user
iretd
user:
mov ax, {DATA3:#x}
mov ds, ax
"""


def test_ring3_to_ring0_stack_switch_through_the_tss(tmp_path):
    rec = _fault(tmp_path, RING3 + "cli")           # IOPL 0 < CPL 3: #GP(0)
    assert (rec["vector"], rec["code"], rec["cs"]) == (13, 0, CODE3)
    assert rec["old_ss"] == DATA3 and rec["old_esp"] == 0x7000
    # the handler's stack is the TSS's: SS0:ESP0 less SS ESP EFLAGS CS EIP and the code;
    # the kit's handler pops the code, EIP and CS: EFLAGS, ESP, SS are left
    assert rec["esp"] == 0x8800 - 3 * 4


@pytest.mark.parametrize("insn,vector,code", [
    ("hlt", 13, 0), ("mov eax, cr0", 13, 0), ("in al, 0x60", 13, 0), ("lgdt [0]", 13, 0),
    ("int 0x1f", 13, 0x1F * 8 + 2),                 # gate DPL 0 < CPL 3
    ("mov eax, [0x200000]", 14, 5),                 # user read of a supervisor page
    ("mov dword [0x201000], 1", 14, 7),             # user write, read-only for user
    ("mov eax, [0x301000]", 14, 4),                 # not present
])
def test_user_mode_faults(tmp_path, insn, vector, code):
    pte = {0x200: 0x200000 | 3, 0x201: 0x201000 | 5, 0x301: 0}
    rec = _fault(tmp_path, RING3 + insn, paging=True, pte=pte)
    assert (rec["vector"], rec["code"], rec["cs"]) == (vector, code, CODE3)


def test_call_gate_to_ring0_copies_parameters(tmp_path):
    gdt = GDT_PLUS + [b""]
    body = RING3 + """
push dword 0x11111111
push dword 0x22222222
call 0x5b:0                 ; gate 0x58 (RPL 3)
hlt
gate_target:
mov eax, [esp + 8]          ; parameters, copied below the outer SS:ESP
mov ebx, [esp + 12]
mov ecx, [esp + 16]         ; outer ESP
mov edx, [esp + 20]         ; outer SS
mov si, cs
ud2
"""
    # the gate's offset: assemble once to find gate_target
    code = nasm(tmp_path, f"bits 32\norg {BODY:#x}\n" + PROLOGUE + body + "\nhlt\n", "g")
    marker = bytes.fromhex("8b442408")          # mov eax, [esp + 8]
    target = BODY + code.index(marker)
    gdt[-1] = bytes.fromhex("0000") + CODE0.to_bytes(2, "little") + bytes([2, 0xEC]) + b"\0\0"
    gdt[-1] = gdt[-1][:0] + (target & 0xFFFF).to_bytes(2, "little") + gdt[-1][2:6] + \
        (target >> 16).to_bytes(2, "little")
    m = run_pyvm(tmp_path, Setup(PROLOGUE + body, gdt=gdt))
    rec = fault_record(m)
    assert rec["vector"] == 6 and rec["cs"] == CODE0
    assert (m.reg("eax"), m.reg("ebx")) == (0x22222222, 0x11111111)
    assert (m.reg("ecx"), m.reg("edx") & 0xFFFF) == (0x7000 - 8, DATA3)
    assert m.reg("si") == CODE0


def test_v86_mode_iopl_sensitive_instructions(tmp_path):
    """IRETD to VM=1 with IOPL 0: CLI and INT n fault #GP(0) from V86 (EFLAGS.VM pushed,
    the V86 CS); with IOPL 3 CLI runs and INT n reaches the IDT, where the DPL 0 gate
    refuses it: #GP(vector * 8 + 2)."""
    for iopl, insn, code in ((0, "cli", 0), (0, "int 0x05", 0), (3, "cli\nint 0x05", 0x2A)):
        body = f"""
mov dword [0x3004], 0x8800
mov dword [0x3008], {DATA0:#x}
mov ax, {TSS_SEL:#x}
ltr ax
push dword 0            ; GS
push dword 0            ; FS
push dword 0            ; DS
push dword 0            ; ES
push dword 0x0          ; SS
push dword 0x7000       ; ESP
push dword {0x20002 | iopl << 12:#x}
push dword 0x1000       ; CS (V86: base 0x10000)
push dword v86 - {BODY:#x}
iretd
bits 16
v86:
{insn}
bits 32
"""
        rec = _fault(tmp_path, body)
        assert (rec["vector"], rec["code"], rec["cs"]) == (13, code, 0x1000)
        assert rec["eflags"] & 0x20000
        assert rec["old_ss"] == 0 and rec["old_esp"] == 0x7000


def test_translations_follow_page_table_changes(tmp_path):
    """Code reached through a linear page runs from the new frame after the PTE changes
    and CR3 is reloaded (or INVLPG), never a stale compiled block."""
    body = """
mov ecx, 3
again:
call 0x200000
add esi, eax
mov dword [0x101800], 0x301007      ; PTE of linear page 0x200 -> frame 0x301
mov eax, cr3
mov cr3, eax
call 0x200000
add edi, eax
mov dword [0x101800], 0x300007      ; back to frame 0x300, with INVLPG
invlpg [0x200000]
loop again
"""
    frames = {0x300000: bytes.fromhex("b801000000c3"),    # mov eax, 1; ret
              0x301000: bytes.fromhex("b802000000c3")}    # mov eax, 2; ret
    m = run_pyvm(tmp_path, Setup(PROLOGUE + "xor esi, esi\nxor edi, edi\n" + body,
                                 paging=True, memory=frames, pte={0x200: 0x300007}))
    assert (m.reg("esi"), m.reg("edi")) == (3, 6)


def test_triple_fault_stops_with_the_chain(tmp_path):
    """No IDT: #GP -> #DF -> shutdown. The run stops (exit 139 from the CLI) naming the
    fault chain."""
    boot = nasm(tmp_path, """bits 16
org 0x7c00
cli
lgdt [cs:gdtr]
lidt [cs:idtr]
mov eax, cr0
or al, 1
mov cr0, eax
jmp dword 0x08:pm
bits 32
pm:
mov ax, 0x10
mov ds, ax
mov eax, [0xFFFFFFF0]       ; beyond the data segment's limit 0xFFFFF
hlt
gdtr: dw 23
      dd gdt
idtr: dw 0
      dd 0
align 8
gdt: dq 0
     dq 0x00CF9A000000FFFF
     dq 0x00409200000FFFFF
times 510 - ($ - $$) db 0
dw 0xAA55
""", "boot")
    path = tmp_path / "boot.bin"
    path.write_bytes(boot)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-m", "vm.cli", "--bits", "16", str(path)],
                       capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert r.returncode == 139, r.stderr
    assert "triple fault" in r.stderr
    assert "general protection fault(0x0)" in r.stderr and "double fault" in r.stderr


def test_code_page_fault_handler_maps_the_page_without_invlpg(tmp_path):
    """A not-present page is never cached (TLB or compiled code): after the #PF handler
    sets the PTE, the retried fetch runs the page's code."""
    body = f"""
mov eax, pf_handler
mov [{0x1000 + 14 * 8:#x}], ax
shr eax, 16
mov [{0x1000 + 14 * 8 + 6:#x}], ax
xor esi, esi
call 0x200000
jmp done
pf_handler:
add esp, 4
inc esi
mov dword [0x101800], 0x300007
iretd
done:
"""
    frames = {0x300000: bytes.fromhex("b801000000c3")}    # mov eax, 1; ret
    m = run_pyvm(tmp_path, Setup(PROLOGUE + body, paging=True, memory=frames,
                                 pte={0x200: 0}))
    assert (m.reg("eax"), m.reg("esi")) == (1, 1)


def test_leaving_protected_mode_keeps_the_cached_code_segment(tmp_path):
    """The usual way back: a 16-bit code descriptor (base 0), clear CR0.PE, then a far
    jump reloads CS; in between the CPU runs on the cached base. Data segment caches
    keep their protected-mode base until reloaded."""
    from vm.x86.machine import Machine
    boot = nasm(tmp_path, """bits 16
org 0x7c00
cli
lgdt [cs:gdtr]
mov eax, cr0
or al, 1
mov cr0, eax
jmp dword 0x08:pm
bits 32
pm:
mov ax, 0x10
mov ds, ax
jmp 0x18:pm16
bits 16
pm16:
mov eax, cr0
and al, 0xfe
mov cr0, eax
mov bx, 0x1234          ; runs on the cached CS base (0), selector 0x18 notwithstanding
jmp 0:real
real:
mov cx, cs
mov dx, [0x10]          ; DS keeps base 0x20000 from its protected-mode descriptor
hlt
gdtr: dw 31
      dd gdt
align 8
gdt: dq 0
     dq 0x00CF9A000000FFFF      ; 0x08 32-bit code, base 0
     dq 0x000092020000FFFF      ; 0x10 16-bit data, base 0x20000
     dq 0x00009A000000FFFF      ; 0x18 16-bit code, base 0
""", "exit")
    m = Machine("real")
    m.load(0x7C00, boot)
    m.load(0x20010, b"\x78\x56")
    m.set_reg("eip", 0x7C00)
    stop = m.run(max_steps=1000)
    assert stop.reason == "halt", stop
    assert (m.reg("bx"), m.reg("cx"), m.reg("dx")) == (0x1234, 0, 0x5678)
    assert not m.cpu.pm and m.cpu.real
