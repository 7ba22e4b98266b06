"""The interrupt shadow (Intel SDM vol. 2, STI: "external, maskable interrupts remain
inhibited on the instruction boundary following an execution of STI" when IF was 0;
MOV SS / POP SS: "interrupts and debug exceptions are inhibited until the instruction
boundary following the next instruction"). The PC delivers IRQs between runs, through
Machine.external_interrupt, after checking cpu.inhibit_irq; here a driver does the same
one instruction at a time with an interrupt always pending, so the return address the
handler sees says exactly at which boundary the interrupt was taken."""

from __future__ import annotations

import struct

import pytest
from protected_kit import BODY, Setup, fault_record, nasm, run_pyvm, run_unicorn

REAL = """bits 16
org 0x7c00
cli
xor ax, ax
mov ds, ax
mov word [0x20], handler        ; IRQ0 = vector 8
mov word [0x22], 0
mov word [0x700], after_hlt     ; where the handler should find each return address
mov word [0x702], after_mov
mov word [0x704], after_pop
mov word [0x706], after_sti2
mov ss, ax                      ; (IF is 0 here)
mov sp, 0x9000
sti                             ; IF 0 -> 1: the shadow
hlt                             ; the interrupt comes after the HLT, not before it
after_hlt:
mov ss, ax                      ; IF = 1: held off for one instruction
mov sp, 0x9000
after_mov:
push ss
pop ss
nop
after_pop:
sti                             ; IF already 1: no shadow
after_sti2:
nop
cli
hlt
handler:
push bp
push bx
mov bp, sp
mov bx, [0x600]
add word [0x600], 2
push ax
mov ax, [bp + 4]                ; the pushed IP
mov [0x610 + bx], ax
pop ax
pop bx
pop bp
iret
"""


def _drive(m, pending_after) -> list:
    """Run one instruction at a time; after each, an interrupt becomes pending when
    pending_after(opcode bytes) says so, and is taken as the PC takes it."""
    pending = True
    boundaries = []
    m.on_halt = lambda machine: machine.cpu.flags & 0x200 != 0
    for _ in range(200):
        op = m.read(m.cpu.linear_ip(), 2)
        stop = m.run(1)
        if stop.reason == "halt":
            break
        pending = pending or pending_after(op)
        boundaries.append(m.cpu.inhibit_irq)
        if pending and m.cpu.flags & 0x200 and not m.cpu.inhibit_irq:
            assert m.external_interrupt(8)
            pending = False
        elif pending and m.cpu.flags & 0x200:
            assert not m.external_interrupt(8)      # the machine refuses it too
    return boundaries


def test_sti_hlt_mov_ss_pop_ss_hold_the_interrupt_off_one_instruction(tmp_path):
    from vm.x86.machine import Machine
    code = nasm(tmp_path, REAL, "shadow")
    m = Machine("real")
    m.load(0x7C00, code)
    m.set_segment("cs", 0)
    m.set_reg("eip", 0x7C00)
    # a new interrupt request after each MOV SS / POP SS / the second STI
    _drive(m, lambda op: op[0] in (0x17, 0xFB) or op[0] == 0x8E and op[1] >> 3 & 7 == 2)
    expected = struct.unpack("<4H", m.read(0x700, 8))
    count = struct.unpack("<H", m.read(0x600, 2))[0]
    taken = struct.unpack(f"<{count // 2}H", m.read(0x610, count))
    assert taken == expected


def test_inhibit_irq_is_set_only_at_the_boundary_after(tmp_path):
    from vm.x86.machine import Machine
    code = nasm(tmp_path, "bits 16\norg 0x7c00\ncli\nsti\nnop\nmov ss, ax\nnop\nsti\nnop\n"
                "pop ss\nnop\ncli\nhlt\n", "flags")
    m = Machine("real")
    m.load(0x7C00, code)
    m.set_segment("cs", 0)
    m.set_reg("eip", 0x7C00)
    m.set_reg("esp", 0x9000)
    seen = []
    for _ in range(10):
        if m.run(1).reason == "halt":
            break
        seen.append(m.cpu.inhibit_irq)
    #             cli    sti   nop    mov ss nop    sti    nop    pop ss nop    cli
    assert seen == [False, True, False, True, False, False, False, True, False, False]


# single-step after MOV SS: the #DB comes after the instruction that follows it
TF_MOV_SS = """
mov ax, 0x10
mov ds, ax
mov ss, ax
mov esp, 0x9000
pushfd
or dword [esp], 0x100
popfd
mov ss, ax
mov eax, 1
after:
mov eax, 2
"""


@pytest.mark.parametrize("pop", [False, True])
def test_single_step_trap_after_mov_ss_waits_one_instruction(tmp_path, pop):
    source = TF_MOV_SS
    if pop:         # SS pushed before TF is set; POP SS is the first traced instruction
        source = source.replace("pushfd", "push ss\npushfd").replace(
            "popfd\nmov ss, ax", "popfd\npop ss")
    setup = Setup(source)
    rec = fault_record(run_pyvm(tmp_path, setup))
    after = BODY + len(nasm(tmp_path, "bits 32\n" + source.split("after:")[0], "pre"))
    assert (rec["vector"], rec["eip"]) == (1, after)
    # Unicorn (QEMU's translator) holds the trap off the same way
    u = run_unicorn(tmp_path, setup)
    from unicorn import x86_const as X
    assert (u.vector, u.uc.reg_read(X.UC_X86_REG_EIP)) == (1, after)
