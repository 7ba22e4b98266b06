"""Running one boot image or ROM under both qemu-system-i386 (the oracle) and pyvm's PC.

A probe is NASM source for a disk image (or a ROM) that prints its findings to the debug
console (port E9h: QEMU's -debugcon, pyvm's stdout) and ends by writing 0 to port F4h
(QEMU's isa-debug-exit: exit status 20h << 1 | 1 = 65; pyvm: the same). Both machines get 32 MiB.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import require_tool

REPO = Path(__file__).resolve().parent.parent
MEMORY_MB = 32
QEMU_TIMEOUT = 60
# QEMU's clocks normally follow the host: under load its PIT thread may not have raised
# IRQ 0 by the time a probe looks (a flaky oracle). Instruction-counted virtual time
# (1 ns per instruction, idle time skipped) makes every timer event land at the same
# instruction on every run, as pyvm's own PIT does.
QEMU_ICOUNT = ["-icount", "shift=0,sleep=off"]
POWER_OFF = 0x20 << 1 | 1       # the exit status after ``finish``

# A boot sector that loads the next 15 sectors to 0000:7E00 and jumps to ``main`` (the
# probe), with helpers: hex8 (AL), hex16 (AX), hex32 (EAX), put (DS:SI), the SAY macro,
# NL, and ``finish`` (prints END and powers off through port F4h).
PRELUDE = r"""
        bits 16
        org 0x7c00
        jmp 0:start
start:  cli
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x7c00
        cld
        mov [drive], dl
        mov si, dap
        mov ah, 0x42
        int 0x13
        jc finish
        jmp main

%macro SAY 1
        jmp %%after
%%text: db %1, 0
%%after:
        push si
        mov si, %%text
        call put
        pop si
%endmacro
%macro NL 0
        push ax
        mov al, 10
        out 0xe9, al
        pop ax
%endmacro
%macro SP 0
        push ax
        mov al, ' '
        out 0xe9, al
        pop ax
%endmacro

hex32:  push eax
        shr eax, 16
        call hex16
        pop eax
hex16:  push ax
        mov al, ah
        call hex8
        pop ax
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
put:    push ax
.next:  lodsb
        test al, al
        jz .done
        out 0xe9, al
        jmp .next
.done:  pop ax
        ret
finish: SAY "END"
        NL
        mov al, 0x20
        out 0xf4, al
.stop:  cli
        hlt
        jmp .stop
dap:    db 16, 0
        dw 15
        dw 0x7e00, 0
        dq 1
drive:  db 0
        times 510 - ($ - $$) db 0
        dw 0xaa55
main:
"""

EPILOGUE = r"""
        jmp finish
        times 8192 - ($ - $$) db 0
"""


def nasm(tmp_path: Path, source: str, name: str = "probe") -> Path:
    exe = require_tool("nasm")
    src = tmp_path / f"{name}.asm"
    src.write_text(source)
    out = tmp_path / f"{name}.bin"
    r = subprocess.run([exe, "-f", "bin", str(src), "-o", str(out)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    return out


def disk_probe(tmp_path: Path, body: str) -> Path:
    return nasm(tmp_path, PRELUDE + body + EPILOGUE)


def run_qemu(tmp_path: Path, image: Path, bios: bool = False,
             memory_mb: int = MEMORY_MB) -> tuple:
    """(debug console bytes, exit status) of qemu-system-i386 on a disk image or ROM."""
    exe = require_tool("qemu-system-i386")
    log = tmp_path / "qemu-debugcon.txt"
    if log.exists():
        log.unlink()
    # a ROM of its own gets a 486, whose CPU has no local APIC: on later CPUs the APIC
    # masks the 8259A's INTR until a BIOS (SeaBIOS) programs LVT0 for ExtINT
    boot = ["-cpu", "486", "-bios", str(image)] if bios else \
        ["-drive", f"format=raw,file={image}"]
    r = subprocess.run([exe, "-display", "none", "-m", str(memory_mb), "-monitor", "none",
                        "-serial", "null", "-parallel", "none", "-debugcon", f"file:{log}",
                        "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                        "-no-reboot", *QEMU_ICOUNT, *boot],
                       capture_output=True, timeout=QEMU_TIMEOUT, stdin=subprocess.DEVNULL)
    return (log.read_bytes() if log.exists() else b""), r.returncode


def run_pyvm(*args: str, timeout: float = 120, stdin: bytes = b"") -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "vm.cli", *args], capture_output=True,
                          timeout=timeout, input=stdin, env=env, cwd=REPO)


def until_end(out: bytes) -> bytes:
    """The probe's report up to its END line (pyvm prints the VGA screen after it)."""
    at = out.find(b"END\n")
    return out[:at + 4] if at >= 0 else out


def both(tmp_path: Path, body: str, memory_mb: int = MEMORY_MB) -> tuple:
    """(qemu's report, pyvm's report) of one disk probe; both must power off cleanly."""
    image = disk_probe(tmp_path, body)
    q, qstatus = run_qemu(tmp_path, image, memory_mb=memory_mb)
    p = run_pyvm("--memory", f"{memory_mb}M", "--disk", str(image))
    assert qstatus == POWER_OFF, (qstatus, q)
    assert p.returncode == POWER_OFF, (p.returncode, p.stderr.decode())
    return until_end(q), until_end(p.stdout)
