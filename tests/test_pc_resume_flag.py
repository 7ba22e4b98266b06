"""EFLAGS.RF in the frames of protected-mode exceptions (Intel SDM vol. 3, 17.3.1.1
"Instruction-Breakpoint Exception Condition"): "For any fault-class exception except a
debug exception generated in response to an instruction breakpoint, the value pushed
for RF is 1"; instruction-breakpoint #DB, traps and software interrupts push RF as it
is, and RF is cleared once an instruction has got past its breakpoint check. So a
handler that IRETs back to a faulting instruction re-runs it without hitting an
instruction breakpoint on it again, and the breakpoint on the next instruction fires.

The probe (a boot image entering protected mode with 32-bit gates for #DE, #GP, #DB and
#BP) logs each event: 'G' (the fault) with the pushed EFLAGS and EIP, 'D' (#DB) with
them and DR6, 'B' (INT3) with the pushed EFLAGS. The #DB handler returns with RF set in
its image, as a debugger does; the fault handler repairs the cause and returns.

QEMU 7.2 pushes RF as it is for faults too, so it is the oracle where RF is already 1
when the fault happens (a #DB handler's IRETD set it, and the faulting instruction got
past its breakpoint): there QEMU and the SDM agree. Where RF is 0 when the instruction
faults, the expected log is the SDM's (QEMU would re-trigger the breakpoint).
"""

from __future__ import annotations

import pytest
from pc_harness import POWER_OFF, both, disk_probe, run_pyvm, until_end

PROBE = r"""
        cli
        lgdt [gdtr]
        lidt [idtr]
        mov eax, cr0
        or al, 1
        mov cr0, eax
        jmp 0x08:pm
        bits 32
pm:     mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x7000
        mov eax, faulth
        mov ebx, 0                  ; #DE
        call setgate
        mov eax, faulth
        mov ebx, 13                 ; #GP
        call setgate
        mov eax, dbh
        mov ebx, 1
        call setgate
        mov eax, bph
        mov ebx, 3
        call setgate
        xor eax, eax
        mov dr6, eax
        mov dr7, eax
        mov edi, log
%if ARM_FIRST
        call arm
%endif
        push dword 0x202            ; IF set, RF clear
        popfd
        cli
        xor edx, edx
        xor eax, eax
        xor ebx, ebx                ; a zero divisor
        xor ecx, ecx
        mov es, cx                  ; a null ES
flt:    FAULTING
nxt:    inc ecx
        int3
        mov dword [edi], 0xEEEEEEEE
        mov esi, log
.show:  lodsd
        call hexd
        cmp eax, 0xEEEEEEEE
        je .off
        mov al, ' '
        out 0xe9, al
        jmp .show
.off:   mov al, 10
        out 0xe9, al
        mov al, 0x20
        out 0xf4, al
        hlt

; instruction breakpoints on flt (DR0) and nxt (DR1)
arm:    mov eax, flt
        mov dr0, eax
        mov eax, nxt
        mov dr1, eax
        mov eax, 5                  ; L0 L1, execute
        mov dr7, eax
        ret
; the fault (#DE or #GP(0)): log 'G', EFLAGS and EIP; arm the breakpoints, repair the
; cause (a divisor of 1, a valid ES) and return to the instruction
faulth: mov dword [edi], 0x47
        mov eax, [esp + 8 + ERRCODE]
        mov [edi + 4], eax
        mov eax, [esp + ERRCODE]
        mov [edi + 8], eax
        add edi, 12
        call arm
        mov ebx, 1
        mov ax, 0x10
        mov es, ax
        add esp, ERRCODE
        iretd
; #DB: log 'D', EFLAGS, EIP and DR6; return with RF set in the image
dbh:    mov dword [edi], 0x44
        mov eax, [esp + 8]
        mov [edi + 4], eax
        mov eax, [esp]
        mov [edi + 8], eax
        mov eax, dr6
        mov [edi + 12], eax
        xor eax, eax
        mov dr6, eax
        add edi, 16
        or dword [esp + 8], 0x10000
        iretd
; INT3 (a trap): log 'B' and EFLAGS
bph:    mov dword [edi], 0x42
        mov eax, [esp + 8]
        mov [edi + 4], eax
        add edi, 8
        iretd

setgate:
        mov [idt + ebx * 8], ax
        mov word [idt + ebx * 8 + 2], 0x08
        mov word [idt + ebx * 8 + 4], 0x8e00
        shr eax, 16
        mov [idt + ebx * 8 + 6], ax
        ret
hexd:   push ecx
        mov ecx, 8
.d:     rol eax, 4
        push eax
        and al, 15
        add al, '0'
        cmp al, '9'
        jbe .o
        add al, 7
.o:     out 0xe9, al
        pop eax
        loop .d
        pop ecx
        ret
        bits 16
        align 8
gdt:    dq 0, 0x00cf9a000000ffff, 0x00cf92000000ffff
gdtr:   dw 23
        dd gdt
idtr:   dw 32 * 8 - 1
        dd idt
        align 8
idt:    times 32 dq 0
log:    times 64 dd 0
"""

DIV = ("div ebx", 0)                            # #DE, no error code
LOAD = ("mov eax, [es:0x6000]", 4)              # #GP(0) (QEMU does not check a null ES)


def _probe(insn: str, errcode: int, arm_first: bool) -> str:
    head = f"%define FAULTING {insn}\n%define ERRCODE {errcode}\n" \
           f"%define ARM_FIRST {int(arm_first)}\n"
    return head + PROBE


def _events(log: bytes) -> list:
    """The log's words grouped into events: [('G', eflags, eip), ('D', eflags, eip,
    dr6), ('B', eflags)]."""
    words = [int(w, 16) for w in log.split(b"END")[0].split()]
    out = []
    while words and words[0] != 0xEEEEEEEE:
        n = {0x47: 3, 0x44: 4, 0x42: 2}[words[0]]
        out.append((chr(words[0]),) + tuple(words[1:n]))
        words = words[n:]
    return out


def test_fault_with_rf_already_set_matches_qemu(tmp_path):
    """Breakpoints armed first: #DB at the instruction (RF 0 pushed), the handler's
    IRETD sets RF, the instruction faults (RF 1 pushed), the fault handler returns, the
    instruction completes without a second #DB, the breakpoint on the next one fires
    (RF 0 pushed: it was cleared), INT3 pushes RF 0."""
    q, p = both(tmp_path, _probe(*DIV, arm_first=True))
    assert p == q, f"pyvm:\n{p.decode()}\nqemu:\n{q.decode()}"
    ev = _events(q)
    flt = ev[0][2]
    assert [e[0] for e in ev] == ["D", "G", "D", "B"]
    assert ev[0][1] & 0x10000 == 0 and ev[0][2:] == (flt, 0xFFFF0FF1)
    assert ev[1][1] & 0x10000 and ev[1][2] == flt
    assert ev[2][1] & 0x10000 == 0 and ev[2][3] == 0xFFFF0FF2 and ev[2][2] > flt
    assert ev[3][1] & 0x10000 == 0


@pytest.mark.parametrize("insn,errcode", [DIV, LOAD], ids=["de", "gp"])
def test_fault_pushes_rf_and_returns_past_the_breakpoint(tmp_path, insn, errcode):
    """RF clear when the instruction faults: the image still has RF = 1 (SDM 17.3.1.1);
    the fault handler arms a breakpoint on the instruction and returns: it completes
    without a #DB, then the next instruction's breakpoint fires with RF 0 pushed."""
    image = disk_probe(tmp_path, _probe(insn, errcode, arm_first=False))
    r = run_pyvm("--memory", "32M", "--disk", str(image))
    assert r.returncode == POWER_OFF, r.stderr.decode()
    ev = _events(until_end(r.stdout))
    assert [e[0] for e in ev] == ["G", "D", "B"], ev
    flt = ev[0][2]
    assert ev[0][1] & 0x10000
    assert ev[1][1] & 0x10000 == 0 and ev[1][3] == 0xFFFF0FF2 and ev[1][2] > flt
    assert ev[2][1] & 0x10000 == 0
