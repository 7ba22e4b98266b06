; Two NASM objects referring to each other's code and data in both directions.
global _start, data_a, buf_a
extern func_b, data_b, buf_b, msg_b, msg_b_len

section .text
_start:
    mov eax, [data_b]               ; R_386_32 into b's .data
    add eax, [data_a]
    mov [buf_b], eax                ; R_386_32 into b's .bss
    call func_b                     ; R_386_PC32
    mov ebx, 1
    mov ecx, msg_b
    mov edx, msg_b_len              ; an absolute symbol
    mov eax, 4
    int 0x80
    mov ebx, [buf_a]
    mov eax, 1
    int 0x80

section .data
data_a: dd 5
ptrs: dd _start, func_b, msg_b     ; R_386_32 in data

section .bss
buf_a: resd 4
