; entry.asm - the kernel's first instructions and its interrupt entry points.
; Linked first, so _start is the first byte of kernel.bin (loaded at 0x10000).
        bits 32
        section .text

        global _start
        extern kmain, timer_tick, page_fault, exception, syscall
        global isr_timer, isr_page_fault, isr_syscall, load_idt
        global isr_exception_table

_start:
        cld
        call kmain
.hang:  cli
        hlt
        jmp .hang

; IRQ 0 (vector 20h): save the registers the C code may change, call it, return
isr_timer:
        pushad
        call timer_tick
        popad
        iretd

; #PF (vector 14): the CPU pushed an error code; page_fault(error) maps the page
isr_page_fault:
        pushad
        push dword [esp + 32]           ; the error code
        call page_fault
        add esp, 4
        popad
        add esp, 4                      ; drop the error code
        iretd

; int 30h: a "system call" whose number is in EAX; the result comes back in EAX
isr_syscall:
        pushad
        push eax
        call syscall
        add esp, 4
        mov [esp + 28], eax             ; the saved EAX
        popad
        iretd

; the other exceptions 0-31 (except 14): exception(vector) reports and stops
%assign v 0
%rep 32
isr_exc_%[v]:
        push dword v
        call exception
%assign v v + 1
%endrep

isr_exception_table:
%assign v 0
%rep 32
        dd isr_exc_%[v]
%assign v v + 1
%endrep

; load_idt(limit, base)
load_idt:
        mov eax, [esp + 8]
        mov [idtr + 2], eax
        mov ax, [esp + 4]
        mov [idtr], ax
        lidt [idtr]
        ret

        section .data
idtr:   dw 0
        dd 0
