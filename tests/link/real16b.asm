bits 16
global helper16, text16
extern word_table

section .text
align 8
helper16:
    mov ax, [word_table + 2]        ; R_386_16 with an addend
    ret

section .rodata
text16: db "real mode", 0
