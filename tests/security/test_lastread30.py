"""Found by the last read of session 30; the oracle is the same run without
--max-output (and the byte the host reader gets)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from conftest import require_tool

# a .COM program: open the FIFO P read/write, write one byte, print ok
WRITE_FIFO = """org 0x100
    mov ax, 0x3d02
    mov dx, name
    int 0x21
    jc fail
    mov bx, ax
    mov ah, 0x40
    mov cx, 1
    mov dx, byte1
    int 0x21
    jc fail
    mov ah, 9
    mov dx, ok
    int 0x21
    mov ax, 0x4c00
    int 0x21
fail: mov ax, 0x4c01
    int 0x21
name: db "P", 0
byte1: db "x"
ok: db "ok$"
"""


def test_dos_write_to_a_fifo_under_max_output(tmp_path):
    # the hole a write leaves is charged for regular files only: lseek on a FIFO is
    # ESPIPE, which was an internal error ("Illegal seek") under --max-output
    require_tool("nasm")
    (tmp_path / "w.asm").write_text(WRITE_FIFO)
    subprocess.run(["nasm", "-f", "bin", "w.asm", "-o", "w.com"], cwd=tmp_path, check=True)
    os.mkfifo(tmp_path / "P")
    got: list = []

    def reader():
        with open(tmp_path / "P", "rb") as f:
            got.append(f.read())

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    out = subprocess.run([sys.executable, "-m", "vm.cli", "--max-output", "100k",
                          "--allow-write", ".", "w.com"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    t.join(10)
    assert (out.returncode, out.stdout, out.stderr) == (0, "ok", "")
    assert got == [b"x"]
