; C library calls: externs called and addressed, common, local labels, $-math
extern printf
extern exit
extern strlen
global main
common shared 16
common counter 4

section .text
main:
    push ebp
    mov ebp, esp
    mov dword [counter], 3
.loop:
    mov eax, [counter]
    push eax
    push fmt
    call printf
    add esp, 8
    dec dword [counter]
    jnz .loop
    push message
    call strlen
    add esp, 4
    mov [shared], eax
    push eax
    push fmt
    mov eax, printf         ; take the address of an extern
    call eax
    add esp, 8
    mov eax, [fnptrs + 4]
    push dword [shared]
    push fmt2
    call eax
    add esp, 8
    call helper
    push eax
    call exit

helper:
    mov eax, end_marker - start_marker
.inner:
    add eax, 2
    ret

section .data
fmt:     db "n=%d", 10, 0
fmt2:    db "len=%d", 10, 0
message: db "twelve chars", 0
fnptrs:  dd exit, printf, strlen + 0, main
start_marker:
    times 5 db 0
end_marker:
    dd $ - start_marker, $$, end_marker - $$
