; v16-spec.md example 3c: no hlt, so execution runs into zeroed memory (opcode 0x00):
; ErrInstr (exit 132)
        .org 0x0000        ; the default; it also marks the file as V16 source
        mov cx, 3
        dec cx
