; factorials.s - print n! for n = 0..12 in decimal ("0! = 1" ... "12! = 479001600"),
; one per line, through the Linux int 0x80 ABI; exit status 0.
; A flat 32-bit binary loaded at address 0:
;     pyasm samples/factorials.s -o factorials.bin && pyvm factorials.bin
        bits 32
        org 0

LAST    equ 12                  ; 13! does not fit in 32 bits

start:
        xor esi, esi            ; n
        mov ebp, 1              ; n!
.loop:
        mov edi, line           ; build "n! = n!\n" at line
        mov eax, esi
        call decimal
        mov dword [edi], "! = "
        add edi, 4
        mov eax, ebp
        call decimal
        mov byte [edi], 10
        inc edi

        mov eax, 4              ; sys_write(1, line, edi - line)
        mov ebx, 1
        mov ecx, line
        mov edx, edi
        sub edx, ecx
        int 0x80

        inc esi
        imul ebp, esi           ; (n + 1)! = n! * (n + 1)
        cmp esi, LAST
        jbe .loop

        mov eax, 1              ; sys_exit(0)
        xor ebx, ebx
        int 0x80

; decimal: write EAX in decimal at EDI; EDI advances past the digits.
; Clobbers EAX, ECX, EDX.
decimal:
        mov ecx, 10
        push 0                  ; sentinel: digits are pushed in reverse
.divide:
        xor edx, edx
        div ecx                 ; EAX = EAX / 10, EDX = digit
        add dl, '0'
        push edx
        test eax, eax
        jnz .divide
.store:
        pop eax
        test eax, eax
        jz .out
        mov [edi], al
        inc edi
        jmp .store
.out:
        ret

line:   times 32 db 0
