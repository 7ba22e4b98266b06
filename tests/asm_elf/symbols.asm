; symbol-table order and kinds: globals declared before definition, externs declared
; between definitions, EQU constants (absolute and section-relative), struc/absolute
extern first_ext
global gfunc, gdata, gconst
global late
struc point
    .x: resd 1
    .y: resd 1
endstruc
gconst equ 42
lconst equ 0x1234

section .data
gdata:  dd gfunc, late, point_size, point.y
extern second_ext
ldata:  dd second_ext, first_ext + 8
here    equ ldata + 4
    dd here
..@special: dd 0

section .text
gfunc:
    mov eax, [gdata]
    call second_ext
    jmp late
.l1:
    ret
late:
    mov eax, point.y
    call first_ext
    ret

absolute 0x100
abs_a: resb 4
abs_b: resw 1
