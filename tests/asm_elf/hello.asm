; write(1, msg, len) then exit(status) via int 0x80, data/bss/rodata across sections
global _start
section .text
_start:
    mov eax, 4
    mov ebx, 1
    mov ecx, msg
    mov edx, msg_len
    int 0x80
    mov esi, table          ; forward ref across sections
    mov eax, [esi + 4]
    add eax, [counter]
    mov [result], eax
    call print_num
    mov ebx, [result]
    mov eax, 1
    int 0x80

print_num:                  ; prints result as 2 hex digits
    mov eax, [result]
    shr eax, 4
    and eax, 15
    mov al, [hexdig + eax]
    mov [outbuf], al
    mov eax, [result]
    and eax, 15
    mov al, [hexdig + eax]
    mov [outbuf + 1], al
    mov byte [outbuf + 2], 10
    mov eax, 4
    mov ebx, 1
    mov ecx, outbuf
    mov edx, 3
    int 0x80
    ret

section .data
msg:    db "hello, elf", 10
msg_len equ $ - msg
counter: dd 7
table:  dd 1, 35, 3
ptrs:   dd _start, print_num, msg, table + 8, $

section .rodata
hexdig: db "0123456789abcdef"

section .bss
result: resd 1
outbuf: resb 16
