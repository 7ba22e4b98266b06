"""The DOS personality: .COM loading and the PSP, int 20h/21h console, file, vector and
time services, error codes, exit statuses, fault reports and the trace."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from asm.assembler import assemble
from vm.dos.runner import run_com
from vm.options import RunOptions

ROOT = Path(__file__).resolve().parent.parent


def com(source: str, capsys, stdin: bytes = b"", **opts) -> tuple:
    """Assemble a .COM program (org 0x100 is added) and run it in-process:
    (status, stdout, stderr text, handle-2 output)."""
    text = "\n".join(line.rstrip() for line in source.splitlines())
    image = assemble("org 0x100\n" + text + "\n", "t.asm").image()
    out, err2 = io.BytesIO(), io.BytesIO()
    status = run_com("t.com", image, RunOptions(**opts), stdin=io.BytesIO(stdin), stdout=out,
                     stderr=err2)
    return status, out.getvalue(), capsys.readouterr().err, err2.getvalue()


def pyvm(*args, stdin: bytes = b"", cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vm.cli", *map(str, args)], input=stdin,
                          capture_output=True, cwd=cwd, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


# A routine for test programs: "show" prints "c=<CF> ax=<AX>\r\n", keeping every register.
SHOW = r"""
show:   pushf
        pusha
        mov bx, ax
        mov al, '0'
        adc al, 0
        mov [show_cf], al
        mov di, show_hex
        mov cx, 4
.h:     rol bx, 4
        mov al, bl
        and al, 15
        add al, '0'
        cmp al, '9'
        jbe .d
        add al, 7
.d:     mov [di], al
        inc di
        loop .h
        mov ah, 9
        mov dx, show_line
        int 0x21
        popa
        popf
        ret
show_line: db "c="
show_cf:   db "0 ax="
show_hex:  db "0000", 13, 10, "$"
"""


# ---- loading, the PSP and termination --------------------------------------------------------

@pytest.mark.parametrize("ending, status", [
    ("ret", 0), ("int 0x20", 0), ("mov ah, 0\nint 0x21", 0), ("mov ax, 0x4c2a\nint 0x21", 42),
    ("mov ax, 0x4cff\nint 0x21", 255), ("jmp 0:0x7c00", None)])
def test_exit_statuses(ending, status, capsys):
    if status is None:          # a far jump somewhere empty runs into zeros: add [bx+si], al
        ending, status = "push word 0\nmov ax, 0x4c03\nint 0x21", 3
    assert com(ending, capsys)[0] == status


def test_psp_and_command_tail(capsys):
    status, out, err, _ = com(r"""
        cmp word [0], 0x20cd        ; int 20h at PSP:0000
        jne bad
        cmp word [2], 0xa000        ; the top of memory
        jne bad
        mov bx, sp
        cmp bx, 0xfffe
        jne bad
        cmp word [bx], 0            ; ret goes to PSP:0000
        jne bad
        mov ax, cs
        mov bx, ds
        cmp ax, bx
        jne bad
        mov bl, [0x80]
        xor bh, bh
        cmp byte [0x81 + bx], 13    ; the tail ends with CR
        jne bad
        mov ah, 0x40
        mov cx, bx
        mov bx, 1
        mov dx, 0x81
        int 0x21
        mov ah, 0x62                ; get PSP
        int 0x21
        mov ax, cs
        cmp ax, bx
        jne bad
        ret
    bad:
        mov ax, 0x4c01
        int 0x21""", capsys, args=("one", "Two"))
    assert (status, out, err) == (0, b" one Two", "")


def test_command_tail_too_long(capsys):
    status, out, err, _ = com("ret", capsys, args=("x" * 130,))
    assert status == 1 and "DOS allows 126" in err


def test_empty_and_oversized_com_files(tmp_path):
    (tmp_path / "empty.com").write_bytes(b"")
    (tmp_path / "big.com").write_bytes(b"\x90" * 65281)
    (tmp_path / "max.com").write_bytes(b"\xc3" + b"\x90" * 65279)
    r = pyvm(tmp_path / "empty.com")
    assert r.returncode == 1 and r.stderr.decode().endswith("empty.com: empty file: nothing to run\n")
    r = pyvm(tmp_path / "big.com")
    assert r.returncode == 1 and b"65281 bytes is too large for a .COM program" in r.stderr
    assert pyvm(tmp_path / "max.com").returncode == 0


# ---- console ---------------------------------------------------------------------------------

def test_console_output_services(capsys):
    status, out, err, err2 = com(r"""
        mov ah, 2
        mov dl, 'A'
        int 0x21
        cmp al, 'A'                 ; AL = the character
        jne bad
        mov ah, 6
        mov dl, 'b'
        int 0x21
        mov ah, 9
        mov dx, text
        int 0x21
        cmp al, '$'
        jne bad
        mov ah, 0x40
        mov bx, 2
        mov cx, 4
        mov dx, errtext
        int 0x21
        mov ah, 0x40
        mov bx, 0                   ; handle 0 is CON too
        mov cx, 1
        mov dx, errtext
        int 0x21
        ret
    bad: int 3
    text: db "c", 13, 10, 0, 255, "$ignored"
    errtext: db "err", 10""", capsys)
    assert (status, out, err, err2) == (0, b"Abc\r\n\x00\xffe", "", b"err\n")


def test_console_input_services(capsys):
    # 01h (echo), 07h, 08h (LF reads as Enter), 0Ah (a line, echoed), 06h DL=FF,
    # 0Bh at the end of input, 01h at the end of input (Ctrl-Z)
    status, out, err, _ = com(r"""
        mov di, got
        mov ah, 1
        int 0x21
        stosb
        mov ah, 7
        int 0x21
        stosb
        mov ah, 8
        int 0x21
        stosb
        mov ah, 0x0a
        mov dx, linebuf
        int 0x21
        mov ah, 6
        mov dl, 0xff
        int 0x21
        jz bad                      ; ZF = 0: a key
        stosb
        mov ah, 0x0b
        int 0x21
        stosb
        mov ah, 6
        mov dl, 0xff
        int 0x21
        jnz bad                     ; ZF = 1: no key
        mov ah, 1
        int 0x21
        stosb
        mov ah, 0x40
        mov bx, 1
        mov cx, linebuf_end - got
        mov dx, got
        int 0x21
        ret
    bad: int 3
    got: db 0, 0, 0, 0, 0, 0
    linebuf: db 6, 0xee, "........"
    linebuf_end:""", capsys, stdin=b"xy\nline two\nq")
    assert err == ""
    assert out == (b"x" + b"line \r" +                  # echoes (stdin is not a terminal)
                   b"xy\r" b"q\x00\x1a" +              # 01h 07h 08h, 06h, 0Bh, 01h at EOF
                   b"\x06\x05line \r..")               # 0Ah: max 6, 5 typed, CR
    assert status == 0


def test_handle_reads_pass_bytes_unchanged(capsys):
    status, out, err, _ = com(r"""
    again:
        mov ah, 0x3f
        xor bx, bx
        mov cx, 3
        mov dx, buf
        int 0x21
        jc bad
        test ax, ax
        jz done
        mov cx, ax
        mov ah, 0x40
        mov bx, 1
        int 0x21
        jmp again
    done: ret
    bad: int 3
    buf: times 3 db 0""", capsys, stdin=b"a\r\nb\nc\x00\xff")
    assert (status, out, err) == (0, b"a\r\nb\nc\x00\xff", "")


# ---- files -----------------------------------------------------------------------------------

FILES = r"""
%macro report 1
        pushf
        pusha
        mov dx, %%label
        mov ah, 9
        int 0x21
        popa
        popf
        call show
        jmp %%after
%%label: db %1, " $"
%%after:
%endmacro
        mov ah, 0x3c
        xor cx, cx
        mov dx, fname
        int 0x21
        report "create"
        mov [handle], ax
        mov ah, 0x40
        mov bx, [handle]
        mov cx, text_len
        mov dx, text
        int 0x21
        report "write"
        mov ah, 0x3e
        mov bx, [handle]
        int 0x21
        report "close"
        mov ah, 0x3e
        mov bx, [handle]
        int 0x21
        report "close-again"
        mov ax, 0x3d00              ; DOS names are not case-sensitive
        mov dx, fname_dos
        int 0x21
        report "open"
        mov [handle], ax
        mov ax, 0x4200
        mov bx, [handle]
        xor cx, cx
        mov dx, 7
        int 0x21
        report "seek"
        mov ah, 0x3f
        mov bx, [handle]
        mov cx, 100
        mov dx, buf
        int 0x21
        report "read"
        mov si, ax
        mov byte [buf + si], '$'
        mov ah, 9
        mov dx, buf
        int 0x21
        mov ax, 0x4202              ; 3 before the end
        mov bx, [handle]
        mov cx, 0xffff
        mov dx, -3
        int 0x21
        report "seek-end"
        mov ah, 0x40                ; opened for reading only
        mov bx, [handle]
        mov cx, 1
        mov dx, text
        int 0x21
        report "write-ro"
        mov ax, 0x4203
        int 0x21
        report "seek-bad"
        mov ah, 0x3e
        mov bx, [handle]
        int 0x21
        mov ax, 0x3d00
        mov dx, missing
        int 0x21
        report "open-missing"
        mov ax, 0x3d00
        mov dx, nodir
        int 0x21
        report "open-nodir"
        mov ax, 0x3d05
        mov dx, fname
        int 0x21
        report "open-badmode"
        mov ah, 0x3c
        xor cx, cx
        mov dx, adir
        int 0x21
        report "create-dir"
        mov ah, 0x3f
        mov bx, 99
        mov cx, 1
        mov dx, buf
        int 0x21
        report "read-bad"
        mov ah, 0x41
        mov dx, fname
        int 0x21
        report "delete"
        mov ah, 0x41
        mov dx, fname
        int 0x21
        report "delete-again"
        mov ah, 0x41
        mov dx, adir
        int 0x21
        report "delete-dir"
        mov ax, 0x3d00
        mov dx, escape
        int 0x21
        report "open-escape"
        mov cx, 16                  ; handles 5..19 are free: the 16th open fails
.more:  push cx
        mov ax, 0x3d00
        mov dx, keep
        int 0x21
        pop cx
        jc .full
        loop .more
.full:  report "too-many"
        mov ax, 0x4c07
        int 0x21
""" + SHOW + r"""
fname:  db "test.txt", 0
fname_dos: db "C:\TEST.TXT", 0
missing: db "nothere.txt", 0
nodir:  db "nodir\x.txt", 0
adir:   db "adir", 0
escape: db "..\keep.txt", 0
keep:   db "keep.txt", 0
text:   db "Hello, file world!"
text_len equ $ - text
handle: dw 0
buf:    times 128 db 0
"""

FILES_OUT = """\
create c=0 ax=0005
write c=0 ax=0012
close c=0 ax=3E12
close-again c=1 ax=0006
open c=0 ax=0005
seek c=0 ax=0007
read c=0 ax=000B
file world!seek-end c=0 ax=000F
write-ro c=1 ax=0005
seek-bad c=1 ax=0001
open-missing c=1 ax=0002
open-nodir c=1 ax=0003
open-badmode c=1 ax=000C
create-dir c=1 ax=0005
read-bad c=1 ax=0006
delete c=0 ax=4106
delete-again c=1 ax=0002
delete-dir c=1 ax=0005
open-escape c=1 ax=0003
too-many c=1 ax=0004
""".replace("\n", "\r\n")


def test_file_services_and_error_codes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adir").mkdir()
    (tmp_path / "keep.txt").write_bytes(b"kept\n")
    status, out, err, _ = com(FILES, capsys)
    assert (out.decode(), err, status) == (FILES_OUT, "", 7)
    assert sorted(os.listdir(tmp_path)) == ["adir", "keep.txt"]


def test_read_write_seek_truncate(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Data.BIN").write_bytes(b"0123456789")
    status, out, err, _ = com(r"""
        mov ax, 0x3d02              ; read and write
        mov dx, name
        int 0x21
        jc bad
        mov bx, ax
        mov ax, 0x4200
        xor cx, cx
        mov dx, 4
        int 0x21
        mov ah, 0x40
        mov cx, 2
        mov dx, xy
        int 0x21                    ; 0123XY6789
        mov ax, 0x4201              ; back 3 from here: position 3
        mov cx, 0xffff
        mov dx, -3
        int 0x21
        cmp ax, 3
        jne bad
        mov ah, 0x3f
        mov cx, 4
        mov dx, got
        int 0x21                    ; "3XY6"
        cmp ax, 4
        jne bad
        mov ah, 0x40                ; CX = 0: truncate at position 7
        xor cx, cx
        int 0x21
        mov ax, 0x4202
        xor cx, cx
        xor dx, dx
        int 0x21
        mov [size], ax
        mov ah, 0x3e
        int 0x21
        mov ah, 0x40
        mov bx, 1
        mov cx, 6
        mov dx, got
        int 0x21
        ret
    bad: int 3
    name: db "data.bin", 0
    xy: db "XY"
    got: db "...."
    size: dw 0""", capsys)
    assert (status, err) == (0, "")
    assert out == b"3XY6\x07\x00"
    assert (tmp_path / "Data.BIN").read_bytes() == b"0123XY6"


def test_devices_and_ioctl(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, out, err, _ = com(r"""
        mov ax, 0x3d01
        mov dx, con
        int 0x21
        mov bx, ax
        mov ah, 0x40
        mov cx, 3
        mov dx, text
        int 0x21                    ; to the console
        mov ax, 0x3d01
        mov dx, nul
        int 0x21
        mov bx, ax
        mov ah, 0x40
        mov cx, 3
        mov dx, text
        int 0x21                    ; nowhere
        mov ax, 0x4400
        mov bx, 1
        int 0x21
        test dl, 0x80               ; handle 1 is a device
        jz bad
        ret
    bad: int 3
    con: db "CON", 0
    nul: db "c:\nul.txt", 0
    text: db "abc"
    """, capsys)
    assert (status, out, err) == (0, b"abc", "")
    assert os.listdir(tmp_path) == []


# ---- vectors, version, time --------------------------------------------------------------

def test_program_handles_divide_error_through_the_ivt(capsys):
    status, out, err, _ = com(r"""
        mov ax, 0x3500              ; the default handler lives in the BIOS ROM
        int 0x21
        mov ax, es
        cmp ax, 0xf000
        jne bad
        mov ax, 0x2500
        mov dx, handler
        int 0x21
        xor cx, cx
        mov ax, 7
        div cl
        int 3
    handler:
        mov ah, 9
        mov dx, msg
        int 0x21
        mov ax, 0x4c03
        int 0x21
    bad: int 3
    msg: db "caught$"
    """, capsys)
    assert (status, out, err) == (3, b"caught", "")


def test_own_int21_handler_chains_to_dos(capsys):
    status, out, err, _ = com(r"""
        mov ax, 0x3521
        int 0x21
        mov [old], bx
        mov [old + 2], es
        mov ax, 0x2521
        mov dx, hook
        int 0x21
        mov ah, 9
        mov dx, msg
        int 0x21
        mov ah, 2
        mov dl, [count]
        add dl, '0'
        int 0x21
        ret
    hook:
        inc byte [cs:count]
        jmp far [cs:old]
    old: dd 0
    count: db 0
    msg: db "hooked $"
    """, capsys)
    assert (status, out, err) == (0, b"hooked 1", "")


def test_version_date_time_drive(capsys):
    status, out, err, _ = com(r"""
        mov ah, 0x30
        int 0x21
        cmp ax, 5                   ; DOS 5.00
        jne bad
        mov ah, 0x2a
        int 0x21
        cmp cx, 2020
        jb bad
        cmp dh, 12
        ja bad
        cmp al, 6
        ja bad
        mov ah, 0x2c
        int 0x21
        cmp ch, 23
        ja bad
        cmp dl, 99
        ja bad
        mov ah, 0x19
        int 0x21
        cmp al, 2                   ; C:
        jne bad
        ret
    bad: int 3""", capsys)
    assert (status, err) == (0, "")


# ---- errors ----------------------------------------------------------------------------------

def test_unsupported_dos_service(capsys):
    status, out, err, _ = com("mov ah, 0x5a\nint 0x21", capsys)
    assert (status, err) == (1, "pyvm: t.com: unsupported DOS service int 21h AH=5Ah at "
                                "1000:0102\n")


def test_unsupported_interrupt(capsys):
    status, out, err, _ = com("xor ax, ax\nint 0x33", capsys)
    assert (status, err) == (1, "pyvm: t.com: unsupported interrupt int 33h AH=00h at "
                                "1000:0102\n")


@pytest.mark.parametrize("code, status, line", [
    ("mov ax, 5\nxor bl, bl\ndiv bl", 136, "divide error (SIGFPE) at 1000:0108: div bl"),
    ("nop\nud2", 132, "invalid opcode (SIGILL) at 1000:0104: ud2"),
    ("mov bx, 0xffff\nmov ax, [bx]", 139,
     "general protection fault (SIGSEGV) at 1000:0106: mov ax, word [bx]"),
    ("int3", 133, "breakpoint (int3) (SIGTRAP) at 1000:0103: int3"),
])
def test_faults_end_with_a_report(code, status, line, capsys):
    got, out, err, _ = com("mov cx, 0x1234\n" + code, capsys)
    lines = err.splitlines()
    assert (got, lines[0]) == (status, "pyvm: t.com: " + line)
    # the register dump shows the state at the fault, not in the default handler
    assert "cx=1234" in lines[1] and "cs=1000" in lines[2]
    assert f"ip={line.split('1000:')[1][:4]}" in lines[2] and len(lines) == 3


def test_bad_com_files_never_show_a_traceback(tmp_path):
    rng = random.Random(4)
    for k in range(3):
        path = tmp_path / f"junk{k}.com"
        path.write_bytes(bytes(rng.randrange(256) for _ in range(300)))
        r = pyvm("--max-steps", "20000", path)
        assert b"Traceback" not in r.stderr
        assert r.returncode != 70, r.stderr
        if r.returncode:
            assert r.stderr.startswith(f"pyvm: {path}: ".encode()), r.stderr


# ---- options ---------------------------------------------------------------------------------

def test_trace_names_dos_calls(capsys):
    status, out, err, _ = com('mov ah, 9\nmov dx, m\nint 0x21\nmov ax, 0x4c05\nint 0x21\n'
                              'm: db "hi$"', capsys, trace=True)
    assert status == 5 and out == b"hi"
    lines = err.splitlines()
    assert lines[0].startswith("1000:0100  b4 09") and "mov ah, 0x9" in lines[0]
    assert '    int 21h AH=09h write_string(ds:dx=1000:010c) -> al=24  "hi"' in lines
    assert "    int 21h AH=4Ch exit(al=05)" in lines


def test_trace_shows_dos_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, out, err, _ = com("mov ax, 0x3d00\nmov dx, n\nint 0x21\nret\nn: db 'no.txt', 0",
                              capsys, trace=True)
    assert ('    int 21h AH=3Dh open(al=00 ds:dx=1000:0109) -> ax=0002 cf=1  '
            'error 2: file not found') in err.splitlines()


def test_max_steps_and_regs(capsys):
    status, out, err, _ = com("again: inc ax\njmp again", capsys, max_steps=1001, regs=True)
    lines = err.splitlines()
    assert status == 124
    assert lines[0] == ("pyvm: t.com: stopped after 1001 instructions (--max-steps 1001); "
                        "next: 1000:0101: jmp $-0x1")
    assert lines[1].startswith("  ax=01f5 ")
    assert lines[3].startswith("  ax=01f5 ")       # --regs: the dump again at the end


def test_cli_runs_com_with_arguments(tmp_path):
    image = assemble(r"""
        org 0x100
        mov ah, 0x40
        mov bx, 1
        mov cl, [0x80]
        xor ch, ch
        mov dx, 0x81
        int 0x21
        mov ax, 0x4c09
        int 0x21""", "a.asm").image()
    (tmp_path / "args.com").write_bytes(image)
    r = pyvm(tmp_path / "args.com", "-x", "y z")
    assert (r.stdout, r.returncode, r.stderr) == (b" -x y z", 9, b"")


def test_memory_blocks(capsys):
    status, out, err, _ = com(r"""
        mov ah, 0x48                ; all memory belongs to the program: none free
        mov bx, 1
        int 0x21
        jnc bad
        cmp ax, 8
        jne bad
        mov ah, 0x4a                ; shrink to 4K (ES = PSP)
        mov bx, 0x100
        int 0x21
        jc bad
        mov ah, 0x48
        mov bx, 0x10
        int 0x21
        jc bad
        cmp ax, 0x1100              ; right after the program's block
        jne bad
        mov es, ax
        mov ah, 0x4a                ; grow the new block beyond memory: fails, BX = max
        mov bx, 0xffff
        int 0x21
        jnc bad
        cmp bx, 0xa000 - 0x1100
        jne bad
        mov ah, 0x49
        int 0x21
        jc bad
        mov ah, 0x49                ; twice: not a block any more
        int 0x21
        jnc bad
        cmp ax, 9
        jne bad
        ret
    bad: int3""", capsys)
    assert (status, err) == (0, "")
