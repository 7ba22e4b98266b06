; every_instruction.asm: each of the 39 opcodes at least once, every directive and
; literal form; the disassembler's and the round trip's test bed. It runs to hlt and
; prints "OK\n" (each hlt before a label is reached only if a jump goes wrong).
        .org 0x0100
        .equ var, 0x8000
        .equ letter, 'A'
        .entry main
table:  .word 0x1234, letter, -1, table
        .byte -1, 255, 'z', "\t\0\\\'\"", 0x7f
main:   nop                     ; 01
        mov ax, 1               ; 08
        mov bx, var             ; 09
        mov cx, 3               ; 0A
        mov dx, -1              ; 0B
        mov ax, cx              ; 0C
        mov [var], ax           ; 0E
        mov bx, [var]           ; 0D
        mov bx, var
        mov cx, [bx]            ; 0F
        mov [bx], dx            ; 18
        ste                     ; 10-17
        cle
        stg
        clg
        sth
        clh
        stl
        cll
        push ax                 ; 1A
        pop dx                  ; 1B
        call sub1               ; 1C
        add ax, bx              ; 20
        add ax, 5               ; 21
        sub ax, bx              ; 22
        sub ax, 5               ; 23
        inc ax                  ; 24
        dec ax                  ; 25
        cmp ax, cx              ; 26: 3 = 3
        je j1                   ; 29
        hlt
j1:     cmp ax, 4               ; 27: 3 < 4
        jl j2                   ; 2C
        hlt
j2:     jb j3                   ; 2E
        hlt
j3:     cmp ax, 2               ; 3 > 2
        jg j4                   ; 2B
        hlt
j4:     ja j5                   ; 2D
        hlt
j5:     jne j6                  ; 2A
        hlt
j6:     jmp done                ; 28
        hlt
done:   mov ax, 'O'
        out ax                  ; 03
        mov ax, 'K'
        out ax
        mov ax, '\n'
        out ax
        hlt                     ; 02
sub1:   ret                     ; 1D
