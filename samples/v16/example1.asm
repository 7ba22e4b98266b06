; v16-spec.md example 1: the original's program
        mov ax, 0x05
        ste
        push ax
        mov bx, 0x5005
        pop bx
        hlt
