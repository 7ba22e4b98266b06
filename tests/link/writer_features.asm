; Every feature the relocatable writer has to reproduce from NASM: all i386 relocation
; types NASM emits, local and global symbols with types, sizes and visibility, COMMON and
; absolute symbols, custom section attributes, NOBITS and empty sections.
global entry:function (entry.end - entry), table:data 12, hidden_fn:function hidden
global answer
extern ext_func, ext_data, _GLOBAL_OFFSET_TABLE_
common shared_buf 64:16
answer equ 42

section .text
entry:
    call ext_func                           ; R_386_PC32
    call ext_func wrt ..plt                 ; R_386_PLT32
    mov eax, [ext_data + 8]                 ; R_386_32 with addend
    mov eax, [local_data]                   ; local: against the .data section symbol
    call .get
.get:
    pop ebx
    add ebx, _GLOBAL_OFFSET_TABLE_ + $$ - .get wrt ..gotpc    ; R_386_GOTPC
    lea ecx, [ebx + local_data wrt ..gotoff]                  ; R_386_GOTOFF
    mov edx, [ebx + ext_data wrt ..got]                       ; R_386_GOT32
    dw local_data                           ; R_386_16
    db ext_data                             ; R_386_8
    jmp short hidden_fn                     ; resolved by NASM: no relocation
.end:
hidden_fn:
    ret

section .data
local_data: dd 1, 2, 3
table: dd entry, hidden_fn + 1, ext_data - 4

section .bss
scratch: resb 100

section .rodata
message: db "writer test", 0

section .code16 progbits alloc exec nowrite align=4
bits 16
    call word ext_func                      ; R_386_PC16
    dw 0
bits 32

section .pc8 progbits alloc exec nowrite align=1
    jmp short ext_func                      ; R_386_PC8

section .mydata progbits alloc write align=8
    dd message
section .mybss nobits alloc write align=32
    resb 7
section .empty progbits alloc noexec nowrite align=2
section .comment progbits noalloc
    db "made by a test", 0
