; v16-spec.md example 3b: a word read at 0xFFFF needs byte 0x10000: ErrMem (exit 135)
        .org 0x0000        ; the default; it also marks the file as V16 source
        mov bx, 0xFFFF
        mov ax, [bx]
        hlt                ; not reached
