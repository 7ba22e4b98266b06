; Sum of the bytes of a 64 KiB buffer (filled with a pattern first), repeated.
bits 32
org 0
BUF     equ 0x100000
        mov edi, BUF
        mov ecx, 65536
        xor eax, eax
fill:   mov [edi], al
        add al, 37
        inc edi
        dec ecx
        jnz fill
        mov ebp, 8
        xor edx, edx
pass:   mov esi, BUF
        mov ecx, 65536
sum:    movzx eax, byte [esi]
        add edx, eax
        inc esi
        dec ecx
        jnz sum
        dec ebp
        jnz pass
        movzx ebx, dl
        mov eax, 1
        int 0x80
