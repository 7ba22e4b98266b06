"""The ``pyvm`` script runs a plain command line (a program and its arguments, no option)
without click (vm/launch.py, vm/runfile.py run_plain): what a user sees must be what
the click command gives for the same words, and the program's own behaviour the native
run's.

Oracles: the native run of a static gcc -m32 program and of nasm-assembled programs'
expected output; for pyvm's own reports, the click command (``python -m vm.cli``) on the
same command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ["-c", "import sys; sys.argv[0] = 'pyvm'\nfrom vm.launch import script; script()"]
CLICK = ["-m", "vm.cli"]

C_SOURCE = r"""
#include <stdio.h>
int main(int argc, char **argv) {
    for (int i = 0; i < argc; i++) printf("[%s]", i ? argv[i] : "prog");
    printf("\n");
    return 7 + argc;
}
"""
LINUX_ASM = """\
bits 32
global _start
section .text
_start:
    mov eax, 4
    mov ebx, 1
    mov ecx, msg
    mov edx, 6
    int 0x80
    mov eax, 1
    mov ebx, 9
    int 0x80
section .data
msg: db "hello", 10
"""
DOS_ASM = """\
org 0x100
    mov dx, msg
    mov ah, 9
    int 0x21
    mov ax, 0x4c05
    int 0x21
msg: db "dos$"
"""


def _env(home) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(home),
           "PYVM_CODE_CACHE": "0"}
    env.pop("_PYVM_COMPLETE", None)
    return env


def _run(entry: list, home, *words, stdin: bytes = b"") -> tuple:
    r = subprocess.run([sys.executable, *entry, *map(str, words)], env=_env(home),
                       input=stdin, capture_output=True, timeout=120, cwd=home)
    return r.returncode, r.stdout, r.stderr


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    gcc, nasm = require_tool("gcc"), require_tool("nasm")
    d = tmp_path_factory.mktemp("plain")
    (d / "args.c").write_text(C_SOURCE)
    r = subprocess.run([gcc, "-m32", "-static", "-O1", "-o", str(d / "args"), str(d / "args.c")],
                       capture_output=True)
    if r.returncode:
        pytest.fail(f"gcc -m32 -static failed: {r.stderr.decode()[-300:]}")
    (d / "hello.s").write_text(LINUX_ASM)
    (d / "dos.asm").write_text(DOS_ASM)
    subprocess.run([nasm, "-f", "bin", "-o", str(d / "dos.com"), str(d / "dos.asm")], check=True)
    (d / "flat.asm").write_text(LINUX_ASM.replace("global _start\nsection .text\n", "org 0\n")
                                .replace("section .data\n", ""))
    subprocess.run([nasm, "-f", "bin", "-o", str(d / "flat.bin"), str(d / "flat.asm")],
                   check=True)
    (d / "empty.bin").write_bytes(b"")
    (d / "bad.b32").write_bytes(b"B3")
    (d / "adir").mkdir()
    return d


def test_an_elf_program_as_natively(programs, tmp_path):
    exe = programs / "args"
    native = subprocess.run([str(exe), "a b", "c=d", "-x"], capture_output=True)
    mine = _run(SCRIPT, tmp_path, exe, "a b", "c=d", "-x")          # (a dash: click's path)
    assert mine == (native.returncode, native.stdout, b"")
    native = subprocess.run([str(exe), "a b", "c=d"], capture_output=True)
    plain = _run(SCRIPT, tmp_path, exe, "a b", "c=d")
    assert plain[0] == native.returncode == 10 and plain[1] == b"[prog][a b][c=d]\n"
    assert plain == _run(CLICK, tmp_path, exe, "a b", "c=d")


@pytest.mark.parametrize("name, expected", [
    ("hello.s", (9, b"hello\n")),           # a source: assembled, then run
    ("flat.bin", (9, b"hello\n")),          # a flat 32-bit binary
    ("dos.com", (5, b"dos")),               # a DOS .COM
])
def test_each_machine_as_expected_and_as_the_click_command(programs, tmp_path, name,
                                                             expected):
    plain = _run(SCRIPT, tmp_path, programs / name)
    assert plain[:2] == expected
    assert plain == _run(CLICK, tmp_path, programs / name)


@pytest.mark.parametrize("words", [
    ["empty.bin"], ["bad.b32"], ["adir"], ["missing"], ["dos.com", "--stats"],
    ["--regs", "dos.com"], ["flat.bin", "extra"], ["flat.bin", "--stats"], [],
])
def test_reports_and_statuses_as_the_click_command(programs, tmp_path, words):
    words = [str(programs / w) if not w.startswith("-") else w for w in words]
    assert _run(SCRIPT, tmp_path, *words) == _run(CLICK, tmp_path, *words)


def test_a_plain_command_line_loads_no_click(programs, tmp_path):
    probe = ("import atexit, sys; sys.argv[0] = 'pyvm'\n"
             "atexit.register(lambda: print('click' in sys.modules, file=sys.stderr))\n"
             "from vm.launch import script; script()")
    status, out, err = _run(["-c", probe], tmp_path, programs / "flat.bin")
    assert (status, out, err) == (9, b"hello\n", b"False\n")
    status, out, err = _run(["-c", probe], tmp_path, "--stats", programs / "flat.bin")
    assert (status, out) == (9, b"hello\n") and err.endswith(b"True\n")


def test_the_options_are_the_click_commands_defaults(programs, monkeypatch):
    import vm.cli
    import vm.runfile
    seen = []

    def record(*args):
        seen.append(args)
        return 0
    monkeypatch.setattr(vm.cli, "run_file", record)
    monkeypatch.setattr(vm.runfile, "run_file", record)
    words = [str(programs / "args"), "a", "b=c"]
    assert vm.cli.main(words) == 0
    assert vm.runfile.run_plain(words) == 0
    (program, opts, fmt, bits, _, debug), plain = seen
    assert (program, opts, fmt, bits, debug) == (words[0], *plain[1:]) + (None, None, None)
    assert opts.args == ("a", "b=c")
