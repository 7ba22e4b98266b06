"""The PC's devices and BIOS services against qemu-system-i386: each probe is a boot image
(NASM) that programs a device or calls a BIOS service the documented way and prints
what it reads back to the debug console; QEMU (with SeaBIOS) and ``pyvm --disk`` must
print the same. Values that depend on wall-clock time or on which BIOS runs (SeaBIOS's
boot messages, its memory map above 1 MiB) are reduced to documented facts first.
"""

from __future__ import annotations

from pc_harness import both

WAIT_OBF = r"""
wait_obf:
        mov cx, 0xffff
.w:     in al, 0x64
        test al, 1
        jnz .ok
        loop .w
.ok:    ret
wait_ibf:
        mov cx, 0xffff
.w:     in al, 0x64
        test al, 2
        jz .ok
        loop .w
.ok:    ret
"""


def _same(tmp_path, body: str) -> str:
    q, p = both(tmp_path, body)
    assert p == q, f"pyvm:\n{p.decode(errors='replace')}\nqemu:\n{q.decode(errors='replace')}"
    return q.decode()


def test_pic_8259a_init_mask_poll_and_eoi(tmp_path):
    """8259A: ICW1-4, OCW1 read back, an edge on IR0 in IRR, poll mode acknowledging it
    (80h | level, ISR set, IRR cleared), a non-specific EOI clearing ISR."""
    out = _same(tmp_path, r"""
        mov al, 0x11
        out 0x20, al
        mov al, 0x50
        out 0x21, al
        mov al, 0x04
        out 0x21, al
        mov al, 0x01
        out 0x21, al
        mov al, 0xa5                ; OCW1
        out 0x21, al
        in al, 0x21
        call hex8
        SP
        mov al, 0x0b                ; OCW3: read ISR
        out 0x20, al
        in al, 0x20
        call hex8
        SP
        mov al, 0x30                ; counter 0, mode 0, count 2: OUT rises soon
        out 0x43, al
        mov al, 2
        out 0x40, al
        xor al, al
        out 0x40, al
        mov cx, 0xffff
.wait:  mov al, 0xe2                ; read-back: counter 0's status
        out 0x43, al
        in al, 0x40
        test al, 0x80
        jnz .high
        loop .wait
.high:  mov al, 0x0a                ; OCW3: read IRR
        out 0x20, al
        mov cx, 0xffff              ; OUT is high: the edge reaches IRR (bounded wait)
.irr:   in al, 0x20
        test al, 1
        jnz .irr1
        loop .irr
.irr1:  and al, 1
        call hex8
        SP
        mov al, 0xfe
        out 0x21, al
        mov al, 0x0c                ; OCW3: poll
        out 0x20, al
        in al, 0x20
        call hex8
        SP
        mov al, 0x0b
        out 0x20, al
        in al, 0x20
        call hex8
        SP
        mov al, 0x0a
        out 0x20, al
        in al, 0x20
        and al, 1
        call hex8
        SP
        mov al, 0x20                ; OCW2: non-specific EOI
        out 0x20, al
        mov al, 0x0b
        out 0x20, al
        in al, 0x20
        call hex8
        NL
""")
    assert out.startswith("A5 00 01 80 01 00 00\n")


def test_pit_8254_read_back_counting_and_out2(tmp_path):
    """8254: read-back status bytes for modes 0 and 3 (OUT, access, mode), a latched
    count moving on, and counter 2's OUT on port 61h bit 5 (low while counting in
    mode 0, high at terminal count). (Mode 2's OUT is not compared: QEMU keeps it low
    between pulses where Intel's data sheet has it high; test_pc_devices.py checks it.)"""
    out = _same(tmp_path, r"""
        cli
        mov al, 0x30                ; counter 0: LSB/MSB, mode 0
        out 0x43, al
        mov al, 0xff
        out 0x40, al
        out 0x40, al
        mov al, 0xe2
        out 0x43, al
        in al, 0x40
        call hex8
        SP
        mov al, 0x36                ; mode 3
        out 0x43, al
        mov al, 0x00
        out 0x40, al
        mov al, 0x10
        out 0x40, al
        mov al, 0xe2
        out 0x43, al
        in al, 0x40
        call hex8
        SP
        mov al, 0x34                ; mode 2, count FFFFh: latch twice
        out 0x43, al
        mov al, 0xff
        out 0x40, al
        out 0x40, al
        xor al, al                  ; counter latch command
        out 0x43, al
        in al, 0x40
        mov bl, al
        in al, 0x40
        mov bh, al
        mov cx, 5000
.spin:  loop .spin
        xor al, al
        out 0x43, al
        in al, 0x40
        mov dl, al
        in al, 0x40
        mov dh, al
        cmp dx, bx                  ; counted on (QEMU counts in instruction time:
        setne al                    ; pc_harness.QEMU_ICOUNT)
        call hex8
        SP
        in al, 0x61                 ; counter 2: gate on, speaker off
        and al, 0xfc
        or al, 1
        out 0x61, al
        mov al, 0xb0                ; counter 2, mode 0, count FFFFh
        out 0x43, al
        mov al, 0xff
        out 0x42, al
        out 0x42, al
        in al, 0x61
        and al, 0x20
        call hex8
        SP
        mov al, 0xb0                ; count 2: terminal count almost at once
        out 0x43, al
        mov al, 2
        out 0x42, al
        xor al, al
        out 0x42, al
        mov cx, 0xffff
.w2:    in al, 0x61
        test al, 0x20
        jnz .done
        loop .w2
.done:  and al, 0x20
        call hex8
        NL
""")
    assert out.startswith("30 B6 01 00 20\n")


def test_cmos_configuration_and_clock_format(tmp_path):
    """CMOS: status registers A (divider), B (24 h, BCD), D (valid RAM), the AT's memory
    sizes for 32 MiB, the century, BCD seconds, binary mode (B bit 2), no IRQF in
    register C with no interrupt enabled. (PF and UF in C follow host time under QEMU:
    test_pc_devices.py checks them.)"""
    out = _same(tmp_path, r"""
        cli
        mov si, regs
.next:  lodsb
        cmp al, 0xff
        je .clock
        out 0x70, al
        in al, 0x71
        cmp byte [si - 1], 0x0a
        jne .show
        and al, 0x7f                ; the update-in-progress bit comes and goes
.show:  call hex8
        SP
        jmp .next
.clock: mov al, 0                   ; seconds in BCD: both digits decimal
        out 0x70, al
        in al, 0x71
        mov ah, al
        and ah, 0x0f
        cmp ah, 9
        setbe bl
        cmp al, 0x59
        setbe bh
        and bl, bh
        mov al, bl
        call hex8
        SP
        mov al, 0x0b                ; binary mode
        out 0x70, al
        mov al, 0x06
        out 0x71, al
        in al, 0x71
        call hex8
        SP
        mov al, 0
        out 0x70, al
        in al, 0x71
        cmp al, 60
        setb al
        call hex8
        SP
        mov al, 0x0b
        out 0x70, al
        mov al, 0x02
        out 0x71, al
        mov al, 0x0c                ; no interrupt enabled: IRQF stays clear
        out 0x70, al
        in al, 0x71
        and al, 0x80
        call hex8
        NL
        jmp finish
regs:   db 0x0a, 0x0b, 0x0d, 0x15, 0x16, 0x17, 0x18, 0x30, 0x31, 0x34, 0x35, 0x32, 0xff
""")
    assert out.startswith("26 02 80 80 02 00 7C 00 7C 00 01 20 01 06 01 00\n")


def test_uart_16550_registers_fifo_and_loopback(tmp_path):
    """16550: scratch, divisor latch, LCR, LSR after reset (THRE|TEMT), IIR without and
    with FIFOs, the THRE interrupt cleared by reading IIR, MSR in loopback, a byte sent
    in loopback received (LSR DR)."""
    out = _same(tmp_path, r"""
        cli
        mov dx, 0x3ff               ; scratch
        mov al, 0x5a
        out dx, al
        in al, dx
        call hex8
        SP
        mov dx, 0x3fb               ; DLAB, divisor 3
        mov al, 0x83
        out dx, al
        mov dx, 0x3f8
        mov al, 3
        out dx, al
        mov dx, 0x3f9
        xor al, al
        out dx, al
        mov dx, 0x3f8
        in al, dx
        call hex8
        SP
        mov dx, 0x3fb
        mov al, 0x03
        out dx, al
        in al, dx
        call hex8
        SP
        mov dx, 0x3fd
        in al, dx
        call hex8
        SP
        mov dx, 0x3fa
        in al, dx
        call hex8
        SP
        mov al, 0x07                ; FIFOs on, cleared
        out dx, al
        in al, dx
        call hex8
        SP
        mov dx, 0x3f9               ; THRE interrupt on
        mov al, 0x02
        out dx, al
        mov dx, 0x3fa
        in al, dx
        call hex8
        SP
        in al, dx
        call hex8
        SP
        mov dx, 0x3f9
        xor al, al
        out dx, al
        mov dx, 0x3fc               ; loopback, all outputs on
        mov al, 0x1f
        out dx, al
        mov dx, 0x3fe
        in al, dx
        in al, dx
        call hex8
        SP
        mov dx, 0x3f8
        mov al, 'A'
        out dx, al
        mov dx, 0x3fd
        in al, dx
        and al, 0x01
        call hex8
        SP
        mov dx, 0x3f8
        in al, dx
        call hex8
        SP
        mov dx, 0x3fd
        in al, dx
        and al, 0x01
        call hex8
        NL
        mov dx, 0x3fc
        mov al, 0x03
        out dx, al
""")
    assert out.startswith("5A 03 03 60 01 C1 C2 C1 F0 01 41 00\n")


def test_8042_controller_commands_and_keyboard_replies(tmp_path):
    """8042: self test (55h), the command byte written and read back, the system flag,
    the output port's A20 bit, keyboard echo (EEh) and identify (FAh ABh, then 83h
    translated to set 1: 41h)."""
    out = _same(tmp_path, r"""
        cli
        call drain
        mov al, 0xaa
        call command
        call read
        SP
        mov al, 0x60
        call command
        mov al, 0x65
        call data
        mov al, 0x20
        call command
        call read
        SP
        in al, 0x64
        and al, 0x04
        call hex8
        SP
        mov al, 0xd0
        call command
        call wait_obf
        in al, 0x60
        and al, 0x02
        call hex8
        SP
        mov al, 0xee
        call data
        call read
        SP
        mov al, 0xf2
        call data
        call read
        call read
        call read
        NL
        jmp finish
drain:  in al, 0x64
        test al, 1
        jz .done
        in al, 0x60
        jmp drain
.done:  ret
command:
        push ax
        call wait_ibf
        pop ax
        out 0x64, al
        ret
data:   push ax
        call wait_ibf
        pop ax
        out 0x60, al
        ret
read:   call wait_obf
        in al, 0x60
        call hex8
        ret
""" + WAIT_OBF)
    assert out.startswith("55 65 04 02 EE FAAB41\n")


def test_a20_gate_wraparound(tmp_path):
    """A20: with the gate on FFFF:0510 is 100500h; turned off through port 92h it is
    0000:0500 (reads and writes wrap at 1 MiB); on again through the 8042's output port
    (D1h); int 15h AX=2400h/2401h with AX=2402h reporting the state. (Whether memory
    wraps after AX=2400h is not compared: SeaBIOS runs the call on its 32-bit stack and
    puts the gate back as it found it on the way out; test_pc_bios.py checks pyvm.)"""
    out = _same(tmp_path, r"""
        cli
        in al, 0x92
        or al, 2
        and al, 0xfe
        out 0x92, al
        mov ax, 0xffff
        mov es, ax
        mov byte [0x0500], 0x11
        mov byte [es:0x0510], 0x22
        mov al, [0x0500]
        call hex8
        SP
        in al, 0x92                 ; A20 off (port 92h)
        and al, 0xfc
        out 0x92, al
        mov al, [es:0x0510]
        call hex8
        SP
        mov byte [es:0x0510], 0x33
        mov al, [0x0500]
        call hex8
        SP
        in al, 0x92
        and al, 2
        call hex8
        SP
        call wait_ibf               ; A20 on (8042 output port)
        mov al, 0xd1
        out 0x64, al
        call wait_ibf
        mov al, 0xdf
        out 0x60, al
        call wait_ibf
        mov al, [es:0x0510]
        call hex8
        SP
        mov ax, 0x2400              ; off (BIOS)
        int 0x15
        setc al
        call hex8
        mov ax, 0x2402
        int 0x15
        call hex8
        SP
        mov ax, 0x2401              ; on (BIOS)
        int 0x15
        mov ax, 0x2402
        int 0x15
        call hex8
        mov al, [es:0x0510]
        call hex8
        NL
        jmp finish
""" + WAIT_OBF)
    assert out.startswith("11 11 33 00 22 0000 0122\n")


def test_bios_disk_services(tmp_path):
    """int 13h: extensions present (BX=AA55h, CF=0), LBA read (AH=42h) and CHS read
    (AH=02h) of the same sector, a write (AH=43h) read back, AH=48h's sector count and
    sector size for this 8 KiB image, and a read past the end failing with CF=1."""
    out = _same(tmp_path, r"""
        mov ah, 0x41
        mov bx, 0x55aa
        mov dl, [drive]
        int 0x13
        setc al
        call hex8
        mov ax, bx
        call hex16
        SP
        mov si, packet              ; LBA 7 -> 0000:9000
        mov word [packet + 8], 7
        mov word [packet + 4], 0x9000
        mov ah, 0x42
        mov dl, [drive]
        int 0x13
        setc al
        call hex8
        mov ax, [0x9000]
        call hex16
        SP
        mov ax, 0x0201              ; CHS 0/0/8 = LBA 7 -> 0000:A000
        mov cx, 0x0008
        xor dh, dh
        mov dl, [drive]
        mov bx, 0xa000
        int 0x13
        setc al
        call hex8
        mov ax, [0xa000]
        call hex16
        SP
        mov di, 0xb000              ; a pattern written to LBA 12 and read back
        mov cx, 256
        mov ax, 0x1234
.fill:  stosw
        inc ax
        loop .fill
        mov word [packet + 8], 12
        mov word [packet + 4], 0xb000
        mov si, packet
        mov ax, 0x4300
        mov dl, [drive]
        int 0x13
        setc al
        call hex8
        mov word [packet + 4], 0xc000
        mov si, packet
        mov ah, 0x42
        mov dl, [drive]
        int 0x13
        mov si, 0xb000
        mov di, 0xc000
        mov cx, 256
        repe cmpsw
        sete al
        call hex8
        SP
        mov word [params], 0x1a
        mov si, params
        mov ah, 0x48
        mov dl, [drive]
        int 0x13
        setc al
        call hex8
        SP
        mov eax, [params + 16]
        call hex32
        SP
        mov ax, [params + 24]
        call hex16
        SP
        mov word [packet + 8], 0x4000
        mov si, packet
        mov ah, 0x42
        mov dl, [drive]
        int 0x13
        setc al
        call hex8
        NL
        jmp finish
packet: db 16, 0
        dw 1, 0, 0
        dq 0
params: times 0x1a db 0
        times 3072 - ($ - main) db 0
        dw 0xbeef                   ; the first word of LBA 7
""")
    assert out.startswith("00AA55 00BEEF 00BEEF 0001 00 00000010 0200 01\n")


def test_bios_memory_video_keyboard_and_clock(tmp_path):
    """int 12h (639 KiB below the EBDA), int 15h E820 (the first entry, and a usable
    one at 1 MiB), E801h and 88h for 32 MiB; int 10h cursor set/get, teletype moving
    the cursor, AH=08h reading back character and attribute, AH=09h writing with an
    attribute and leaving the cursor, AH=0Fh; int 16h AH=05h/01h/00h; int 1Ah AH=00h
    and AH=02h."""
    out = _same(tmp_path, r"""
        int 0x12
        call hex16
        SP
        xor ebx, ebx
        mov di, 0x9000
        mov eax, 0xe820
        mov ecx, 20
        mov edx, 0x534d4150
        int 0x15
        mov esi, eax
        setc al
        call hex8
        cmp esi, 0x534d4150
        sete al
        call hex8
        SP
        mov eax, [0x9000]
        call hex32
        mov eax, [0x9008]
        call hex32
        mov eax, [0x9010]
        call hex32
        SP
        xor bp, bp                  ; look for the usable entry at 1 MiB
        xor ebx, ebx
.e820:  mov di, 0x9000
        mov eax, 0xe820
        mov ecx, 20
        mov edx, 0x534d4150
        int 0x15
        jc .done
        cmp dword [0x9000], 0x100000
        jne .more
        cmp dword [0x9010], 1
        jne .more
        inc bp
.more:  test ebx, ebx
        jnz .e820
.done:  mov ax, bp
        call hex8
        SP
        mov ax, 0xe801
        int 0x15
        call hex16
        SP
        mov ah, 0x88                ; KiB above 1 MiB: a BIOS may keep some at the top
        int 0x15
        cmp ax, 0x7800
        setae bl
        cmp ax, 0x7c00
        setbe bh
        and bl, bh
        mov al, bl
        call hex8
        SP
        mov ah, 0x02                ; cursor to row 5, column 10
        xor bh, bh
        mov dx, 0x050a
        int 0x10
        mov ax, 0x0e78              ; 'x'
        mov bx, 0x0007
        int 0x10
        mov ah, 0x03
        xor bh, bh
        int 0x10
        mov ax, dx
        call hex16
        SP
        mov ah, 0x02
        xor bh, bh
        mov dx, 0x050a
        int 0x10
        mov ah, 0x08
        xor bh, bh
        int 0x10
        call hex16
        SP
        mov ax, 0x0979              ; 'y' x3 in yellow on blue
        mov bx, 0x001e
        mov cx, 3
        int 0x10
        mov ah, 0x03
        xor bh, bh
        int 0x10
        mov ax, dx
        call hex16
        mov ah, 0x02
        xor bh, bh
        mov dx, 0x050c
        int 0x10
        mov ah, 0x08
        xor bh, bh
        int 0x10
        call hex16
        SP
        mov ah, 0x0f
        int 0x10
        call hex16
        mov al, bh
        call hex8
        SP
        mov ah, 0x05                ; a key into the buffer, then read it
        mov cx, 0x1e61
        int 0x16
        call hex8
        mov ah, 0x01
        int 0x16
        setz dl
        call hex16
        mov al, dl
        call hex8
        mov ah, 0x00
        int 0x16
        call hex16
        SP
        mov ah, 0x00
        int 0x1a
        cmp cx, 0x18
        setb al
        call hex8
        mov ah, 0x02
        int 0x1a
        setc al
        call hex8
        NL
        jmp finish
""")
    assert out.startswith("027F 0001 000000000009FC0000000001 01 3C00 01 050B 0778 050A1E79 "
                          "500300 001E61001E61 0100\n")


def test_a20_off_in_protected_mode_aliases_every_odd_megabyte(tmp_path):
    """With A20 off, address bit 20 is held low in protected mode too: 300010h is
    200010h (reads and writes); on again, they are apart."""
    out = _same(tmp_path, r"""
        cli
        lgdt [gdtr]
        mov eax, cr0
        or al, 1
        mov cr0, eax
        jmp 0x08:.pm
        bits 32
.pm:    mov ax, 0x10
        mov ds, ax
        mov es, ax
        in al, 0x92
        or al, 2
        and al, 0xfe
        out 0x92, al
        mov byte [0x200010], 0x11
        mov byte [0x300010], 0x22
        mov al, [0x200010]
        mov [results], al
        in al, 0x92
        and al, 0xfc
        out 0x92, al
        mov al, [0x300010]
        mov [results + 1], al
        mov byte [0x300020], 0x33
        mov al, [0x200020]
        mov [results + 2], al
        in al, 0x92
        or al, 2
        out 0x92, al
        mov al, [0x300010]
        mov [results + 3], al
        mov esi, results            ; print them from here, then power off
        mov ecx, 4
.show:  lodsb
        mov ah, al
        shr al, 4
        call .digit
        mov al, ah
        and al, 15
        call .digit
        loop .show
        mov esi, .end
.text:  lodsb
        test al, al
        jz .off
        out 0xe9, al
        jmp .text
.off:   mov al, 0x20
        out 0xf4, al
        hlt
.digit: add al, '0'
        cmp al, '9'
        jbe .out
        add al, 7
.out:   out 0xe9, al
        ret
.end:   db 10, "END", 10, 0
        bits 16
        align 8
gdt:    dq 0, 0x00cf9a000000ffff, 0x00cf92000000ffff
gdtr:   dw 23
        dd gdt
results: times 4 db 0
""")
    assert out.startswith("11113322\n")


def test_bios_video_memory_teletype_scrolling_and_windows(tmp_path):
    """int 10h writes into the VGA text memory at B8000h: AH=09h's character and
    attribute cells, the teletype scrolling the screen up at the bottom line, AH=06h
    scrolling a window up and filling with BH's attribute, AH=07h down."""
    out = _same(tmp_path, r"""
        mov ax, 0x0003              ; mode 3: a clear 80x25 screen
        int 0x10
        mov ax, 0xb800
        mov es, ax
        mov ah, 0x02
        xor bh, bh
        mov dx, 0x1801              ; row 24, column 1
        int 0x10
        mov ax, 0x0942              ; 'B' in 1Fh
        mov bx, 0x001f
        mov cx, 1
        int 0x10
        mov ah, 0x02
        xor bh, bh
        mov dx, 0x1800
        int 0x10
        mov ax, 0x0e41              ; 'A' (keeps the cell's attribute)
        xor bx, bx
        int 0x10
        mov ax, 0x0e0d
        int 0x10
        mov ax, 0x0e0a              ; scrolls: the line moves to row 23
        int 0x10
        mov ax, [es:23 * 160]
        call hex16
        mov ax, [es:23 * 160 + 2]
        call hex16
        mov ax, [es:24 * 160]
        call hex16
        SP
        mov ah, 0x03
        xor bh, bh
        int 0x10
        mov ax, dx
        call hex16
        SP
        mov word [es:2 * 160 + 10], 0x4e42      ; 'B' at row 2, column 5
        mov ax, 0x0601              ; window rows 1-3, columns 4-6, up one line
        mov bh, 0x2a
        mov cx, 0x0104
        mov dx, 0x0306
        int 0x10
        mov ax, [es:1 * 160 + 10]
        call hex16
        mov ax, [es:3 * 160 + 10]
        call hex16
        mov ax, [es:2 * 160 + 14]   ; column 7: outside the window
        call hex16
        SP
        mov ax, 0x0702              ; down two lines
        mov bh, 0x13
        mov cx, 0x0104
        mov dx, 0x0306
        int 0x10
        mov ax, [es:3 * 160 + 10]
        call hex16
        mov ax, [es:1 * 160 + 10]
        call hex16
        NL
""")
    assert out.startswith("07411F420720 1800 4E422A200720 4E421320\n")


def test_memory_size_option_reaches_cmos_and_bios(tmp_path):
    """--memory 64M (qemu -m 64): CMOS 17h-18h/30h-31h (KiB above 1 MiB), 34h-35h (64 KiB
    blocks above 16 MiB), E801h's AX (KiB from 1 to 16 MiB)."""
    q, p = both(tmp_path, r"""
        mov si, regs
.next:  lodsb
        cmp al, 0xff
        je .done
        out 0x70, al
        in al, 0x71
        call hex8
        jmp .next
.done:  SP
        mov ax, 0xe801
        int 0x15
        call hex16
        NL
        jmp finish
regs:   db 0x18, 0x17, 0x31, 0x30, 0x35, 0x34, 0xff
""", memory_mb=64)
    assert p == q
    assert q.startswith(b"FC00FC000300 3C00\n")
