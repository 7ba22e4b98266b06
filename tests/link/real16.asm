; 16-bit code for a flat binary at 0x7c00 (a boot-sector style link): R_386_16 and
; R_386_PC16 across objects, code padding between input sections.
bits 16
global start16, word_table
extern helper16, text16

section .text
start16:
    mov si, text16                  ; R_386_16
    call helper16                   ; R_386_PC16
    jmp word helper16               ; R_386_PC16
    mov bx, word_table
    hlt

section .data
word_table: dw start16, helper16, text16
