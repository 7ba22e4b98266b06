; second object for symbols.asm: defines its externs and the entry point
global _start, first_ext, second_ext
extern gfunc, gdata, late
section .text
_start:
    call gfunc                  ; eax = 4 (point.y) + 10
    cmp dword [gdata], gfunc    ; data pointers relocated across objects
    jne .bad
    cmp dword [gdata + 4], late
    jne .bad
    mov ebx, eax
    mov eax, 1
    int 0x80
.bad:
    mov ebx, 99
    mov eax, 1
    int 0x80
first_ext:
    add eax, 10
    ret
second_ext:
    ret
