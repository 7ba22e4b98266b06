; hello.asm - the classic DOS .COM program: print a '$'-terminated string with
; int 21h AH=09h, then end with int 21h AH=4Ch (exit status 0).
;     pyasm samples/dos/hello.asm -o hello.com && pyvm hello.com
;     pyvm samples/dos/hello.asm
        bits 16
        org 0x100

start:
        mov ah, 0x09            ; write string
        mov dx, msg             ; DS:DX -> "...$" (DS = CS in a .COM program)
        int 0x21

        mov ax, 0x4c00          ; exit with status AL = 0
        int 0x21

msg:    db "Hello, world!", 13, 10, "$"
