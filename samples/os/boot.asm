; boot.asm - the boot sector of the sample kernel (samples/os/README.md).
; The BIOS loads it at 0000:7C00 with DL = the boot drive. It reads the kernel (the
; next KERNEL_SECTORS sectors of the disk) to linear 0x10000 with int 13h AH=42h,
; turns the A20 gate on (port 92h), loads a flat GDT, sets CR0.PE and jumps to the
; kernel's 32-bit entry point at 0x10000 with the data segments and a stack set up.
        bits 16
        org 0x7c00

KERNEL_ADDR     equ 0x10000
KERNEL_SECTORS  equ 64          ; 32 KiB: build.sh pads the kernel to this size
STACK_TOP       equ 0x90000

start:
        cli
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x7c00
        sti
        mov [drive], dl

        mov si, loading
        call print

        mov si, dap                     ; read the kernel
        mov ah, 0x42
        mov dl, [drive]
        int 0x13
        jc disk_error

        in al, 0x92                     ; "fast A20": port 92h bit 1
        or al, 2
        and al, 0xfe                    ; (bit 0 would reset the machine)
        out 0x92, al

        cli
        lgdt [gdt_descriptor]
        mov eax, cr0
        or eax, 1                       ; PE
        mov cr0, eax
        jmp CODE_SEG:protected

disk_error:
        mov si, failed
        call print
.halt:  cli
        hlt
        jmp .halt

print:                                  ; DS:SI, NUL-terminated, with the BIOS teletype
        lodsb
        test al, al
        jz .done
        mov ah, 0x0e
        mov bx, 0x0007
        int 0x10
        jmp print
.done:  ret

        bits 32
protected:
        mov ax, DATA_SEG
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov ss, ax
        mov esp, STACK_TOP
        mov eax, KERNEL_ADDR
        jmp eax

        align 8
gdt:    dq 0                            ; the null descriptor
        dq 0x00cf9a000000ffff           ; 08h: code, base 0, limit 4 GiB, 32-bit
        dq 0x00cf92000000ffff           ; 10h: data, base 0, limit 4 GiB
gdt_end:
CODE_SEG equ 0x08
DATA_SEG equ 0x10

gdt_descriptor:
        dw gdt_end - gdt - 1
        dd gdt

dap:    db 16, 0                        ; disk address packet: size, reserved
        dw KERNEL_SECTORS
        dw 0, KERNEL_ADDR >> 4          ; buffer offset, segment
        dq 1                            ; first sector (LBA)

drive:  db 0
loading: db "Loading the kernel...", 13, 10, 0
failed: db "Disk read failed", 13, 10, 0

        times 510 - ($ - $$) db 0
        dw 0xaa55
