; A real-mode loop: 16-bit registers, segments, LOOP; ends with HLT.
bits 16
org 0x7c00
        mov ax, 0x1000
        mov ds, ax
        mov es, ax
        xor di, di
        mov cx, 8192
        mov ax, 0x0103
        rep stosw
        mov dx, 24
        xor bx, bx
outer:  xor si, si
        mov cx, 16384
inner:  mov al, [si]
        xor ah, ah
        add bx, ax
        adc bx, 0
        inc si
        loop inner
        dec dx
        jnz outer
        hlt
