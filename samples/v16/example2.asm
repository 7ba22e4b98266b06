; v16-spec.md example 2: print the digits 0..9 and a newline
        mov cx, 0
next:   mov ax, cx
        call putd
        inc cx
        cmp cx, 10
        jl next
        mov ax, '\n'
        out ax
        hlt
putd:   add ax, '0'
        out ax
        ret
