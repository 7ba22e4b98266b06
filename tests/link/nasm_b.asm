global func_b, data_b, buf_b, msg_b, msg_b_len
extern data_a, buf_a

section .text
func_b:
    mov eax, [buf_b]
    add eax, [data_a]               ; back into a's .data
    mov [buf_a], eax                ; back into a's .bss
    ret

section .rodata
msg_b: db "linked by two linkers", 10
msg_b_len equ $ - msg_b

section .data
data_b: dd 30

section .bss
pad: resb 3
buf_b: resd 1
