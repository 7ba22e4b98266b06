"""The reserved-NOP space 0F 18-1F next to CET's F3-prefixed forms: without F3, 0F 1E FA
and 0F 1E FB are hint NOPs (NASM's hint_nop55), not endbr64/endbr32, so the decoder must
fall back from the three-byte endbr opcode to the 0F 1E /r form (it used to refuse them:
SIGILL in pyvm, `db` lines in the disassembler).

Oracles: the host CPU running the program natively (exit status: every NOP ran), nasm
re-assembling pyvm-tools' disassembly to the same bytes, and objdump's reading."""

from __future__ import annotations

import subprocess
import sys

from conftest import require_tool

SOURCE = """bits 32
global _start
section .text
_start:
    endbr32
    hint_nop55 edx          ; 0F 1E FA
    hint_nop55 ebx          ; 0F 1E FB
    hint_nop55 dx           ; 66 0F 1E FA
    hint_nop49 eax          ; 0F 1E C8 (rdsspd eax with F3)
    hint_nop55 dword [esp]  ; memory form
    hint_nop41 eax
    mov ebx, 42
    mov eax, 1
    int 0x80
"""


def _build(tmp_path):
    nasm, ld = require_tool("nasm"), require_tool("ld")
    src = tmp_path / "hint.s"
    src.write_text(SOURCE)
    obj, exe = tmp_path / "hint.o", tmp_path / "hint"
    subprocess.run([nasm, "-f", "elf32", "-o", str(obj), str(src)], check=True)
    subprocess.run([ld, "-m", "elf_i386", "-o", str(exe), str(obj)], check=True)
    return obj, exe


def test_hint_nops_run_as_on_the_cpu(tmp_path):
    _, exe = _build(tmp_path)
    native = subprocess.run([str(exe)], capture_output=True)
    assert native.returncode == 42
    ours = subprocess.run([sys.executable, "-m", "vm.linux", str(exe)], capture_output=True,
                          timeout=60)
    assert (ours.returncode, ours.stdout, ours.stderr) == (42, b"", b"")


def test_disassembly_reassembles_to_the_same_bytes(tmp_path):
    nasm = require_tool("nasm")
    code = SOURCE.split("_start:\n")[1]
    flat = tmp_path / "flat.s"
    flat.write_text("bits 32\n" + code)
    subprocess.run([nasm, "-f", "bin", "-o", str(tmp_path / "flat"), str(flat)], check=True)
    data = (tmp_path / "flat").read_bytes()
    dis = subprocess.run([sys.executable, "-m", "vm.tools", "disasm", str(tmp_path / "flat")],
                         capture_output=True, text=True, check=True).stdout
    assert "db " not in dis and "hint_nop55 edx" in dis and "endbr32" in dis
    again = tmp_path / "again.s"
    again.write_text(dis)
    subprocess.run([nasm, "-f", "bin", "-o", str(tmp_path / "again"), str(again)], check=True)
    assert (tmp_path / "again").read_bytes() == data
    objdump = require_tool("objdump")
    od = subprocess.run([objdump, "-D", "-b", "binary", "-mi386", str(tmp_path / "flat")],
                        capture_output=True, text=True, check=True).stdout
    assert od.count("nop") >= 6     # objdump reads the same bytes as NOPs, not (bad)
