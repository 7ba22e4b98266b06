"""The debug registers (Intel SDM vol. 3, ch. 17) on the PC, against qemu-system-i386: a
boot probe (real mode, CS = 0, so linear = offset) programs DR0-DR7 and reports, from
its INT 1 handler, how many #DB it took, the saved IP, BX as the handler found it and
DR6, on the debug console.

- reset values and the fixed bits of DR6 (FFFF0FF0) and DR7 (400), DR4/DR5 = DR6/DR7;
- an instruction breakpoint is a fault: the saved IP is the instruction, which has not
  run yet (BX unchanged), DR6.B0;
- data breakpoints are traps after the access: a write breakpoint ignores reads, a
  read/write one does not, a 1-byte breakpoint is hit by a word store that overlaps it;
- a single-step trap (TF) sets DR6.BS;
- RF set by the handler in an IRETD image lets the instruction run once without a new
  #DB: an instruction breakpoint inside a loop of 3 fires 3 times, not forever;
- a data breakpoint hit by one iteration of REP MOVSW traps after that iteration, the
  saved IP on the instruction, which then resumes with CX left.
"""

from __future__ import annotations

from pc_harness import both

PROBE = r"""
        mov word [0x0004], dbh          ; IVT[1]: the debug exception
        mov word [0x0006], 0
        SAY "reset "
        mov eax, dr6
        call hex32
        SP
        mov eax, dr7
        call hex32
        NL
        SAY "fixed "
        xor eax, eax
        mov dr6, eax
        mov eax, dr6
        call hex32
        SP
        mov eax, 0x12345678
        mov dr0, eax
        mov eax, dr0
        call hex32
        SP
        mov eax, 0x700                  ; LE GE, no breakpoint enabled
        mov dr5, eax                    ; = DR7 (CR4.DE clear)
        mov eax, dr7
        call hex32
        SP
        mov eax, 0xa
        mov dr6, eax
        mov eax, dr4                    ; = DR6
        call hex32
        NL
        xor eax, eax
        mov dr6, eax
        mov dr7, eax
        mov dr0, eax

        ; A: instruction breakpoint on bp1 (L0, R/W 00, LEN 00)
        mov byte [dbmode], 0
        mov word [dbcount], 0
        xor bx, bx
        mov eax, bp1
        mov dr0, eax
        mov eax, 1
        mov dr7, eax
        nop
bp1:    inc bx
        SAY "A"
        call report
        mov ax, bx
        call hex16
        SP
        mov ax, bp1
        call hex16
        NL

        ; B: write breakpoint, 2 bytes, on var (L1, R/W1 01, LEN1 01)
        mov word [dbcount], 0
        mov eax, var
        mov dr1, eax
        mov eax, 0x00500004
        mov dr7, eax
        mov ax, [var]                   ; a read: no trap
        mov word [var], 5
b_after:
        SAY "B"
        call report
        mov ax, b_after
        call hex16
        NL

        ; C: read/write breakpoint, 4 bytes, on var2 (L2, R/W2 11, LEN2 11)
        mov word [dbcount], 0
        mov eax, var2
        mov dr2, eax
        mov eax, 0x0f000010
        mov dr7, eax
        mov cx, [var + 8]               ; elsewhere: no trap
        mov eax, [var2]
c_after:
        SAY "C"
        call report
        mov ax, c_after
        call hex16
        NL

        ; D: write breakpoint, 1 byte, on var3 + 1 (L3, R/W3 01, LEN3 00)
        mov word [dbcount], 0
        mov eax, var3 + 1
        mov dr3, eax
        mov eax, 0x10000040
        mov dr7, eax
        mov byte [var3], 1              ; the byte before: no trap
        mov word [var3], 0              ; overlaps var3 + 1
d_after:
        SAY "D"
        call report
        mov ax, d_after
        call hex16
        NL

        ; E: single step (TF): DR6.BS; the handler clears TF in the saved FLAGS
        mov byte [dbmode], 2
        mov word [dbcount], 0
        pushf
        pop ax
        or ax, 0x100
        push ax
        popf
        nop
e_after:
        SAY "E"
        call report
        mov ax, e_after
        call hex16
        NL

        ; F: RF: the handler returns with IRETD and RF set, the breakpoint stays armed
        mov byte [dbmode], 1
        mov word [dbcount], 0
        xor bx, bx
        mov cx, 3
        mov eax, bp2
        mov dr0, eax
        mov eax, 1
        mov dr7, eax
bp2:    inc bx
        dec cx
        jnz bp2
        xor eax, eax
        mov dr7, eax
        SAY "F"
        call report
        mov ax, bx
        call hex16
        SP
        mov ax, bp2
        call hex16
        NL

        ; G: REP MOVSW over 4 words, a write breakpoint on the third: the #DB comes
        ; after that iteration, the saved IP on the REP MOVSW, CX = 1 left
        mov byte [dbmode], 0
        mov word [dbcount], 0
        mov eax, dst + 4
        mov dr0, eax
        mov eax, 0x00510001             ; L0, R/W0 01, LEN0 01
        mov dr7, eax
        mov si, src
        mov di, dst
        mov cx, 4
        cld
g_rep:  rep movsw
        SAY "G"
        call report
        mov ax, [last_cx]
        call hex16
        SP
        mov ax, cx
        call hex16
        SP
        mov ax, g_rep
        call hex16
        SP
        mov eax, [dst + 4]
        call hex32
        NL
        jmp finish

report: SP
        mov ax, [dbcount]
        call hex16
        SP
        mov ax, [last_ip]
        call hex16
        SP
        mov ax, [last_bx]
        call hex16
        SP
        mov eax, [last_dr6]
        call hex32
        SP
        ret

dbh:    push eax
        push bx
        mov bx, sp
        inc word [dbcount]
        mov ax, [ss:bx + 6]             ; the saved IP
        mov [last_ip], ax
        mov ax, [ss:bx]                 ; BX as the exception found it
        mov [last_bx], ax
        mov [last_cx], cx
        mov eax, dr6
        mov [last_dr6], eax
        xor eax, eax
        mov dr6, eax
        cmp byte [dbmode], 1
        je .rf
        cmp byte [dbmode], 2
        jne .off
        and word [ss:bx + 10], ~0x100   ; TF off in the saved FLAGS
.off:   xor eax, eax
        mov dr7, eax
        pop bx
        pop eax
        iret
.rf:    pop bx
        pop eax
        pop word [f_ip]
        pop word [f_cs]
        pop word [f_fl]
        push word 1                     ; EFLAGS bits 16-31: RF
        push word [f_fl]
        push word 0
        push word [f_cs]
        push word 0
        push word [f_ip]
        o32 iret

        align 4
var:    dw 0, 0, 0, 0, 0, 0
var2:   dd 0
var3:   dd 0
last_dr6: dd 0
last_ip: dw 0
last_bx: dw 0
last_cx: dw 0
src:    dw 1, 2, 3, 4
dst:    dw 0, 0, 0, 0
dbcount: dw 0
dbmode: db 0
f_ip:   dw 0
f_cs:   dw 0
f_fl:   dw 0
"""


def test_debug_registers_match_qemu(tmp_path):
    q, p = both(tmp_path, PROBE)
    assert p == q
    lines = dict(ln.split(" ", 1) for ln in q.decode().splitlines() if " " in ln)
    assert lines["reset"] == "FFFF0FF0 00000400"
    assert lines["fixed"] == "FFFF0FF0 12345678 00000700 FFFF0FFA"
    # count, saved IP, BX at the #DB, DR6 (+ the final BX and the label)
    a = lines["A"].split()
    assert a[0] == "0001" and a[1] == a[5] and a[2] == "0000" and a[3] == "FFFF0FF1" \
        and a[4] == "0001"
    b = lines["B"].split()
    assert b[0] == "0001" and b[1] == b[4] and b[3] == "FFFF0FF2"
    c = lines["C"].split()
    assert c[0] == "0001" and c[1] == c[4] and c[3] == "FFFF0FF4"
    d = lines["D"].split()
    assert d[0] == "0001" and d[1] == d[4] and d[3] == "FFFF0FF8"
    e = lines["E"].split()
    assert e[0] == "0001" and e[1] == e[4] and e[3] == "FFFF4FF0"
    f = lines["F"].split()
    assert f[0] == "0003" and f[4] == "0003" and f[3] == "FFFF0FF1"
    g = lines["G"].split()      # count, IP, BX, DR6, CX at the #DB, CX after, label, words
    assert g[0] == "0001" and g[1] == g[6] and g[3] == "FFFF0FF1" and g[4] == "0001" \
        and g[5] == "0000" and g[7] == "00040003"
