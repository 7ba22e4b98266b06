; hello.asm: print a string, one byte at a time.
; V16 loads words, and `out` prints the low byte of a register, so loading the word at
; each character's address and printing it is enough; the loop ends at the label after
; the string (no terminator, no length to count by hand).
        .entry main
msg:    .byte "Hello, V16!\n"
msg_end:
main:   mov bx, msg
next:   mov ax, [bx]
        out ax
        inc bx
        cmp bx, msg_end
        jne next
        hlt
