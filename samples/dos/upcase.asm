; upcase.asm - a DOS filter: copy standard input to standard output, upper-casing
; ASCII letters, until the end of the input. Reads and writes through the handle
; services (int 21h AH=3Fh on handle 0, AH=40h on handle 1), a buffer at a time.
;     printf 'Hello, DOS!\n' | pyvm samples/dos/upcase.asm     ->  HELLO, DOS!
        bits 16
        org 0x100

BUFSIZE equ 256

start:
        mov ah, 0x3f            ; read from a handle
        xor bx, bx              ; handle 0: standard input
        mov cx, BUFSIZE
        mov dx, buffer
        int 0x21
        jc fail                 ; CF = 1: AX holds the DOS error code
        test ax, ax
        jz done                 ; nothing read: end of the input

        mov cx, ax              ; bytes read
        mov di, ax              ; (kept for the write)
        mov si, buffer
.next:  mov al, [si]
        cmp al, 'a'
        jb .keep
        cmp al, 'z'
        ja .keep
        sub al, 'a' - 'A'
        mov [si], al
.keep:  inc si
        loop .next

        mov cx, di              ; write what was read
        mov ah, 0x40            ; write to a handle
        mov bx, 1               ; handle 1: standard output
        mov dx, buffer
        int 0x21
        jc fail
        jmp start

done:   mov ax, 0x4c00          ; exit status 0
        int 0x21

fail:   mov ah, 0x4c            ; exit status 1
        mov al, 1
        int 0x21

buffer: times BUFSIZE db 0
