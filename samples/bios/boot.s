; boot.s - a boot sector: the BIOS loads these 512 bytes at 0000:7C00 and jumps
; here. Print a line with the BIOS teletype (int 10h AH=0Eh), then stop the CPU.
;     pyasm samples/bios/boot.s -o boot.bin && pyvm --bits 16 boot.bin
;     pyvm samples/bios/boot.s
        bits 16
        org 0x7c00

start:
        xor ax, ax              ; the BIOS only promises CS:IP; set up DS and the stack
        mov ds, ax
        mov ss, ax
        mov sp, 0x7c00
        cld

        mov si, msg
.next:  lodsb                   ; AL = [DS:SI], SI += 1
        test al, al
        jz .done
        mov ah, 0x0e            ; teletype output of AL
        mov bx, 0x0007          ; page 0, light grey
        int 0x10
        jmp .next

.done:  cli                     ; nothing may wake us up again
        hlt

msg:    db "Hello from the boot sector!", 13, 10, 0

        times 510 - ($ - $$) db 0
        dw 0xaa55               ; the boot signature
