; Position-independent start-up: reaches C data through the GOT (R_386_GOTPC,
; R_386_GOT32, R_386_GOTOFF) and calls main through the PLT (R_386_PLT32).
global _start
extern main, _GLOBAL_OFFSET_TABLE_, bias

section .text
_start:
    call .here
.here:
    pop ebx
    add ebx, _GLOBAL_OFFSET_TABLE_ + $$ - .here wrt ..gotpc
    mov eax, [ebx + bias wrt ..got]         ; address of bias, from its GOT entry
    mov ecx, [ebx + local_two wrt ..gotoff] ; a local, relative to the GOT
    add [eax], ecx
    call main wrt ..plt
    mov ebx, eax
    mov eax, 1
    int 0x80

section .data
local_two: dd 2

section .note.GNU-stack noalloc noexec nowrite progbits
