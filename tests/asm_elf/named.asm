; named sections with attributes, alignment, nobits, 16-bit code and relocations
global entry
section .text
entry:
    mov eax, [word_tab]
    call far_away
    ret

section .mytext progbits alloc exec nowrite align=16
far_away:
    mov eax, mybss
    jmp entry
    align 8
    ret

section .mydata progbits alloc write align=8
word_tab: dd 1, 2, 3
    dd far_away

section .mybss nobits alloc write align=32
mybss: resb 100

section .cfg noalloc
    db "config", 0
    dd word_tab

section .text
    bits 16
code16:
    mov ax, word_tab
    mov bx, [mybss + 2]
    call word far_away
    jmp near entry
    dw word_tab, mybss
    db word_tab, 1
    bits 32
    dd code16

section .data
    align 16
    dd 0
