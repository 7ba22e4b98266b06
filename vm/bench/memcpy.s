; Copy a 64 KiB buffer in 64-byte pieces with rep movsb, repeated.
bits 32
org 0
SRC     equ 0x100000
DST     equ 0x200000
        mov ebp, 40
pass:   mov esi, SRC
        mov edi, DST
        mov edx, 1024
piece:  mov ecx, 64
        rep movsb
        add byte [edi-1], dl
        dec edx
        jnz piece
        dec ebp
        jnz pass
        movzx ebx, byte [DST+63]
        mov eax, 1
        int 0x80
