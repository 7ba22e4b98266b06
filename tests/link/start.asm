; Start-up code for the freestanding C tests: _start calls C's main and exits with its
; return value through int 0x80. It also provides putstr() for C and reads C data
; (a COMMON variable) so references go both ways.
global _start, putstr, startup_marker
extern main, counter

section .text
_start:
    xor ebp, ebp
    mov dword [counter], 3          ; C's COMMON variable, set before main runs
    call main
    mov ebx, eax
    mov eax, 1                      ; sys_exit
    int 0x80

; void putstr(const char *s): write a NUL-terminated string to stdout
putstr:
    push ebx
    mov ecx, [esp + 8]
    mov edx, ecx
.len:
    cmp byte [edx], 0
    je .write
    inc edx
    jmp .len
.write:
    sub edx, ecx
    mov ebx, 1
    mov eax, 4                      ; sys_write
    int 0x80
    pop ebx
    ret

section .rodata
startup_marker: db "start-up", 0

section .note.GNU-stack noalloc noexec nowrite progbits
