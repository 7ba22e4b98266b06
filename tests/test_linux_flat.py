"""Flat 32-bit binaries (``nasm -f bin``, ``bits 32``) run as Linux processes of the
kernel: every system call of the Linux personality, the sandbox and the limits apply, as
for ELF programs (vm/linux/flat.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent

EXIT = """
exit:   mov ebx, eax
        mov eax, 1
        int 0x80
"""


def build(tmp_path: Path, source: str, name: str = "prog.bin") -> Path:
    nasm = require_tool("nasm")
    src = tmp_path / (name + ".asm")
    src.write_text("bits 32\norg 0\n" + source)
    out = tmp_path / name
    subprocess.run([nasm, "-f", "bin", str(src), "-o", str(out)], check=True, timeout=60)
    return out


def pyvm(*args, cwd=None, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vm.cli", *map(str, args)], input=stdin,
                          capture_output=True, cwd=cwd, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


WRITE_READ_BACK = """
        mov eax, 5              ; open("out.txt", O_WRONLY|O_CREAT|O_TRUNC, 0644)
        mov ebx, name
        mov ecx, 0x241
        mov edx, 0o644
        int 0x80
        test eax, eax
        js fail
        mov esi, eax
        mov eax, 4              ; write(fd, text, len)
        mov ebx, esi
        mov ecx, text
        mov edx, len
        int 0x80
        cmp eax, len
        jne fail
        mov eax, 6              ; close(fd)
        mov ebx, esi
        int 0x80
        mov eax, 5              ; open("out.txt", O_RDONLY)
        mov ebx, name
        xor ecx, ecx
        int 0x80
        test eax, eax
        js fail
        mov esi, eax
        mov eax, 3              ; read(fd, buf, 64)
        mov ebx, esi
        mov ecx, buf
        mov edx, 64
        int 0x80
        cmp eax, len
        jne wrong
        mov ecx, len            ; the same bytes?
        mov esi, text
        mov edi, buf
        repe cmpsb
        jne wrong
        mov eax, 4              ; write(1, buf, len)
        mov ebx, 1
        mov ecx, buf
        mov edx, len
        int 0x80
        xor eax, eax
        jmp exit
wrong:  mov eax, 99
        jmp exit
fail:   neg eax                 ; errno as the exit status
        jmp exit
""" + EXIT + """
name:   db "out.txt", 0
text:   db "written by a flat binary", 10, 0, 255, "end"
len     equ $ - text
buf:    times 64 db 0
"""


def test_open_write_read_back_in_the_cwd(tmp_path):
    prog = build(tmp_path, WRITE_READ_BACK)
    work = tmp_path / "work"
    work.mkdir()
    r = pyvm(prog, cwd=work)
    expected = b"written by a flat binary\n\x00\xffend"
    assert (r.returncode, r.stdout, r.stderr) == (0, expected, b"")
    assert (work / "out.txt").read_bytes() == expected


def test_writing_outside_the_cwd_is_erofs(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_bytes(b"precious\n")
    work = tmp_path / "work"
    work.mkdir()
    path = str(victim).replace('"', '\\"')
    prog = build(tmp_path, f"""
        mov eax, 5              ; open(victim, O_WRONLY|O_TRUNC)
        mov ebx, name
        mov ecx, 0x201
        xor edx, edx
        int 0x80
        neg eax                 ; -errno: the exit status; a descriptor: negative
        jmp exit
{EXIT}
name:   db "{path}", 0
""")
    r = pyvm(prog, cwd=work)
    assert r.returncode == 30, r.stderr           # EROFS
    assert victim.read_bytes() == b"precious\n"
    # --allow-write grants it
    r = pyvm("--allow-write", outside, prog, cwd=work)
    assert r.returncode == (-3) & 0xFF, r.stderr   # fd 3: status (-3) & 0xff
    assert victim.read_bytes() == b""


def test_mmap_fork_wait_and_the_null_page(tmp_path):
    """Calls the old flat runner lacked: mmap2, fork, wait4; org 0 maps page 0."""
    prog = build(tmp_path, """
        cmp byte [0], 0xa1      ; the first instruction's byte, read at address 0
        jne bad
        mov eax, 192            ; mmap2(0, 8192, RW, PRIVATE|ANONYMOUS, -1, 0)
        xor ebx, ebx
        mov ecx, 8192
        mov edx, 3
        mov esi, 0x22
        mov edi, -1
        xor ebp, ebp
        int 0x80
        cmp eax, -4096
        jae bad
        mov dword [eax + 4096], 7
        mov ebx, [eax + 4096]
        push ebx
        mov eax, 2              ; fork()
        int 0x80
        test eax, eax
        jz child
        mov ebx, eax            ; wait4(pid, &status, 0, 0)
        mov eax, 114
        mov ecx, status
        xor edx, edx
        xor esi, esi
        int 0x80
        mov eax, [status]       ; the child's exit status, times 2
        shr eax, 8
        add eax, eax
        jmp exit
child:  pop eax
        jmp exit
bad:    mov eax, 99
        jmp exit
""".replace("        cmp byte [0], 0xa1", "        db 0xa1\n        dd 0\n"
            "        cmp byte [0], 0xa1", 1) + EXIT + "status: dd 0\n")
    r = pyvm(prog)
    assert r.returncode == 14, r.stderr


def test_bss_past_the_image_is_ram(tmp_path):
    """nasm -f bin writes no .bss: a flat binary finds RAM past its image, as it did
    before flat binaries ran on the Linux kernel; past the mapped half, a fault and a
    hint."""
    prog = build(tmp_path, """
        mov dword [buf + 0x10000], 7
        mov eax, [buf + 0x10000]
        mov ebx, eax
        mov eax, 1
        int 0x80
section .bss
buf: resb 0x20000
""", "bss.bin")
    r = pyvm(prog)
    assert r.returncode == 7, r.stderr
    far = build(tmp_path, "mov ecx, 100\ndec ecx\njnz $-1\nmov dword [0xC00000], 1\n" + EXIT,
                "far.bin")                     # a loop first: not an early (16-bit?) fault
    r = pyvm(far)
    err = r.stderr.decode()
    assert r.returncode == 139, err
    assert "memory fault writing" in err and "hint: a flat binary's RAM is mapped up to" in err


def test_limits_apply(tmp_path):
    loop = build(tmp_path, "top: jmp top\n", "loop.bin")
    t0 = time.monotonic()
    r = pyvm("--timeout", "0.5", loop)
    assert r.returncode == 142 and b"timed out after 0.5 s" in r.stderr
    assert time.monotonic() - t0 < 30
    spam = build(tmp_path, """
top:    mov eax, 4
        mov ebx, 1
        mov ecx, msg
        mov edx, 8
        int 0x80
        jmp top
msg:    db "abcdefg", 10
""", "spam.bin")
    r = pyvm("--max-output", "100", spam)
    assert r.returncode == 153 and r.stdout == (b"abcdefg\n" * 13)[:100]
    forker = build(tmp_path, """
top:    mov eax, 2              ; fork until it fails (EAGAIN past --max-procs)
        int 0x80
        test eax, eax
        jz idle
        jns top
        neg eax
        jmp exit
idle:   mov eax, 29             ; children pause
        int 0x80
""" + EXIT, "forker.bin")
    r = pyvm("--max-procs", "4", forker)
    assert r.returncode == 11, r.stderr            # EAGAIN


@pytest.mark.parametrize("memory, esp", [("64K", 0x10000), ("1M", 0x100000)])
def test_start_state(tmp_path, memory, esp):
    prog = build(tmp_path, """
        or eax, ebx
        or eax, ecx
        or eax, edx
        or eax, esi
        or eax, edi
        or eax, ebp
        jnz bad
        mov eax, esp
        shr eax, 16
        jmp exit
bad:    mov eax, 99
        jmp exit
""" + EXIT)
    r = pyvm("--memory", memory, prog)
    assert r.returncode == (esp >> 16) & 0xFF, r.stderr


def test_sigint_interrupts_with_registers(tmp_path):
    loop = build(tmp_path, "mov esi, 0x1234\ntop: jmp top\n", "loop.bin")
    p = subprocess.Popen([sys.executable, "-m", "vm.cli", str(loop)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    time.sleep(2.0)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert b"interrupted at 0x" in err and b"esi=00001234" in err
