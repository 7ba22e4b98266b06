"""``pyvm prog.s``: the source is assembled in memory and run as a DOS .COM program
(``org 0x100``), on the BIOS (other 16-bit code) or as a flat 32-bit Linux binary."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pyvm(*args, stdin: bytes = b"", cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vm.cli", *map(str, args)], input=stdin,
                          capture_output=True, cwd=cwd, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def source(tmp_path, text: str, name: str = "prog.s") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_org_0x100_is_a_com_program_with_arguments(tmp_path):
    path = source(tmp_path, """\
        org 0x100
        mov ah, 0x40
        mov bx, 1
        mov cl, [0x80]
        xor ch, ch
        mov dx, 0x81
        int 0x21
        mov ax, 0x4c04
        int 0x21
""", "prog.asm")
    r = pyvm(path, "hello", "there")
    assert (r.stdout, r.returncode, r.stderr) == (b" hello there", 4, b"")


def test_bits_16_at_0x7c00_runs_on_the_bios(tmp_path):
    path = source(tmp_path, """\
        bits 16
        org 0x7c00
        mov ax, 0x0e42
        int 0x10
        cli
        hlt
""")
    r = pyvm(path)
    assert (r.stdout, r.returncode, r.stderr) == (b"B", 0, b"")


def test_bits_32_is_a_flat_linux_binary_at_its_org(tmp_path):
    path = source(tmp_path, """\
        bits 32
        org 0x2000
        call here
here:   pop ecx                     ; 0x2005: the image really is at its org
        cmp ecx, 0x2005
        jne bad
        mov eax, 4
        mov ebx, 1
        mov ecx, msg
        mov edx, 3
        int 0x80
        mov eax, 1
        mov ebx, 6
        int 0x80
bad:    int3
msg:    db "32", 10
""")
    r = pyvm(path)
    assert (r.stdout, r.returncode, r.stderr) == (b"32\n", 6, b"")


def test_assembler_errors(tmp_path):
    path = source(tmp_path, "org 0x100\nmov ax, bx\nfoo bx\nmov al, 300000\njmp nowhere\n")
    r = pyvm(path, cwd=tmp_path)
    assert r.returncode == 1 and r.stdout == b""
    lines = r.stderr.decode().splitlines()
    assert lines and all(re.match(rf"{re.escape(str(path))}:\d+: (error|warning): ", line)
                         for line in lines), lines
    assert any(line.startswith(f"{path}:3: error: ") for line in lines)
    assert sorted(os.listdir(tmp_path)) == ["prog.s"]       # nothing written


def test_16_bit_code_without_an_org_has_nowhere_to_run(tmp_path):
    path = source(tmp_path, "mov ax, 1\nret\n")
    r = pyvm(path)
    assert r.returncode == 1
    assert r.stderr.decode() == (
        f"pyvm: {path}: 16-bit code at org 0x0 has nowhere to run: use `org 0x100` for a "
        "DOS .COM program or `org 0x7c00` for a BIOS boot sector (or `bits 32` for a flat "
        "Linux program)\n")


def test_empty_source(tmp_path):
    path = source(tmp_path, "; nothing\n")
    r = pyvm(path)
    assert r.returncode == 1
    assert r.stderr.decode() == f"pyvm: {path}: the source assembles to nothing: nothing to run\n"


def test_include_beside_the_source(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "msg.inc").write_text('msg: db "inc$"\n')
    path = source(tmp_path / "sub", """\
        org 0x100
        mov ah, 9
        mov dx, msg
        int 0x21
        ret
%include "msg.inc"
""")
    r = pyvm(path, cwd=tmp_path)
    assert (r.stdout, r.returncode, r.stderr) == (b"inc", 0, b"")


def test_format_option_forces_a_source(tmp_path):
    path = source(tmp_path, "org 0x100\nmov ax, 0x4c02\nint 0x21\n", "prog.txt")
    r = pyvm("--format", "asm", path)
    assert (r.returncode, r.stderr) == (2, b"")


def test_faults_and_traces_from_a_source(tmp_path):
    path = source(tmp_path, "org 0x100\nmov ax, 1\nxor dx, dx\nxor cx, cx\ndiv cx\n")
    r = pyvm("--trace", path)
    err = r.stderr.decode()
    assert r.returncode == 136
    assert "1000:0107  f7 f1" in err and "exception 0" in err
    assert f"pyvm: {path}: divide error (SIGFPE) at 1000:0107: div cx" in err


def test_b32_sources_run_on_the_b32_machine(tmp_path):
    """A B32 sample run from source shows the same screen and registers as its .b32 file
    assembled by pyasm; NASM sources with .asm names stay x86."""
    for name in ("example1", "hello", "every_instruction"):
        src = ROOT / "samples" / "b32" / f"{name}.asm"
        out = tmp_path / f"{name}.b32"
        subprocess.run([sys.executable, "-m", "asm.cli", str(src), "-o", str(out)],
                       check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        direct, built = pyvm("--regs", src), pyvm("--regs", out)
        assert direct.returncode == built.returncode == 0, direct.stderr
        assert direct.stdout == built.stdout and direct.stdout.strip()
        assert direct.stderr.replace(bytes(src), bytes(out)) == built.stderr
    r = pyvm(ROOT / "samples" / "dos" / "hello.asm")
    assert r.returncode == 0 and b"Hello" in r.stdout, r.stderr


def test_b32_source_errors(tmp_path):
    path = source(tmp_path, "Start: LDA 5\n       STA ,X\n       END Start\n", "bad.asm")
    r = pyvm(path)
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr.decode().startswith(f"{path}:1: error:"), r.stderr
