; Recursive calls: fib(24) the naive way; exit status = fib(24) & 0xff.
bits 32
org 0
        mov eax, 24
        call fib
        movzx ebx, al
        mov eax, 1
        int 0x80
fib:    cmp eax, 2
        jae .rec
        ret
.rec:   push ebx
        mov ebx, eax
        lea eax, [ebx-1]
        call fib
        push eax
        lea eax, [ebx-2]
        call fib
        pop edx
        add eax, edx
        pop ebx
        ret
