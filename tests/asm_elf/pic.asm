; position-independent code: NASM's wrt ..gotpc / ..gotoff / ..got / ..plt / ..sym
extern puts
extern _GLOBAL_OFFSET_TABLE_
global main
global gvar

section .text
main:
    push ebx
    call .get_got
.get_got:
    pop ebx
    add ebx, _GLOBAL_OFFSET_TABLE_ + $$ - .get_got wrt ..gotpc
    lea eax, [ebx + msg wrt ..gotoff]
    push eax
    call puts wrt ..plt
    add esp, 4
    mov eax, [ebx + gvar wrt ..got]
    mov eax, [eax]
    mov ecx, [ebx + puts wrt ..got]
    pop ebx
    ret

section .data
gvar:   dd 5
        dd gvar wrt ..sym
        dd puts wrt ..sym
msg:    db "pic hello", 0
