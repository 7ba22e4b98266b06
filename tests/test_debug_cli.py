"""Scripted sessions of the command-line debugger (commands on a pipe), on the samples
and on a C program built with gcc -m32 -static -g -O0 (its native run is the oracle)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROG_C = os.path.join(ROOT, "tests", "debug", "prog.c")


def session(program: str, commands: str, *extra: str, input_file: str = "/dev/null",
            timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vm.debug", "--input", input_file, *extra,
                           program], input=commands, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="session")
def cprog(tmp_path_factory) -> str:
    if shutil.which("gcc") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("gcc is missing")
        pytest.skip("gcc is missing")
    out = str(tmp_path_factory.mktemp("dbg") / "prog")
    subprocess.run(["gcc", "-m32", "-static", "-g", "-O0", "-o", out, PROG_C], check=True,
                   timeout=120)
    return out


def native(prog: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([prog], input=stdin, capture_output=True, timeout=30)


def test_hello_breakpoints_steps_and_a_register_edit():
    r = session("samples/hello.s", "b *0x14\nc\ni r eax edx\nx/s msg\nset $edx = 5\nc\n")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "Breakpoint 1, 0x00000014 in start+20 ()" in out
    assert re.search(r"eax\s+0x4\s+4", out) and re.search(r"edx\s+0xe\s+14", out)
    assert "'Hello, world!\\n'" in out
    # the edit shortened the write(2): only "Hello" reached stdout
    assert "Hello\n[Inferior 1" in out or "Hello[Inferior 1" in out
    assert "Hello, world!\n" not in out.split("x/s")[0]
    assert "exited normally" in out


def test_stepi_nexti_and_reverse_on_hello():
    r = session("samples/hello.s", "si 3\ni r ecx\nrsi\ni r ecx\nrsi 2\ni r eip\n"
                "rsi\nni\ni r eip\n")
    out = r.stdout
    assert re.search(r"ecx\s+0x1f\s+31", out)          # mov ecx, msg done
    assert re.search(r"ecx\s+0x0\s+0", out)            # undone
    assert re.search(r"eip\s+0x0\s+0", out)
    assert "No more reverse-execution history." in out
    assert re.search(r"eip\s+0x5\s+5", out)


def test_bad_input_is_one_line_each():
    r = session("samples/hello.s", "frobnicate\nx/4xw 0xfffffff0\nbreak nosuch\n"
                "set $nosuch = 1\nwatch\np 1/0\ndelete 99\ncatch bogus\ninfo nothing\n"
                "x/4q 0\nc\nc\nsi\n")
    assert r.returncode == 0
    assert "Traceback" not in r.stdout + r.stderr
    errors = [line for line in r.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) >= 10
    assert "exited normally" in r.stdout


def test_b32_breakpoint_watch_reverse_and_screen():
    r = session("samples/b32/hello.asm", "b Banner\nc\nc\nwatch 0xa003\nc\nrsi\n"
                "x/1xb 0xa003\nrc\ndelete\nc\nscreen\n")
    out = r.stdout
    assert out.count("Breakpoint 1, 0x00001003 in BANNER ()") >= 2
    assert "Old value = 7\nNew value = 30" in out
    assert "0x0000a003" in out and "\t0x07" in out      # before the store
    assert "exited normally" in out
    assert "Hello, World!" in out


def test_dos_catch_interrupt_and_exit_code_edit():
    r = session("samples/dos/hello.asm", "catch interrupt 0x21\nc\ni r ax\nc\n"
                "set $ax = 0x4c07\nc\n")
    out = r.stdout
    assert "Catchpoint (call to interrupt 33), 0x00010105" in out
    assert re.search(r"ax\s+0x900", out)
    assert "Hello, world!" in out
    assert "exited with code 07" in out


def test_boot_sector_breakpoint_on_local_label_and_reverse_continue():
    r = session("samples/bios/boot.s", "b start.next\nc\nc\np $si\nrc\np $si\n"
                "delete\nc\n")
    out = r.stdout
    assert out.count("Breakpoint 1, 0x00007c0d in start.next ()") == 3
    sis = re.findall(r"\$1 = (\d+)", out)
    assert sis == [str(0x7c1e), str(0x7c1d)]
    # "H" came out before the reverse-continue; replaying it does not print it again
    assert "Continuing.\nH\n" in out
    assert "\nello from the boot sector!" in out and out.count("H") == 1 + out.count("Hard")


def test_c_program_symbols_finish_watch_and_outcome_edit(cprog, tmp_path):
    inp = tmp_path / "in.txt"
    inp.write_bytes(b"abc\n")
    ref = native(cprog, b"abc\n")
    assert ref.returncode == 3
    # as in the native run, untouched
    r = session(cprog, "c\n", input_file=str(inp))
    assert "sum=385 counter=10" in r.stdout and "exited with code 03" in r.stdout
    assert ref.stdout.decode().split(" r=")[0] in r.stdout
    # square(1) returns 1000 instead of 1: sum 385 - 1 + 1000, and main returns counter
    r = session(cprog, "b square\nc\nfinish\ni r eax\nset $eax = 1000\nbt\n"
                "delete\nwatch counter\nc\nc\ndelete\nc\n", input_file=str(inp))
    out = r.stdout
    assert "Breakpoint 1, 0x080496d5 in square ()" in out or \
        re.search(r"Breakpoint 1, 0x[0-9a-f]+ in square \(\)", out)
    assert re.search(r"Run till exit: now 0x[0-9a-f]+ in sum_to\+\d+", out)
    assert re.search(r"eax\s+0x1\s+1\n", out)
    assert "#1  " in out and "main" in out
    assert "Old value = 0\nNew value = 1" in out and "Old value = 1\nNew value = 2" in out
    assert "input=4 sum=1384 counter=10" in out
    assert "exited with code 012]" in out       # 10, in octal as gdb prints it
