; Register ALU loop: the usual integer mix of compiled code, no memory.
bits 32
org 0
        mov ecx, 400000
        xor eax, eax
        mov ebx, 0x12345678
        mov edx, 1
        mov esi, 7
top:    add eax, ebx
        xor ebx, eax
        lea edx, [edx+eax*2+1]
        sub eax, edx
        imul esi, esi, 13
        and ebx, 0x7fffffff
        or edx, 3
        shr ebx, 1
        add esi, ecx
        cmp eax, edx
        jbe .skip
        inc eax
.skip:  dec ecx
        jnz top
        xor eax, esi
        movzx ebx, al           ; exit status: the low byte of the result
        mov eax, 1
        int 0x80
