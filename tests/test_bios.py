"""16-bit flat images on the BIOS: loading at 0000:7C00, int 10h output, int 16h keyboard
from stdin, int 1Ah/11h/12h, how a run ends, errors and faults."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from asm.assembler import assemble
from vm.options import RunOptions
from vm.pc.bios import STEPS_PER_TICK
from vm.pc.runner import run_boot

ROOT = Path(__file__).resolve().parent.parent


def boot(source: str, capsys, stdin: bytes = b"", org: int = 0x7C00, **opts) -> tuple:
    """Assemble at org and run on the BIOS in-process: (status, stdout, stderr text)."""
    text = "\n".join(line.rstrip() for line in source.splitlines())
    image = assemble(f"org {org:#x}\n{text}\n", "t.s").image()
    out = io.BytesIO()
    status = run_boot("t.bin", image, RunOptions(bits=16, org=org, **opts),
                      stdin=io.BytesIO(stdin), stdout=out, stderr=io.BytesIO())
    return status, out.getvalue(), capsys.readouterr().err


def pyvm(*args, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vm.cli", *map(str, args)], input=stdin,
                          capture_output=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


PUTS = r"""
puts:   lodsb               ; print the NUL-terminated string at DS:SI
        test al, al
        jz .done
        mov ah, 0x0e
        int 0x10
        jmp puts
.done:  ret
"""


def test_start_state_and_teletype(capsys):
    status, out, err = boot(r"""
        cmp dl, 0x80                ; the boot drive
        jne bad
        mov ax, cs                  ; CS = DS = ES = SS = 0
        mov bx, ds
        or ax, bx
        mov bx, es
        or ax, bx
        mov bx, ss
        or ax, bx
        jnz bad
        cmp sp, 0x7c00              ; the stack is just below the image
        jne bad
        pushf
        pop ax
        test ax, 0x200              ; interrupts enabled
        jz bad
        call here
    here:
        pop ax
        cmp ax, here                ; loaded at 0000:7C00
        jne bad
        mov si, msg
        call puts
        cli
        hlt
    bad: int3
    msg: db "ok", 13, 10, 0""" + PUTS, capsys)
    assert (status, out, err) == (0, b"ok\r\n", "")


@pytest.mark.parametrize("ending", ["cli\nhlt", "hlt", "jmp $", "jmp near $", "sti\nhlt",
                                    "jmp 0xffff:0"])
def test_ways_a_boot_program_ends(ending, capsys):
    status, out, err = boot("mov ax, 0x0e41\nint 0x10\n" + ending, capsys)
    assert (status, out, err) == (0, b"A", "")


def test_cursor_follows_output_and_other_video_services(capsys):
    status, out, err = boot(r"""
        mov ax, 0x0003              ; set mode 3
        int 0x10
        mov si, msg
        call puts
        mov ah, 3                   ; get cursor: row 1, column 2 after "ab\r\ncd"
        xor bh, bh
        int 0x10
        cmp dx, 0x0102
        jne bad
        mov ah, 2                   ; set cursor
        mov dx, 0x0510
        int 0x10
        mov ah, 3
        int 0x10
        cmp dx, 0x0510
        jne bad
        mov ax, 0x0958              ; write 'X' 3 times, cursor stays
        mov bx, 0x0007
        mov cx, 3
        int 0x10
        mov ah, 3
        int 0x10
        cmp dx, 0x0510
        jne bad
        mov ax, 0x1301              ; write string at 2,0 and move the cursor
        mov bx, 0x0007
        mov cx, 3
        mov dx, 0x0200
        mov bp, text
        int 0x10
        mov ah, 3
        int 0x10
        cmp dx, 0x0203
        jne bad
        mov ah, 0x0f                ; get mode
        int 0x10
        cmp ax, 0x5003
        jne bad
        mov ax, 0x0601              ; scroll: accepted, nothing to do
        int 0x10
        cli
        hlt
    bad: int3
    msg: db "ab", 13, 10, "cd", 0
    text: db "xyz"
    """ + PUTS, capsys)
    assert (status, out, err) == (0, b"ab\r\ncdXXXxyz", "")


def test_keyboard_from_stdin(capsys):
    status, out, err = boot(r"""
        mov di, keys
    next:
        mov ah, 1                   ; a key waiting?
        int 0x16
        jz done
        mov ah, 0                   ; read it: AH = scan code, AL = ASCII
        int 0x16
        stosw
        jmp next
    done:
        mov ah, 0x10
        mov cx, di
        sub cx, keys
        mov si, keys
    show:
        lodsb
        mov ah, 0x0e
        int 0x10
        loop show
        cli
        hlt
    keys: times 32 db 0
    """, capsys, stdin=b"aZ1 \n\x1b")
    # a 1E, Z 2C, 1 02, space 39, Enter (LF) 1C 0D, Esc 01
    assert (status, err) == (0, "")
    assert out == b"a\x1eZ\x2c1\x02 \x39\r\x1c\x1b\x01"


def test_waiting_for_a_key_after_the_input_ends(capsys):
    status, out, err = boot(r"""
        xor ah, ah
        int 0x16
        mov ah, 0x0e
        int 0x10
        xor ah, ah
        int 0x16
        int3""", capsys, stdin=b"k")
    assert (status, out) == (0, b"k")
    assert err == "pyvm: t.bin: no more keyboard input (end of stdin) at int 16h AH=00h\n"


def test_equipment_memory_and_ticks(capsys):
    status, out, err = boot(r"""
        int 0x11
        cmp ax, 0x0023
        jne bad
        int 0x12
        cmp ax, 640
        jne bad
        xor ah, ah
        int 0x1a
        mov si, dx
        push ds
        mov ax, 0x40
        mov ds, ax
        mov bx, [0x6c]              ; the BIOS data area keeps the same count
        pop ds
        cmp bx, si
        jne bad
    tick:                           ; wait for the next tick
        xor ah, ah
        int 0x1a
        cmp dx, si
        je tick
        mov ah, 2                   ; the RTC in BCD
        int 0x1a
        jc bad
        cmp ch, 0x23
        ja bad
        mov ax, 0x0e2e
        int 0x10
        cli
        hlt
    bad: int3""", capsys, max_steps=3 * STEPS_PER_TICK)
    assert (status, out, err) == (0, b".", "")


def test_unsupported_bios_service(capsys):
    status, out, err = boot("mov ax, 0x4f00\nint 0x10", capsys)
    assert (status, err) == (1, "pyvm: t.bin: unsupported BIOS service int 10h AH=4Fh at "
                                "0000:7c03\n")


def test_dos_call_in_bios_mode(capsys):
    status, out, err = boot("mov ah, 9\nint 0x21", capsys)
    assert status == 1
    assert err == ("pyvm: t.bin: unsupported interrupt int 21h AH=09h at 0000:7c02 "
                   "(DOS services need a .COM program)\n")


@pytest.mark.parametrize("code, status, what", [
    ("xor cx, cx\ndiv cx", 136, "divide error (SIGFPE) at 0000:7c02: div cx"),
    ("ud2", 132, "invalid opcode (SIGILL) at 0000:7c00: ud2"),
])
def test_faults(code, status, what, capsys):
    got, out, err = boot(code, capsys)
    assert got == status and err.splitlines()[0] == "pyvm: t.bin: " + what


def test_own_keyboard_handler_is_called(capsys):
    # a program's int 16h handler wins over the BIOS's
    status, out, err = boot(r"""
        mov word [0x16 * 4], mine
        mov word [0x16 * 4 + 2], 0
        int 0x16
        mov ah, 0x0e
        int 0x10
        cli
        hlt
    mine:
        mov al, '!'
        iret""", capsys)
    assert (status, out, err) == (0, b"!", "")


def test_trace_names_bios_calls(capsys):
    status, out, err = boot("mov ax, 0x0e41\nint 0x10\ncli\nhlt", capsys, trace=True)
    assert status == 0
    assert '    int 10h AH=0Eh teletype(al=41 bh=00)  "A"' in err.splitlines()


def test_org_option_and_bad_orgs(tmp_path):
    image = assemble("org 0x1000\ncall x\nx: pop ax\nmov al, ah\nadd al, '0'\n"
                     "mov ah, 0x0e\nint 0x10\nhlt\n", "o.s").image()
    path = tmp_path / "o.bin"
    path.write_bytes(image)
    r = pyvm("--bits", "16", "--org", "0x1000", path)
    assert (r.stdout, r.returncode) == (b"@", 0)        # ah = 0x10 -> '0' + 16
    r = pyvm("--bits", "16", "--org", "0x100", path)
    assert r.returncode == 1
    assert r.stderr.decode() == (f"pyvm: {path}: org 0x100 does not fit: a 16-bit image of "
                                 f"{len(image)} bytes must load at 0000:0600-0000:ffff and "
                                 "end below 0xa0000\n")
    empty = tmp_path / "e.bin"
    empty.write_bytes(b"")
    r = pyvm("--bits", "16", empty)
    assert r.returncode == 1 and r.stderr.endswith(b"empty file: nothing to run\n")


def test_max_steps(capsys):
    status, out, err = boot("l: inc ax\njmp l", capsys, max_steps=500)
    assert status == 124 and "stopped after 500 instructions" in err


def test_boot_sector_loads_the_rest_of_its_image(capsys):
    # the image is disk 80h: read sector 2 (CHS) and sector 2 again (LBA packet)
    status, out, err = boot(r"""
        mov ah, 0x41
        mov bx, 0x55aa
        int 0x13
        jc bad
        cmp bx, 0xaa55
        jne bad
        mov ax, 0x0201              ; read 1 sector
        mov cx, 0x0002              ; cylinder 0, sector 2
        xor dh, dh
        mov bx, 0x8000              ; to 0000:8000
        int 0x13
        jc bad
        mov si, 0x8000
        call puts
        mov ah, 0x42
        mov si, packet
        int 0x13
        jc bad
        mov si, 0x9000
        call puts
        mov ax, 0x0201              ; head 16 does not exist
        mov cx, 0x0001
        mov dh, 16
        mov bx, 0x8000
        int 0x13
        jnc bad
        cmp ah, 4
        jne bad
        cli
        hlt
    bad: int3
    packet: db 16, 0
            dw 1, 0x9000, 0
            dq 2
    """ + PUTS + r"""
        times 512 - ($ - $$) db 0
        db "second ", 0
        times 1024 - ($ - $$) db 0
        db "third", 0""", capsys)
    assert (status, out, err) == (0, b"second third", "")
