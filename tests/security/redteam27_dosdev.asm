; Opens "Z" (a host device node in the start directory, tests/security/test_redteam27.py)
; for reading and writing, reads 4 bytes: prints "opened", or "error N" (DOS error code).
org 0x100
        mov ax, 0x3D02          ; open "Z" read/write
        mov dx, zname
        int 0x21
        jc .err
        mov bx, ax
        mov ah, 0x3F            ; read 4 bytes
        mov cx, 4
        mov dx, buf
        int 0x21
        mov ah, 9
        mov dx, opened
        int 0x21
        jmp .out
.err:   add al, '0'
        mov [code], al
        mov ah, 9
        mov dx, failed
        int 0x21
.out:   mov ax, 0x4C00
        int 0x21
zname:  db "Z", 0
opened: db "opened", 13, 10, "$"
failed: db "error "
code:   db "?", 13, 10, "$"
buf:    times 4 db 0
