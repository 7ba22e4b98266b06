; Sieve of Eratosthenes over 8192 byte flags, repeated; exit status = primes found & 0xff.
bits 32
org 0
SIZE    equ 8192
FLAGS   equ 0x100000
        mov ebp, 30
again:  mov edi, FLAGS
        mov ecx, SIZE / 4
        mov eax, 0x01010101
        rep stosd
        xor ebx, ebx
        mov esi, 2
outer:  cmp byte [FLAGS+esi], 0
        je next
        inc ebx
        lea edx, [esi+esi]
inner:  cmp edx, SIZE
        jae next
        mov byte [FLAGS+edx], 0
        add edx, esi
        jmp inner
next:   inc esi
        cmp esi, SIZE
        jb outer
        dec ebp
        jnz again
        mov eax, 1
        int 0x80
