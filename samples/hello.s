; hello.s - print "Hello, world!" through the Linux int 0x80 ABI, then exit 0.
; A flat 32-bit binary loaded at address 0:
;     pyasm samples/hello.s -o hello.bin
        bits 32
        org 0

start:
        mov eax, 4              ; sys_write
        mov ebx, 1              ; fd 1: stdout
        mov ecx, msg            ; buffer
        mov edx, msg_len        ; length
        int 0x80

        mov eax, 1              ; sys_exit
        xor ebx, ebx            ; status 0
        int 0x80

msg:    db "Hello, world!", 10
msg_len equ $ - msg
