; bubblesort.asm: copy ten words into the data area, sort them there (bubble sort,
; passes until one makes no swap) and print them: "0123456789\n".
        .equ data, 0x8000
        .equ last, 0x8012       ; data + 2 * 9: the last element (no expressions in V16)
        .equ data_end, 0x8014
        .entry main
init:   .word 5, 3, 9, 1, 7, 2, 8, 6, 4, 0
init_end:
main:   mov bx, init            ; copy init -> data: the code area is read-only
        mov cx, data
copy:   mov ax, [bx]
        mov [cx], ax
        add bx, 2
        add cx, 2
        cmp bx, init_end
        jne copy
pass:   mov dx, 0               ; no swap yet in this pass
        mov bx, data
inner:  mov ax, [bx]            ; a = data[i]
        add bx, 2
        mov cx, [bx]            ; b = data[i + 1]
        cmp ax, cx
        jl ordered              ; a < b
        je ordered              ; a = b
        mov [bx], ax            ; swap
        sub bx, 2
        mov [bx], cx
        add bx, 2
        mov dx, 1
ordered: cmp bx, last
        jne inner
        cmp dx, 0
        jne pass
        mov bx, data            ; print each element as a digit
show:   mov ax, [bx]
        add ax, '0'
        out ax
        add bx, 2
        cmp bx, data_end
        jne show
        mov ax, '\n'
        out ax
        hlt
