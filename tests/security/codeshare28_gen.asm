; Session 28 (tests/security/test_codeshare28_cachebytes.py): a program of its own per
; SEED (its first page differs: another run record in the code cache) that writes N
; blocks `mov eax, imm32; jmp next` in an RWX mapping, runs them and exits with the low
; byte of the last imm. nasm -f elf32 -DSEED=s -DN=n; ld -m elf_i386.
section .text
global _start
_start:
        mov     eax, SEED
        mov     eax, 192                ; mmap2(0, N*10+16, RWX, PRIVATE|ANON, -1, 0)
        xor     ebx, ebx
        mov     ecx, N*10+16
        mov     edx, 7
        mov     esi, 0x22
        mov     edi, -1
        xor     ebp, ebp
        int     0x80
        mov     edi, eax
        mov     ebx, eax
        xor     ecx, ecx
.gen:   mov     byte [edi], 0xB8        ; mov eax, i * 2654435761 + SEED
        imul    eax, ecx, 2654435761
        add     eax, SEED
        mov     [edi+1], eax
        mov     byte [edi+5], 0xE9      ; jmp next
        mov     dword [edi+6], 0
        add     edi, 10
        inc     ecx
        cmp     ecx, N
        jb      .gen
        mov     byte [edi], 0xC3        ; ret
        call    ebx
        movzx   ebx, al                 ; exit(last imm & 0xff)
        mov     eax, 1
        int     0x80
