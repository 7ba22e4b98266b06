; only .data used: NASM still emits .text
section .data
val: dd 1, 2, val
