; multiply.asm: 7 * 6 by repeated addition; the product goes to the data area and is
; printed in decimal ("42\n"). V16 has no multiply and no divide: the tens digit is
; found by repeated subtraction too.
        .equ a, 7
        .equ b, 6
        .equ product, 0x8000
        mov ax, 0
        mov bx, a
        mov cx, b
again:  cmp cx, 0
        je done
        add ax, bx
        dec cx
        jmp again
done:   mov [product], ax
        mov dx, 0               ; tens
tens:   cmp ax, 10
        jb print                ; unsigned: below 10
        sub ax, 10
        inc dx
        jmp tens
print:  add dx, '0'
        out dx
        add ax, '0'
        out ax
        mov ax, '\n'
        out ax
        hlt
