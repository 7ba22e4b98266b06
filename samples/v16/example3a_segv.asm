; v16-spec.md example 3a: a store into the code area stops with ErrSegv (exit 139)
        .org 0x0000        ; the default; it also marks the file as V16 source
start:  mov ax, 0xBEEF
        mov [0x8000], ax   ; data area: allowed
        mov [start], ax    ; code area: ErrSegv
        hlt                ; not reached
