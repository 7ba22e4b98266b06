"""The PC's command line: ``pyvm --bios ROM`` against ``qemu-system-i386 -bios ROM`` (the
ROM's placement below 1 MiB, writes to it ignored, the reset vector, hardware timer
interrupts through an IVT the ROM builds itself), and ``pyvm --disk IMAGE``'s own
promises: writes go to a copy unless --disk-write, the boot signature is required, the
A20 calls of int 15h really gate the address line, --port-log names POST codes, the
emulator exit ports, and the IRQ handlers in pyvm's ROM are what NASM makes of their
source."""

from __future__ import annotations

import subprocess

import pytest
from conftest import require_tool
from pc_harness import POWER_OFF, disk_probe, nasm, run_pyvm, run_qemu, until_end

from vm.pc import pcbios

ROM_HELPERS = r"""
hex8:   push ax
        shr al, 4
        call nibble
        pop ax
        push ax
        and al, 15
        call nibble
        pop ax
        ret
nibble: add al, '0'
        cmp al, '9'
        jbe .out
        add al, 7
.out:   out 0xe9, al
        ret
"""

# A 64 KiB ROM: prints where it runs, checks that a write to itself is dropped, that
# A20 is on at reset and wraps when port 92h turns it off, builds an IVT, programs the
# PICs and the PIT and counts three IRQ 0s with STI/HLT, then powers off.
ROM64 = r"""
        bits 16
        org 0
start:  cli
        xor ax, ax
        mov ss, ax
        mov sp, 0x7000
        mov ax, cs
        mov ds, ax
        mov al, 'R'
        out 0xe9, al
        mov ax, cs
        mov al, ah
        call hex8
        mov al, [marker]            ; the ROM ignores writes
        inc byte [marker]
        cmp al, [marker]
        sete al
        call hex8
        xor ax, ax
        mov es, ax
        mov ax, 0xffff
        mov fs, ax
        mov byte [es:0x600], 0x5a
        mov byte [fs:0x610], 0xa5
        mov al, [es:0x600]          ; A20 on at reset: no wrap
        call hex8
        in al, 0x92
        and al, 0xfc
        out 0x92, al
        mov al, [fs:0x610]          ; off: wraps to 0000:0600
        call hex8
        in al, 0x92
        or al, 2
        out 0x92, al
        mov al, [fs:0x610]
        call hex8
        mov word [es:0x20 * 4], irq0        ; IVT entry of vector 20h
        mov [es:0x20 * 4 + 2], cs
        mov word [es:0x500], 0
        mov al, 0x11
        out 0x20, al
        mov al, 0x20
        out 0x21, al
        mov al, 0x04
        out 0x21, al
        mov al, 0x01
        out 0x21, al
        mov al, 0xfe
        out 0x21, al
        mov al, 0x34                ; 1000 Hz
        out 0x43, al
        mov al, 0xa9
        out 0x40, al
        mov al, 0x04
        out 0x40, al
        sti
.wait:  hlt
        cmp word [es:0x500], 3
        jb .wait
        cli
        mov al, 'T'
        out 0xe9, al
        mov al, 10
        out 0xe9, al
        mov al, 0x10
        out 0xf4, al
.stop:  hlt
        jmp .stop
irq0:   inc word [es:0x500]
        push ax
        mov al, 0x20
        out 0x20, al
        pop ax
        iret
marker: db 0x42
""" + ROM_HELPERS + r"""
        times 0xfff0 - ($ - $$) db 0
        jmp 0xf000:start
        times 0x10000 - ($ - $$) db 0
"""

# A 128 KiB ROM: the reset vector jumps into the lower half at E000h.
ROM128 = r"""
        bits 16
        org 0
low:    mov al, 'L'
        out 0xe9, al
        mov ax, cs
        mov ds, ax
        mov al, ah
        call hex8
        mov al, 10
        out 0xe9, al
        mov al, 0x10
        out 0xf4, al
        hlt
""" + ROM_HELPERS + r"""
        times 0x1fff0 - ($ - $$) db 0
        jmp 0xe000:low
        times 0x20000 - ($ - $$) db 0
"""


def test_rom_64k_against_qemu(tmp_path):
    rom = nasm(tmp_path, ROM64, "rom64")
    q, qstatus = run_qemu(tmp_path, rom, bios=True)
    p = run_pyvm("--bios", str(rom))
    assert qstatus == 0x10 << 1 | 1
    assert p.returncode == qstatus, p.stderr.decode()
    assert p.stdout == q == b"RF0015A5AA5T\n"


def test_rom_128k_against_qemu(tmp_path):
    rom = nasm(tmp_path, ROM128, "rom128")
    q, qstatus = run_qemu(tmp_path, rom, bios=True)
    p = run_pyvm("--bios", str(rom))
    assert p.returncode == qstatus == 0x10 << 1 | 1, p.stderr.decode()
    assert p.stdout == q == b"LE0\n"


def test_port_log_names_post_codes(tmp_path):
    rom = nasm(tmp_path, r"""
        bits 16
start:  mov al, 0x01
        out 0x80, al
        mov dx, 0x190
        mov al, 0x02
        out dx, al
        mov ax, 0x1234
        out 0x70, ax
        cli
        hlt
        times 0xfff0 - ($ - $$) db 0
        jmp 0xf000:start
        times 0x10000 - ($ - $$) db 0
""", "post")
    log = tmp_path / "ports.txt"
    p = run_pyvm("--bios", str(rom), "--port-log", str(log))
    assert p.returncode == 0, p.stderr.decode()
    lines = [line.split()[1:] for line in log.read_text().splitlines()]
    assert lines == [["out", "0080", "b", "01", "POST", "01h"],
                     ["out", "0190", "b", "02", "POST", "02h"],
                     ["out", "0070", "w", "1234"]]


def _writer(tmp_path, write: bool):
    """A boot image that writes sector 1 (AH=43h) and reads it back (AH=42h)."""
    image = disk_probe(tmp_path, r"""
        mov di, 0x9000
        mov cx, 256
        mov ax, 0x5a5a
        rep stosw
        mov si, packet
        mov ax, 0x4300
        mov dl, [drive]
        int 0x13
        setc al
        call hex8
        mov word [packet + 4], 0xa000
        mov si, packet
        mov ah, 0x42
        mov dl, [drive]
        int 0x13
        mov ax, [0xa000]
        call hex16
        NL
        jmp finish
packet: db 16, 0
        dw 1, 0x9000, 0
        dq 1
""")
    before = image.read_bytes()
    args = ["--disk", str(image)] + (["--disk-write"] if write else [])
    p = run_pyvm(*args)
    assert p.returncode == POWER_OFF, p.stderr.decode()
    assert until_end(p.stdout) == b"005A5A\nEND\n"
    return before, image.read_bytes()


def test_disk_writes_go_to_a_copy(tmp_path):
    before, after = _writer(tmp_path, False)
    assert after == before


def test_disk_write_changes_the_image(tmp_path):
    before, after = _writer(tmp_path, True)
    assert after[512:1024] == b"\x5a" * 512
    assert after[:512] == before[:512] and after[1024:] == before[1024:]


def test_bios_a20_calls_gate_the_address_line(tmp_path):
    """int 15h AX=2400h turns A20 off (FFFF:0510 is 0000:0500 again), AX=2401h on
    (Ralf Brown's interrupt list, INT 15/AX=2400h-2403h)."""
    image = disk_probe(tmp_path, r"""
        mov ax, 0xffff
        mov es, ax
        mov byte [0x0500], 0x11
        mov byte [es:0x0510], 0x22
        mov ax, 0x2403
        int 0x15
        mov ax, bx
        call hex16
        SP
        mov ax, 0x2400
        int 0x15
        mov al, [es:0x0510]
        call hex8
        mov ax, 0x2401
        int 0x15
        mov al, [es:0x0510]
        call hex8
        NL
""")
    p = run_pyvm("--disk", str(image))
    assert p.returncode == POWER_OFF, p.stderr.decode()
    assert until_end(p.stdout) == b"0003 1122\nEND\n"


def test_timer_ticks_advance_while_halted(tmp_path):
    """IRQ 0 from the 8254 through the 8259A to pyvm's ROM handler keeps 0040:006C
    going: five ticks pass with STI/HLT (as under QEMU)."""
    body = r"""
        sti
        mov ah, 0
        int 0x1a
        mov bx, dx
.wait:  hlt
        mov ah, 0
        int 0x1a
        mov ax, dx
        sub ax, bx
        cmp ax, 5
        jb .wait
        mov al, 'T'
        out 0xe9, al
        NL
"""
    image = disk_probe(tmp_path, body)
    q, qstatus = run_qemu(tmp_path, image)
    p = run_pyvm("--disk", str(image))
    assert p.returncode == qstatus == POWER_OFF, p.stderr.decode()
    assert until_end(p.stdout) == until_end(q) == b"T\nEND\n"


def test_emulator_exit_ports(tmp_path):
    for code, status in ((b"mov al, 7\nout 0xf4, al", 15),
                         (b"mov dx, 0x604\nmov ax, 0x2000\nout dx, ax", 0)):
        image = disk_probe(tmp_path, code.decode() + "\n        hlt\n")
        p = run_pyvm("--disk", str(image))
        assert p.returncode == status, p.stderr.decode()


@pytest.mark.parametrize("content,message", [
    (b"\0" * 100, "less than one sector"),
    (b"\0" * 512, "does not end with 55h AAh"),
])
def test_not_a_bootable_disk(tmp_path, content, message):
    image = tmp_path / "x.img"
    image.write_bytes(content)
    p = run_pyvm("--disk", str(image))
    assert p.returncode == 1
    err = p.stderr.decode()
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_command_line_errors(tmp_path):
    p = run_pyvm("--disk", str(tmp_path / "missing.img"))
    assert p.returncode == 1 and "missing.img" in p.stderr.decode()
    p = run_pyvm("--serial", "stdout", "prog.bin")
    assert p.returncode == 2 and "need --bios or --disk" in p.stderr.decode()
    rom = tmp_path / "tiny.rom"
    rom.write_bytes(b"\x90" * 8)
    p = run_pyvm("--bios", str(rom))
    assert p.returncode == 1 and "16 bytes to 256 KiB" in p.stderr.decode()
    p = run_pyvm()
    assert p.returncode == 2 and "Missing argument 'PROGRAM'" in p.stderr.decode()


def test_rom_irq_handlers_are_nasms_bytes(tmp_path):
    exe = require_tool("nasm")
    src = tmp_path / "irq.asm"
    src.write_text(pcbios.IRQ_HANDLERS_ASM)
    out = tmp_path / "irq.bin"
    subprocess.run([exe, "-f", "bin", str(src), "-o", str(out)], check=True)
    assert out.read_bytes() == pcbios.IRQ_HANDLERS


def test_triple_fault_stops_with_the_chain(tmp_path):
    """Protected mode with an empty IDT: #GP cannot be delivered, nor the double fault:
    a PC would reset; pyvm stops with the fault chain and the registers, status 139."""
    image = disk_probe(tmp_path, r"""
        cli
        lgdt [gdtr]
        lidt [idtr]
        mov eax, cr0
        or al, 1
        mov cr0, eax
        jmp 0x08:pm
        bits 32
pm:     mov ax, 0x10
        mov ds, ax
        int 0x21
        bits 16
        align 8
gdt:    dq 0, 0x00cf9a000000ffff, 0x00cf92000000ffff
gdtr:   dw 23
        dd gdt
idtr:   dw 0
        dd 0
""")
    p = run_pyvm("--disk", str(image))
    err = p.stderr.decode()
    assert p.returncode == 139, err
    assert "triple fault" in err and "cr0=" in err and "Traceback" not in err


def test_keyboard_irq1_delivers_typed_keys_as_scan_codes(tmp_path):
    """A ROM's own IRQ 1 handler reads port 60h: the keys typed on stdin arrive as set 1
    make and break codes (IBM AT Technical Reference), one interrupt per byte; HLT
    waits for them and the run ends once stdin has ended and nothing else can come."""
    rom = nasm(tmp_path, r"""
        bits 16
start:  cli
        xor ax, ax
        mov ss, ax
        mov sp, 0x7000
        mov es, ax
        mov word [es:0x09 * 4], irq1
        mov [es:0x09 * 4 + 2], cs
        mov al, 0x11
        out 0x20, al
        mov al, 0x08
        out 0x21, al
        mov al, 0x04
        out 0x21, al
        mov al, 0x01
        out 0x21, al
        mov al, 0xfd                ; only IRQ 1
        out 0x21, al
        sti
.idle:  hlt
        jmp .idle
irq1:   push ax
        in al, 0x60
        call hex8
        mov al, 0x20
        out 0x20, al
        pop ax
        iret
""" + ROM_HELPERS + r"""
        times 0xfff0 - ($ - $$) db 0
        jmp 0xf000:start
        times 0x10000 - ($ - $$) db 0
""", "kbd")
    p = run_pyvm("--bios", str(rom), stdin=b"aB\n")
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout == b"1E9E2A30B0AA1C9C"


def test_serial_console_input_raises_irq4(tmp_path):
    """--serial stdout: stdin is COM1's receiver. A ROM enables the received-data
    interrupt (IER bit 0) with OUT2 set, and its IRQ 4 handler echoes each byte from
    RBR back through THR (16550 data sheet; OUT2 gates the IRQ on a PC)."""
    rom = nasm(tmp_path, r"""
        bits 16
start:  cli
        xor ax, ax
        mov ss, ax
        mov sp, 0x7000
        mov es, ax
        mov word [es:0x0c * 4], irq4
        mov [es:0x0c * 4 + 2], cs
        mov al, 0x11
        out 0x20, al
        mov al, 0x08
        out 0x21, al
        mov al, 0x04
        out 0x21, al
        mov al, 0x01
        out 0x21, al
        mov al, 0xef                ; only IRQ 4
        out 0x21, al
        mov dx, 0x3fc
        mov al, 0x0b                ; DTR, RTS, OUT2
        out dx, al
        mov dx, 0x3f9
        mov al, 0x01
        out dx, al
        sti
.idle:  hlt
        jmp .idle
irq4:   push ax
        push dx
        mov dx, 0x3fa
        in al, dx                   ; 04h: received data
        cmp al, 0x04
        jne .eoi
        mov dx, 0x3f8
        in al, dx
        cmp al, 'a'
        jb .send
        sub al, 0x20                ; upper case, to show it went through here
.send:  out dx, al
.eoi:   mov al, 0x20
        out 0x20, al
        pop dx
        pop ax
        iret
        times 0xfff0 - ($ - $$) db 0
        jmp 0xf000:start
        times 0x10000 - ($ - $$) db 0
""", "serial")
    p = run_pyvm("--bios", str(rom), "--serial", "stdout", stdin=b"hi\n")
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout == b"HI\n"


def test_serial_file_output_counts_against_max_output(tmp_path):
    """--serial FILE draws on --max-output like the console: a ROM that sends bytes to
    COM1 forever stops with 153 (128 + SIGXFSZ) once the file holds the limit."""
    rom = nasm(tmp_path, r"""
        bits 16
start:  mov dx, 0x3f8
.more:  mov al, 'x'
        out dx, al
        jmp .more
        times 0xfff0 - ($ - $$) db 0
        jmp 0xf000:start
        times 0x10000 - ($ - $$) db 0
""", "flood")
    out = tmp_path / "com1.txt"
    p = run_pyvm("--bios", str(rom), "--serial", str(out), "--max-output", "1000",
                 "--max-steps", "1000000")
    assert p.returncode == 153, p.stderr.decode()
    assert b"output limit of 1000 bytes" in p.stderr
    assert out.read_bytes() == b"x" * 1000
